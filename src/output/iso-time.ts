// Capture times (ms since the epoch) as ISO 8601 text. A time comes from a
// capture or an entry line, both attacker input: a finite number can still be
// past what a Date holds (±8.64e15 ms), where toISOString throws.

/** Largest |ms| a JavaScript Date holds (ECMA-262 "time values"). */
const MAX_DATE_MS = 8.64e15;

/** True when `ms` is a time a Date can hold. */
export function isDateTime(ms: unknown): ms is number {
  return typeof ms === 'number' && Number.isFinite(ms) && Math.abs(ms) <= MAX_DATE_MS;
}

/** "2026-12-03T21:28:14.000Z", or null for a value that is no such time. */
export function isoTime(ms: unknown): string | null {
  return isDateTime(ms) ? new Date(ms).toISOString() : null;
}
