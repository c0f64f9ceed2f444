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
 *
 * With `known` (redis-scripts.ts): the code `SCRIPT LOAD` and `FUNCTION LOAD` send is read so too, and
 * what each script or function takes as a secret is remembered, so that `EVALSHA <sha1>` and `FCALL
 * <name>` (whose code is not in their entry) hide the same arguments. `reply`: SCRIPT LOAD's answer, the
 * script's SHA1 (the dissector keeps 256 characters of an argument: a longer script's own hash is not
 * the one EVALSHA names).
 */
export function redactRedisScript(command: string, args: unknown[], isSecretName: (name: string) => boolean, onSecret: (s: string) => void, known?: KnownScripts, reply?: unknown): unknown[] {
  if (command === 'SCRIPT' || command === 'FUNCTION') return redactLoadedCode(command, args, isSecretName, onSecret, known, reply);
  if (!REDIS_SCRIPTS.has(command) || args.length < 2) return args;
  const numKeys = Number(args[1]);
  const argvFrom = Number.isInteger(numKeys) && numKeys >= 0 ? 2 + numKeys : args.length;
  const hide = new Set<number>();
  const original = args[0];
  let script = typeof original === 'string' && (command === 'EVAL' || command === 'EVAL_RO') ? original : undefined;
  if (script !== undefined && script.indexOf(LUA_CALL) >= 0) {
    const argv = new Set<number>();
    script = redactScriptCalls(script, isSecretName, (n) => argv.add(n), onSecret);
    for (const n of argv) hide.add(argvFrom + n - 1);
    known?.learnScript(original as string, argv);
  } else if (known && script === undefined && typeof original === 'string') {
    const argv = command === 'EVALSHA' || command === 'EVALSHA_RO' ? known.scriptArgv(original) : known.functionArgv(original);
    if (argv) for (const n of argv) hide.add(argvFrom + n - 1);
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

/** A script's SHA1 as SCRIPT LOAD answers it. */
const SHA1_HEX = /^[0-9a-fA-F]{40}$/;

/** What redis-scripts.ts remembers: the ARGV numbers a script (by SHA1) or a function (by name) takes as secrets. */
export interface KnownScripts {
  /** `sha1`: the hash the server answered with, else the script's own. */
  learnScript(script: string, argv: ReadonlySet<number>, sha1?: string): void;
  learnFunction(name: string, argv: ReadonlySet<number>): void;
  scriptArgv(sha1: string): ReadonlySet<number> | undefined;
  functionArgv(name: string): ReadonlySet<number> | undefined;
}

/**
 * `SCRIPT LOAD <script>` and `FUNCTION LOAD [REPLACE] <code>`: the code's secret literals redacted as
 * EVAL's are; what each script or registered function takes as a secret told to `known`.
 */
function redactLoadedCode(command: string, args: unknown[], isSecretName: (name: string) => boolean, onSecret: (s: string) => void, known?: KnownScripts, reply?: unknown): unknown[] {
  const at = args.length - 1;
  const code = args[at];
  if (at < 1 || typeof args[0] !== 'string' || args[0].toUpperCase() !== 'LOAD' || typeof code !== 'string' || code.indexOf(LUA_CALL) < 0) return args;
  let red: string;
  if (command === 'SCRIPT') {
    const argv = new Set<number>();
    red = redactScriptCalls(code, isSecretName, (n) => argv.add(n), onSecret);
    known?.learnScript(code, argv, typeof reply === 'string' && SHA1_HEX.test(reply) ? reply : undefined);
  } else {
    red = redactLibrary(code, isSecretName, onSecret, known);
  }
  if (red === code) return args;
  const out = [...args];
  out[at] = red;
  return out;
}

/**
 * A function library (`#!lua name=lib` then `redis.register_function('set_pw', function(keys, args) …
 * end)`): cut at each `function` definition, each piece read as a script whose ARGV is the function's
 * second parameter (`args[1]`); a registered function's name is remembered with what its piece takes.
 * A piece ends where the next definition starts (a nested function cuts its parent short: only the
 * ARGV it hides are lost, its literals are still read).
 */
function redactLibrary(code: string, isSecretName: (name: string) => boolean, onSecret: (s: string) => void, known?: KnownScripts): string {
  const defs = functionDefinitions(code);
  let out = '';
  const argvOf = new Map<number, Set<number>>(); // a definition's index → its ARGV numbers
  for (let d = -1; d < defs.length; d++) {
    const from = d < 0 ? 0 : defs[d].at;
    const to = d + 1 < defs.length ? defs[d + 1].at : code.length;
    const argv = new Set<number>();
    out += redactScriptCalls(code.slice(from, to), isSecretName, (n) => argv.add(n), onSecret, d < 0 ? 'ARGV' : defs[d].argv);
    if (d >= 0) argvOf.set(d, argv);
  }
  if (known) {
    for (const reg of registrations(code)) {
      // The callback: a definition starting at or after the name (inline), else the definition named so.
      const d = reg.callback === undefined ? defs.findIndex((f) => f.at >= reg.end) : defs.findIndex((f) => f.name === reg.callback);
      const argv = d >= 0 ? argvOf.get(d) : undefined;
      if (argv) known.learnFunction(reg.name, argv);
    }
  }
  return out;
}

interface FunctionDefinition {
  /** Where `function` stands. */
  at: number;
  /** `local function set_pw(…)`: set_pw; undefined for an anonymous function. */
  name?: string;
  /** The second parameter (what FCALL's arguments are called), or `ARGV`. */
  argv: string;
}

/** A Lua name. */
const LUA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}/;
/** A definition's parameter list, a registered name: this long at most. */
const MAX_PARAMETERS = 256;
/** Definitions read in one library; a hostile one has any number. */
const MAX_DEFINITIONS = 1024;

/** Each `function [name](p1, p2 …)` of `code`, in order. */
function functionDefinitions(code: string): FunctionDefinition[] {
  const defs: FunctionDefinition[] = [];
  for (let at = code.indexOf('function'); at >= 0 && defs.length < MAX_DEFINITIONS; at = code.indexOf('function', at + 8)) {
    if (at > 0 && /[A-Za-z0-9_.]/.test(code[at - 1])) continue; // `register_function`, `myfunction`
    let p = skipLuaBlanks(code, at + 8);
    const name = LUA_NAME.exec(code.slice(p, p + 64))?.[0];
    if (name !== undefined) p = skipLuaBlanks(code, p + name.length);
    if (code[p] !== '(') continue;
    // Looked for only so far (a search to the end per definition would not be linear).
    const close = code.slice(p, p + MAX_PARAMETERS).indexOf(')') + p;
    if (close < p) continue;
    const params = code.slice(p + 1, close).split(',').map((x) => x.trim());
    defs.push({ at, name, argv: params.length >= 2 && LUA_NAME.test(params[1]) ? params[1] : 'ARGV' });
  }
  return defs;
}

/** Each `register_function('name', callback)` (or `{function_name='name', callback=…}`): the name, where it ends, and a named callback. */
function registrations(code: string): Array<{ name: string; end: number; callback?: string }> {
  const out: Array<{ name: string; end: number; callback?: string }> = [];
  const marker = 'register_function';
  for (let at = code.indexOf(marker); at >= 0 && out.length < MAX_DEFINITIONS; at = code.indexOf(marker, at + marker.length)) {
    let p = at + marker.length;
    const limit = Math.min(code.length, p + 64);
    while (p < limit && code[p] !== "'" && code[p] !== '"') p++;
    if (p >= limit) continue;
    const close = code.slice(p + 1, p + 1 + MAX_PARAMETERS).indexOf(code[p]) + p + 1;
    if (close <= p) continue;
    const name = code.slice(p + 1, close);
    let q = close + 1;
    while (q < code.length && q - close < 64 && /[\s,=]/.test(code[q])) q++;
    if (code.startsWith('callback', q)) {
      q += 8;
      while (q < code.length && q - close < 64 && /[\s=]/.test(code[q])) q++;
    }
    const word = LUA_NAME.exec(code.slice(q, q + 64))?.[0];
    out.push({ name, end: close + 1, callback: word === undefined || word === 'function' ? undefined : word });
  }
  return out;
}

function skipLuaBlanks(s: string, p: number): number {
  while (p < s.length && (s[p] === ' ' || s[p] === '\t' || s[p] === '\n' || s[p] === '\r')) p++;
  return p;
}

interface ScriptArg {
  /** A string literal's content (its span in the script), or undefined for an expression. */
  text?: string;
  start: number;
  end: number;
  /** `ARGV[n]`: n. */
  argv?: number;
}

/** The script with each call's secret literals redacted; `hideArgv(n)` told each ARGV[n] (`argvName[n]`) a call takes as a secret. */
function redactScriptCalls(script: string, isSecretName: (name: string) => boolean, hideArgv: (n: number) => void, onSecret: (s: string) => void, argvName = 'ARGV'): string {
  let out = '';
  let copied = 0;
  for (let at = script.indexOf(LUA_CALL); at >= 0; ) {
    const { list, end } = readCallArgs(script, at + LUA_CALL.length, argvName);
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

/**
 * The arguments of a Lua call from `from` (just after its `(`) to its `)`, and where reading stopped.
 * A literal is quoted (`'…'`, `"…"`) or a long bracket (`[[…]]`, `[==[…]==]`, no escapes inside).
 */
function readCallArgs(s: string, from: number, argvName = 'ARGV'): { list: ScriptArg[]; end: number } {
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
    } else if (c === '[' && longBracketLevel(s, i) >= 0) {
      const level = longBracketLevel(s, i);
      const open = i + level + 2;
      const closer = ']' + '='.repeat(level) + ']';
      const close = s.indexOf(closer, open);
      const end = close < 0 ? n : close;
      list.push({ text: s.slice(open, end), start: open, end });
      i = close < 0 ? n : close + closer.length;
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
      const m = expr.startsWith(argvName) ? /^\[(\d{1,6})\]$/.exec(expr.slice(argvName.length)) : null;
      list.push({ start, end: i, argv: m ? Number(m[1]) : undefined });
    }
    while (i < n && (s[i] === ' ' || s[i] === '\t' || s[i] === '\n' || s[i] === '\r')) i++;
    if (s[i] !== ',') break;
    i++;
  }
  return { list, end: Math.max(i, from) };
}

/** `[[` → 0, `[==[` → 2: the level of a Lua long bracket opening at `i`; -1 when none opens there (`[1]`). */
function longBracketLevel(s: string, i: number): number {
  let j = i + 1;
  while (s[j] === '=' && j - i <= 16) j++;
  return s[j] === '[' ? j - i - 1 : -1;
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
const SQL_TRIGGER = /\b(?:password|identified|replace(?=\s{0,16}')|pwd(?==))\b/gi;
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
    // A quoted name: a JSON or dict key inside a literal (`'{"password": "pw"}'`) has its value after a
    // colon; a quoted column (`SET "password" = 'pw'`) is walked past as the bare word would be. (The
    // closing quote read as an opening one took `": "` for the literal and left the value.)
    const before = sql[m.index - 1];
    if ((before === '"' || before === "'" || before === '`') && sql[p] === before) {
      p = skipBlanks(sql, p + 1);
      // (Or a PHP or Ruby hash's key, `'password' => 'pw'`, in a log line or a configuration file.)
      const rocket = sql[p] === '=' && sql[p + 1] === '>';
      if (sql[p] === ':' || rocket) {
        p = skipBlanks(sql, p + (rocket ? 2 : 1));
        const q = sql[p];
        if (q !== '"' && q !== "'") continue;
        const end = closingQuote(sql, p + 1, q);
        if (end > p + 1 && sql.slice(p + 1, end) !== REDACTED) {
          onSecret?.(sql.slice(p + 1, end));
          out += sql.slice(copied, p + 1) + REDACTED;
          copied = end;
          SQL_TRIGGER.lastIndex = Math.max(SQL_TRIGGER.lastIndex, end);
        }
        continue;
      }
    }
    // A connection string inside a literal (`dblink_connect('host=h password=pw')`): the bare value.
    if (sql[p] === '=' && p + 1 < sql.length && !/[\s'"$(>]/.test(sql[p + 1])) {
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
    // Walk over a few words, '=', '(' and comments (`IDENTIFIED /* … */ BY`) to the literal, if there is one.
    const identified = m[0].toLowerCase() === 'identified';
    let by = false;
    for (let steps = 0; steps < 8 && p < sql.length; steps++) {
      while (p < sql.length && (sql[p] === ' ' || sql[p] === '\t' || sql[p] === '\n' || sql[p] === '\r' || sql[p] === '=' || sql[p] === '(')) p++;
      p = skipComments(sql, p);
      const w = /^[A-Za-z_][A-Za-z0-9_]{0,63}/.exec(sql.slice(p, p + 64));
      if (!w) break;
      const word = w[0].toLowerCase();
      // Oracle's password may stand unquoted: `IDENTIFIED BY tiger`, `CONNECT TO u IDENTIFIED BY pw USING …`
      // (not MySQL's `IDENTIFIED BY RANDOM PASSWORD`, nor `IDENTIFIED BY VALUES 'hash'`, read on).
      if (identified && by && !SQL_SKIP_WORDS.has(word) && word !== 'random' && word !== 'values' && sql[p + w[0].length] !== '(') {
        onSecret?.(w[0]);
        out += sql.slice(copied, p) + REDACTED;
        copied = p + w[0].length;
        break;
      }
      if (word === 'by') by = true;
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
    if (copied > p) continue;
    // PostgreSQL's escape string (`PASSWORD E'pw'`) and SQL Server's Unicode one (`PASSWORD = N'pw'`): the literal after the letter.
    if ((sql[p] === 'E' || sql[p] === 'e' || sql[p] === 'N' || sql[p] === 'n') && sql[p + 1] === "'") p++;
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

/** The first position from `p` past any comments (`/* … *\/`, `-- …` to the line's end) and the blanks after them. */
function skipComments(sql: string, p: number): number {
  for (;;) {
    if (sql[p] === '/' && sql[p + 1] === '*') {
      const close = sql.indexOf('*/', p + 2);
      p = close < 0 ? sql.length : close + 2;
    } else if (sql[p] === '-' && sql[p + 1] === '-') {
      const eol = sql.indexOf('\n', p);
      p = eol < 0 ? sql.length : eol + 1;
    } else return p;
    p = skipBlanks(sql, p);
  }
}

/** The first position from `p` that is not a space, tab or line break. */
function skipBlanks(sql: string, p: number): number {
  while (p < sql.length && (sql[p] === ' ' || sql[p] === '\t' || sql[p] === '\n' || sql[p] === '\r')) p++;
  return p;
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
export function closingQuote(sql: string, from: number, quote: string): number {
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
