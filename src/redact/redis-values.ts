// Secrets in what Redis stores. Values are application data — sessions, tokens,
// cached JSON documents, often gzip'd — so each value a command writes or a
// reply returns is searched as a message body is: JSON at any depth,
// form-encoded text, URLs with userinfo. A hash field named like a secret
// (`HSET user:1 password …`, `HGET user:1 api_key`) has its value redacted,
// in the command and in the reply. A value that is gzip, zlib or zstd data
// (shown with \xNN escapes) and holds a secret is withheld whole. Keys,
// command names and field names stay readable: they are the protocol's
// structure (the key may still be redacted by a user's --redact path).

import type { SensitiveNames } from './names.js';
import { REDACTED } from './urls.js';
import { TOKEN_MARKER } from './tokens.js';
import { compressedHoldsSecret, compressionMagic, redactBodyText, type JsonRedactor } from './bodies.js';

/**
 * Replies that describe the server, not data an application stored: left as they are (COMMAND DOCS
 * is a map with hundreds of `token` fields naming the commands' keywords).
 */
const SERVER_REPLIES = new Set(['COMMAND', 'INFO', 'HELLO', 'CLUSTER', 'MEMORY', 'MODULE', 'LATENCY']);
/** Commands whose arguments after the key are field/value pairs. */
const HASH_WRITES = new Set(['HSET', 'HMSET', 'HSETNX']);
/**
 * Nesting of reply arrays and maps searched: the dissector's own cap (32). Deeper ones (an entry from
 * elsewhere) are withheld whole, as the entry redactor does past its depth: nesting cannot hide a secret.
 */
const MAX_DEPTH = 32;
/** A value this long is not unescaped to look for compressed data (the dissector keeps values shorter). */
const MAX_ESCAPED = 4 * 1024 * 1024;

export class RedisValues {
  constructor(
    private readonly names: SensitiveNames,
    private readonly json: JsonRedactor,
    private readonly remember: (s: string) => void,
  ) {}

  /** A command's arguments (the key first): the same array back when nothing changed. */
  args(command: string, args: unknown[]): unknown[] {
    let out: unknown[] | undefined;
    const set = (i: number, v: unknown) => {
      if (v === args[i]) return;
      out ??= [...args];
      out[i] = v;
    };
    // HSET key field value …: fields at odd positions, their values after them; XADD's pairs come after its entry id.
    const pairsFrom = HASH_WRITES.has(command) ? 1 : command === 'XADD' ? streamEntryId(args) + 1 : args.length;
    // A string written under a key that ends in a secret's name (`SET u:1:password …`, `MSET … cfg:api_token …`).
    const keyed = storedValuePositions(command, args, (key) => this.secretKey(key));
    for (let i = 1; i < args.length; i++) {
      const a = args[i];
      if (typeof a !== 'string') continue;
      const field = i > pairsFrom && (i - pairsFrom) % 2 === 1 ? args[i - 1] : undefined;
      if (keyed?.has(i) || (typeof field === 'string' && this.names.test(field, 'field'))) set(i, this.hidden(a));
      else set(i, this.value(a));
    }
    return out ?? args;
  }

  /** A reply's value for `command` with `args`: the same value back when nothing changed. */
  reply(command: string, args: unknown[], value: unknown): unknown {
    if (SERVER_REPLIES.has(command)) return value;
    const field = (i: number): string => (typeof args[i] === 'string' ? (args[i] as string) : '');
    if (command === 'HGET' && typeof value === 'string' && this.names.test(field(1), 'field')) return this.hidden(value);
    // The string stored under a key that ends in a secret's name, read back (GETSET and SET … GET answer the old one).
    const reads = STRING_READS.has(command) || (command === 'SET' && args.some((a, i) => i >= 2 && typeof a === 'string' && a.toUpperCase() === 'GET'));
    if (reads && typeof value === 'string' && this.secretKey(field(0))) return this.hidden(value);
    if (command === 'MGET' && Array.isArray(value)) {
      return this.items(value, (item, i) => (typeof item === 'string' && this.secretKey(field(i)) ? this.hidden(item) : this.walk(item, 1)));
    }
    if (command === 'HMGET' && Array.isArray(value)) {
      // One reply item per field asked for (args: key, field…).
      return this.items(value, (item, i) => (typeof item === 'string' && this.names.test(field(i + 1), 'field') ? this.hidden(item) : this.walk(item, 1)));
    }
    if (command === 'HGETALL' && Array.isArray(value)) {
      // RESP2: field, value, field, value …
      return this.items(value, (item, i) => {
        const name = i % 2 === 1 ? value[i - 1] : undefined;
        return typeof item === 'string' && typeof name === 'string' && this.names.test(name, 'field') ? this.hidden(item) : this.walk(item, 1);
      });
    }
    return this.walk(value, 0);
  }

  /** Any reply: strings as values, arrays item by item, RESP3 maps by field name. */
  private walk(v: unknown, depth: number): unknown {
    if (typeof v === 'string') return this.value(v);
    if (v === null || typeof v !== 'object') return v;
    if (depth >= MAX_DEPTH) return REDACTED;
    if (Array.isArray(v)) return this.items(v, (item) => this.walk(item, depth + 1));
    let out: Record<string, unknown> | undefined;
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      const nv = typeof o[k] === 'string' && this.names.test(k, 'field') ? this.hidden(o[k] as string) : this.walk(o[k], depth + 1);
      if (nv !== o[k]) (out ??= { ...o })[k] = nv;
    }
    return out ?? v;
  }

  private items(list: unknown[], each: (item: unknown, i: number) => unknown): unknown[] {
    let out: unknown[] | undefined;
    for (let i = 0; i < list.length; i++) {
      const nv = each(list[i], i);
      if (nv !== list[i]) (out ??= [...list])[i] = nv;
    }
    return out ?? list;
  }

  /** A stored value: as a body; escaped compressed data holding a secret, withheld. */
  private value(s: string): string {
    // Most values are counters, ids and short words: nothing a body rule could match (this runs on every value).
    if (plainWord(s)) return s;
    // Binary values come escaped; compressed data shows it in its first bytes (gzip \x1f\x8b, zlib x\x9c, zstd (\xb5/\xfd).
    const escape = s.indexOf('\\x');
    // The magic number is in the first 4 bytes, at most 16 escaped characters: the whole value is
    // unescaped only when it is compressed data.
    if (escape >= 0 && escape < 4 && s.length <= MAX_ESCAPED && compressionMagic(unescape(s.slice(0, 16)))) {
      if (compressedHoldsSecret(unescape(s), this.names, this.json)) return this.hidden(s);
    }
    return redactBodyText(s, this.names, this.json);
  }

  /**
   * A key whose last part (after `:` or `/`) is a secret's name: `u:1:password`, `cfg/db/api_token`. Not
   * `session:abc` or `token:abc`, whose first part says what kind of record it is (its value is often
   * no secret), nor `cache:user` (a name for personal data, not a secret: names.ts secretOnly).
   */
  private secretKey(key: string): boolean {
    return isSecretRecordKey(key, this.names);
  }

  private hidden(s: string): string {
    if (s === '' || s === REDACTED) return s;
    this.remember(s);
    return REDACTED;
  }
}


/**
 * No JSON, multipart, parameter (=), userinfo (@) or escape (\) can be in it: the body rules cannot
 * match. Whitespace before a '{' counts as plain only when there is no '{' or '[' at all.
 */
function plainWord(s: string): boolean {
  return !NOT_PLAIN.test(s);
}
/**
 * = @ \ { [ anywhere, the '-' that opens a multipart boundary, PHP's session pair (`name|s:`), or a
 * token's marker (a session's JWT stored as it came). Alternatives without repetition: linear, and native.
 */
const NOT_PLAIN = new RegExp(`[=@\\\\{[]|^-|\\|s:|${TOKEN_MARKER.source}`);

/** 0–15 for a lower-case hex digit (printable writes those), else -1 (NaN past the end included). */
function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** The bytes of a value the dissector showed with \xNN escapes (util/text.ts printable). */
function unescape(s: string): Buffer {
  const out = Buffer.allocUnsafe(s.length);
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const hi = s.charCodeAt(i) === 0x5c && s.charCodeAt(i + 1) === 0x78 ? hexDigit(s.charCodeAt(i + 2)) : -1;
    const lo = hi >= 0 ? hexDigit(s.charCodeAt(i + 3)) : -1;
    if (lo >= 0) {
      out[n++] = hi * 16 + lo;
      i += 3;
      continue;
    }
    out[n++] = s.charCodeAt(i) & 0xff;
  }
  return out.subarray(0, n);
}

/** A cache key whose last part (after `:` or `/`) is a secret's name (RedisValues.secretKey; memcached's keys too). */
export function isSecretRecordKey(key: string, names: SensitiveNames): boolean {
  if (key.length === 0 || key.length > MAX_KEY) return false;
  const last = Math.max(key.lastIndexOf(':'), key.lastIndexOf('/'));
  const name = key.slice(last + 1);
  return name.length > 0 && names.secretOnly(name);
}

/** Commands that answer the string stored at their key (args[0]); SET does with its GET option. */
const STRING_READS = new Set(['GET', 'GETDEL', 'GETEX', 'GETSET']);
/** A key this long is data, not a record's name: not judged by its last part. */
const MAX_KEY = 1024;

/**
 * The argument positions of the strings a command stores under keys that `secret` says are a secret's
 * (SET and the like: the value after the key; SETEX and PSETEX: after the expiry; MSET: each key's
 * value); undefined when none.
 */
function storedValuePositions(command: string, args: unknown[], secret: (key: string) => boolean): Set<number> | undefined {
  let found: Set<number> | undefined;
  const at = (keyAt: number, valueAt: number) => {
    const key = args[keyAt];
    if (valueAt < args.length && typeof key === 'string' && secret(key)) (found ??= new Set()).add(valueAt);
  };
  if (command === 'SET' || command === 'SETNX' || command === 'GETSET' || command === 'APPEND') at(0, 1);
  else if (command === 'SETEX' || command === 'PSETEX') at(0, 2);
  else if (command === 'MSET' || command === 'MSETNX') for (let i = 0; i + 1 < args.length; i += 2) at(i, i + 1);
  return found;
}

/** Where XADD's entry id (`*`, `1526919030474-55`) is among its arguments, after the key and options; past the end when none. */
function streamEntryId(args: unknown[]): number {
  for (let i = 1; i < args.length; i++) {
    const a = typeof args[i] === 'string' ? (args[i] as string).toUpperCase() : '';
    if (a === 'NOMKSTREAM') continue;
    if (a === 'MAXLEN' || a === 'MINID') {
      if (args[i + 1] === '=' || args[i + 1] === '~') i++;
      i++; // the threshold
      continue;
    }
    if (a === 'LIMIT') {
      i++;
      continue;
    }
    return STREAM_ID.test(a) ? i : args.length;
  }
  return args.length;
}
const STREAM_ID = /^(?:\*|\d{1,20}(?:-(?:\d{1,20}|\*))?)$/;
