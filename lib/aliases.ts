// Model aliases: names an app calls a known model by (an Azure deployment, a router's name), resolved to that model's row.
import { TokenBudgetConfigError } from './config-error';
import { checkOptionNames, optionNames } from './options/check';
import { findPrice, toNanoPrice, type PriceList } from './pricing/prices';
import { lookupModel, type ModelInfo } from './tokens/models';
import type { ModelAlias, ModelPrice } from './types';

/** An alias with the row it inherited and the overrides it gave. */
export interface ResolvedAlias {
  /** The known model at the end of its chain of aliases. */
  like: string;
  /** The known model's facts, with the alias's `contextWindow` and `maxOutput`. */
  info: ModelInfo;
  /** Its own price, the nearest given along its chain; `undefined`: the known model's. */
  price: ModelPrice | undefined;
}

export type ModelAliases = ReadonlyMap<string, ResolvedAlias>;

function invalid(path: string, detail: string): never {
  throw new TokenBudgetConfigError('TB_INVALID_OPTION', `${path} ${detail}`);
}

const ALIAS_OPTION_NAMES = optionNames<ModelAlias>({ like: true, prices: true, contextWindow: true, maxOutput: true });

function readAlias(value: unknown, path: string): ModelAlias {
  if (typeof value === 'string') return { like: value };
  if (typeof value !== 'object' || value === null || typeof (value as ModelAlias).like !== 'string') {
    invalid(path, `must be a model name, or { like, prices?, contextWindow?, maxOutput? }; got ${JSON.stringify(value)}.`);
  }
  checkOptionNames(value, ALIAS_OPTION_NAMES, path);
  const alias = value as ModelAlias;
  for (const limit of ['contextWindow', 'maxOutput'] as const) {
    const n = alias[limit];
    if (n !== undefined && (!Number.isSafeInteger(n) || n <= 0)) {
      throw new TokenBudgetConfigError(
        'TB_INVALID_LIMIT',
        `${path}.${limit} must be a positive integer; got ${JSON.stringify(n)}.`,
      );
    }
  }
  return alias;
}

/**
 * Reads the `models` option: each alias names a known model or another alias, and
 * inherits that row (encoding, framing, limits, image rule, price) with its own
 * `contextWindow`, `maxOutput` and `prices` on top. A chain that loops is
 * TB_ALIAS_CYCLE; one that ends in no known model is TB_ALIAS_UNKNOWN_MODEL.
 */
export function readModelAliases(models: unknown): ModelAliases {
  if (models === undefined) return new Map();
  if (typeof models !== 'object' || models === null) invalid('models', 'must map model names to the model each one is like.');
  const table = models as Record<string, unknown>;
  const resolved = new Map<string, ResolvedAlias>();

  const resolve = (name: string, chain: string[]): ResolvedAlias => {
    const known = resolved.get(name);
    if (known) return known;
    if (chain.includes(name)) {
      throw new TokenBudgetConfigError(
        'TB_ALIAS_CYCLE',
        `models: ${[...chain, name].map((n) => `"${n}"`).join(' → ')} is a cycle; an alias must lead to a known model.`,
      );
    }
    const path = `models["${name}"]`;
    const alias = readAlias(table[name], path);
    let base: ResolvedAlias;
    if (Object.hasOwn(table, alias.like)) {
      base = resolve(alias.like, [...chain, name]);
    } else {
      const info = lookupModel(alias.like);
      if (!info) {
        throw new TokenBudgetConfigError(
          'TB_ALIAS_UNKNOWN_MODEL',
          `${path} is like "${alias.like}", which is not a known OpenAI model nor another alias; name the model the deployment or route serves (e.g. 'gpt-4o').`,
        );
      }
      base = { like: alias.like, info, price: undefined };
    }
    const own: ResolvedAlias = {
      like: base.like,
      info: {
        ...base.info,
        contextWindow: alias.contextWindow ?? base.info.contextWindow,
        maxOutputTokens: alias.maxOutput ?? base.info.maxOutputTokens,
      },
      price: alias.prices ?? base.price,
    };
    resolved.set(name, own);
    return own;
  };

  for (const name of Object.keys(table)) {
    if (name === '') invalid('models', 'has an empty model name.');
    resolve(name, []);
  }
  return resolved;
}

/**
 * `prices` with a row for every alias: its own price, else the row of the model it
 * is like (so `prices: { 'gpt-4o': … }` reaches its aliases too). A row the app gave
 * the alias's own name in `priceOverrides` is kept when the alias gives none; a
 * published row of that name is not (a deployment named `gpt-4` may serve gpt-4o).
 */
export function withAliasPrices(prices: PriceList, aliases: ModelAliases, priceOverrides: object = {}): PriceList {
  if (aliases.size === 0) return prices;
  const rows = new Map(prices.rows);
  for (const [name, alias] of aliases) {
    if (alias.price) rows.set(name, toNanoPrice(alias.price, `models["${name}"].prices`));
    else if (!Object.hasOwn(priceOverrides, name)) {
      const inherited = findPrice(alias.like, { rows: prices.rows, fallback: undefined });
      if (inherited) rows.set(name, inherited.price);
      else rows.delete(name);
    }
  }
  return { rows, fallback: prices.fallback };
}
