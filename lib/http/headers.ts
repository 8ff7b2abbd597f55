// IETF RateLimit / RateLimit-Policy headers (draft-ietf-httpapi-ratelimit-headers) for user and global budgets.
import type { ScopeRequest, ScopeState } from '../store/types';

/** Headers for the user and global scopes among `scopes` (paired by index with `states`). */
export function rateLimitHeaders(scopes: ScopeRequest[], states: ScopeState[], nowMs: number): Record<string, string> {
  const policies: string[] = [];
  const limits: string[] = [];
  scopes.forEach((scope, i) => {
    const state = states[i];
    if (!state || scope.kind === 'feature') return;
    const windowSeconds =
      scope.window.kind === 'sliding'
        ? Math.round(scope.window.windowMs / 1000)
        : periodSeconds(scope.window.periodAt(nowMs));
    const resetSeconds = Math.max(0, Math.ceil((state.resetAtMs - nowMs) / 1000));
    policies.push(`"${scope.kind}";q=${state.limit};w=${windowSeconds}`);
    limits.push(`"${scope.kind}";r=${state.remaining};t=${resetSeconds}`);
  });
  if (policies.length === 0) return {};
  return { 'RateLimit-Policy': policies.join(', '), RateLimit: limits.join(', ') };
}

function periodSeconds(period: { startMs: number; endMs: number }): number {
  return Math.round((period.endMs - period.startMs) / 1000);
}
