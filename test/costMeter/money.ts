// Shared by the cost tests: what the offline upstream billed, priced with lib/pricing, and the meter's own scopes.
import { spendScope, NO_CAP, weightsOf, type SpendWindow } from '../../lib/alerts/spend-scopes';
import { costNanos } from '../../lib/pricing/cost';
import { priceOf } from '../../lib/pricing/prices';
import type { UpstreamCall } from '../../lib/testing';

export const USD = 1_000_000_000;

/** What the upstream billed for `calls` of `model`, in nano-USD, at the published price. */
export function billedNanos(calls: readonly UpstreamCall[], model = 'gpt-4o'): number {
  const { price } = priceOf(model);
  return calls.reduce(
    (sum, call) =>
      sum +
      (call.usage
        ? costNanos(price, { promptTokens: call.usage.prompt_tokens, completionTokens: call.usage.completion_tokens })
        : 0),
    0,
  );
}

/** The money scope a meter counts in, as the store sees it (weights do not change the key). */
export function meterScope(window: SpendWindow, options: { meter?: string; feature?: string; timeZone?: string } = {}) {
  return spendScope({
    meter: options.meter ?? 'spend',
    feature: options.feature,
    window,
    timeZone: options.timeZone ?? 'UTC',
    limit: NO_CAP,
    weights: weightsOf(priceOf('gpt-4o').price),
    onUnavailable: 'fail-closed',
  });
}

/** `n` concurrent POST /chat on the ports given (round robin); the count of each status and the bodies' error types. */
export async function storm(ports: number[], n: number, body: (i: number) => unknown, headers: Record<string, string> = {}) {
  const statuses = new Map<number, number>();
  const types = new Map<string, number>();
  await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const res = await fetch(`http://127.0.0.1:${ports[i % ports.length]}/chat`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body(i)),
      });
      const json = (await res.json()) as { error?: { type: string } };
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (json.error) types.set(json.error.type, (types.get(json.error.type) ?? 0) + 1);
    }),
  );
  return { statuses, types };
}
