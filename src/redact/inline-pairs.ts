// Secrets written as `name=value` or `name: "value"` in the middle of text,
// where neither the query-string rules (a name after `?`, `&`, `;` or `#`) nor
// the configuration-line rules (a name at a line's start) look: logfmt log
// lines (`level=info user=bob password=…`), label sets (`{job="api",
// token="…"}`), XML attributes (`<auth password="…"/>`), command lines
// (`--password=…`), code (`const apiKey = "…"`) and GraphQL arguments
// (`login(username: "bob", password: "…")`). The value of such a pair is
// redacted when its name is sensitive.
//
// One walk over the separators, each found by indexOf: a name is read
// backwards from its separator (at most MAX_NAME characters), a value forwards
// to its end. Linear in the text.

import { normaliseName, type SensitiveNames } from './names.js';
import { REDACTED, isRedacted } from './redacted.js';

/** A name this long or longer is not a key (and bounds the backward read). */
const MAX_NAME = 96;

/** Authorization schemes: after `Authorization: Bearer` the credentials are the next word. */
const SCHEMES = new Set(['bearer', 'basic', 'digest', 'token', 'negotiate', 'aws4-hmac-sha256']);
const MAX_SCHEME = 16;

/** `s` with the value of every inline pair whose name is sensitive replaced by [REDACTED]; `s` itself when none. */
export function redactInlinePairs(s: string, names: SensitiveNames): string {
  return scan(s, names, false) as string;
}

/**
 * Could a JSON text hold such a pair inside one of its strings? A JSON key's own
 * colon follows its closing quote and is not counted; `password=…` or
 * `password: \"…\"` inside a string value is.
 */
export function hasInlinePair(s: string, names: SensitiveNames): boolean {
  return scan(s, names, true) as boolean;
}

function scan(s: string, names: SensitiveNames, testOnly: boolean): string | boolean {
  let out = '';
  let copied = 0;
  let eq = s.indexOf('=');
  let colon = s.indexOf(':');
  const stops = new BareEnds(s);
  while (eq >= 0 || colon >= 0) {
    const at = eq < 0 ? colon : colon < 0 ? eq : Math.min(eq, colon);
    if (at === eq) eq = s.indexOf('=', at + 1);
    else colon = s.indexOf(':', at + 1);
    if (at < copied) continue;
    const value = pairValue(s, at, names, testOnly, stops);
    if (!value) continue;
    if (testOnly) return true;
    out += s.slice(copied, value[0]) + REDACTED;
    copied = value[1];
  }
  if (testOnly) return false;
  return copied === 0 ? s : out + s.slice(copied);
}

/** Where the value of the pair whose separator is s[at] lies, when its name is sensitive. */
function pairValue(s: string, at: number, names: SensitiveNames, testOnly: boolean, stops: BareEnds): [number, number] | undefined {
  const separator = s.charCodeAt(at);
  const next = s.charCodeAt(at + 1);
  // `'password' => '…'`, `"password"=>"…"`, `:password => "…"`: a PHP, Ruby or Perl hash (a Rails log's
  // parameters). Its value is read when quoted; a bare one is code (`password => $pw`).
  const rocket = separator === EQUALS && next === GT;
  // `==`, `!=`, `<=`, `=>`, `:=` and `::` are operators; `://` is a URL.
  if (next === EQUALS || (separator === COLON && next === COLON) || (separator === COLON && next === SLASH && s.charCodeAt(at + 2) === SLASH)) return undefined;
  let nameEnd = at;
  while (nameEnd > 0 && isBlank(s.charCodeAt(nameEnd - 1)) && at - nameEnd < 2) nameEnd--;
  const before = s.charCodeAt(nameEnd - 1);
  if (before === EQUALS || before === COLON || before === BANG || before === LT || before === GT) return undefined;
  // A quoted name (`"password": "…"` in text that is not parsed as JSON).
  let quote = 0;
  if (before === QUOTE || before === APOSTROPHE) {
    quote = before;
    nameEnd--;
    // A JSON key's closing quote: in raw JSON the key is what someJsonKey (json-keys.ts) reads; only its value is searched here.
    if (testOnly && quote === QUOTE && separator === COLON) return undefined;
  }
  let nameStart = nameEnd;
  while (nameStart > 0 && nameEnd - nameStart < MAX_NAME && NAME_CHAR[s.charCodeAt(nameStart - 1)] === 1) nameStart--;
  if (nameStart === nameEnd || nameEnd - nameStart >= MAX_NAME) return undefined;
  // The name starts the text or follows a boundary (so `Xpassword=` is not `password=`).
  if (nameStart > 0) {
    const b = s.charCodeAt(nameStart - 1);
    if (quote !== 0 ? b !== quote : BOUNDARY[b] !== 1 && !(rocket && BOUNDARY[b] === 2 && (nameStart === 1 || BOUNDARY[s.charCodeAt(nameStart - 2)] === 1))) return undefined;
  }
  // The value is read before the name is judged: most separators (a time, a URL, CSS) fail here, cheaply.
  const valueAt = rocket ? at + 2 : at + 1;
  let i = valueAt;
  while (i < s.length && isBlank(s.charCodeAt(i)) && i - valueAt <= 1) i++;
  if (rocket && s.charCodeAt(i) !== QUOTE && s.charCodeAt(i) !== APOSTROPHE) return undefined;
  const range = valueRange(s, i, separator, stops);
  if (!range) return undefined;
  const name = s.slice(nameStart, nameEnd);
  if (!isSecretName(name, names)) return undefined;
  // `Authorization: NTLM …`, `SharedKey account:sig`, `Digest username="a", response="…"` quoted in a log
  // line or a curl command: whatever the scheme, all its credentials go, to the end of the header.
  if (separator === COLON && quote === 0 && AUTHORIZATION.test(normaliseName(name))) {
    const line = headerCredentials(s, i, nameStart > 0 ? s.charCodeAt(nameStart - 1) : 0);
    if (line) return line;
  }
  // A bare word after a colon: a value only in a mapping (`{user: app, password: …}`), or after a
  // password's own name when it looks like one (`the admin password: hunter2`).
  if (separator === COLON && range[2]) {
    const end = bareColonValue(s, range, name, quote === 0 && inMapping(s, nameStart, range[1]));
    return end === undefined ? undefined : [range[0], end];
  }
  return [range[0], range[1]];
}

/** Names that make a bare word after a colon mid-line a value even in prose. */
const PASSWORD_NAMES = /(?:password|passwd|pwd|passphrase|passcode|secret|token|apikey|privatekey|credentials?|authorization)$/;
/** Words that are types, keywords or placeholders, not values (`password: string;` in code, `token: required`). */
const NOT_VALUES = new Set(['true', 'false', 'null', 'nil', 'none', 'undefined', 'required', 'optional', 'string', 'str', 'number', 'int', 'integer', 'boolean', 'bool', 'any', 'object', 'bytes', 'text', 'empty', 'missing', 'invalid', 'set', 'unset', 'yes', 'no']);

/**
 * Where the bare word `range` after a colon ends, if it is a value. Never one with code in it (`this.token`, `f(x)`,
 * `$var`, `a=b`); in a mapping, any other; in prose, only after a password's own name and only a word
 * with a digit or a symbol in it (`retry: 5` is not a password's name; `password: required` is prose).
 */
function bareColonValue(s: string, range: [number, number, boolean], name: string, mapping: boolean): number | undefined {
  let end = range[1];
  // A sentence's full stop is not the value's.
  if (s.charCodeAt(end - 1) === DOT) end--;
  if (end <= range[0]) return undefined;
  const word = s.slice(range[0], end);
  if (CODE_CHARS.test(word) || NOT_VALUES.has(word.toLowerCase())) return undefined;
  if (mapping || (PASSWORD_NAMES.test(normaliseName(name)) && /[0-9!@#%^&*+~?]/.test(word))) return end;
  return undefined;
}
const CODE_CHARS = /[.(){}[\]$=\\]/;


/**
 * Is the pair in a YAML flow mapping or an object literal: its name after `{`, or after `,` with its
 * value ending at `,` or `}` (`{user: app, password: …}`; `retry: 5, session: 42 of 50` is prose)?
 */
function inMapping(s: string, nameStart: number, valueEnd: number): boolean {
  let k = nameStart - 1;
  while (k >= 0 && nameStart - k <= 3 && isBlank(s.charCodeAt(k))) k--;
  const c = s.charCodeAt(k);
  const after = s.charCodeAt(valueEnd);
  return c === LBRACE || (c === COMMA && (after === COMMA || after === RBRACE));
}

/**
 * The value starting at s[i]: a quoted string (its inside) or a bare word; a scheme's credentials with it.
 * The third member says a bare word after a colon (judged by its name and shape: bareColonValue).
 */
function valueRange(s: string, i: number, separator: number, stops: BareEnds): [number, number, boolean] | undefined {
  const c = s.charCodeAt(i);
  if (c === QUOTE || c === APOSTROPHE) {
    const start = i + 1;
    let end = start;
    while (end < s.length) {
      const d = s.charCodeAt(end);
      if (d === c || d === NEWLINE) break;
      end += d === BACKSLASH ? 2 : 1;
    }
    end = Math.min(end, s.length);
    // `password=\"x\"` inside a string that holds JSON: the value ends at the escaped quote.
    if (end > start && s.charCodeAt(end - 1) === BACKSLASH) end--;
    if (end <= start || isRedacted(s, start, end)) return undefined;
    // `cookie="__utma="+a+"…"`: a string being built is code, not a value.
    if (s.charCodeAt(end) === c && s.charCodeAt(end + 1) === PLUS) return undefined;
    return [start, end, false];
  }
  // `password: \"x\"` as raw JSON text shows it.
  if (c === BACKSLASH && (s.charCodeAt(i + 1) === QUOTE || s.charCodeAt(i + 1) === APOSTROPHE)) {
    const close = s.indexOf('\\' + s[i + 1], i + 2);
    const end = close < 0 ? lineEnd(s, i + 2) : close;
    if (end <= i + 2 || isRedacted(s, i + 2, end)) return undefined;
    return [i + 2, end, false];
  }
  if (s.startsWith(REDACTED, i)) return undefined;
  const end = stops.from(i);
  // After a colon: a scheme's credentials, or a bare word judged later (`token: this.token,` is code,
  // `retry: 5` prose; a line that starts with `password:` is configuration: lines.ts).
  if (separator === COLON) {
    const scheme = schemeCredentials(s, i);
    if (scheme) return [scheme[0], scheme[1], false];
    return end === i ? undefined : [i, end, true];
  }
  return end === i ? undefined : [i, end, false];
}

/** `Authorization`, `Proxy-Authorization`, `X-Authorization`: a header line's whole value is credentials. */
const AUTHORIZATION = /authorization$/;
/** A scheme's name (`NTLM`, `SharedKey`, `AWS4-HMAC-SHA256`) is a word this long at most. */
const MAX_ANY_SCHEME = 24;

/**
 * An Authorization header's credentials as text quotes it, after its scheme's name (a known scheme or
 * a capitalised word, then a space): one word (`NTLM TlRM…`, `SharedKey account:sig`), or a list of
 * `name=value` items joined by commas (`Digest username="a", response="…"`), quoted values read
 * whole. It stops at a blank after the last item, the end of the line, the quote that encloses the
 * header (`-H 'Authorization: …'`) or a backslash (an escaped quote in JSON text). Each character is
 * looked at once.
 */
function headerCredentials(s: string, i: number, enclosing: number): [number, number] | undefined {
  let w = i;
  while (w < s.length && w - i <= MAX_ANY_SCHEME && SCHEME_CHAR[s.charCodeAt(w)] === 1) w++;
  // A scheme is a known one or a capitalised word (`NTLM`, `SharedKey`): `authorization: required field` is prose.
  if (w === i || w - i > MAX_ANY_SCHEME || s.charCodeAt(w) !== SPACE) return undefined;
  const first = s.charCodeAt(i);
  if (!(first >= 0x41 && first <= 0x5a) && !SCHEMES.has(s.slice(i, w).toLowerCase())) return undefined;
  const start = w + 1;
  const close = enclosing === QUOTE || enclosing === APOSTROPHE ? enclosing : -1;
  let end = start;
  // The credentials are a list of `name=value` items (Digest's): only then does an item after a comma belong to them.
  let list = false;
  while (end < s.length) {
    const c = s.charCodeAt(end);
    if (c === NEWLINE || c === CR || c === close || c === BACKSLASH) break;
    if (c === EQUALS) list = true;
    if (c === QUOTE && close !== QUOTE) {
      // A quoted value (`realm="my realm"`): to its closing quote, on this line.
      let q = end + 1;
      while (q < s.length && s.charCodeAt(q) !== QUOTE && s.charCodeAt(q) !== NEWLINE) q++;
      if (s.charCodeAt(q) !== QUOTE) break;
      end = q + 1;
      continue;
    }
    if (isBlank(c)) {
      // Another item follows a comma (`, response=…`); otherwise the credentials ended.
      if (!list || s.charCodeAt(end - 1) !== COMMA || !nextIsItem(s, end)) break;
    }
    end++;
  }
  while (end > start && (isBlank(s.charCodeAt(end - 1)) || s.charCodeAt(end - 1) === COMMA)) end--;
  // Credentials have a digit or a symbol of base64 or a pair (`header for details` is prose).
  if (end <= start || isRedacted(s, start, end) || !/[0-9=+/:]/.test(s.slice(start, Math.min(end, start + 256)))) return undefined;
  return [start, end];
}

/** After blanks at `at`: a `name=` item of a credentials list. */
function nextIsItem(s: string, at: number): boolean {
  let k = at;
  while (k < s.length && k - at < 4 && isBlank(s.charCodeAt(k))) k++;
  const from = k;
  while (k < s.length && k - from <= 32 && SCHEME_CHAR[s.charCodeAt(k)] === 1) k++;
  return k > from && s.charCodeAt(k) === EQUALS;
}
const SCHEME_CHAR = new Uint8Array(65536);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_') SCHEME_CHAR[c.charCodeAt(0)] = 1;

/** `Authorization: Bearer abc`: the scheme (a short word at `i`) stays, its credentials go. */
function schemeCredentials(s: string, i: number): [number, number] | undefined {
  let end = i;
  while (end < s.length && end - i <= MAX_SCHEME && BARE_END[s.charCodeAt(end)] !== 1) end++;
  if (end === i || s.charCodeAt(end) !== SPACE || !SCHEMES.has(s.slice(i, end).toLowerCase())) return undefined;
  // Already redacted (its `]` ends a bare word: `[REDACTED` alone would be taken again, leaving `]`).
  if (s.startsWith(REDACTED, end + 1)) return undefined;
  let cred = end + 1;
  while (cred < s.length && BARE_END[s.charCodeAt(cred)] !== 1) cred++;
  if (cred === end + 1 || isRedacted(s, end + 1, cred)) return undefined;
  return [end + 1, cred];
}

/**
 * A sensitive name, except two of Kubeshark's words that mean something else as words in text:
 * `key` names a key of any kind (a logfmt `key=orders/7`, an S3 listing's `<Key>`, .NET's
 * `<add key="Region" …>`), and `address` a network address (`address=10.0.0.7:8080`) or the server
 * signature of every Apache and nginx error page (`<address>Apache/2.4 …</address>`). As JSON fields
 * they are still redacted; `apiKey` and `secret_key` count here too.
 */
export function isSecretName(name: string, names: SensitiveNames): boolean {
  if (!names.test(name, 'field')) return false;
  if (name.length !== 3 && name.length !== 7) return true;
  const lower = name.toLowerCase();
  return lower !== 'key' && lower !== 'address';
}

/**
 * Where the bare value starting at a position ends. Separators are visited in order, so the stop found
 * last is the answer for every position before it: `{a=b{a=b…` (each value running to the text's end)
 * is read once, not once per separator.
 */
class BareEnds {
  private start = -1;
  private stop = -1;

  constructor(private readonly s: string) {}

  from(i: number): number {
    if (i >= this.start && i <= this.stop) return this.stop;
    let end = i;
    while (end < this.s.length && BARE_END[this.s.charCodeAt(end)] !== 1) end++;
    this.start = i;
    this.stop = end;
    return end;
  }
}

function lineEnd(s: string, from: number): number {
  const nl = s.indexOf('\n', from);
  return nl < 0 ? s.length : nl;
}

function isBlank(c: number): boolean {
  return c === SPACE || c === TAB;
}

const EQUALS = 0x3d;
const COLON = 0x3a;
const SLASH = 0x2f;
const BANG = 0x21;
const LT = 0x3c;
const GT = 0x3e;
const QUOTE = 0x22;
const APOSTROPHE = 0x27;
const BACKSLASH = 0x5c;
const SPACE = 0x20;
const TAB = 0x09;
const NEWLINE = 0x0a;
const CR = 0x0d;
const PLUS = 0x2b;
const DOT = 0x2e;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const COMMA = 0x2c;

/** Letters, digits, `_`, `-`, `.`: what keys are made of. */
const NAME_CHAR = new Uint8Array(65536);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.') NAME_CHAR[c.charCodeAt(0)] = 1;

/** What may stand before a name: the text's whitespace and punctuation that opens or separates pairs. */
const BOUNDARY = new Uint8Array(65536);
for (const c of ' \t\r\n,{([;|&?"\'') BOUNDARY[c.charCodeAt(0)] = 1;
// A Ruby symbol's colon (`:password => "…"`); `a:password=x` is no pair (the colon then follows a word, below).
BOUNDARY[COLON] = 2;

/** What ends a bare value: whitespace and the punctuation that closes or separates pairs. */
const BARE_END = new Uint8Array(65536);
for (const c of ' \t\r\n,;&)}]"\'<>|') BARE_END[c.charCodeAt(0)] = 1;
