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

/** Bytes of a piece's end that a word looked for may start in (its length less one: `jsonrpc`). */
const SEAM = 6;

/**
 * lineTeachesRedaction over the records of lines parallel-ndjson.ts sends, on their bytes (the words
 * are ASCII; a record of several lines may say yes for words of different lines: it only pins the
 * rest of the file to one worker), where a line longer than a
 * record comes in pieces: the words an earlier piece of the same line held still count (`method`
 * in the first 256 KB, `params` in the next), and a word cut between two pieces (`met|hod`) is
 * found. Only the last few bytes of a piece are kept.
 */
export class RecordTeachingScan {
  private lua = false;
  private method = false;
  private other = false;
  private tail: Buffer | undefined;

  /** The next record; `endsLine`: it ends a line (the one after starts afresh). True when the line so far may teach. */
  feed(bytes: Buffer, endsLine: boolean): boolean {
    const seam = this.tail ? Buffer.concat([this.tail, bytes.subarray(0, SEAM)]) : undefined;
    const has = (word: string): boolean => bytes.includes(word) || (seam !== undefined && seam.includes(word));
    this.lua ||= has(LUA_CALL);
    this.method ||= has('method');
    this.other ||= has('params') || has('args') || has('jsonrpc');
    const teaches = this.lua || (this.method && this.other);
    if (endsLine) {
      this.lua = this.method = this.other = false;
      this.tail = undefined;
    } else {
      // Copied: a view would keep the whole record.
      this.tail = Buffer.from(bytes.subarray(Math.max(0, bytes.length - SEAM)));
    }
    return teaches;
  }
}
