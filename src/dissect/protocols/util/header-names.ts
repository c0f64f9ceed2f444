// Lowercase header names without a new string per header. Every HTTP/1
// message repeats a few dozen names (`Content-Type`, `Host`), and slicing then
// lowercasing each made two strings a header, a third of what reading a head
// made. Names met before come from a table found by a hash of their bytes.

/** Distinct names remembered: past this, new names are sliced as before (a flood of made-up names costs no memory). */
const MAX_NAMES = 1024;
/** Longer names are sliced each time: real header names are short. */
const MAX_NAME_LENGTH = 64;

const byHash = new Map<number, string>();

/**
 * `text.slice(from, to).toLowerCase()` for a header name in latin1 text,
 * from the table when this name was met before.
 */
export function headerName(text: string, from: number, to: number): string {
  const length = to - from;
  if (length > MAX_NAME_LENGTH) return text.slice(from, to).toLowerCase();
  let hash = length;
  for (let i = from; i < to; i++) {
    let c = text.charCodeAt(i);
    // Non-ASCII names lowercase by Unicode's rules: toLowerCase does that.
    if (c >= 0x80) return text.slice(from, to).toLowerCase();
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    hash = (Math.imul(hash, 31) + c) | 0;
  }
  const known = byHash.get(hash);
  if (known !== undefined && sameName(known, text, from, to)) return known;
  const name = text.slice(from, to).toLowerCase();
  // A hash shared by two names keeps the first; the second is sliced each time.
  if (known === undefined && byHash.size < MAX_NAMES) byHash.set(hash, name);
  return name;
}

/** `lower` equals text[from, to) lowercased (ASCII). */
function sameName(lower: string, text: string, from: number, to: number): boolean {
  if (lower.length !== to - from) return false;
  for (let i = 0; i < lower.length; i++) {
    let c = text.charCodeAt(from + i);
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}
