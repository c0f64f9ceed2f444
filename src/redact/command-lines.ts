// Secrets given to command-line tools, which no `name=value` rule sees: a
// long flag and its value as two words (`--password hunter2`,
// `--token $(…)`), a tool's own short flag (`mysql -phunter2`, `sshpass -p
// …`, `docker login -p …`, `redis-cli -a …`, `mongosh -p …`, `ldapsearch -w
// …`, `curl -u user:pass`, `smbclient -U user%pass`), `openssl … -passin
// pass:…`, a Secret made from literals (`kubectl create secret …
// --from-literal=key=…`), `… set <secret name> <value>` (`aws configure set
// aws_secret_access_key …`, `redis-cli config set requirepass …`), and
// passwords given by position (`htpasswd -b file user …`, `rabbitmqctl
// add_user user …`, `vault login <token>`), and a .netrc file's `password …`
// and `account …`. They travel in log lines, CI
// webhooks, exec calls and a Pod's `command`/`args` (an argv array: see
// redactArgv).
//
// One walk over the words of each line; a word's tool is the last tool named
// before it in the same command (`kubectl exec db -- mysql -p…`, `sh -c
// "mysql -p…"`). Linear in the text.

import type { SensitiveNames } from './names.js';
import { REDACTED, isRedacted } from './redacted.js';
import { isSecretName } from './inline-pairs.js';

/** A word: where it lies in the text. */
interface Word {
  start: number;
  end: number;
  /** The word without leading quotes and brackets (`"mysql` → `mysql`). */
  bare: string;
}

/** Short flags whose value is the next word (or glued: `-pX`), per tool. */
const SPACED: Record<string, Set<string>> = {};
/** Short flags whose value is only ever glued (`mysql -p` alone prompts; the next word is a database). */
const GLUED_ONLY: Record<string, Set<string>> = {};
/** Tools whose flags mean this only after their `login` subcommand (`docker run -p 8080:80` publishes a port). */
const AFTER_LOGIN = new Set(['docker', 'podman', 'buildah', 'nerdctl', 'helm', 'skopeo', 'crane', 'oras', 'az', 'cf']);
for (const t of ['mysql', 'mysqldump', 'mysqladmin', 'mysqlimport', 'mysqlcheck', 'mysqlshow', 'mysqlpump', 'mariadb', 'mariadb-dump', 'mariadb-admin']) GLUED_ONLY[t] = new Set(['p']);
SPACED.sshpass = new Set(['p']);
for (const t of AFTER_LOGIN) SPACED[t] = new Set(['p']);
SPACED['redis-cli'] = new Set(['a']);
for (const t of ['mongo', 'mongosh', 'mongodump', 'mongorestore', 'mongoexport', 'mongoimport', 'mongostat', 'mongotop', 'mongofiles']) SPACED[t] = new Set(['p']);
for (const t of ['ldapsearch', 'ldapadd', 'ldapmodify', 'ldapdelete', 'ldapwhoami', 'ldapcompare', 'ldapmodrdn', 'ldapexop']) SPACED[t] = new Set(['w']);
SPACED.ldappasswd = new Set(['w', 's', 'a']);
// `user:password` (curl) or `user%password` (Samba): the whole value goes (the user name is personal data too).
SPACED.curl = new Set(['u', 'U']);
SPACED.smbclient = new Set(['U']);
SPACED.rpcclient = new Set(['U']);
// SQL Server's command-line tools: `sqlcmd -S db -U sa -P …` (`-U` is the login, `-P` its password).
SPACED.sqlcmd = new Set(['P']);
SPACED.bcp = new Set(['P']);
/** openssl's single-dash options whose value is `pass:<password>` (or env:, file:, fd:, stdin: where it is). */
const OPENSSL_PASS = new Set(['-passin', '-passout', '-pass']);
/** Java's keytool and jarsigner: single-dash options whose value is the next word (`-storepass:env VAR` names where it is). */
const KEYTOOL_PASS = new Set(['-storepass', '-keypass', '-srcstorepass', '-deststorepass', '-srckeypass', '-destkeypass', '-new']);
/** Tools that take a password by position: [subcommand, index of the password among the positionals after it]. */
const POSITIONAL: Record<string, [string, number][]> = {
  rabbitmqctl: [
    ['add_user', 1],
    ['change_password', 1],
    ['authenticate_user', 1],
  ],
  vault: [['login', 0]],
};

/** Positionals kept per command: every password given by position is among the first few. */
const MAX_POSITIONALS = 4;

const TOOLS = new Set([...Object.keys(SPACED), ...Object.keys(GLUED_ONLY), ...Object.keys(POSITIONAL), 'htpasswd', 'openssl', 'kubectl', 'oc', 'keytool', 'jarsigner']);

/** A tool these rules know, a long flag that may name a secret, or `set` (most texts have none: quick tests). */
const TOOL_HINT = /mysql|mariadb|mongo|sshpass|login|redis-cli|ldap|curl|smbclient|rpcclient|htpasswd|openssl|rabbitmqctl|vault|from-literal|sqlcmd|bcp|keytool|jarsigner/;
const FLAG_HINT = /--[\w-]{0,40}(?:pass|pwd|token|secret|key|auth|cred|user|jwt|session|cookie|otp|pin|sig)/i;
const SET_HINT = /(?:^|\s)(?:set|SET)\s/;

/** Could `s` hold a command line these rules read? Also asked of a JSON text before it is parsed (bodies.ts). */
export function mayHoldCommandLine(s: string): boolean {
  // Literal searches first (nearly every text has none of these, and indexOf is far quicker than a
  // pattern): every tool's secret but rabbitmqctl's and vault's follows a flag (` -`, or `"-` in a
  // JSON text's argv array).
  if (s.length < MIN_COMMAND) return false;
  // A value that is a command's arguments alone (`REDIS_ARGS=--requirepass …`, an `EXTRA_ARGS` env var) starts with its flag.
  if ((s.indexOf(' -') >= 0 || s.indexOf('"-') >= 0 || s.charCodeAt(0) === 0x2d) && (FLAG_HINT.test(s) || TOOL_HINT.test(s))) return true;
  if (s.indexOf('rabbitmqctl') >= 0 || s.indexOf('vault') >= 0 || s.indexOf('machine ') >= 0) return true;
  return (s.indexOf('set ') >= 0 || s.indexOf('SET ') >= 0) && SET_HINT.test(s);
}
/** The shortest command line with a secret these rules read (`vault login x`). */
const MIN_COMMAND = 13;

/** `s` with the secrets of its command lines replaced by [REDACTED]; `s` itself when none. */
export function redactCommandLines(s: string, names: SensitiveNames): string {
  if (!mayHoldCommandLine(s)) return s;
  const hide: [number, number][] = [];
  const command = new Command(s, names, hide, false, isNetrc(s));
  let i = 0;
  const n = s.length;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c === NEWLINE || c === CR) {
      command.end();
      i++;
      continue;
    }
    if (c === SPACE || c === TAB) {
      i++;
      continue;
    }
    const start = i;
    // A quoted value runs to its closing quote on the same line (a password with a space in it); other
    // quoted words are read word by word (`sh -c "mysql -p… shop"`).
    if ((c === QUOTE || c === APOSTROPHE) && command.wantsValue) {
      let close = i + 1;
      while (close < n && s.charCodeAt(close) !== c && s.charCodeAt(close) !== NEWLINE) close++;
      i = close < n && s.charCodeAt(close) === c ? close + 1 : close;
    } else {
      while (i < n && !isBlank(s.charCodeAt(i))) i++;
    }
    command.word(start, i);
  }
  command.end();
  if (hide.length === 0) return s;
  // A password given by position is found at its command's end, after later flags' values.
  hide.sort((x, y) => x[0] - y[0]);
  let out = '';
  let copied = 0;
  for (const [a, b] of hide) {
    if (a < copied || b <= a || isRedacted(s, a, b)) continue;
    out += s.slice(copied, a) + REDACTED;
    copied = b;
  }
  return copied === 0 ? s : out + s.slice(copied);
}

/**
 * An argv (a Pod's `command` and `args`, an exec call's command): its elements with the
 * secrets the same rules find replaced; undefined when none.
 */
export function redactArgv(argv: unknown[], names: SensitiveNames): string[] | undefined {
  // The words of the argv joined by one space, each element one word whatever it holds.
  let text = '';
  const words: [number, number][] = [];
  for (const a of argv) {
    if (typeof a !== 'string') return undefined;
    if (text.length > 0) text += ' ';
    words.push([text.length, text.length + a.length]);
    text += a;
  }
  // The gate looks for a flag after a space: an argv may start with one (a container's `args: ["--password", …]`).
  if (!mayHoldCommandLine(` ${text}`)) return undefined;
  const hide: [number, number][] = [];
  const command = new Command(text, names, hide, true);
  for (const [a, b] of words) command.word(a, b);
  command.end();
  if (hide.length === 0) return undefined;
  hide.sort((x, y) => x[0] - y[0]);
  const out = [...(argv as string[])];
  let k = 0;
  for (const [a, b] of hide) {
    while (k < words.length && words[k][1] < b) k++;
    if (k === words.length || a < words[k][0]) continue;
    const [x] = words[k];
    const el = out[k];
    if (isRedacted(el, a - x, b - x)) continue;
    out[k] = el.slice(0, a - x) + REDACTED + el.slice(b - x);
  }
  return out;
}

/** The words of one command as they come: which tool they belong to, and which of them are secrets. */
class Command {
  private tool = '';
  private afterLogin = false;
  /** The value of the previous word's flag is this word: the flag's kind. */
  private pending: 'whole' | 'openssl' | undefined;
  /** The previous word was `set`: a sensitive name now makes the word after it a value. */
  private setName = false;
  /** Words that are not flags, after the tool (or its subcommand): passwords given by position. */
  private positionals: Word[] = [];
  /** The subcommand positionals count from: '' not seen yet, '-' none that takes a password. */
  private positionalFrom = '';
  /** htpasswd's -b (the password on the command line), and -n (no file before the user). */
  private batch = false;
  private batchNoFile = false;

  constructor(
    private readonly s: string,
    private readonly names: SensitiveNames,
    private readonly hide: [number, number][],
    /** Each word is one argv element: no quotes to take off, no separators inside. */
    private readonly argv = false,
    /** A .netrc file: `password` and `account` are followed by their values. */
    private readonly netrc = false,
  ) {}

  /** Is the next word a flag's value? */
  get wantsValue(): boolean {
    return this.pending !== undefined;
  }

  word(start: number, end: number): void {
    const s = this.s;
    const bare = stripLead(s, start, end, this.argv);
    const w: Word = { start, end, bare };
    // A separator ends the command (`mysql -p… ; ls`, `a | b`, `a && b`).
    if (!this.argv && (bare === '|' || bare === '||' || bare === '&&' || bare === ';')) {
      this.end();
      return;
    }
    const pending = this.pending;
    this.pending = undefined;
    if (pending !== undefined && !bare.startsWith('-')) {
      this.value(w, pending);
      this.after(w);
      return;
    }
    if (this.netrc && (bare === 'password' || bare === 'account')) {
      this.pending = 'whole';
      return;
    }
    if (this.setName) {
      this.setName = false;
      if (isSecretName(trimValue(bare), this.names) && this.names.test(trimValue(bare), 'field')) {
        this.pending = 'whole';
        this.after(w);
        return;
      }
    }
    const base = basename(bare);
    if (TOOLS.has(base)) {
      this.startTool(base);
      this.after(w);
      return;
    }
    if (bare.startsWith('--')) this.longFlag(w);
    else if (bare.startsWith('-') && bare.length > 1) this.shortFlag(w);
    else {
      if (bare.toLowerCase() === 'set') this.setName = true;
      if (bare === 'login') this.afterLogin = true;
      this.positional(w);
    }
    this.after(w);
  }

  /** The command ended: passwords given by position are known now. */
  end(): void {
    if (this.tool === 'htpasswd' && this.batch) {
      const at = this.batchNoFile ? 1 : 2;
      const w = this.positionals[at];
      if (w) this.value(w, 'whole');
    }
    this.tool = '';
    this.afterLogin = false;
    this.pending = undefined;
    this.setName = false;
    this.positionals = [];
    this.positionalFrom = '';
    this.batch = false;
    this.batchNoFile = false;
  }

  private startTool(tool: string): void {
    this.tool = tool;
    this.afterLogin = false;
    this.positionals = [];
    this.positionalFrom = POSITIONAL[tool] ? '' : '-';
    this.batch = false;
    this.batchNoFile = false;
  }

  private after(w: Word): void {
    // `… -p secret;`: a word that ends with `;` ends its command too.
    if (!this.argv && w.bare.endsWith(';')) this.end();
  }

  private longFlag(w: Word): void {
    const bare = w.bare;
    const eq = bare.indexOf('=');
    if (eq >= 0) {
      // `--from-literal=key=value`: every literal of a Secret is a secret, whatever its key.
      const second = bare.startsWith('--from-literal=') ? bare.indexOf('=', eq + 1) : -1;
      if (second >= 0) this.value({ start: w.end - bare.length + second + 1, end: w.end, bare: '' }, 'whole');
      return; // `--password=…` itself is an inline pair (inline-pairs.ts)
    }
    const name = trimValue(bare).slice(2);
    if (isSecretName(name, this.names) && this.names.test(name, 'field')) this.pending = 'whole';
  }

  private shortFlag(w: Word): void {
    const tool = this.tool;
    if (tool === 'openssl') {
      if (OPENSSL_PASS.has(w.bare)) this.pending = 'openssl';
      else if (w.bare === '-k') this.pending = 'whole'; // `openssl enc -k <passphrase>`
      return;
    }
    if (tool === 'keytool' || tool === 'jarsigner') {
      if (KEYTOOL_PASS.has(w.bare)) this.pending = 'whole';
      return;
    }
    if (tool === 'htpasswd') {
      if (/^-[a-zA-Z]*b/.test(w.bare)) this.batch = true;
      if (/^-[a-zA-Z]*n/.test(w.bare)) this.batchNoFile = true;
      return;
    }
    const letter = w.bare[1];
    const spaced = SPACED[tool];
    const glued = GLUED_ONLY[tool];
    if ((!spaced || !spaced.has(letter)) && (!glued || !glued.has(letter))) return;
    if (AFTER_LOGIN.has(tool) && !this.afterLogin) return;
    if (w.bare.length > 2) {
      // `-pS3cret`: the value is glued to its flag.
      this.value({ start: w.end - w.bare.length + 2, end: w.end, bare: '' }, 'whole');
    } else if (spaced?.has(letter)) this.pending = 'whole';
  }

  private positional(w: Word): void {
    const rules = POSITIONAL[this.tool];
    if (this.tool === 'htpasswd') {
      if (this.positionals.length < MAX_POSITIONALS) this.positionals.push(w);
      return;
    }
    if (!rules) return;
    if (this.positionalFrom === '') {
      // The first positional is the subcommand.
      if (rules.some(([sub]) => sub === w.bare)) {
        this.positionalFrom = w.bare;
        this.positionals = [];
      } else this.positionalFrom = '-';
      return;
    }
    if (this.positionalFrom === '-') return;
    if (w.bare.indexOf('=') >= 0) return; // `vault login -method=userpass username=…`: pairs (inline-pairs.ts)
    if (this.positionals.length >= MAX_POSITIONALS) return;
    this.positionals.push(w);
    const at = this.positionals.length - 1;
    if (rules.some(([sub, index]) => sub === this.positionalFrom && index === at)) this.value(w, 'whole');
  }

  /** Hide the value of word `w` (inside its quotes, without trailing punctuation). */
  private value(w: Word, kind: 'whole' | 'openssl'): void {
    const s = this.s;
    let a = w.start;
    let b = w.end;
    if (!this.argv) {
      while (a < b && LEAD[s.charCodeAt(a)] === 1) a++;
      while (b > a && TRAIL[s.charCodeAt(b - 1)] === 1) b--;
    }
    if (kind === 'openssl') {
      // Only `pass:` carries the password itself (env:, file:, fd: and stdin name where it is).
      if (!s.startsWith('pass:', a)) return;
      a += 5;
    }
    if (b > a && !s.startsWith(REDACTED, a)) this.hide.push([a, b]);
  }
}

/** A .netrc file (`machine host login user password …`, on one line or several). */
function isNetrc(s: string): boolean {
  return s.indexOf('machine ') >= 0 && s.indexOf('password') >= 0 && /(?:^|\s)machine\s+\S+\s+(?:login|password)\s/.test(s);
}

/** The word without the quotes and brackets that open it. */
function stripLead(s: string, start: number, end: number, argv: boolean): string {
  let a = start;
  if (!argv) while (a < end && LEAD[s.charCodeAt(a)] === 1) a++;
  return s.slice(a, end);
}

/** `/usr/bin/mysql` → `mysql`; `mysql"` (a word that closes a quoted command) → `mysql`. */
function basename(word: string): string {
  const slash = word.lastIndexOf('/');
  return trimValue(slash >= 0 ? word.slice(slash + 1) : word);
}

function trimValue(word: string): string {
  let b = word.length;
  while (b > 0 && TRAIL[word.charCodeAt(b - 1)] === 1) b--;
  return word.slice(0, b);
}

function isBlank(c: number): boolean {
  return c === SPACE || c === TAB || c === NEWLINE || c === CR;
}

const SPACE = 0x20;
const TAB = 0x09;
const NEWLINE = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const APOSTROPHE = 0x27;

/** What opens a word around its value: quotes, brackets, `$(` (not `[`: `[REDACTED]` is a value already taken out). */
const LEAD = new Uint8Array(65536);
for (const c of `"'({\`$`) LEAD[c.charCodeAt(0)] = 1;
/** What closes a word after its value: quotes, brackets, separators. */
const TRAIL = new Uint8Array(65536);
for (const c of `"')};,\``) TRAIL[c.charCodeAt(0)] = 1;
