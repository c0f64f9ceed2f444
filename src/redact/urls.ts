// Secrets inside URLs and query strings, wherever a string holds one: the
// password of `scheme://user:pw@host` (in any string: a Referer, a Redis value,
// a connection string in SQL) and the values of sensitive parameters
// (`?access_token=…`, `&code=…` of an OAuth redirect, a form body). Both are
// scans without backtracking: indexOf for the markers, then a walk. Every
// string searched here is searched for secrets known by their shape too
// (tokens.ts: private keys, JWTs, prefixed API keys).

import type { SensitiveNames } from './names.js';
import { REDACTED } from './redacted.js';
import { redactTokens } from './tokens.js';
import { sensitiveGraphqlVariables } from './graphql.js';
import { redactNamedLines } from './lines.js';
import { redactInlinePairs } from './inline-pairs.js';

export { REDACTED };

/**
 * `http://user:pw@host/` → `http://user:[REDACTED]@host/`; `http://tok@host` → `http://[REDACTED]@host`;
 * and before that, tokens known by their shape (the one pass every string the redactor reads takes).
 */
export function redactUserinfo(text: string): string {
  let s = redactTokens(text);
  if (s.indexOf('oracle:') >= 0) s = redactOracleLogon(s);
  let from = s.indexOf('://');
  if (from < 0) return s;
  let out = '';
  let copied = 0;
  while (from >= 0) {
    const start = from + 3;
    let end = start;
    let at = -1;
    // The authority ends at the first '/', '?', '#' or space; its last '@' closes the userinfo.
    for (; end < s.length && end - start < 2048; end++) {
      const c = s.charCodeAt(end);
      if (AUTHORITY_END[c]) break;
      if (c === 0x40 /* @ */) at = end;
    }
    if (at > start) {
      const colon = s.indexOf(':', start);
      const secretFrom = colon >= 0 && colon < at ? colon + 1 : start;
      if (s.slice(secretFrom, at) !== REDACTED && at > secretFrom) {
        out += s.slice(copied, secretFrom) + REDACTED;
        copied = at;
      }
    }
    from = s.indexOf('://', Math.max(end, start));
  }
  return copied === 0 ? s : out + s.slice(copied);
}

/**
 * Oracle's JDBC URL puts the logon before the `@` with a slash and no `://`:
 * `jdbc:oracle:thin:scott/tiger@//db:1521/svc` → `jdbc:oracle:thin:scott/[REDACTED]@//db:1521/svc`
 * (`oci`, `oci8` and `kprb` drivers alike). A URL without a logon (`jdbc:oracle:thin:@db:1521:X`) stays.
 */
function redactOracleLogon(s: string): string {
  let out = '';
  let copied = 0;
  for (let at = s.indexOf('oracle:'); at >= 0; at = s.indexOf('oracle:', at + 7)) {
    const driverEnd = s.indexOf(':', at + 7);
    if (driverEnd < 0 || driverEnd - at > 12 || !ORACLE_DRIVERS.has(s.slice(at + 7, driverEnd))) continue;
    // The logon runs to the first `@` (a password holds one only quoted) before a blank or a quote.
    let end = driverEnd + 1;
    let slash = -1;
    let atSign = -1;
    for (; end < s.length && end - driverEnd < 512; end++) {
      const c = s.charCodeAt(end);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x27 || c === 0x3c || c === 0x3e || c === 0x2c || c === 0x3b) break;
      // A user's name holds no `:` or quote (another `oracle:` is its own URL).
      if ((c === 0x22 /* " */ || c === 0x3a /* : */) && slash < 0) break;
      if (c === 0x2f /* / */ && slash < 0 && atSign < 0) {
        slash = end;
        // A quoted password (`sys/"p@ss"@tns`): to its closing quote.
        if (s.charCodeAt(end + 1) === 0x22) {
          const close = s.indexOf('"', end + 2);
          if (close < 0 || close - end > 256) break;
          end = close;
        }
      } else if (c === 0x40 /* @ */) {
        atSign = end;
        break;
      }
    }
    if (slash < 0 || atSign < slash + 2 || s.slice(slash + 1, atSign) === REDACTED) continue;
    out += s.slice(copied, slash + 1) + REDACTED;
    copied = atSign;
    at = atSign;
  }
  return copied === 0 ? s : out + s.slice(copied);
}
const ORACLE_DRIVERS = new Set(['thin', 'oci', 'oci8', 'kprb']);

/**
 * `…?a=1&token=x` → `…?a=1&token=[REDACTED]`. A parameter starts the string or
 * follows `?`, `&`, `;` or `#`; a value ends at `&`, `#`, `;`, whitespace or a quote.
 */
export function redactQueryParams(s: string, names: SensitiveNames): string {
  return scanQueryParams(s, names, false) as string;
}

/** Does `s` hold a sensitive parameter with a value (see redactQueryParams)? */
export function hasSensitiveParam(s: string, names: SensitiveNames): boolean {
  return scanQueryParams(s, names, true) as boolean;
}

function scanQueryParams(s: string, names: SensitiveNames, testOnly: boolean, depth = 0): string | boolean {
  if (s.indexOf('=') < 0) return testOnly ? false : s;
  let out = '';
  let copied = 0;
  let i = 0;
  const seps = new Separators(s);
  const percents = new NextIndex(s, '%');
  while (i < s.length) {
    // A parameter name starts at 0 or just after a separator.
    const nameStart = i;
    let j = i;
    while (j < s.length && !PARAM_NAME_END[s.charCodeAt(j)]) j++;
    if (j < s.length && s[j] === '=' && j > nameStart) {
      const valueStart = j + 1;
      let k = valueStart;
      while (k < s.length && !VALUE_END[s.charCodeAt(k)]) k++;
      const name = k > valueStart && s.slice(valueStart, k) !== REDACTED ? safeDecode(s.slice(nameStart, j)) : '';
      if (name !== '' && names.test(name, 'param')) {
        if (testOnly) return true;
        out += s.slice(copied, valueStart) + REDACTED;
        copied = k;
      } else if (name === 'query' || name === 'variables') {
        // GraphQL over GET: `?query={user(token:"…")}` and `&variables={"password":"…"}`, URL-encoded;
        // a variable bound to a sensitive argument in the query goes whatever it is called.
        const bound = name === 'variables' ? boundVariables(s, names) : undefined;
        const red = redactGraphqlParam(s.slice(valueStart, k), names, bound);
        if (red !== undefined) {
          if (testOnly) return true;
          out += s.slice(copied, valueStart) + red;
          copied = k;
        }
      } else if (name !== '' && isEncodedJson(s, valueStart, k)) {
        // JSON as a form field's value (`payload=%7B%22password%22%3A…`: Slack's interactive payloads,
        // GitHub's form-encoded webhooks) or a query parameter: decoded, its pairs redacted, re-encoded.
        const red = redactGraphqlParam(s.slice(valueStart, k), names);
        if (red !== undefined) {
          if (testOnly) return true;
          out += s.slice(copied, valueStart) + red;
          copied = k;
        }
      } else if (name !== '' && name !== 'command' && depth < MAX_NESTED_URL && percents.within(valueStart, k) && hasEncodedParam(s, valueStart, k)) {
        // A URL or query string as a parameter's value (`?next=%2Flogin%3Fpassword%3D…`, an OAuth
        // `redirect_uri` carrying a token): decoded and read as its own, re-encoded when it changed.
        // (`command=`, an exec call's argv word, is read as a command line by exec-query.ts.)
        const red = redactEncodedUrl(s.slice(valueStart, k), names, depth + 1);
        if (red !== undefined) {
          if (testOnly) return true;
          out += s.slice(copied, valueStart) + red;
          copied = k;
        }
      }
      j = k;
    }
    // Skip to just after the next separator (found natively: a body of HTML
    // or prose has '=' and few separators, and a loop here walked all of it).
    i = seps.after(j) + 1;
  }
  if (testOnly) return false;
  return copied === 0 ? s : out + s.slice(copied);
}

/** Where the next `?`, `&`, `;` or `#` of a string is, by indexOf per character, each found once. */
class Separators {
  /** The next position of each separator at or after where it was last looked for; -1: none from there on. */
  private readonly next = [-2, -2, -2, -2];

  constructor(private readonly s: string) {}

  /** The first separator at or after `from`; the string's length when there is none. */
  after(from: number): number {
    let first = this.s.length;
    for (let k = 0; k < 4; k++) {
      let at = this.next[k];
      if (at !== -1 && at < from) {
        at = this.s.indexOf(SEPARATOR_CHARS[k], from);
        this.next[k] = at;
      }
      if (at !== -1 && at < first) first = at;
    }
    return first;
  }
}

/** Where `char` next stands in a string read forwards: each occurrence found once (linear however many parameters ask). */
class NextIndex {
  private at = -2;

  constructor(
    private readonly s: string,
    private readonly char: string,
  ) {}

  /** Does `char` stand in [from, to)? `from` never goes back between calls. */
  within(from: number, to: number): boolean {
    if (this.at !== -1 && this.at < from) this.at = this.s.indexOf(this.char, from);
    return this.at >= 0 && this.at < to;
  }
}

const ENCODED_REDACTED = encodeURIComponent(REDACTED);

/** URLs inside URLs read: a redirect's own redirect, and no further (each level decodes the value once). */
const MAX_NESTED_URL = 3;

/**
 * Does s[from, to) hold a percent-encoded `=` (`%3D`, a parameter once decoded) or `://` and `@` (a
 * URL's userinfo once decoded), or either encoded twice (`%253D`)?
 */
function hasEncodedParam(s: string, from: number, to: number): boolean {
  const d = s.slice(from, to).toUpperCase();
  return d.indexOf('%3D') >= 0 || d.indexOf('%253D') >= 0 || (d.indexOf('%3A%2F%2F') >= 0 && d.indexOf('%40') >= 0);
}

/** Does s[from, to) start as percent-encoded JSON (`%7B%22`, `%5B%7B`, `%7B"`) and hold a quoted name and a colon? */
function isEncodedJson(s: string, from: number, to: number): boolean {
  if (to - from < 12 || s.charCodeAt(from) !== 0x25 /* % */) return false;
  const head = s.slice(from, from + 6).toUpperCase();
  if (!head.startsWith('%7B') && !head.startsWith('%5B')) return false;
  const d = s.slice(from, to).toUpperCase();
  return d.indexOf('%3A') >= 0 && (d.indexOf('%22') >= 0 || d.indexOf('"') >= 0);
}

/**
 * A parameter's value that is itself a URL or query string, percent-encoded: decoded, its sensitive
 * parameters and userinfo redacted, re-encoded (`[REDACTED]` as it stands elsewhere); undefined when
 * nothing in it changed.
 */
function redactEncodedUrl(value: string, names: SensitiveNames, depth: number): string | undefined {
  const decoded = safeDecode(value);
  if (decoded === value) return undefined;
  let red = scanQueryParams(redactUserinfo(decoded), names, false, depth) as string;
  // Encoded twice (`%253D`): the value decoded once is still one value.
  if (red === decoded && depth < MAX_NESTED_URL && hasEncodedParam(decoded, 0, decoded.length)) red = redactEncodedUrl(decoded, names, depth + 1) ?? decoded;
  if (red === decoded) return undefined;
  return encodeURIComponent(red).split(ENCODED_REDACTED).join(REDACTED);
}

/** The names of the variables a URL's `query=` parameter binds to sensitive arguments (graphql.ts). */
function boundVariables(s: string, names: SensitiveNames): Set<string> | undefined {
  const m = QUERY_PARAM.exec(s);
  return m ? sensitiveGraphqlVariables(safeDecode(m[1]), names) : undefined;
}
const QUERY_PARAM = /(?:^|[?&;])query=([^&#;"'<>\s]*)/;

/**
 * A GraphQL document or its variables as a URL parameter's value: re-encoded with its inline pairs
 * redacted, and the variables in `bound`; undefined when none.
 */
function redactGraphqlParam(value: string, names: SensitiveNames, bound?: Set<string>): string | undefined {
  const decoded = safeDecode(value);
  const text = bound ? withoutVariables(decoded, bound) : decoded;
  if (text.indexOf(':') < 0 && text.indexOf('=') < 0) return undefined;
  const red = redactInlinePairs(text, names);
  if (red === decoded) return undefined;
  // [REDACTED] stands as it does in every other parameter, not percent-encoded.
  return encodeURIComponent(red).split(ENCODED_REDACTED).join(REDACTED);
}

/** A variables object (JSON) with the variables named in `bound` redacted; the text itself when it is not one or none is there. */
function withoutVariables(text: string, bound: Set<string>): string {
  let vars: unknown;
  try {
    vars = JSON.parse(text);
  } catch {
    return text;
  }
  if (vars === null || typeof vars !== 'object' || Array.isArray(vars)) return text;
  let changed = false;
  for (const name of bound) {
    if (Object.hasOwn(vars, name) && (vars as Record<string, unknown>)[name] !== REDACTED) {
      (vars as Record<string, unknown>)[name] = REDACTED;
      changed = true;
    }
  }
  return changed ? JSON.stringify(vars) : text;
}

/** A string that may hold URLs, a query string or configuration lines: userinfo, sensitive parameters and lines. */
export function redactUrlText(s: string, names: SensitiveNames): string {
  return redactNamedLines(redactQueryParams(redactUserinfo(s), names), names);
}

/** 1 for each of `chars` and for whitespace, by UTF-16 code unit. */
function table(chars: string): Uint8Array {
  const t = new Uint8Array(65536);
  for (const c of chars + ' \t\r\n\f\v') t[c.charCodeAt(0)] = 1;
  return t;
}
/**
 * `#` too: the OAuth implicit flow returns `#access_token=…` in the fragment.
 * Not a space: `startup user=postgres` in a summary is the protocol's own
 * field (left readable there too), not a query string.
 */
const SEPARATOR_CHARS = ['?', '&', ';', '#'] as const;
const PARAM_NAME_END = table('=?&;#"\'<>');
const VALUE_END = table('&#;"\'<>');
/** Characters that end the userinfo part of an authority (RFC 3986) or the text around it. */
const AUTHORITY_END = table('/?#"\'<>\\');

export function safeDecode(s: string): string {
  if (s.indexOf('%') < 0 && s.indexOf('+') < 0) return s;
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}
