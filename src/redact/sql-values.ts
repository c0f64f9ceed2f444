// SQL literals that are secrets by the column they go to: `UPDATE users SET
// api_token = 'x'`, `WHERE secret = 'x'`, and `INSERT INTO creds (user_id,
// secret) VALUES (1, 'x'), (2, 'y')` where the column is named once and its
// values follow by position. The column names are judged as JSON field names
// are (`password`, `*_token`, `client_secret` …). commands.ts handles the
// statements whose keywords say "password" (CREATE USER … PASSWORD,
// IDENTIFIED BY); this is the data the application stores.
//
// One pass of a small lexer over the text: quotes ('…' with '' and \ escapes,
// "…" and `…` identifiers, $tag$…$tag$), comments, words and punctuation.
// Linear, whatever the input; a literal left open runs to the end.

import type { SensitiveNames } from './names.js';
import { REDACTED } from './redacted.js';
import { isLoginMethod } from './json-rpc.js';

/** Columns of one INSERT's list kept; a hostile list has any number. */
const MAX_COLUMNS = 1024;
/** Parameters of one statement judged; PostgreSQL allows 65,535. */
const MAX_PARAMETERS = 65536;

type Token = { kind: 'word' | 'ident' | 'string' | 'param' | 'punct' | 'other'; start: number; end: number; text: string };

/**
 * `sql` with literals bound to sensitive columns replaced by [REDACTED]; `sql` itself when none.
 * `except`: column names (lower case) not judged in this dialect (CQL's `key`, below).
 */
export function redactSqlValues(sql: string, names: SensitiveNames, onSecret?: (s: string) => void, except?: ReadonlySet<string>): string {
  if (sql.indexOf("'") < 0 && sql.indexOf('$') < 0) return sql;
  const spans: Array<[number, number]> = [];
  boundValues(sql, names, (t) => {
    if (t.kind === 'string') spans.push([t.start, t.end]);
  }, except);
  if (spans.length === 0) return sql;
  spans.sort((a, b) => a[0] - b[0]);
  let out = '';
  let copied = 0;
  for (const [start, end] of spans) {
    if (start < copied) continue; // one literal found by both rules
    const text = sql.slice(start, end);
    if (text === REDACTED) continue;
    onSecret?.(text);
    out += sql.slice(copied, start) + REDACTED;
    copied = end;
  }
  return copied === 0 ? sql : out + sql.slice(copied);
}

/**
 * `sql` with each string literal that holds a JSON document (`'{"api_token": "…"}'::jsonb`, a JSON
 * column's INSERT) redacted as a JSON body is, by `redactJson`: its keys name what the document
 * holds, whatever column it goes to. `sql` itself when nothing changed.
 */
export function redactJsonLiterals(sql: string, redactJson: (text: string) => string): string {
  if (sql.indexOf("'") < 0 || (sql.indexOf("'{") < 0 && sql.indexOf("'[") < 0)) return sql;
  let out = '';
  let copied = 0;
  for (const t of tokens(sql)) {
    if (t.kind !== 'string' || (sql[t.start] !== '{' && sql[t.start] !== '[')) continue;
    const literal = sql.slice(t.start, t.end);
    const text = literal.indexOf("''") >= 0 ? literal.replace(/''/g, "'") : literal;
    const red = redactJson(text);
    if (red === text) continue;
    out += sql.slice(copied, t.start) + red.replace(/'/g, "''");
    copied = t.end;
  }
  return copied === 0 ? sql : out + sql.slice(copied);
}

/**
 * Which parameters of a prepared statement go to sensitive columns (0-based):
 * `UPDATE users SET password_hash = $1, api_token = $2` → 0 and 1, and `?`
 * placeholders by their order (MySQL, JDBC). The values travel apart from the
 * text (PostgreSQL's Bind, MySQL's COM_STMT_EXECUTE), under no name at all.
 */
export function sensitiveParameters(sql: string, names: SensitiveNames): Set<number> {
  const found = new Set<number>();
  if (sql.indexOf('$') < 0 && sql.indexOf('?') < 0) return found;
  let questionMarks = 0;
  const index = new Map<number, number>(); // a `?` token's start → its position among them
  for (const t of tokens(sql)) if (t.kind === 'param' && t.text === '?') index.set(t.start, questionMarks++);
  const add = (t: Token): void => {
    if (t.kind !== 'param') return;
    const n = t.text === '?' ? index.get(t.start)! : Number(t.text.slice(1)) - 1;
    if (n >= 0 && n < MAX_PARAMETERS) found.add(n);
  };
  boundValues(sql, names, add);
  passwordPlaceholders(sql, add);
  return found;
}

/**
 * Placeholders a statement that sets a password takes it from: `ALTER USER ? IDENTIFIED BY ?`, `SET
 * PASSWORD FOR ? = ?`, `SET PASSWORD = PASSWORD(?)`, `WITH PASSWORD = ?` (what commands.ts redactSql
 * reads as literals). A placeholder within two tokens of `PASSWORD` or `IDENTIFIED … BY`; after
 * `FOR` the account's name comes first, and the password after its `=`.
 */
function passwordPlaceholders(sql: string, visit: (t: Token) => void): void {
  let steps = 0;
  let identified = false;
  let waitingEquals = false;
  for (const t of tokens(sql)) {
    const lower = t.kind === 'word' ? t.text.toLowerCase() : '';
    if (lower === 'password') steps = 3;
    else if (lower === 'identified') identified = true;
    else if (lower === 'by' && identified) steps = 2;
    else if (lower === 'for' && steps > 0) {
      steps = 0;
      waitingEquals = true;
    } else if (t.kind === 'punct' && t.text === '=' && waitingEquals) {
      waitingEquals = false;
      steps = 2;
    } else if (t.kind === 'param' && steps > 0) {
      visit(t);
      steps = 0;
    } else if (steps > 0) steps--;
    if (t.kind === 'punct' && t.text === ';') identified = waitingEquals = false;
  }
}

/**
 * Functions that take a key or a password as an argument (by 0-based position): pgcrypto's
 * `pgp_sym_encrypt(data, 'key')`, `crypt('pw', gen_salt('bf'))`, `hmac(data, 'key', 'sha256')`,
 * MySQL's `AES_ENCRYPT(str, 'key')`. `set_config` is judged by its first argument (below).
 */
const KEY_ARGUMENTS = new Map<string, number[]>([
  ['pgp_sym_encrypt', [1]], ['pgp_sym_encrypt_bytea', [1]], ['pgp_sym_decrypt', [1]], ['pgp_sym_decrypt_bytea', [1]],
  ['pgp_pub_decrypt', [1, 2]], ['pgp_pub_decrypt_bytea', [1, 2]],
  ['encrypt', [1]], ['decrypt', [1]], ['encrypt_iv', [1]], ['decrypt_iv', [1]], ['hmac', [1]], ['crypt', [0]],
  ['aes_encrypt', [1]], ['aes_decrypt', [1]],
  // ClickHouse's table functions that log in elsewhere: `mysql('host:port', 'db', 'table', 'user', 'password')`.
  ['mysql', [4]], ['postgresql', [4]], ['remote', [4]], ['remotesecure', [4]], ['mongodb', [4]],
]);
/** Values of a first argument kept until its call closes (`verify_api_key($1 || $2)` has two). */
const MAX_FIRST_VALUES = 16;
/** Open calls tracked at once: deeper nesting is followed for its parentheses only. */
const MAX_CALLS = 64;

/** A call being read: which function (undefined: a parenthesis that is no such call) and which argument. */
interface Call {
  secret?: number[];
  /** `set_config(name, value, local)`: the value is a secret when the name is a sensitive one. */
  setConfig: boolean;
  arg: number;
  /** set_config's first argument names a sensitive setting (`'app.api_token'`). */
  sensitiveSetting: boolean;
  /** `format(fmt, …)`: known once `fmt` is read, the arguments it places where a secret goes (formatSecrets). */
  format?: Set<number>;
  isFormat: boolean;
  /** A function of the application's own that takes a secret (appFunction): its arguments after the first. */
  app?: AppFunction;
  /** The first argument's values, kept until the call closes: a function of one argument takes a secret there (`verify_api_key($1)`). */
  first?: Token[];
}

/** `secret`: named after one (`set_password`, `verify_api_key`) or logs in (`auth.login`); `user`: creates an account (`create_app_user`). */
type AppFunction = 'secret' | 'user';

/** `create_user`, `add_app_user`, `register_account`, `new_login`: what creates an account takes its password after its name. */
const CREATES_ACCOUNT = /^(?:create|add|new|register|insert|make)_?(?:[a-z0-9]{1,32}_)?(?:user|account|login|role|member)$/;

/**
 * A function the statement calls that is no built-in the rules above know: the application's own
 * (`SELECT create_app_user($1, $2)`, `CALL set_password($1, $2)`, `SELECT auth.login($1, $2)`), judged
 * by its name as a JSON-RPC method is (json-rpc.ts): its arguments after the first (the account) are
 * secrets; a function of one argument named after a secret takes the secret itself.
 */
function appFunction(fn: string, names: SensitiveNames): AppFunction | undefined {
  if (fn.length === 0 || fn.length > 128) return undefined;
  if (names.secretOnly(fn) || isLoginMethod(fn)) return 'secret';
  return CREATES_ACCOUNT.test(fn) ? 'user' : undefined;
}

/** Specifiers of one format string judged; a hostile one has any number. */
const MAX_SPECIFIERS = 256;
/** How much of the format string before a specifier says what it stands for. */
const BEFORE_WINDOW = 64;
/** The text before a specifier: `PASSWORD `, `IDENTIFIED BY '`, `password=` (a conninfo), or `column = ` (the column is judged). Bounded by BEFORE_WINDOW. */
const BEFORE_SPECIFIER = /(?:\b(password|identified[ \t\r\n]+by)[ \t\r\n]*=?|\b([A-Za-z_][A-Za-z0-9_]*)[ \t\r\n]*(?:=|<>|!=))[ \t\r\n]*'?$/i;

/**
 * PostgreSQL's `format('CREATE USER %I PASSWORD %L', $1, $2)` builds its statement at run time: the
 * arguments (1-based, as format numbers them: `%2$L` too) its specifiers place after `PASSWORD`,
 * `IDENTIFIED BY`, `password=` or a sensitive column's `=`.
 */
export function formatSecrets(fmt: string, names: SensitiveNames): Set<number> {
  const found = new Set<number>();
  let next = 1;
  let seen = 0;
  for (let i = fmt.indexOf('%'); i >= 0 && seen < MAX_SPECIFIERS; i = fmt.indexOf('%', i + 1)) {
    if (fmt[i + 1] === '%') {
      i++;
      continue;
    }
    const spec = /^(?:(\d{1,5})\$)?-?(?:\d{1,5}|\*(?:\d{1,5}\$)?)?([sIL])/.exec(fmt.slice(i + 1, i + 16));
    if (!spec) continue;
    seen++;
    const arg = spec[1] !== undefined ? Number(spec[1]) : next;
    next = arg + 1;
    const m = BEFORE_SPECIFIER.exec(fmt.slice(Math.max(0, i - BEFORE_WINDOW), i));
    if (m && (m[1] !== undefined || names.test(m[2], 'field'))) found.add(arg);
  }
  return found;
}

/** Every value (a literal or a placeholder) bound to a sensitive column, in one walk of the tokens. */
function boundValues(sql: string, names: SensitiveNames, visit: (t: Token) => void, except?: ReadonlySet<string>): void {
  const sensitive = (column: string): boolean => !except?.has(column.toLowerCase()) && names.test(column, 'field');
  // A keyword or alias before or after a literal: a secret's own name (not `USER 'bob'`), or SQLite's KEY.
  const secretWord = (word: string): boolean => !except?.has(word.toLowerCase()) && (names.secretOnly(word) || word.toLowerCase() === 'key');
  const calls: Call[] = [];
  /** Parentheses opened past MAX_CALLS: closed before any tracked call is. */
  let untracked = 0;
  let prev: Token[] = []; // the last three tokens, most recent last
  // INSERT state: collecting column names, then reading VALUES tuples by position.
  let insert: 'none' | 'into' | 'columns' | 'afterColumns' | 'values' = 'none';
  let columns: string[] = [];
  let depth = 0;
  let position = 0;
  for (const t of tokens(sql)) {
    const lower = t.kind === 'word' ? t.text.toLowerCase() : '';
    const value = t.kind === 'string' || t.kind === 'param';
    if (lower === 'insert' || lower === 'replace') {
      insert = 'into';
      columns = [];
    } else if (insert === 'into' && t.kind === 'punct' && t.text === '(') {
      insert = 'columns';
    } else if (insert === 'columns') {
      if (t.kind === 'punct' && t.text === ')') insert = 'afterColumns';
      else if ((t.kind === 'word' || t.kind === 'ident') && columns.length < MAX_COLUMNS) columns.push(t.text);
    } else if (insert === 'afterColumns' && lower === 'values') {
      insert = 'values';
      depth = 0;
    } else if (insert === 'values') {
      if (t.kind === 'punct' && t.text === '(') {
        depth++;
        if (depth === 1) position = 0;
      } else if (t.kind === 'punct' && t.text === ')') {
        depth--;
        if (depth < 0) insert = 'none';
      } else if (t.kind === 'punct' && t.text === ',' && depth === 1) position++;
      else if (t.kind === 'punct' && t.text === ';') insert = 'none';
      else if (value && depth === 1 && position < columns.length && sensitive(columns[position])) visit(t);
      else if (depth === 0 && t.kind === 'word' && lower !== 'values') insert = 'none'; // ON CONFLICT, RETURNING …
    }
    // A function that takes a key (`pgp_sym_encrypt(data, 'key')`, `set_config('app.token', $1, false)`).
    if (t.kind === 'punct' && t.text === '(') {
      const before = prev.length > 0 ? prev[prev.length - 1] : undefined;
      const fn = before?.kind === 'word' ? before.text.toLowerCase() : '';
      const secret = KEY_ARGUMENTS.get(fn);
      const app = secret === undefined && fn !== 'set_config' && fn !== 'format' ? appFunction(fn, names) : undefined;
      if (calls.length < MAX_CALLS) calls.push({ secret, setConfig: fn === 'set_config', arg: 0, sensitiveSetting: false, isFormat: fn === 'format', app, first: app === 'secret' ? [] : undefined });
      else untracked++;
    } else if (t.kind === 'punct' && t.text === ')') {
      if (untracked > 0) untracked--;
      else {
        const call = calls.pop();
        // One argument only: a function named after a secret took it there.
        if (call?.first !== undefined && call.arg === 0) for (const v of call.first) visit(v);
      }
    } else if (t.kind === 'punct' && t.text === ',' && calls.length > 0 && untracked === 0) {
      const call = calls[calls.length - 1];
      call.arg++;
      call.first = undefined;
    } else if (value && calls.length > 0 && untracked === 0) {
      const call = calls[calls.length - 1];
      if (call.app !== undefined && call.arg > 0) visit(t);
      else if (call.first !== undefined && call.first.length < MAX_FIRST_VALUES) call.first.push(t);
      if (call.setConfig && call.arg === 0 && t.kind === 'string') call.sensitiveSetting = names.test(sql.slice(t.start, t.end), 'field');
      else if (call.isFormat && call.arg === 0 && t.kind === 'string') call.format = formatSecrets(sql.slice(t.start, t.end), names);
      else if (call.format?.has(call.arg)) visit(t);
      else if ((call.setConfig && call.arg === 1 && call.sensitiveSetting) || call.secret?.includes(call.arg)) visit(t);
    }
    // `column = 'literal'` (SET, WHERE, ON DUPLICATE KEY UPDATE): the column is the word before the operator.
    if (value && prev.length >= 2) {
      const op = prev[prev.length - 1];
      const column = prev[prev.length - 2];
      if (op.kind === 'punct' && (op.text === '=' || op.text === '<>' || op.text === '!=') && (column.kind === 'word' || column.kind === 'ident') && sensitive(column.text)) {
        visit(t);
      }
    }
    // An option's literal right after its name: Redshift's `SECRET_ACCESS_KEY 'x'`, `CREDENTIALS
    // 'aws_access_key_id=…;aws_secret_access_key=…'`, SQLite's `ATTACH … KEY 'x'`.
    if (t.kind === 'string' && prev.length >= 1 && prev[prev.length - 1].kind === 'word' && secretWord(prev[prev.length - 1].text)) visit(t);
    // A literal named by its alias: `SELECT 'pw' AS password` (a MERGE's source row, a CTE's).
    if ((t.kind === 'word' || t.kind === 'ident') && prev.length >= 2 && prev[prev.length - 1].kind === 'word' && prev[prev.length - 1].text.toLowerCase() === 'as' && prev[prev.length - 2].kind === 'string' && secretWord(t.text)) visit(prev[prev.length - 2]);
    prev.push(t);
    if (prev.length > 3) prev = prev.slice(-3);
  }
}

/** The tokens of `sql`; a string token's start and end are its content's (inside the quotes). */
function* tokens(sql: string): Generator<Token> {
  const n = sql.length;
  let i = 0;
  while (i < n) {
    const c = sql[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
    } else if (c === '-' && sql[i + 1] === '-') {
      const eol = sql.indexOf('\n', i);
      i = eol < 0 ? n : eol + 1;
    } else if (c === '/' && sql[i + 1] === '*') {
      const close = sql.indexOf('*/', i + 2);
      i = close < 0 ? n : close + 2;
    } else if (c === "'") {
      const end = closing(sql, i + 1, "'", true);
      yield { kind: 'string', start: i + 1, end, text: '' };
      i = end + 1;
    } else if (c === '"' || c === '`') {
      const end = closing(sql, i + 1, c, false);
      yield { kind: 'ident', start: i + 1, end, text: sql.slice(i + 1, end) };
      i = end + 1;
    } else if (c === '$' && /^\$[A-Za-z_]{0,32}\$/.test(sql.slice(i, i + 34))) {
      const tag = /^\$[A-Za-z_]{0,32}\$/.exec(sql.slice(i, i + 34))![0];
      const close = sql.indexOf(tag, i + tag.length);
      const end = close < 0 ? n : close;
      yield { kind: 'string', start: i + tag.length, end, text: '' };
      i = close < 0 ? n : close + tag.length;
    } else if (c === '$' && sql.charCodeAt(i + 1) >= 0x30 && sql.charCodeAt(i + 1) <= 0x39) {
      // A PostgreSQL parameter ($1).
      let j = i + 1;
      while (j < n && j < i + 7 && sql.charCodeAt(j) >= 0x30 && sql.charCodeAt(j) <= 0x39) j++;
      yield { kind: 'param', start: i, end: j, text: sql.slice(i, j) };
      i = j;
    } else if (c === '?') {
      yield { kind: 'param', start: i, end: i + 1, text: '?' };
      i++;
    } else if (WORD[sql.charCodeAt(i)] === 1) {
      let j = i + 1;
      while (j < n && (WORD[sql.charCodeAt(j)] === 1 || sql[j] === '.')) j++;
      // A qualified name (`u.api_token`) is judged by its last part.
      const word = sql.slice(i, j);
      const dot = word.lastIndexOf('.');
      yield { kind: 'word', start: i, end: j, text: dot >= 0 ? word.slice(dot + 1) : word };
      i = j;
    } else if ((c === '<' && sql[i + 1] === '>') || (c === '!' && sql[i + 1] === '=')) {
      yield { kind: 'punct', start: i, end: i + 2, text: sql.slice(i, i + 2) };
      i += 2;
    } else if (c === '(' || c === ')' || c === ',' || c === '=' || c === ';') {
      yield { kind: 'punct', start: i, end: i + 1, text: c };
      i++;
    } else {
      yield { kind: 'other', start: i, end: i + 1, text: c };
      i++;
    }
  }
}

/** Where a quoted text starting at `from` closes (doubled quotes, and backslashes in strings, escape). */
function closing(sql: string, from: number, quote: string, backslash: boolean): number {
  for (let i = from; i < sql.length; i++) {
    const c = sql[i];
    if (backslash && c === '\\') i++;
    else if (c === quote) {
      if (sql[i + 1] === quote) i++;
      else return i;
    }
  }
  return sql.length;
}

/** Letters, digits and `_` (words and unquoted identifiers; `.` joins qualified names). */
const WORD = new Uint8Array(65536);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_') WORD[c.charCodeAt(0)] = 1;
