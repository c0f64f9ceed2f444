// A query string kept percent-encoded where nothing decodes it: a JSON string holding a URL's
// encoded tail (`{"q": "password%3D…%26user%3Dbob"}`, `"next": "/cb?access_token%3D…"`), a header
// or a log line quoting one. urls.ts reads an encoded URL only as a parameter's value (`next=%2F…`);
// here `name%3Dvalue` is read wherever it stands, and `scheme%3A%2F%2Fuser%3Apw%40host` too. The value
// is redacted in place: the text around it keeps its encoding. Encoded twice (`%253D`) is read the
// same way. Scans are indexOf and walks, no regex over the text.

import type { SensitiveNames } from './names.js';
import { REDACTED } from './redacted.js';
import { safeDecode } from './urls.js';

/** What ends an encoded value, once decoded: `&`, `#`, `;`, a blank, a quote, `<`, `>`. */
const ENCODED_ENDS = new Set(['26', '23', '3B', '20', '22', '27', '3C', '3E', '0A', '0D', '09']);
/** What ends a value as it stands. */
const PLAIN_END = new Uint8Array(128);
for (const c of '&#;"\'<> \t\r\n') PLAIN_END[c.charCodeAt(0)] = 1;
/** Characters of an encoded parameter name: letters, digits, `_`, `-`, `.`, `%` (an encoded `[`, `]`). */
const NAME_CHAR = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.%') NAME_CHAR[c.charCodeAt(0)] = 1;
const ENCODED_REDACTED = encodeURIComponent(REDACTED);
/** A name longer than this is not looked back for (a run of name characters is walked once per `%3D`). */
const MAX_NAME = 128;

/** Does `s` hold an encoded `=` or an encoded `://` (upper or lower case)? The cheap test before a scan. */
export function mayHoldEncodedPairs(s: string): boolean {
  return s.indexOf('%3D') >= 0 || s.indexOf('%3d') >= 0 || s.indexOf('%253D') >= 0 || s.indexOf('%253d') >= 0 || ((s.indexOf('%3A%2F%2F') >= 0 || s.indexOf('%3a%2f%2f') >= 0) && s.indexOf('%40') >= 0);
}

/** `s` with the values of sensitive `name%3Dvalue` pairs and encoded userinfo passwords redacted; `s` when none. */
export function redactEncodedPairs(s: string, names: SensitiveNames, onSecret?: (v: string) => void): string {
  if (!mayHoldEncodedPairs(s)) return s;
  return redactEncodedUserinfo(redactPairs(s, names, onSecret), onSecret);
}

/** The length of the percent-encoded separator at `i` (`%26`: 3, `%2526`: 5), 0 when there is none. */
function encodedEnd(s: string, i: number): number {
  if (s.charCodeAt(i) !== 0x25 /* % */) return 0;
  if (s.charCodeAt(i + 1) === 0x32 && s.charCodeAt(i + 2) === 0x35 && ENCODED_ENDS.has(s.slice(i + 3, i + 5).toUpperCase())) return 5;
  return ENCODED_ENDS.has(s.slice(i + 1, i + 3).toUpperCase()) ? 3 : 0;
}

function redactPairs(s: string, names: SensitiveNames, onSecret?: (v: string) => void): string {
  const upper = s.toUpperCase();
  let out = '';
  let copied = 0;
  for (let d = upper.indexOf('3D'); d >= 0; d = upper.indexOf('3D', d + 2)) {
    // `%3D`, or `%253D` (encoded twice: the `%25` is part of the equals sign, not of the name).
    const twice = d >= 3 && upper.charCodeAt(d - 1) === 0x35 && upper.charCodeAt(d - 2) === 0x32 && upper.charCodeAt(d - 3) === 0x25;
    if (!twice && (d < 1 || upper.charCodeAt(d - 1) !== 0x25)) continue;
    const nameEnd = twice ? d - 3 : d - 1;
    if (nameEnd < copied) continue;
    // Back to the name's start: a character that is in no name, or an encoded separator (`%26`, `%3F`,
    // `%2526`; `%5B`, `%5D` are `user[password]`'s and stay in it). Each walk stops at the `%` of the
    // equals sign before it, so a run of them is walked once.
    let start = nameEnd;
    while (start > copied && nameEnd - start < MAX_NAME) {
      // An encoded character just before: `%XX`, or `%25XX` encoded twice.
      const pct = start - 3 >= copied && s.charCodeAt(start - 3) === 0x25 ? start - 3 : start - 5 >= copied && s.charCodeAt(start - 5) === 0x25 && upper.slice(start - 4, start - 2) === '25' ? start - 5 : -1;
      if (pct >= 0) {
        if (!isNameBracket(upper, pct)) break;
        start = pct;
        continue;
      }
      const c = s.charCodeAt(start - 1);
      if (c >= 128 || NAME_CHAR[c] !== 1 || c === 0x25) break;
      start--;
    }
    const nameText = s.slice(start, nameEnd);
    if (nameText === '') continue;
    const name = safeDecode(safeDecode(nameText));
    if (!names.test(name, 'param')) continue;
    const valueStart = d + 2;
    let end = valueStart;
    while (end < s.length && !(s.charCodeAt(end) < 128 && PLAIN_END[s.charCodeAt(end)] === 1) && encodedEnd(s, end) === 0) end++;
    const value = s.slice(valueStart, end);
    if (value === '' || value === REDACTED || value === ENCODED_REDACTED) continue;
    onSecret?.(value);
    out += s.slice(copied, valueStart) + REDACTED;
    copied = end;
    d = Math.max(d, end - 2);
  }
  return copied === 0 ? s : out + s.slice(copied);
}

/** Is the `%` at `p` an encoded `[` or `]`, once or twice (`%5B`, `%255D`)? */
function isNameBracket(upper: string, p: number): boolean {
  const code = upper.slice(p + 1, p + 3) === '25' ? upper.slice(p + 3, p + 5) : upper.slice(p + 1, p + 3);
  return code === '5B' || code === '5D';
}

/** `https%3A%2F%2Fuser%3Apw%40host`: the password between the encoded `:` and `@` of the authority. */
function redactEncodedUserinfo(s: string, onSecret?: (v: string) => void): string {
  const upper = s.toUpperCase();
  let out = '';
  let copied = 0;
  for (let at = upper.indexOf('%3A%2F%2F'); at >= 0; at = upper.indexOf('%3A%2F%2F', at + 9)) {
    const start = at + 9;
    let end = start;
    // The authority ends at an encoded or plain `/`, `?`, `#`, or a blank or quote.
    while (end < s.length && end - start < 2048) {
      const c = s.charCodeAt(end);
      if (c === 0x2f || c === 0x3f || (c < 128 && PLAIN_END[c] === 1)) break;
      const code = upper.slice(end + 1, end + 3);
      if (c === 0x25 && (code === '2F' || code === '3F' || code === '23' || code === '20' || code === '22')) break;
      end++;
    }
    const authority = upper.slice(start, end);
    const atSign = authority.lastIndexOf('%40');
    if (atSign < 0) continue;
    const colon = authority.indexOf('%3A');
    const from = colon >= 0 && colon < atSign ? start + colon + 3 : start;
    const to = start + atSign;
    const secret = s.slice(from, to);
    if (to <= from || secret === REDACTED || secret === ENCODED_REDACTED) continue;
    onSecret?.(secret);
    out += s.slice(copied, from) + REDACTED;
    copied = to;
  }
  return copied === 0 ? s : out + s.slice(copied);
}
