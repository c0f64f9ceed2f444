// Entries a filter leaves out can still teach the redactor what a later entry's secret is: a
// JSON-RPC login sent as a WebSocket message of its own says that the answer with its id holds a
// token (json-rpc.ts), and a Redis script loaded once says which arguments of the EVALSHA calls
// that follow are passwords (redis-scripts.ts). A filter that keeps only the answer (`ws_from ==
// "server"`) or only the calls (`redis_type == "EVALSHA"`) must still let the redactor see those,
// or the secret is written. These tests say, cheaply, which left-out entries are worth that: most
// are not, and redacting every one would double a selective filter's cost.

import type { Entry } from '../model/entry.js';

/** What a script's code calls Redis with (commands.ts: only code holding it is read for secrets). */
const LUA_CALL = 'call(';

/**
 * Whether a left-out entry may teach the redactor: a call that has no answer in its entry and
 * names a method (a JSON-RPC message), or a Redis command carrying script code.
 */
export function teachesRedaction(e: Entry): boolean {
  if (e.protocol === 'redis') return Array.isArray(e.request?.args) && e.request.args.some((a: unknown) => typeof a === 'string' && a.includes(LUA_CALL));
  if (e.response !== null && e.response !== undefined) return false;
  const body: unknown = e.request?.body;
  if (typeof body === 'string') return body.includes('method');
  return body !== null && typeof body === 'object';
}

/**
 * The same question of an NDJSON line not parsed (the filter decided it on a few fields): false
 * only when its entry cannot teach (no method beside params, args or jsonrpc; no script code).
 * `text` may be the line's bytes as latin1: the words looked for are ASCII.
 */
export function lineTeachesRedaction(text: string): boolean {
  if (text.includes(LUA_CALL)) return true;
  return text.includes('method') && (text.includes('params') || text.includes('args') || text.includes('jsonrpc'));
}

/** lineTeachesRedaction over a block of lines, on its bytes (parallel-ndjson.ts; the words are ASCII). */
export function bytesMayTeachRedaction(b: Buffer): boolean {
  if (b.includes(LUA_CALL)) return true;
  return b.includes('method') && (b.includes('params') || b.includes('args') || b.includes('jsonrpc'));
}
