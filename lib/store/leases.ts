// Reservation leases: what every store keeps beside a scope so that a reservation whose process died is taken back.
import { randomBytes } from 'node:crypto';

/** A fresh lease id: 96 random bits, so that two processes never name the same lease. */
export function newLeaseId(): string {
  return randomBytes(12).toString('base64url');
}

/** The key of a window's settled amount (reservations excluded), beside its counter. */
export function spentKeyOf(windowKey: string): string {
  return `${windowKey}:spent`;
}

/** The key of a scope's leases (same hash tag as its counters, so one cluster slot holds both). */
export function leaseKeyOf(scopeKey: string, prefix = ''): string {
  return `${prefix}${scopeKey}:leases`;
}
