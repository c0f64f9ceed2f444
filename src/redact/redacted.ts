// What a redacted value becomes, in every output.
export const REDACTED = '[REDACTED]';

/** Is s[start, end) already [REDACTED]? Compared in place: a long value is not copied to find out. */
export function isRedacted(s: string, start: number, end: number): boolean {
  return end - start === REDACTED.length && s.startsWith(REDACTED, start);
}
