// How a summary shows an HTTP status. A status the capture does not hold (the
// response head lost with a gap, a malformed status line) is null in the entry,
// never 0: 0 is no HTTP status, and `stats --by status` would count it as one.

/** The status's number, or `?` and why it is unknown (`? (headers lost)`). */
export function statusText(status: unknown, unknown?: string): string {
  if (typeof status === 'number') return String(status);
  return unknown ? `? (${unknown})` : '?';
}
