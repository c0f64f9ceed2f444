// How many values JSON.parse would build from a text, counted before it is
// parsed. JSON.parse cannot be interrupted (a SIGTERM waits for it) and its
// cost is in the objects it builds, not the bytes: a 36 MB line of one object
// of 2M keys took 4 s of CPU, a 64 MB line of 5.8M one-key objects ~20 s,
// where a 60 MB line of one string takes 0.2 s. Counting is a scan of the
// text (strings skipped with indexOf), stopped as soon as the count passes.

/** Values one JSON text may build before it is refused unparsed (0.4 s of JSON.parse at worst, on a busy machine). */
export const MAX_JSON_VALUES = 131_072;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const BRACE = 0x7b;
const BRACKET = 0x5b;

/** Escaped quotes jumped over by indexOf before strings are stepped through a character at a time (each jump costs a call). */
const MAX_JUMPS = 4096;

/**
 * Whether `text` holds more than `limit` values (countValues). A text of
 * `limit` characters or fewer cannot, and is not scanned.
 */
export function holdsMoreValues(text: string, limit: number = MAX_JSON_VALUES): boolean {
  return text.length > limit && countValues(text, limit) > limit;
}

/**
 * The values in a JSON text: objects, arrays and the items after a comma (a
 * lower bound of what JSON.parse builds, so a text said to hold more does),
 * counted up to `limit` + 1 and no further. Linear in the text's length
 * whatever it holds.
 */
export function countValues(text: string, limit: number): number {
  const jumps = { n: 0 };
  let values = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) i = closingQuote(text, i + 1, jumps);
    else if ((c === COMMA || c === BRACE || c === BRACKET) && ++values > limit) return values;
  }
  return values;
}

/**
 * holdsMoreValues on a line's UTF-8 bytes, b[start, end): the same answer as
 * on its decoded text (no byte of a multi-byte character is a quote, a
 * backslash or a bracket), for readers that never decode a whole line
 * (`stats`, `map`, `catalog` project a few fields from the bytes).
 */
export function bytesHoldMoreValues(b: Buffer, start: number, end: number, limit: number = MAX_JSON_VALUES): boolean {
  if (end - start <= limit) return false;
  let values = 0;
  for (let i = start; i < end; i++) {
    const c = b[i];
    if (c === QUOTE) i = closingQuoteByte(b, i + 1, end);
    else if ((c === COMMA || c === BRACE || c === BRACKET) && ++values > limit) return true;
  }
  return false;
}

/** The index of the quote that ends the string starting at b[from] (`end` when none does before it). A plain walk: the line is walked by the projector's own loop anyway, and memchr per escaped quote would cost a call each. */
function closingQuoteByte(b: Buffer, from: number, end: number): number {
  for (let i = from; i < end; i++) {
    const c = b[i];
    if (c === BACKSLASH) i++;
    else if (c === QUOTE) return i;
  }
  return end;
}

/** The index of the quote that ends the string starting at `from` (the text's length when none does). */
function closingQuote(s: string, from: number, jumps: { n: number }): number {
  let i = from;
  while (jumps.n < MAX_JUMPS) {
    const q = s.indexOf('"', i);
    if (q < 0) return s.length;
    // An even run of backslashes before it escapes nothing. Each run is walked once: it ends at the previous quote at the latest.
    let b = q - 1;
    while (b >= i && s.charCodeAt(b) === BACKSLASH) b--;
    if (((q - 1 - b) & 1) === 0) return q;
    jumps.n++;
    i = q + 1;
  }
  // A text of many escaped quotes (a JSON body kept as a string): one call per quote would cost more than a plain walk.
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === BACKSLASH) i++;
    else if (c === QUOTE) return i;
  }
  return s.length;
}
