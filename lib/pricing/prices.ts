// Model prices: the published table plus the app's overrides, resolved per model name, in integer nano-USD.
import { TokenBudgetConfigError } from '../config-error';
import { checkOptionNames, optionNames } from '../options/check';
import { SNAPSHOT_DATE, withoutRouterPrefix } from '../tokens/models';
import type { ModelPrice } from '../types';
import { PUBLISHED_PRICES } from './table';

/** A price in integer nano-USD (1e-9 USD) per 1M tokens: $2.50 is 2_500_000_000. */
export interface NanoPrice {
  input: number;
  cachedInput: number;
  output: number;
}

/** The prices a budget uses: the published table with the app's overrides, and an optional fallback. */
export interface PriceList {
  readonly rows: ReadonlyMap<string, NanoPrice>;
  readonly fallback: NanoPrice | undefined;
}

/** How a model was priced. */
export interface ResolvedPrice {
  price: NanoPrice;
  /** The row that priced it (e.g. `gpt-4o` for `gpt-4o-2024-08-06`), or `fallback`. */
  pricedAs: string;
}

const NANOS_PER_USD = 1e9;
/** Above $1 per token a price is surely a unit mistake (USD per token instead of per 1M?). */
const MAX_USD_PER_MILLION = 1_000_000;

function invalid(path: string, detail: string): never {
  throw new TokenBudgetConfigError('TB_INVALID_OPTION', `${path} ${detail}`);
}

function toNanos(usd: unknown, path: string): number {
  if (typeof usd !== 'number' || !Number.isFinite(usd) || usd < 0 || usd > MAX_USD_PER_MILLION) {
    invalid(path, `must be a price in USD per 1M tokens between 0 and ${MAX_USD_PER_MILLION}; got ${JSON.stringify(usd)}.`);
  }
  const nanos = Math.round(usd * NANOS_PER_USD);
  // Decimal prices carry binary noise (0.075 × 1e9 = 75000000.00000001); anything beyond that is sub-nano.
  if (Math.abs(usd * NANOS_PER_USD - nanos) > 1e-3)
    invalid(path, `has more precision than 1 nano-USD per 1M tokens; got ${usd}.`);
  return nanos;
}

const PRICE_OPTION_NAMES = optionNames<ModelPrice>({ input: true, cachedInput: true, output: true });

/** Converts one price the app gives to nano-USD; a missing `cachedInput` is the input price. */
export function toNanoPrice(price: ModelPrice, path: string): NanoPrice {
  if (typeof price !== 'object' || price === null) invalid(path, 'must be { input, cachedInput?, output } in USD per 1M tokens.');
  // A misspelt cachedInput would price cached input at the input price: too high, but not what the app wrote.
  checkOptionNames(price, PRICE_OPTION_NAMES, path);
  return nanoPriceOf(price, path);
}

/** Converts one price to nano-USD, whatever else its row holds (the table's rows say when they were checked). */
function nanoPriceOf(price: ModelPrice, path: string): NanoPrice {
  const input = toNanos(price.input, `${path}.input`);
  return {
    input,
    cachedInput: price.cachedInput === undefined ? input : toNanos(price.cachedInput, `${path}.cachedInput`),
    output: toNanos(price.output, `${path}.output`),
  };
}

/**
 * The published prices with `overrides` (USD per 1M tokens) replacing or adding
 * rows, and the price of a model no row matches. Invalid prices are
 * configuration errors (TB_INVALID_OPTION).
 */
export function readPrices(overrides: Record<string, ModelPrice> = {}, fallbackPrice?: ModelPrice): PriceList {
  if (typeof overrides !== 'object' || overrides === null)
    invalid('prices', 'must map model names to { input, cachedInput?, output }.');
  const rows = new Map<string, NanoPrice>();
  for (const [name, price] of Object.entries(PUBLISHED_PRICES)) rows.set(name, nanoPriceOf(price, `published price of ${name}`));
  for (const [name, price] of Object.entries(overrides)) {
    if (name === '') invalid('prices', 'has an empty model name.');
    rows.set(name, toNanoPrice(price, `prices["${name}"]`));
  }
  return {
    rows,
    fallback: fallbackPrice === undefined ? undefined : toNanoPrice(fallbackPrice, 'fallbackPrice'),
  };
}

const PUBLISHED = readPrices();

/** The row for `name` itself or, for a dated snapshot, for its undated name. */
function rowFor(name: string, rows: ReadonlyMap<string, NanoPrice>): string | undefined {
  if (rows.has(name)) return name;
  const undated = name.replace(SNAPSHOT_DATE, '');
  return rows.has(undated) ? undated : undefined;
}

/**
 * How far fine-tuned inference is priced above its base, at most, among the published
 * `ft:` rows (gpt-3.5-turbo's: ×6 input, ×4 output). A fine-tune of a base without an
 * `ft:` row is priced that far above its base: the true rate is unknown, and a known
 * markup may be far above the base price (×1.5–×6), so the highest one is the safe guess.
 */
const FINE_TUNE_MARKUP = (() => {
  let input = 1;
  let output = 1;
  for (const [name, fineTune] of PUBLISHED.rows) {
    const base = name.startsWith('ft:') ? PUBLISHED.rows.get(name.slice(3)) : undefined;
    if (base === undefined) continue;
    input = Math.max(input, fineTune.input / base.input);
    output = Math.max(output, fineTune.output / base.output);
  }
  return { input, output };
})();

function markedUp(base: NanoPrice): NanoPrice {
  const input = Math.ceil(base.input * FINE_TUNE_MARKUP.input);
  return { input, cachedInput: input, output: Math.ceil(base.output * FINE_TUNE_MARKUP.output) };
}

/**
 * The row that prices `model`: its own, else its undated name's. A fine-tune
 * (`ft:gpt-4o-mini-2024-07-18:org::id`) is priced by its own row, else an `ft:` row of
 * its base (`ft:gpt-4o-mini`), else as its base model times the highest known
 * fine-tune markup (`pricedAs` ends in ` × fine-tune markup`). A router's name
 * (`openai/gpt-4o`) without a row of its own is priced as the name after its last `/`.
 * Falls back to `prices.fallback`; `undefined` when nothing applies.
 */
export function findPrice(model: string, prices: PriceList = PUBLISHED): ResolvedPrice | undefined {
  const routed = withoutRouterPrefix(model);
  if (routed !== model && !prices.rows.has(model)) return findPrice(routed, prices);
  const base = model.startsWith('ft:') ? model.slice(3).split(':')[0]! : undefined;
  for (const name of base === undefined ? [model] : [model, `ft:${base}`]) {
    const row = rowFor(name, prices.rows);
    if (row !== undefined) return { price: prices.rows.get(row)!, pricedAs: row };
  }
  const baseRow = base === undefined ? undefined : rowFor(base, prices.rows);
  if (baseRow !== undefined) return { price: markedUp(prices.rows.get(baseRow)!), pricedAs: `${baseRow} × fine-tune markup` };
  return prices.fallback && { price: prices.fallback, pricedAs: 'fallback' };
}

/** As `findPrice`, for a model that must have a price: never a silent $0 (TB_UNPRICED_MODEL). */
export function priceOf(model: string, prices: PriceList = PUBLISHED): ResolvedPrice {
  const resolved = findPrice(model, prices);
  if (resolved) return resolved;
  throw new TokenBudgetConfigError(
    'TB_UNPRICED_MODEL',
    `"${model}" has no known price, so its spend cannot be tracked; add it to prices ({ input, cachedInput, output } in USD per 1M tokens) or configure fallbackPrice.`,
  );
}
