// Secrets a JSON-RPC call passes by position: `{"method": "login", "params": ["alice", "hunter2"]}`
// has no name beside the password, so a name rule cannot find it. The method says which positions
// are secrets: a login's arguments after the user, and the wallet methods of Ethereum clients (geth's
// `personal_*`) and Bitcoin Core that take a passphrase or a private key. Odoo's external API
// (`{"service": "object", "method": "execute_kw", "args": [db, uid, password, …]}`) is the same shape
// under `args`. Parameters passed by name (`"params": {"password": …}`) are judged by name elsewhere.

import { createHash } from 'node:crypto';

/** Positions of the parameters that are secrets, by method name in lower case. */
const POSITIONS = new Map<string, readonly number[]>([
  // geth / Parity / OpenEthereum: the account's passphrase, or the raw private key to import.
  ['personal_unlockaccount', [1]],
  ['personal_newaccount', [0]],
  ['personal_importrawkey', [0, 1]],
  ['personal_sendtransaction', [1]],
  ['personal_signtransaction', [1]],
  ['personal_sign', [2]],
  ['parity_newaccountfromphrase', [0, 1]],
  ['parity_newaccountfromsecret', [0, 1]],
  // Bitcoin Core (and its forks): the wallet's passphrase, a WIF private key.
  ['walletpassphrase', [0]],
  ['walletpassphrasechange', [0, 1]],
  ['encryptwallet', [0]],
  ['importprivkey', [0]],
  ['signmessagewithprivkey', [0]],
  ['sethdseed', [1]],
]);

/**
 * Odoo's external API, by service (`{"service": "object", "method": "execute_kw", "args": [db, uid,
 * password, model, method, …]}`): the password is the third argument of every call.
 */
const ODOO = new Map<string, ReadonlyMap<string, readonly number[]>>([
  ['object', new Map([['execute_kw', [2]], ['execute', [2]]])],
  ['common', new Map([['login', [2]], ['authenticate', [2]]])],
]);

/** The last word of a method's name (`auth.login`, `User.Login`, `system/authenticate`) that says it logs in. */
const LOGIN_WORDS = new Set(['login', 'logon', 'signin', 'sign_in', 'authenticate', 'auth']);

/** Methods whose answer (`result`) is a secret: a private key asked for (a login's session token too, see resultIsSecret). */
const SECRET_RESULTS = new Set(['dumpprivkey', 'personal_exportrawkey', 'eth_exportrawkey']);

/**
 * The positions of `params` (or `args`) that `method` takes as secrets; undefined when none. A login's
 * positional parameters after the first (the user) are secrets; a login of one parameter takes a token.
 */
export function secretPositions(method: string, params: readonly unknown[], service?: unknown): readonly number[] | undefined {
  if (method.length > 128 || params.length === 0) return undefined;
  const m = method.toLowerCase();
  if (typeof service === 'string') return ODOO.get(service)?.get(m);
  const known = POSITIONS.get(m);
  if (known) return known;
  if (!LOGIN_WORDS.has(lastWord(m))) return undefined;
  if (params.length === 1) return [0];
  return params.map((_, i) => i).filter((i) => i > 0);
}

/**
 * A call whose text answer (`result`) is a secret: Bitcoin Core's `dumpprivkey`, and a login's session
 * token (Zabbix's `user.login` answers with the token every later call sends as `auth`).
 */
export function resultIsSecret(method: string): boolean {
  if (method.length > 128) return false;
  const m = method.toLowerCase();
  return SECRET_RESULTS.has(m) || LOGIN_WORDS.has(lastWord(m));
}

/** A method (or a function, a procedure) whose name's last word says it logs in: `user.login`, `auth_signin`. */
export function isLoginMethod(method: string): boolean {
  return method.length <= 128 && LOGIN_WORDS.has(lastWord(method.toLowerCase()));
}

/** `auth.login` → login; `system/authenticate` → authenticate; `user_login` → login; `signIn` (lower-cased) → signin. */
function lastWord(m: string): string {
  let at = -1;
  for (let i = 0; i < m.length; i++) {
    const c = m.charCodeAt(i);
    if (c === 0x2e /* . */ || c === 0x2f /* / */ || c === 0x3a /* : */) at = i;
  }
  const word = m.slice(at + 1);
  if (LOGIN_WORDS.has(word)) return word;
  return word.slice(word.lastIndexOf('_') + 1);
}

/** Calls awaited at once, over every connection: past this the oldest is forgotten (and told). */
export const MAX_AWAITED = 4096;

/**
 * Over WebSocket each JSON-RPC message is an entry of its own: a login's call in one, its token in
 * the answer, another. The calls whose answer is a secret are remembered by connection and id until
 * an answer with that id comes (then forgotten), bounded by MAX_AWAITED.
 */
export class AwaitedAnswers {
  private readonly calls = new Set<string>();
  private forgotten = 0;

  /** `onForget(times)`: the oldest call was forgotten to make room, the `times`th time in the run. */
  constructor(private readonly onForget: (times: number) => void) {}

  get size(): number {
    return this.calls.size;
  }

  add(connection: string, id: string | number): void {
    const key = awaitedKey(connection, id);
    this.calls.delete(key);
    if (this.calls.size >= MAX_AWAITED) {
      this.calls.delete(this.calls.values().next().value as string);
      this.onForget(++this.forgotten);
    }
    this.calls.add(key);
  }

  /** Was a call with this id awaited on this connection? It is not any more. */
  take(connection: string, id: string | number): boolean {
    return this.calls.delete(awaitedKey(connection, id));
  }
}

/** Ids longer than this are remembered by their hash: 4,096 ids of a body's length each would be tens of MB. */
const MAX_KEPT_ID = 128;

/** A number id and the same digits as a string are two ids (JSON-RPC answers with the id as it was sent). */
function awaitedKey(connection: string, id: string | number): string {
  const text = String(id);
  const kept = text.length > MAX_KEPT_ID ? `#${createHash('sha256').update(text).digest('base64')}` : text;
  return `${connection}\0${typeof id === 'number' ? 'n' : 's'}${kept}`;
}

interface Endpoint {
  ip?: unknown;
  port?: unknown;
}

/** The connection an entry belongs to, whichever side sent it: its protocol and both endpoints in one order; undefined without them. */
export function connectionKey(e: { protocol?: unknown; src?: Endpoint | null; dst?: Endpoint | null }): string | undefined {
  const a = endpoint(e.src);
  const b = endpoint(e.dst);
  if (a === undefined || b === undefined) return undefined;
  return `${String(e.protocol)} ${a < b ? `${a} ${b}` : `${b} ${a}`}`;
}

function endpoint(p: Endpoint | null | undefined): string | undefined {
  if (p === null || typeof p !== 'object' || typeof p.ip !== 'string' || (typeof p.port !== 'number' && typeof p.port !== 'string')) return undefined;
  return `${p.ip}:${p.port}`;
}
