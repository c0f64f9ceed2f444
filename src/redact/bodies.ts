// Secrets in message bodies: JSON at any depth (through the caller's walker),
// form-encoded, multipart/form-data parts by field name, and URLs in plain
// text. A JSON body is parsed only when a quick scan finds a key that could be
// sensitive, and re-serialised only when something changed.

import { gunzipSync, inflateSync, constants as zlibConstants } from 'node:zlib';
import { ZSTD_MAGIC, isOverflow, zstdDecompressPartial } from '../dissect/protocols/util/zstd.js';
import type { SensitiveNames } from './names.js';
import { REDACTED, hasSensitiveParam } from './urls.js';
import { mayHoldToken } from './tokens.js';
import { holdsKubernetesSecret } from './kubernetes.js';
import { mayHoldSql, redactContentText } from './text.js';
import { mayHoldEncodedPairs } from './percent-pairs.js';
import { mayHoldCryptHash, redactCryptHashes } from './crypt-hashes.js';
import { mayHoldTerraformState } from './terraform-state.js';
import { hasInlinePair } from './inline-pairs.js';
import { mayHoldCommandLine } from './command-lines.js';
import { someJsonKey } from './json-keys.js';
import { mayBeCbor, redactCbor } from './cbor.js';

/** Redacts a parsed JSON value; returns the same value when nothing changed. */
export type JsonRedactor = (value: object) => object;

/** A body string: JSON, multipart, else form-encoded or text (parameters and userinfo). */
export function redactBodyText(s: string, names: SensitiveNames, json: JsonRedactor, nested = false): string {
  const first = firstNonSpace(s);
  if ((first === '{' || first === '[') && !startsWithSection(s)) return redactJsonText(s, names, json);
  if (!nested && s.startsWith('--')) return redactMultipart(s, names, json);
  return redactContentText(s, names);
}

/** A JSON document (or one cut short) with every sensitive key's value redacted. */
export function redactJsonText(s: string, names: SensitiveNames, json: JsonRedactor): string {
  if (!mayHoldSecret(s, names)) return s;
  let parsed: unknown;
  try {
    parsed = JSON.parse(s);
  } catch {
    // A stream of documents, one a line (a Kubernetes watch, NDJSON logs): each is read as JSON.
    // (Pretty-printed JSON cut short also has newlines, but its first line is no document.)
    // SignalR's JSON hub protocol ends each message with the record separator (U+001E), as RFC 7464's
    // JSON text sequences begin each: the same stream, one document a record.
    if (s.indexOf(RS) >= 0 || firstLineIsJson(s)) return redactJsonLines(s, names, json);
    return redactContentText(looseJson(s, names), names);
  }
  if (parsed === null || typeof parsed !== 'object') return s;
  const red = json(parsed);
  return red === parsed ? s : JSON.stringify(red);
}

/** The record separator: ends a SignalR message, begins an RFC 7464 JSON text. */
const RS = '\u001e';

/** Where the next newline and record separator are (-1: none left), kept between calls so the text is searched once. */
interface Separators {
  nl: number;
  rs: number;
}

/** The next newline or record separator at or after `from`; the text's length when none. */
function nextSeparator(s: string, from: number, at: Separators): number {
  if (at.nl >= 0 && at.nl < from) at.nl = s.indexOf('\n', from);
  if (at.rs >= 0 && at.rs < from) at.rs = s.indexOf(RS, from);
  const end = at.nl < 0 ? at.rs : at.rs < 0 ? at.nl : Math.min(at.nl, at.rs);
  return end < 0 ? s.length : end;
}

/** Newline-delimited JSON (or records apart by U+001E): each line redacted as a document of its own (one that is not JSON as text is). */
function redactJsonLines(s: string, names: SensitiveNames, json: JsonRedactor): string {
  let out = '';
  const at: Separators = { nl: s.indexOf('\n'), rs: s.indexOf(RS) };
  for (let start = 0; start < s.length; ) {
    const end = nextSeparator(s, start, at);
    const line = s.slice(start, end);
    const first = firstNonSpace(line);
    let red: string;
    if (first !== '{' && first !== '[') red = redactContentText(looseJson(line, names), names);
    else {
      try {
        const doc: unknown = JSON.parse(line);
        red = doc !== null && typeof doc === 'object' ? redactedJson(line, doc, json) : line;
      } catch {
        red = redactContentText(looseJson(line, names), names);
      }
    }
    out += end < s.length ? red + s[end] : red;
    start = end + 1;
  }
  return out;
}

/** The text's first line is a JSON object or array of its own (newline-delimited JSON). */
function firstLineIsJson(s: string): boolean {
  const nl = s.indexOf('\n');
  if (nl <= 0) return false;
  try {
    const doc: unknown = JSON.parse(s.slice(0, nl));
    return doc !== null && typeof doc === 'object';
  } catch {
    return false;
  }
}

function redactedJson(text: string, doc: object, json: JsonRedactor): string {
  const red = json(doc);
  return red === doc ? text : JSON.stringify(red);
}

/**
 * Could this JSON text hold a secret? False only when it certainly cannot: no
 * sensitive key, no escape that could spell one, no URL with userinfo and no
 * URL parameter that could be sensitive.
 */
export function mayHoldSecret(s: string, names: SensitiveNames): boolean {
  if (s.indexOf('\\u') >= 0) return true;
  // Tokens known by their shape, and Kubernetes Secrets (whose data sits under names like any other).
  if (mayHoldToken(s) || s.indexOf('Secret') >= 0) return true;
  // A PEM block in base64 (`LS0tLS1CRUdJTi…` is `-----BEGIN `: a Helm value, a ConfigMap's key file), read
  // decoded (entry.ts contentString). JSON in base64 opens with `eyJ`, a token marker above.
  if (s.indexOf('LS0tLS1CRUdJTi') >= 0) return true;
  // A JSON Web Key, whose private members have one- and two-letter names (jwk.ts).
  if (s.indexOf('"kty"') >= 0) return true;
  // A string of several lines may be a configuration file (`password: …` on its second line).
  if (s.indexOf('\\n') >= 0) return true;
  // `{"name": "DB_PASSWORD", "value": …}`: a Kubernetes env var, a HAR header; the name is a value here.
  if (s.indexOf('"value"') >= 0 && s.indexOf('"name"') >= 0) return true;
  // `{"type": "password", "value": …}` (a Keycloak credential) and an Azure Key Vault secret: entry.ts isTypedSecret, isKeyVaultSecret.
  if (s.indexOf('"value"') >= 0 && (s.indexOf('"type"') >= 0 || s.indexOf('.vault.') >= 0)) return true;
  // AWS's `{"Name": "/prod/db/password", "Value": …}` (SSM) and `{"ParameterKey": …, "ParameterValue": …}` (CloudFormation).
  if ((s.indexOf('"Value"') >= 0 && s.indexOf('"Name"') >= 0) || s.indexOf('"ParameterValue"') >= 0) return true;
  // Terraform state: a random_password's result, attributes listed as sensitive (terraform-state.ts).
  if (mayHoldTerraformState(s)) return true;
  // A Vault KV v2 secret read: its values sit under the application's own keys (vault.ts).
  if (s.indexOf('"created_time"') >= 0 && s.indexOf('"metadata"') >= 0) return true;
  // A value that is an Authorization header's credentials under a name that says nothing (entry.ts credentialsScheme).
  if (s.indexOf('"Bearer ') >= 0 || s.indexOf('"Basic ') >= 0 || s.indexOf('"bearer ') >= 0 || s.indexOf('"basic ') >= 0) return true;
  // A Vault KV v1 secret read: the same, in Vault's envelope with the lease of a KV read.
  if (s.indexOf('"lease_duration"') >= 0 && s.indexOf('"request_id"') >= 0) return true;
  // A list of [name, value] pairs (`[["Authorization", "Bearer …"]]`): the name is a value here.
  if (PAIR_LIST.test(s)) return true;
  // A JSON patch: the member an operation sets is named in its `path` (`/spec/password`), a value here.
  if (s.indexOf('"op"') >= 0 && s.indexOf('"path"') >= 0) return true;
  // A GraphQL request: a variable bound to a sensitive argument may have any name (graphql.ts).
  if (s.indexOf('"variables"') >= 0 && s.indexOf('"query"') >= 0) return true;
  // A JSON-RPC call: its secrets are known by the method's name and a position (json-rpc.ts).
  if (s.indexOf('"method"') >= 0 && (s.indexOf('"params"') >= 0 || s.indexOf('"args"') >= 0)) return true;
  // A SignalR hub invocation: a JSON-RPC call under other names (`target`, `arguments`).
  if (s.indexOf('"target"') >= 0 && s.indexOf('"arguments"') >= 0) return true;
  // Text in base64 under a name that says nothing (`{"env": "REJfUEFTU1dPUkQ9…"}`): read decoded (entry.ts contentString).
  if (holdsBase64String(s)) return true;
  // Keys, and keys of JSON held in strings (json-keys.ts).
  if (someJsonKey(s, (key) => names.fieldOrPlural(key))) return true;
  if ((s.indexOf('://') >= 0 || s.indexOf('oracle:') >= 0) && s.indexOf('@') >= 0) return true;
  // `password%3D…`, `https%3A%2F%2Fuser%3Apw%40…`: a query string or URL kept percent-encoded (percent-pairs.ts).
  if (mayHoldEncodedPairs(s)) return true;
  // `"$2y$10$…"`, `"$argon2id$…"`: a password's hash in the Modular Crypt Format under any name (crypt-hashes.ts).
  if (mayHoldCryptHash(s) && redactCryptHashes(s) !== s) return true;
  // `password=…` in a log line, `password: \"…\"` in a GraphQL query, `<password>` in XML, held in a string.
  // `--password …`, `mysql -p…`: a command line in a string or an argv.
  return hasSensitiveParam(s, names) || hasInlinePair(s, names) || s.indexOf('</') >= 0 || mayHoldCommandLine(s) || mayHoldSql(s);
}

/** An array whose first item is an array opening with a string. Linear: each `[` is followed by one run of blanks. */
const PAIR_LIST = /\[[ \t\r\n]*\[[ \t\r\n]*"/;

/** `[section]` on the first line: an INI file, not a JSON array. */
function startsWithSection(s: string): boolean {
  let i = s.indexOf('[') + 1;
  while (i < s.length && SECTION_CHAR[s.charCodeAt(i)] === 1) i++;
  if (s[i] !== ']') return false;
  i++;
  while (i < s.length && (s[i] === ' ' || s[i] === '\t' || s[i] === '\r')) i++;
  return s[i] === '\n';
}
const SECTION_CHAR = new Uint8Array(65536);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-. ') SECTION_CHAR[c.charCodeAt(0)] = 1;

/** Truncated JSON cannot be parsed: redact `"key": value` pairs textually (an unquoted value stops at '{' or '[', so a nested object's pairs are seen). */
function looseJson(s: string, names: SensitiveNames): string {
  return s.replace(/"((?:[^"\\]|\\.)*)"(\s*:\s*)("(?:[^"\\]|\\.)*"?|[^,{}[\]\s"]+)/g, (all, name: string, colon: string) =>
    names.test(name, 'field') ? `"${name}"${colon}"${REDACTED}"` : all,
  );
}

/** Base64 bodies longer than this (an entry from elsewhere) are withheld rather than decoded. */
const MAX_BASE64 = 16 * 1024 * 1024;
/** What a compressed body inside a base64 one may inflate to while it is searched (a bomb stays small). */
const MAX_INFLATED = 8 * 1024 * 1024;

/**
 * A body kept as base64 (`bodyEncoding: "base64"`: bytes that are not text).
 * Its bytes are searched as text (latin1, one character per byte, so the
 * re-encoding is exact): a JSON, form or multipart body with one odd byte, a
 * protobuf holding a JSON document or `password=…`. What is found is
 * redacted and the body re-encoded. Bytes that are gzip, zlib or zstd data (a
 * body compressed twice, or sent without Content-Encoding) are inflated first;
 * when that text holds a secret the body cannot be redacted in place, so it is
 * withheld whole: `[REDACTED]` as a text body. So is compressed data that
 * inflates past MAX_INFLATED: what lies beyond cannot be searched (a secret
 * followed by megabytes of padding compresses to a few kilobytes).
 */
export function redactBase64Body(b64: string, names: SensitiveNames, json: JsonRedactor): { body: string; text: boolean } | undefined {
  if (b64.length > MAX_BASE64) return { body: REDACTED, text: true };
  const bytes = Buffer.from(b64, 'base64');
  if (holdsKubernetesSecret(bytes)) return { body: REDACTED, text: true };
  const compressed = compressedHoldsSecret(bytes, names, json);
  if (compressed === true) return { body: REDACTED, text: true };
  if (compressed === false) return undefined;
  // CBOR frames its keys with letters for lengths (`hpassword`): walked as items, not searched as text.
  const cbor = mayBeCbor(bytes) ? redactCbor(bytes, (name) => names.test(name, 'field')) : undefined;
  const text = (cbor ?? bytes).toString('latin1');
  const red = redactBinaryText(text, names, json);
  return red === text && cbor === undefined ? undefined : { body: Buffer.from(red, 'latin1').toString('base64'), text: false };
}

/** Shorter strings are not read as base64 (`{"a":1}` is 12 characters of it). */
const MIN_BASE64_TEXT = 16;

/**
 * Is this string base64 (or base64url) whose bytes may be text or compressed data: only that
 * alphabet, padded right, and a first byte that is printable or a compression's magic? A Pub/Sub push
 * (`{"message": {"data": "eyJwYXNzd29yZCI6…"}}`), a CloudEvent's `data_base64`, a value encoded
 * once more. Hex and UUIDs are not read; random bytes fail the nine printable first bytes (1 in 10⁴
 * passes, for one decode).
 */
export function mayBeBase64Text(s: string): boolean {
  if (s.length < MIN_BASE64_TEXT || s.length > MAX_BASE64) return false;
  let end = s.length;
  while (end > s.length - 2 && s.charCodeAt(end - 1) === 0x3d /* = */) end--;
  if (end < s.length && s.length % 4 !== 0) return false;
  let hex = true;
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i);
    if (BASE64_CHAR[c] !== 1) return false;
    if (hex && HEX_CHAR[c] !== 1) hex = false;
  }
  // Hex (a trace id, a digest) and UUIDs are base64's alphabet too, and never text in it.
  if (hex) return false;
  const head = Buffer.from(s.slice(0, 12), 'base64');
  if (compressionMagic(head) !== undefined) return true;
  for (const b of head) if (!((b >= 0x20 && b <= 0x7e) || b === 0x0a || b === 0x0d || b === 0x09)) return false;
  return true;
}
/**
 * Does this JSON text hold a string that may be base64 text (mayBeBase64Text)? One walk: each run of
 * base64's alphabet is scanned once, from the quote before it, and judged when a quote closes it.
 */
function holdsBase64String(s: string): boolean {
  for (let q = s.indexOf('"'); q >= 0 && q < s.length; ) {
    let end = q + 1;
    while (end < s.length && BASE64_CHAR[s.charCodeAt(end)] === 1) end++;
    const pad = end;
    while (end < s.length && end - pad < 2 && s.charCodeAt(end) === 0x3d /* = */) end++;
    if (end - q - 1 >= MIN_BASE64_TEXT && (s.charCodeAt(end) === 0x22 || s.charCodeAt(end) === 0x5c) && mayBeBase64Text(s.slice(q + 1, end))) return true;
    q = s.indexOf('"', end);
  }
  return false;
}

/**
 * Base64 whose bytes are `user:password` and nothing else: what HTTP Basic sends, kept under a name
 * that says nothing (`{"data": "dXNlcjpwYXNzd29yZA=="}`). A `host:port` (a password of digits only)
 * and a URL (`https://…`) are not credentials.
 */
export function isBase64Credentials(s: string, key = ''): boolean {
  if (s.length > 512) return false;
  const text = Buffer.from(s, 'base64').toString('latin1');
  const m = CREDENTIALS.exec(text);
  if (m === null || /^\d+$/.test(m[2]) || m[2].startsWith('//')) return false;
  return !isIdentifierPair(m[1], m[2], key);
}
/** A user (letters, digits, `.`, `_`, `@`, `+`, `-`), a colon, a password of printable characters without a colon. */
const CREDENTIALS = /^([\w.@+-]{1,128}):([\x21-\x39\x3b-\x7e]{1,256})$/;

/**
 * `a:b` that is an identifier made of two parts, not a user and a password: a GraphQL global id
 * (GitHub's `04:User583231`, `010:Repository1296269`: a number, then a type and its number; Relay's
 * `Post:<uuid>`), and under a name that says it holds an identifier (`id`, `nodeId`, `owner_ref`,
 * `cursor`) a Kubernetes-style `namespace:name` (lower case, digits, `-` and `.`). A password with
 * anything else in it (a capital, a symbol) under such a name is still one.
 */
function isIdentifierPair(user: string, rest: string, key: string): boolean {
  if (/^\d{1,4}$/.test(user) && /^[A-Z][A-Za-z]{1,63}\d{1,20}$/.test(rest)) return true;
  if (/^[A-Z][A-Za-z]{1,63}$/.test(user) && UUID.test(rest)) return true;
  return (ID_KEY.test(key.toLowerCase()) || CAMEL_ID_KEY.test(key)) && DNS_NAME.test(user) && DNS_NAME.test(rest);
}
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** `id`, `ids`, `uid`, `ref`, `cursor`, `name`, `namespace`, `node`, alone or as the last word (`owner_ref`, `parent-id`; `nodeId` by CAMEL_ID_KEY). */
const ID_KEY = /(?:^|[_.-])(?:id|ids|uid|ref|cursor|name|namespace|node)$/;
const CAMEL_ID_KEY = /[a-z0-9](?:Id|ID|Ids|IDs|Uid|UID|Ref|Cursor|Name|Namespace|Node)$/;
/** A DNS-1123 name as Kubernetes names things: lower case letters, digits, `-` and `.`, a letter or digit at each end. */
const DNS_NAME = /^[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?$/;

const HEX_CHAR = new Uint8Array(65536);
for (const c of '0123456789abcdefABCDEF-') HEX_CHAR[c.charCodeAt(0)] = 1;
const BASE64_CHAR = new Uint8Array(65536);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_') BASE64_CHAR[c.charCodeAt(0)] = 1;

/**
 * For bytes that are gzip, zlib or zstd data: whether they may hold a secret (true: inflated past
 * MAX_INFLATED, or a secret found); undefined when they are none of these. The compressed bytes are
 * searched too: a stream cut short inflates only so far, and the rest may hold text as it stands
 * (stored deflate blocks, raw zstd blocks and literals). Such bytes cannot be redacted in place:
 * a caller withholds them whole.
 */
export function compressedHoldsSecret(bytes: Buffer, names: SensitiveNames, json: JsonRedactor): boolean | undefined {
  const inflated = inflate(bytes);
  if (inflated === undefined) return undefined;
  if (inflated === 'too large') return true;
  const text = inflated.toString('latin1');
  const raw = bytes.toString('latin1');
  return redactBinaryText(text, names, json) !== text || redactBinaryText(raw, names, json) !== raw;
}

/**
 * Text made of arbitrary bytes: as a body; then each run of printable
 * characters as URL text of its own (a protobuf string `password=…` follows a
 * length byte, not a URL separator); then `"key": value` pairs wherever they
 * stand (JSON inside a binary frame); then names and values framed in binary.
 */
function redactBinaryText(text: string, names: SensitiveNames, json: JsonRedactor): string {
  let out = redactBodyText(text, names, json);
  if (out.indexOf('=') >= 0) out = out.replace(PRINTABLE_RUN, (run) => redactContentText(run, names));
  if (out.indexOf('"') >= 0) out = looseJson(out, names);
  return redactBinaryPairs(out, names);
}
const PRINTABLE_RUN = /[\x21-\x7e]{3,}/g;

/** A name this short (`key`, `pin`, `user`) is too likely a chance run of bytes to judge what follows it. */
const MIN_BINARY_NAME = 5;
/** Bytes of framing between a name and its value: a length (protobuf, msgpack), a type and a length (BSON). */
const MAX_BINARY_FRAMING = 8;

/**
 * A sensitive name as a run of its own in binary, then its value as the next run after a few bytes
 * of framing: a protobuf map entry (`\n\x08password\x12\x0a…`), a msgpack map (`\xa8password\xaa…`),
 * a BSON string element (`\x02password\x00\x0b\x00\x00\x00…`) in a body kept as base64. The value
 * run goes. (CBOR's length bytes are letters, which glue name and value into one run: not read.) One
 * walk over the runs, linear.
 */
function redactBinaryPairs(s: string, names: SensitiveNames): string {
  let out = '';
  let copied = 0;
  let i = 0;
  const n = s.length;
  while (i < n) {
    if (!isNameByte(s.charCodeAt(i))) {
      i++;
      continue;
    }
    let end = i + 1;
    while (end < n && isNameByte(s.charCodeAt(end))) end++;
    const name = end - i >= MIN_BINARY_NAME && end - i <= 64 ? s.slice(i, end) : '';
    i = end;
    if (name === '' || end >= n || isTextByte(s.charCodeAt(end)) || !names.test(name, 'field')) continue;
    // The framing: non-text bytes, a few of them, then the value's printable run.
    let v = end;
    while (v < n && v - end < MAX_BINARY_FRAMING && !isTextByte(s.charCodeAt(v))) v++;
    if (v >= n || !isTextByte(s.charCodeAt(v)) || v === end) continue;
    let vEnd = v;
    while (vEnd < n && isTextByte(s.charCodeAt(vEnd))) vEnd++;
    if (s.slice(v, vEnd) === REDACTED) continue;
    out += s.slice(copied, v) + REDACTED;
    copied = vEnd;
    i = vEnd;
  }
  return copied === 0 ? s : out + s.slice(copied);
}

/** A byte of a name: printable, no space. */
function isNameByte(c: number): boolean {
  return c >= 0x21 && c <= 0x7e;
}
/** A byte of a value: printable or a space. */
function isTextByte(c: number): boolean {
  return c >= 0x20 && c <= 0x7e;
}

/** Which compressed format `bytes` open with (their first four bytes are enough): gzip (1f 8b), zlib (78 01/5e/9c/da), zstd. */
export function compressionMagic(bytes: Uint8Array): 'gzip' | 'zlib' | 'zstd' | undefined {
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) return 'gzip';
  if (bytes[0] === 0x78 && (bytes[0] * 256 + bytes[1]) % 31 === 0) return 'zlib';
  if (bytes.length >= 4 && (bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | (bytes[3] << 24)) >>> 0 === ZSTD_MAGIC) return 'zstd';
  return undefined;
}

/**
 * gzip (1f 8b), zlib (78 01/5e/9c/da) or zstd data inflated as far as it goes; 'too large' past
 * MAX_INFLATED; undefined when it is none of them.
 */
function inflate(bytes: Buffer): Buffer | 'too large' | undefined {
  const options = { finishFlush: zlibConstants.Z_SYNC_FLUSH, maxOutputLength: MAX_INFLATED };
  try {
    switch (compressionMagic(bytes)) {
      case 'gzip':
        return gunzipSync(bytes, options);
      case 'zlib':
        return inflateSync(bytes, options);
      case 'zstd':
        return zstdDecompressPartial(bytes, MAX_INFLATED);
      default:
        return undefined;
    }
  } catch (err) {
    if (isOverflow(err)) return 'too large';
    // Not what the magic bytes promised: searched as raw bytes instead.
  }
  return undefined;
}

/** At most this many parts are looked at; the rest of a body is left as it is (and counted by no one: it is the body's own size cap that bounds it). */
const MAX_PARTS = 1000;

/**
 * multipart/form-data: the content of each part whose field name is sensitive
 * becomes [REDACTED]; other parts' contents are redacted as bodies themselves
 * (a JSON part). The boundary is the body's first line.
 */
export function redactMultipart(s: string, names: SensitiveNames, json: JsonRedactor): string {
  const eol = s.indexOf('\n');
  if (eol < 3) return redactContentText(s, names);
  const delimiter = s.slice(0, s[eol - 1] === '\r' ? eol - 1 : eol);
  let out = '';
  let copied = 0;
  let at = 0;
  for (let parts = 0; at >= 0 && parts < MAX_PARTS; parts++) {
    const headStart = at + delimiter.length;
    if (s.startsWith('--', headStart)) break; // the closing delimiter
    const crlf = s.indexOf('\r\n\r\n', headStart);
    const lf = s.indexOf('\n\n', headStart);
    const headEnd = crlf >= 0 && (lf < 0 || crlf <= lf) ? crlf + 4 : lf >= 0 ? lf + 2 : -1;
    if (headEnd < 0) break;
    // A first "part" whose head is not header lines (a PEM block, a command's `--flag`): not multipart.
    if (parts === 0 && !isPartHead(s, headStart, headEnd)) return redactContentText(s, names);
    const next = s.indexOf(delimiter, headEnd);
    // The content ends before the line break that precedes the next delimiter (or at the end of a body cut short).
    let contentEnd = next < 0 ? s.length : next;
    if (next >= 0 && s[contentEnd - 1] === '\n') contentEnd--;
    if (next >= 0 && s[contentEnd - 1] === '\r') contentEnd--;
    const name = /\bname="([^"]{0,256})"/i.exec(s.slice(headStart, headEnd))?.[1];
    const content = s.slice(headEnd, contentEnd);
    const red = name !== undefined && names.test(name, 'param') ? REDACTED : redactBodyText(content, names, json, true);
    if (red !== content) {
      out += s.slice(copied, headEnd) + red;
      copied = contentEnd;
    }
    at = next;
  }
  // No part at all: text that starts with two dashes, searched as text.
  if (at === 0) return redactContentText(s, names);
  return copied === 0 ? s : out + s.slice(copied);
}

/**
 * Is s[from, to) a part's head: after the delimiter's line break, `Name: value` lines (a folded
 * line starts with a blank), at least one (a form's part has its Content-Disposition)?
 */
function isPartHead(s: string, from: number, to: number): boolean {
  const lines = s.slice(from, to).split(/\r?\n/);
  let headers = 0;
  for (let k = 1; k < lines.length; k++) {
    const line = lines[k];
    if (line === '' || line[0] === ' ' || line[0] === '\t') continue;
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}:/.test(line)) return false;
    headers++;
  }
  return headers > 0;
}

/** The text's first character past white space opens a JSON object or array. */
export function startsAsJson(s: string): boolean {
  const first = firstNonSpace(s);
  return first === '{' || first === '[';
}

/** The first character that is not white space or a byte order mark (however many lead). */
function firstNonSpace(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c !== ' ' && c !== '\t' && c !== '\r' && c !== '\n' && c !== '\ufeff') return c;
  }
  return '';
}
