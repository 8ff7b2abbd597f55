// Rankings of the memory store: sorted scores per key, each key forgotten once its lifetime ends.
import type { RankIncrement, RankedMember } from './types';

interface Ranking {
  scores: Map<string, number>;
  expiresAtMs: number;
}

/** The memory store's `rank` and `ranked`, on its clock. */
export class MemoryRankings {
  private readonly rankings = new Map<string, Ranking>();

  add(increments: readonly RankIncrement[], nowMs: number): void {
    // A handful of keys live at once (hours, days): dropping the ended ones on each write keeps memory bounded.
    for (const [key, ranking] of this.rankings) if (ranking.expiresAtMs <= nowMs) this.rankings.delete(key);
    for (const { key, member, amount, ttlMs } of increments) {
      let ranking = this.rankings.get(key);
      if (!ranking) {
        ranking = { scores: new Map(), expiresAtMs: nowMs + ttlMs };
        this.rankings.set(key, ranking);
      }
      ranking.scores.set(member, (ranking.scores.get(member) ?? 0) + amount);
    }
  }

  /** Highest first; equal scores in reverse member order, as Redis's ZREVRANGE gives them. */
  top(key: string, limit: number, nowMs: number): RankedMember[] {
    const ranking = this.rankings.get(key);
    if (!ranking || ranking.expiresAtMs <= nowMs) return [];
    return [...ranking.scores]
      .map(([member, score]) => ({ member, score }))
      .sort((a, b) => b.score - a.score || (a.member < b.member ? 1 : a.member > b.member ? -1 : 0))
      .slice(0, limit);
  }

  clear(): void {
    this.rankings.clear();
  }
}
