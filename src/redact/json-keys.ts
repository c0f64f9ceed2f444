// The keys of a JSON text, found without a regex: the redactor asks of every
// body whether any key could name a secret, and the match arrays a global
// regex made for each key were a third of what redaction allocated on the
// bench capture (round 33 of docs/performance.md).

/** Key names longer than this are no field names; the scan does not read them. */
const MAX_KEY = 256;
/** Escaped quotes (`\\"key\\":`, JSON held in a string) up to this many backslashes deep. */
const MAX_BACKSLASHES = 8;

/**
 * Calls `test` with each key of the JSON text `s`, and of JSON held in its
 * strings (`{"msg": "{\"password\": …}"}`: a log line, an event's payload, a
 * ConfigMap's `config.json`) whose quotes are escaped up to 8 backslashes
 * deep, until `test` says true (then true). The keys are exactly the captures
 * of `/\\{0,8}"([^"\\]{1,256})\\{0,8}"\s*:/g` run over `s`, in order; a key
 * with an escape inside (`\u0070assword`) is for the caller to catch. Linear:
 * each quote starts at most one bounded scan.
 */
export function someJsonKey(s: string, test: (key: string) => boolean): boolean {
  const n = s.length;
  let q = s.indexOf('"');
  while (q >= 0) {
    const from = q + 1;
    let end = from;
    const stop = Math.min(n, from + MAX_KEY + 1);
    while (end < stop) {
      const c = s.charCodeAt(end);
      if (c === 0x22 || c === 0x5c) break;
      end++;
    }
    const length = end - from;
    let close = end;
    while (close < n && close - end <= MAX_BACKSLASHES && s.charCodeAt(close) === 0x5c) close++;
    if (length >= 1 && length <= MAX_KEY && close - end <= MAX_BACKSLASHES && s.charCodeAt(close) === 0x22) {
      let colon = close + 1;
      while (colon < n && isRegExpSpace(s.charCodeAt(colon))) colon++;
      if (s.charCodeAt(colon) === 0x3a) {
        if (test(s.slice(from, end))) return true;
        q = s.indexOf('"', colon + 1);
        continue;
      }
    }
    q = s.indexOf('"', from);
  }
  return false;
}

/** What `\s` matches in a JavaScript regex: white space and line terminators. */
function isRegExpSpace(c: number): boolean {
  if (c < 0x80) return c === 0x20 || (c >= 0x09 && c <= 0x0d);
  return (
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}
