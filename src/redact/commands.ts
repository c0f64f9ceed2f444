// Secrets that protocols carry as command arguments rather than under a name:
// Redis AUTH/HELLO/MIGRATE/CONFIG SET/ACL SETUSER arguments (also as a
// script's own calls in EVAL), and the string literal after PASSWORD /
// IDENTIFIED BY in SQL (PostgreSQL and MySQL).

import { REDACTED } from './urls.js';

/** The commands that carry passwords as arguments. */
const REDIS_WITH_SECRETS = new Set(['AUTH', 'HELLO', 'MIGRATE', 'CONFIG', 'ACL', 'SENTINEL']);
/** SENTINEL SET … auth-pass <pw>, SENTINEL CONFIG SET sentinel-pass <pw>. */
const SENTINEL_SECRET_OPTIONS = new Set(['auth-pass', 'sentinel-pass']);
/** CONFIG SET / CONFIG GET parameters whose value is a password. */
const REDIS_SECRET_CONFIG = new Set(['requirepass', 'masterauth', 'tls-key-file-pass', 'tls-client-key-file-pass']);

/**
 * Redis request arguments (after the command word) with their secrets
 * replaced; the same array when there are none. `onSecret` is told each
 * value taken out, so strings that repeat it can be redacted too.
 */
export function redactRedisArgs(command: string, args: unknown[], onSecret: (s: string) => void): unknown[] {
  if (!REDIS_WITH_SECRETS.has(command)) return args;
  const word = (i: number) => (typeof args[i] === 'string' ? (args[i] as string).toUpperCase() : '');
  const hide = new Set<number>();
  switch (command) {
    case 'AUTH':
      for (let i = 0; i < args.length; i++) hide.add(i);
      break;
    case 'HELLO':
    case 'MIGRATE':
      for (let i = 0; i < args.length; i++) {
        if (word(i) === 'AUTH') hide.add(i + (command === 'HELLO' ? 2 : 1));
        if (word(i) === 'AUTH2') hide.add(i + 2);
      }
      break;
    case 'CONFIG':
      if (word(0) === 'SET') {
        for (let i = 1; i + 1 < args.length; i += 2) if (REDIS_SECRET_CONFIG.has(word(i).toLowerCase())) hide.add(i + 1);
      }
      break;
    case 'ACL':
      if (word(0) === 'SETUSER') for (let i = 2; i < args.length; i++) if (isAclPasswordRule(args[i])) hide.add(i);
      break;
    case 'SENTINEL':
      for (let i = 1; i + 1 < args.length; i++) if (SENTINEL_SECRET_OPTIONS.has(word(i).toLowerCase())) hide.add(i + 1);
      break;
  }
  if (hide.size === 0) return args;
  return args.map((a, i) => {
    if (!hide.has(i) || typeof a !== 'string' || a === REDACTED || a === '***') return a;
    if (command === 'ACL') {
      onSecret(a.slice(1));
      return a[0] + REDACTED;
    }
    onSecret(a);
    return REDACTED;
  });
}

/** Commands that run a server-side script or function: the script (EVAL), then numkeys, keys and ARGV. */
const REDIS_SCRIPTS = new Set(['EVAL', 'EVAL_RO', 'EVALSHA', 'EVALSHA_RO', 'FCALL', 'FCALL_RO']);
/** Where the script's calls stand: `redis.call(`, `redis.pcall(`, `server.call(` (Valkey). */
const LUA_CALL = 'call(';
/** Arguments of one call in a script read; a hostile script has any number. */
const MAX_CALL_ARGS = 64;
/** Hash writes in a script: a literal field with a sensitive name has its value (the next argument) hidden. */
const SCRIPT_HASH_WRITES = new Set(['HSET', 'HMSET', 'HSETNX']);

/**
 * EVAL and FCALL: the script's own calls are read as commands (`redis.call('AUTH', 'pw')`,
 * `redis.call('CONFIG', 'SET', 'requirepass', ARGV[1])`, `redis.call('HSET', KEYS[1], 'password',
 * ARGV[1])`), their secret literals redacted in the script and the ARGV they name redacted in the
 * arguments; and an ARGV after a sensitive name (`FCALL set_pw 1 user:1 password …`) is hidden as a hash
 * field's value is. The same array when nothing changed. One walk over the script: each call's
 * arguments are read once, and the next call is looked for after them.
 */
export function redactRedisScript(command: string, args: unknown[], isSecretName: (name: string) => boolean, onSecret: (s: string) => void): unknown[] {
  if (!REDIS_SCRIPTS.has(command) || args.length < 2) return args;
  const numKeys = Number(args[1]);
  const argvFrom = Number.isInteger(numKeys) && numKeys >= 0 ? 2 + numKeys : args.length;
  const hide = new Set<number>();
  let script = typeof args[0] === 'string' && (command === 'EVAL' || command === 'EVAL_RO') ? (args[0] as string) : undefined;
  if (script !== undefined && script.indexOf(LUA_CALL) >= 0) {
    const red = redactScriptCalls(script, isSecretName, (n) => hide.add(argvFrom + n - 1), onSecret);
    script = red;
  }
  for (let i = argvFrom + 1; i < args.length; i++) if (typeof args[i - 1] === 'string' && isSecretName(args[i - 1] as string)) hide.add(i);
  let out: unknown[] | undefined;
  if (script !== undefined && script !== args[0]) (out ??= [...args])[0] = script;
  for (const i of hide) {
    const a = args[i];
    if (i >= args.length || typeof a !== 'string' || a === REDACTED || a === '' || a === '***') continue;
    onSecret(a);
    (out ??= [...args])[i] = REDACTED;
  }
  return out ?? args;
}

interface ScriptArg {
  /** A string literal's content (its span in the script), or undefined for an expression. */
  text?: string;
  start: number;
  end: number;
  /** `ARGV[n]`: n. */
  argv?: number;
}

/** The script with each call's secret literals redacted; `hideArgv(n)` told each ARGV[n] a call takes as a secret. */
function redactScriptCalls(script: string, isSecretName: (name: string) => boolean, hideArgv: (n: number) => void, onSecret: (s: string) => void): string {
  let out = '';
  let copied = 0;
  for (let at = script.indexOf(LUA_CALL); at >= 0; ) {
    const { list, end } = readCallArgs(script, at + LUA_CALL.length);
    const first = list[0];
    if (first?.text !== undefined && list.length > 1) {
      const name = first.text.toUpperCase();
      const rest = list.slice(1);
      // Each argument as redactRedisArgs sees one: a literal's text, an ARGV a mark of its own.
      const words = rest.map((a, i) => (a.text !== undefined ? a.text : `\u0000${i}`));
      const red = redactRedisArgs(name, words, () => {});
      const hidden = new Set<number>();
      red.forEach((w, i) => {
        if (w !== words[i]) hidden.add(i);
      });
      if (SCRIPT_HASH_WRITES.has(name)) for (let i = 2; i < rest.length; i += 2) if (rest[i - 1].text !== undefined && isSecretName(rest[i - 1].text!)) hidden.add(i);
      for (const i of [...hidden].sort((a, b) => a - b)) {
        const a = rest[i];
        if (a.argv !== undefined) hideArgv(a.argv);
        if (a.text === undefined || a.text === '' || a.text === REDACTED) continue;
        const keep = name === 'ACL' && a.text.length > 1 ? 1 : 0; // `>pw`: the rule's sign stays
        onSecret(a.text.slice(keep));
        out += script.slice(copied, a.start + keep) + REDACTED;
        copied = a.end;
      }
    }
    at = end >= script.length ? -1 : script.indexOf(LUA_CALL, end);
  }
  return copied === 0 ? script : out + script.slice(copied);
}

/** The arguments of a Lua call from `from` (just after its `(`) to its `)`, and where reading stopped. */
function readCallArgs(s: string, from: number): { list: ScriptArg[]; end: number } {
  const list: ScriptArg[] = [];
  let i = from;
  const n = s.length;
  while (i < n && list.length < MAX_CALL_ARGS) {
    while (i < n && (s[i] === ' ' || s[i] === '\t' || s[i] === '\n' || s[i] === '\r')) i++;
    const c = s[i];
    if (c === "'" || c === '"') {
      const close = closingLuaQuote(s, i + 1, c);
      list.push({ text: s.slice(i + 1, close), start: i + 1, end: close });
      i = close + 1;
    } else {
      // An expression (`ARGV[1]`, `KEYS[1]`, a variable, a nested call) to the `,` or `)` that ends it.
      const start = i;
      let depth = 0;
      while (i < n) {
        const d = s[i];
        if (d === '(' || d === '[' || d === '{') depth++;
        else if ((d === ')' || d === ']' || d === '}') && depth > 0) depth--;
        else if (depth === 0 && (d === ',' || d === ')')) break;
        i++;
      }
      const expr = s.slice(start, i).trim();
      const m = /^ARGV\[(\d{1,6})\]$/.exec(expr);
      list.push({ start, end: i, argv: m ? Number(m[1]) : undefined });
    }
    while (i < n && (s[i] === ' ' || s[i] === '\t' || s[i] === '\n' || s[i] === '\r')) i++;
    if (s[i] !== ',') break;
    i++;
  }
  return { list, end: Math.max(i, from) };
}

/** Where a Lua string quoted with `quote` from `from` closes (backslash escapes), or the end (a script cut short). */
function closingLuaQuote(s: string, from: number, quote: string): number {
  for (let i = from; i < s.length; i++) {
    if (s[i] === '\\') i++;
    else if (s[i] === quote) return i;
  }
  return s.length;
}

/** ACL rules `>pw` (add a password), `<pw` (remove one), `#hash`, `!hash`. */
function isAclPasswordRule(a: unknown): boolean {
  return typeof a === 'string' && a.length > 1 && (a[0] === '>' || a[0] === '<' || a[0] === '#' || a[0] === '!');
}

/** A Redis reply to CONFIG GET: `[name, value, …]` (RESP2) or `{name: value}` (RESP3). */
export function redactRedisConfigReply(value: unknown, onSecret: (s: string) => void): unknown {
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i + 1 < value.length; i += 2) {
      const name = value[i];
      if (typeof name === 'string' && REDIS_SECRET_CONFIG.has(name.toLowerCase()) && value[i + 1] !== '' && value[i + 1] !== REDACTED) {
        if (typeof value[i + 1] === 'string') onSecret(value[i + 1] as string);
        copy ??= [...value];
        copy[i + 1] = REDACTED;
      }
    }
    return copy ?? value;
  }
  if (value !== null && typeof value === 'object') {
    let copy: Record<string, unknown> | undefined;
    for (const [k, v] of Object.entries(value)) {
      if (REDIS_SECRET_CONFIG.has(k.toLowerCase()) && v !== '' && v !== REDACTED) {
        if (typeof v === 'string') onSecret(v);
        copy ??= { ...(value as Record<string, unknown>) };
        copy[k] = REDACTED;
      }
    }
    return copy ?? value;
  }
  return value;
}

/** SHA-256 password hashes in ACL LIST / ACL GETUSER replies (`#<hex>` or bare). */
const ACL_HASH = /#?[0-9a-fA-F]{64}/g;

/** A reply to ACL LIST / GETUSER: password hashes become [REDACTED] (a hash of a weak password is the password). */
export function redactRedisAclReply(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return value.length < 64 ? value : value.replace(ACL_HASH, (h) => (h[0] === '#' ? `#${REDACTED}` : REDACTED));
  if (Array.isArray(value) && depth < 8) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const nv = redactRedisAclReply(value[i], depth + 1);
      if (nv !== value[i]) (copy ??= [...value])[i] = nv;
    }
    return copy ?? value;
  }
  if (value !== null && typeof value === 'object' && depth < 8) {
    let copy: Record<string, unknown> | undefined;
    for (const [k, v] of Object.entries(value)) {
      const nv = redactRedisAclReply(v, depth + 1);
      if (nv !== v) (copy ??= { ...(value as Record<string, unknown>) })[k] = nv;
    }
    return copy ?? value;
  }
  return value;
}

/**
 * Keywords after which SQL carries a password literal; `REPLACE 'old'` only
 * in MySQL's `ALTER USER … IDENTIFIED BY 'new' REPLACE 'old'` (elsewhere
 * REPLACE is never followed by a literal).
 */
const SQL_TRIGGER = /\b(?:password|identified|replace(?=\s{0,16}'))\b/gi;
/** Words that may stand between the trigger and the literal: `IDENTIFIED WITH plugin BY`, `ENCRYPTED PASSWORD`, `PASSWORD FOR u =`. */
const SQL_SKIP_WORDS = new Set(['by', 'with', 'as', 'password', 'for', 'encrypted', 'unencrypted']);

/**
 * `CREATE USER u WITH PASSWORD 'pw'`, `ALTER ROLE r ENCRYPTED PASSWORD 'pw'`,
 * `CREATE USER u IDENTIFIED BY 'pw'`, `IDENTIFIED WITH mysql_native_password BY 'pw'`,
 * `SET PASSWORD FOR u = 'pw'`, `SET PASSWORD = PASSWORD('pw')`: the literal
 * becomes '[REDACTED]'. A literal left open (a query or summary cut short)
 * is redacted to the end.
 */
export function redactSql(sql: string, onSecret?: (s: string) => void): string {
  SQL_TRIGGER.lastIndex = 0;
  if (!SQL_TRIGGER.test(sql)) return sql;
  SQL_TRIGGER.lastIndex = 0;
  let out = '';
  let copied = 0;
  for (let m = SQL_TRIGGER.exec(sql); m; m = SQL_TRIGGER.exec(sql)) {
    let p = m.index + m[0].length;
    // A connection string inside a literal (`dblink_connect('host=h password=pw')`): the bare value.
    if (sql[p] === '=' && p + 1 < sql.length && !/[\s'"$(]/.test(sql[p + 1])) {
      let end = p + 1;
      while (end < sql.length && !/[\s'";(),]/.test(sql[end])) end++;
      // `password=crypt('pw', password)`: the literal inside the call is the password (below).
      if (sql[end] !== '(') {
        if (sql.slice(p + 1, end) !== REDACTED) {
          onSecret?.(sql.slice(p + 1, end));
          out += sql.slice(copied, p + 1) + REDACTED;
          copied = end;
        }
        continue;
      }
    }
    // Walk over a few words, '=' and '(' to the literal, if there is one.
    for (let steps = 0; steps < 8 && p < sql.length; steps++) {
      while (p < sql.length && (sql[p] === ' ' || sql[p] === '\t' || sql[p] === '\n' || sql[p] === '\r' || sql[p] === '=' || sql[p] === '(')) p++;
      const w = /^[A-Za-z_][A-Za-z0-9_]{0,63}/.exec(sql.slice(p, p + 64));
      if (!w) break;
      const word = w[0].toLowerCase();
      // A call wrapping the literal: `PASSWORD('pw')`, `crypt('pw', password)`, `md5('pw')`.
      if (sql[p + w[0].length] === '(') {
        p += w[0].length + 1;
        continue;
      }
      // `FOR user@host`, `WITH plugin`: the next word is a name, not the literal.
      if (!SQL_SKIP_WORDS.has(word) && !/_password$|^caching_sha2|^sha256|^mysql_|^auth_/.test(word)) break;
      p += w[0].length;
      if (word === 'for') p = skipAccountName(sql, p);
    }
    const quote = sql[p];
    let end: number;
    let open: number;
    if (quote === "'" || quote === '"') {
      open = p + 1;
      end = closingQuote(sql, open, quote);
    } else if (quote === '$') {
      const tag = /^\$[A-Za-z_]{0,32}\$/.exec(sql.slice(p, p + 34))?.[0];
      if (!tag) continue;
      open = p + tag.length;
      const close = sql.indexOf(tag, open);
      end = close < 0 ? sql.length : close;
    } else continue;
    if (end <= open || sql.slice(open, end) === REDACTED) continue;
    onSecret?.(sql.slice(open, end));
    out += sql.slice(copied, open) + REDACTED;
    copied = end;
    SQL_TRIGGER.lastIndex = Math.max(SQL_TRIGGER.lastIndex, end);
  }
  return copied === 0 ? sql : out + sql.slice(copied);
}

/** `'u'@'h'`, `"u"`, `u@h` after FOR: skipped up to the '='. */
function skipAccountName(sql: string, p: number): number {
  while (p < sql.length && (sql[p] === ' ' || sql[p] === '\t')) p++;
  for (let n = 0; p < sql.length && n < 256; n++) {
    const c = sql[p];
    if (c === '=') return p;
    if (c === "'" || c === '"' || c === '`') {
      p = closingQuote(sql, p + 1, c) + 1;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\n') return p;
    p++;
  }
  return p;
}

/** Index of the quote closing a literal that starts at `from` ('' and backslash escapes), or the end. */
function closingQuote(sql: string, from: number, quote: string): number {
  for (let i = from; i < sql.length; i++) {
    const c = sql[i];
    if (c === '\\') i++;
    else if (c === quote) {
      if (sql[i + 1] === quote) i++;
      else return i;
    }
  }
  return sql.length;
}

/** NATS CONNECT fields that carry credentials (user/pass, token, user JWT and its nonce signature). */
const NATS_SECRET_FIELDS = new Set(['pass', 'auth_token', 'jwt', 'sig']);

/**
 * A NATS CONNECT object with its credentials masked (`***`): used by the
 * dissector, so a secret never reaches an entry, and again at the output edge
 * for entries that come from elsewhere (then with [REDACTED]).
 */
export function maskNatsConnect(connect: Record<string, unknown>, mask = '***', onSecret?: (s: string) => void): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const k of Object.keys(connect)) {
    const v = connect[k];
    // The server matches CONNECT's keys in any case (Go's encoding/json): `Pass` is a password too.
    if (!NATS_SECRET_FIELDS.has(k.toLowerCase()) || v === '' || v === null || v === undefined || v === mask || v === '***') continue;
    if (typeof v === 'string') onSecret?.(v);
    (out ??= { ...connect })[k] = mask;
  }
  return out ?? connect;
}

/** Memcached SASL auth data (binary opcodes 0x21/0x22, PLAIN: authzid\0user\0password): never shown. */
export function maskMemcachedSasl(request: Record<string, unknown>, mask = REDACTED): Record<string, unknown> {
  if (typeof request.opcodeName !== 'string' || !request.opcodeName.startsWith('SASL') || request.value === undefined || request.value === mask || request.value === '***') return request;
  return { ...request, value: mask };
}

/** `(attr=value)` items of an LDAP search filter (RFC 4515): `=`, `~=`, `>=`, `<=`. */
const LDAP_ITEM = /\(([A-Za-z][A-Za-z0-9.;-]{0,63})(~=|>=|<=|=)([^()]*)\)/g;

/** An LDAP filter with the values tested against sensitive attributes (`(userPassword=…)`) redacted. */
export function redactLdapFilter(filter: string, isSecret: (attribute: string) => boolean, onSecret?: (s: string) => void): string {
  if (filter.indexOf('=') < 0) return filter;
  return filter.replace(LDAP_ITEM, (item, attribute: string, op: string, value: string) => {
    if (value === '' || value === REDACTED || value === '*' || !isSecret(attribute)) return item;
    onSecret?.(value);
    return `(${attribute}${op}${REDACTED})`;
  });
}
