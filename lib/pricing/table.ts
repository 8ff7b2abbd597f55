// OpenAI's published prices (USD per 1M tokens, standard tier), dated, with where each row was read.
import type { ModelPrice } from '../types';

/** A published price, when it was read and where. */
export interface PublishedPrice extends ModelPrice {
  /** The day the source was read (YYYY-MM-DD). */
  checked: string;
  source: string;
}

const MODEL_PAGE = 'https://developers.openai.com/api/docs/models/';
/** pydantic/genai-prices prices/providers/openai.yml (commit 01d6df8c), itself read from platform.openai.com/docs/pricing on the date given. */
const GENAI_PRICES = 'genai-prices openai.yml ← platform.openai.com/docs/pricing';
const COPILOT = 'github/docs data/tables/copilot/models-and-pricing.yml (OpenAI list prices)';
/**
 * Fine-tuned inference, as two independent price sources list it (OpenAI's fine-tuning
 * price table; recordcrash/arquiusbot-2 constants/ai.py agrees). No fine-tune cached rate
 * is confirmed by both, so cached input is billed at the full input rate here: it errs high.
 */
const FINE_TUNE = 'platform.openai.com/docs/pricing, fine-tuning table (two price sources agree)';

const row = (
  input: number,
  cachedInput: number | undefined,
  output: number,
  checked: string,
  source: string,
): PublishedPrice => ({
  input,
  ...(cachedInput === undefined ? {} : { cachedInput }),
  output,
  checked,
  source,
});

/**
 * A row prices its own name and that name's dated snapshots (`-2024-08-06`,
 * `-0613`); a snapshot with a price of its own (gpt-4o-2024-05-13) has its own row.
 * Variants and point releases (gpt-5-pro, gpt-5.1, o3-deep-research) are other
 * models with other prices: each needs its own row. A row without `cachedInput`
 * has no caching discount. An `ft:` row prices the fine-tunes of its base.
 */
export const PUBLISHED_PRICES: Readonly<Record<string, PublishedPrice>> = {
  'gpt-5': row(1.25, 0.125, 10, '2026-11-30', `${MODEL_PAGE}gpt-5-codex (quick comparison: GPT-5)`),
  'gpt-5-mini': row(0.25, 0.025, 2, '2026-11-30', `${MODEL_PAGE}gpt-5-mini`),
  'gpt-5-nano': row(0.05, 0.005, 0.4, '2026-11-30', `${MODEL_PAGE}gpt-5-nano`),
  'gpt-5-chat-latest': row(1.25, 0.125, 10, '2025-11-13', GENAI_PRICES),
  'gpt-5-codex': row(1.25, 0.125, 10, '2026-11-30', `${MODEL_PAGE}gpt-5-codex`),
  'gpt-5-pro': row(15, undefined, 120, '2025-11-13', GENAI_PRICES),
  'gpt-5.1': row(1.25, 0.125, 10, '2025-11-13', GENAI_PRICES),
  'gpt-5.2': row(1.75, 0.175, 14, '2026-11-30', COPILOT),
  'gpt-4.1': row(2, 0.5, 8, '2026-11-30', COPILOT),
  'gpt-4.1-mini': row(0.4, 0.1, 1.6, '2025-07-04', GENAI_PRICES),
  'gpt-4.1-nano': row(0.1, 0.025, 0.4, '2026-11-30', `${MODEL_PAGE}gpt-4.1-nano`),
  // The model table's family name; the API's name is gpt-4.5-preview.
  'gpt-4.5': row(75, 37.5, 150, '2025-07-04', GENAI_PRICES),
  'gpt-4.5-preview': row(75, 37.5, 150, '2025-07-04', GENAI_PRICES),
  'gpt-4o': row(2.5, 1.25, 10, '2025-07-04', GENAI_PRICES),
  // The first gpt-4o snapshot kept its launch price.
  'gpt-4o-2024-05-13': row(5, undefined, 15, '2026-11-30', 'openrouter.ai/openai/gpt-4o-2024-05-13 (OpenAI list price)'),
  'chatgpt-4o-latest': row(5, undefined, 15, '2025-07-04', GENAI_PRICES),
  'gpt-4o-mini': row(0.15, 0.075, 0.6, '2025-07-04', GENAI_PRICES),
  o1: row(15, 7.5, 60, '2025-07-04', GENAI_PRICES),
  'o1-preview': row(15, 7.5, 60, '2025-07-04', GENAI_PRICES),
  'o1-mini': row(1.1, 0.55, 4.4, '2025-07-04', GENAI_PRICES),
  'o1-pro': row(150, undefined, 600, '2025-07-04', GENAI_PRICES),
  o3: row(2, 0.5, 8, '2025-07-12', `${GENAI_PRICES} (price since 2025-06-10)`),
  'o3-mini': row(1.1, 0.55, 4.4, '2025-07-04', GENAI_PRICES),
  'o3-pro': row(20, undefined, 80, '2025-07-04', GENAI_PRICES),
  'o4-mini': row(1.1, 0.275, 4.4, '2025-07-04', GENAI_PRICES),
  'gpt-4-turbo': row(10, undefined, 30, '2025-07-04', GENAI_PRICES),
  'gpt-4-turbo-preview': row(10, undefined, 30, '2025-07-04', GENAI_PRICES),
  'gpt-4-1106-preview': row(10, undefined, 30, '2025-07-04', GENAI_PRICES),
  'gpt-4-0125-preview': row(10, undefined, 30, '2025-07-04', GENAI_PRICES),
  'gpt-4-vision-preview': row(10, undefined, 30, '2025-07-04', GENAI_PRICES),
  'gpt-4': row(30, undefined, 60, '2026-11-30', `${MODEL_PAGE}gpt-4`),
  'gpt-4-32k': row(60, undefined, 120, '2025-07-04', GENAI_PRICES),
  'gpt-3.5-turbo': row(0.5, undefined, 1.5, '2025-07-04', GENAI_PRICES),
  'gpt-35-turbo': row(0.5, undefined, 1.5, '2025-07-04', GENAI_PRICES),
  'gpt-3.5-turbo-0301': row(1.5, undefined, 2, '2025-07-04', GENAI_PRICES),
  'gpt-3.5-turbo-0613': row(1.5, undefined, 2, '2025-11-07', GENAI_PRICES),
  'gpt-3.5-turbo-1106': row(1, undefined, 2, '2025-11-07', GENAI_PRICES),
  'gpt-3.5-turbo-16k': row(3, undefined, 4, '2025-07-04', GENAI_PRICES),
  'gpt-3.5-turbo-instruct': row(1.5, undefined, 2, '2025-07-04', GENAI_PRICES),
  'ft:gpt-4o': row(3.75, undefined, 15, '2026-12-05', FINE_TUNE),
  'ft:gpt-4o-mini': row(0.3, undefined, 1.2, '2026-12-05', FINE_TUNE),
  'ft:gpt-3.5-turbo': row(3, undefined, 6, '2026-12-05', FINE_TUNE),
};
