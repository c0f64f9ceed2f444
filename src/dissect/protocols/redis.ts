// Redis RESP2/RESP3 (https://redis.io/docs/latest/develop/reference/protocol-spec/).
// A streaming reader per direction turns bytes into values without ever
// buffering a whole big reply: bulk strings are kept up to a cap and counted
// beyond it, aggregates keep a bounded number of elements, nesting is capped.
// Commands pair with replies in order (pipelining = a FIFO); pub/sub pushes
// become their own entries.
import type { CallRecord, ConnectionContext, Direction, Probe, ProtocolDissector, TcpStreamParser } from '../api.js';
import { ByteQueue } from '../byte-queue.js';
import { looksLikeText, printable, truncate } from './util/text.js';
import { currentMeter } from '../memory-budget.js';
import { Fifo } from './util/fifo.js';

/** Nesting deeper than this is hostile (redis itself nests a few levels). */
const MAX_DEPTH = 32;
/** Elements kept per aggregate; the rest are read and counted. */
const MAX_ITEMS = 100;
/** Values kept per message in all its aggregates (nested arrays multiply otherwise). */
const MAX_VALUES = 2000;
/** Arguments kept per command in the entry. */
const MAX_ARGS = 20;
/**
 * Commands that carry a script or a function library (EVAL's script, SCRIPT LOAD's, FUNCTION LOAD's
 * code): their arguments are kept up to `--max-body` (at most MAX_SCRIPT), as a body is, and the
 * script is not cut to 256 characters, so the redactor reads all of it (a secret literal, or an ARGV
 * it passes to AUTH, past the 256th character was shown or not known).
 */
const SCRIPT_COMMANDS = new Set(['EVAL', 'EVAL_RO', 'SCRIPT', 'FUNCTION']);
const MAX_SCRIPT = 1024 * 1024;
/** A type line (simple string, length, inline command) longer than this is garbage. */
const MAX_LINE = 64 * 1024;
/** Redis' own limits (proto-max-bulk-len, proto-max-multibulk-len). */
const MAX_BULK = 512 * 1024 * 1024;
const MAX_COUNT = 1024 * 1024;
/**
 * Commands awaiting their replies, per connection: a count, and what they
 * keep (their entries' text, estimated), charged to the flow's memory budget.
 * `redis-cli --pipe` (mass insertion) has ~15,000 commands in flight.
 */
const MAX_PENDING = 65536;
const MAX_PENDING_BYTES = 8 * 1024 * 1024;
/** Runs of replies owed to commands already emitted (see `owed`). */
const MAX_OWED_RUNS = 1024;

const TYPE_NAMES: Record<string, string> = {
  '+': 'simple', '-': 'error', ':': 'integer', '$': 'bulk', '*': 'array', '_': 'null', '#': 'boolean',
  ',': 'double', '(': 'bignumber', '!': 'error', '=': 'verbatim', '%': 'map', '~': 'set', '>': 'push', '|': 'attribute',
};

/** Commands whose second word is not a key. */
const KEYLESS = new Set([
  'PING', 'ECHO', 'AUTH', 'SELECT', 'INFO', 'CLIENT', 'CONFIG', 'HELLO', 'QUIT', 'MULTI', 'EXEC', 'DISCARD',
  'COMMAND', 'DBSIZE', 'FLUSHDB', 'FLUSHALL', 'SAVE', 'BGSAVE', 'BGREWRITEAOF', 'TIME', 'SCAN', 'EVAL', 'EVALSHA',
  'SCRIPT', 'CLUSTER', 'SLOWLOG', 'MONITOR', 'ROLE', 'ACL', 'LASTSAVE', 'SHUTDOWN', 'DEBUG', 'OBJECT', 'MEMORY',
  'LATENCY', 'MODULE', 'WAIT', 'READONLY', 'READWRITE', 'RESET', 'SWAPDB', 'FUNCTION', 'FCALL', 'PUBSUB',
  // The read-only script calls as their writing twins: the first word is a script or a function's name, not a key
  // (a script as the key was shown in the summary, cut at 60 characters where no redactor could find its secret whole).
  'EVAL_RO', 'EVALSHA_RO', 'FCALL_RO',
  'REPLICAOF', 'SLAVEOF', 'SYNC', 'PSYNC', 'REPLCONF', 'UNWATCH', 'RANDOMKEY', 'KEYS',
]);


const SUBSCRIBE_KINDS = new Set(['subscribe', 'psubscribe', 'ssubscribe', 'unsubscribe', 'punsubscribe', 'sunsubscribe']);
const SUBSCRIBE_COMMANDS = new Set([...SUBSCRIBE_KINDS].map((k) => k.toUpperCase()));
const MESSAGE_KINDS = new Set(['message', 'pmessage', 'smessage']);
/** A MONITOR feed line: `1700000000.123456 [0 10.0.0.1:5000] "SET" "k" "v"` (the command name captured; linear: no nested quantifiers). */
const MONITOR_LINE = /^\d{1,12}\.\d{1,9} \[[^\]]{1,300}\] "([^"]{1,64})"/;

type Value = string | number | boolean | null | Value[] | { [k: string]: Value };

/** One complete top-level RESP value as read from the wire. */
export interface RespMessage {
  type: string;
  value: Value;
  /** Elements (map: pairs) an aggregate announced on the wire; `value` may keep fewer. */
  items?: number;
  size: number;
  time: number;
  frame: number;
}

interface Aggregate {
  tag: string;
  /** Elements announced on the wire (map: pairs). */
  count: number;
  remaining: number;
  items: Value[];
  dropped: number;
}

interface Bulk {
  tag: string;
  remaining: number; // payload bytes still to read
  parts: Buffer[];
  kept: number;
  total: number;
  /** The aggregate it belongs to keeps no more values: read past it without rendering it. */
  unkept: boolean;
  /** Bytes of it kept (the reader's keepBytes, or its scriptBytes for a script command's argument). */
  limit: number;
}

/** Streaming RESP reader for one direction. */
export class RespReader {
  private readonly queue = new ByteQueue();
  private readonly stack: Aggregate[] = [];
  /** The bulk string being read, when `inBulk`; one object reused for every bulk (millions in a long LRANGE stream). */
  private readonly bulk: Bulk = { tag: '', remaining: 0, parts: [], kept: 0, total: 0, unkept: false, limit: 0 };
  private inBulk = false;
  /** CRLF still owed after a bulk payload. */
  private crlfOwed = 0;
  private size = 0;
  private startTime = 0;
  private startFrame = 0;
  private inMessage = false;
  private keptValues = 0;
  dead = false;

  constructor(
    private readonly ctx: ConnectionContext,
    private readonly allowInline: boolean,
    private readonly keepBytes: number,
    private readonly onMessage: (m: RespMessage) => void,
    private readonly onMalformed: (why: string, dropped: number) => void,
    /** What a script command's arguments keep (a client's reader only). */
    private readonly scriptBytes = keepBytes,
  ) {}

  /** When the message being read began (undefined between messages). */
  get messageStart(): number | undefined {
    return this.inMessage && !this.dead ? this.startTime : undefined;
  }

  push(data: Buffer): void {
    if (this.dead) return;
    // `data` is valid only during this call: parsed in place, what is left is copied (settle).
    this.queue.pushBorrowed(data);
    try {
      this.parse();
    } finally {
      this.queue.settle();
    }
  }

  private parse(): void {
    // Every pass consumes bytes or returns.
    while (!this.dead && this.queue.length > 0) {
      if (!this.inMessage) {
        this.inMessage = true;
        this.keptValues = 0;
        this.size = 0;
        this.startTime = this.ctx.now;
        this.startFrame = this.ctx.frame;
      }
      if (this.inBulk) {
        if (!this.readBulk()) return;
      } else if (this.crlfOwed > 0) {
        if (!this.readCrlf()) return;
      } else {
        if (this.stack.length > 0) this.skipUnkeptBulks();
        if (!this.readLine()) return;
      }
    }
  }

  /** Stop reading (malformed input): the framing cannot be trusted any more. */
  kill(): void {
    this.dead = true;
    this.clear();
  }

  /** Forget what was read in part (a gap cut it) and read again from the next bytes pushed; returns the bytes dropped. */
  restart(): number {
    const dropped = this.unread();
    this.clear();
    this.dead = false;
    return dropped;
  }

  /** Bytes of the message read in part, and those queued behind it. */
  private unread(): number {
    return (this.inMessage ? this.size : 0) + this.queue.length;
  }

  private clear(): void {
    this.queue.clear();
    this.stack.length = 0;
    this.inBulk = false;
    this.bulk.parts.length = 0;
    this.crlfOwed = 0;
    this.inMessage = false;
    this.pendingTag = '';
    this.pendingText = '';
  }

  private fail(why: string): void {
    const dropped = this.unread();
    this.kill();
    this.onMalformed(why, dropped);
  }

  /**
   * Bulk strings an aggregate only counts (those past its kept items: most
   * of a 600-item LRANGE reply), read in one loop from the front chunk
   * rather than a line, a payload and a CRLF at a time. Stops before the
   * aggregate's last element (whose completion `complete` handles), at
   * anything but a well-formed `$N\r\n…\r\n` wholly in the chunk, and leaves
   * that to the general path, which reads it (or reports it) as before.
   */
  private skipUnkeptBulks(): void {
    const top = this.stack[this.stack.length - 1];
    if (top === undefined || top.remaining <= 1 || this.keepsNextValue()) return;
    const buf = this.queue.frontChunk;
    const start = this.queue.frontOffset;
    let p = start;
    while (top.remaining > 1 && p < buf.length && buf[p] === 0x24 /* $ */) {
      let q = p + 1;
      let n = 0;
      for (; q < buf.length && q - p <= 10; q++) {
        const c = buf[q] - 0x30;
        if (c < 0 || c > 9) break;
        n = n * 10 + c;
      }
      if (q === p + 1 || q + 1 >= buf.length || buf[q] !== 0x0d || buf[q + 1] !== 0x0a || n > MAX_BULK) break;
      const end = q + 2 + n;
      if (end + 1 >= buf.length || buf[end] !== 0x0d || buf[end + 1] !== 0x0a) break;
      p = end + 2;
      top.remaining--;
      top.dropped++;
    }
    if (p > start) {
      this.queue.consume(p - start);
      this.size += p - start;
    }
  }

  private readBulk(): boolean {
    const b = this.bulk;
    const n = Math.min(b.remaining, this.queue.length);
    if (b.unkept) {
      // A value `complete` will only count (a long LRANGE reply): its bytes
      // are skipped, not turned into a string that is thrown away.
      this.queue.consume(n);
      b.remaining -= n;
      this.size += n;
      if (b.remaining > 0) return false;
      this.inBulk = false;
      this.crlfOwed = 2;
      this.pendingTag = b.tag;
      this.pendingText = '';
      return true;
    }
    if (n > 0 && n === b.remaining && b.parts.length === 0 && n <= b.limit) {
      // The whole value is queued (the usual case): render it where it lies,
      // or from a view when it spans chunks; no copies either way.
      const chunk = this.queue.frontChunk;
      const at = this.queue.frontOffset;
      const skip = b.tag === '=' ? Math.min(4, n) : 0; // verbatim strings start with "txt:"
      const text = at + n <= chunk.length ? renderRange(chunk, at + skip, at + n) : renderBytes(this.queue.peek(n).subarray(skip));
      this.pendingTag = b.tag;
      this.pendingText = text;
      this.queue.consume(n);
      this.size += n;
      this.inBulk = false;
      this.crlfOwed = 2;
      return true;
    }
    if (n > 0) {
      const room = b.limit - b.kept;
      if (room > 0) {
        const part = this.queue.take(Math.min(room, n)); // take copies out of the queue
        b.parts.push(part);
        b.kept += part.length;
        this.queue.consume(n - part.length);
      } else this.queue.consume(n);
      b.remaining -= n;
      this.size += n;
    }
    if (b.remaining > 0) return false;
    this.inBulk = false;
    this.crlfOwed = 2;
    const data = b.parts.length === 1 ? b.parts[0] : Buffer.concat(b.parts, b.kept);
    let text = renderBytes(b.tag === '=' ? data.subarray(Math.min(4, data.length)) : data);
    if (b.total > b.kept) text = truncate(text, text.length) + `…(${b.total} bytes)`;
    b.parts.length = 0;
    this.pendingTag = b.tag;
    this.pendingText = text;
    return true;
  }

  /** A bulk string read up to its CRLF: its type byte and rendering. */
  private pendingTag = '';
  private pendingText = '';

  private readCrlf(): boolean {
    // Both bytes in the front chunk (the usual case): one look, one consume.
    const chunk = this.queue.frontChunk;
    const at = this.queue.frontOffset;
    if (this.crlfOwed === 2 && at + 1 < chunk.length && chunk[at] === 0x0d && chunk[at + 1] === 0x0a) {
      this.queue.consume(2);
      this.size += 2;
      this.crlfOwed = 0;
    }
    while (this.crlfOwed > 0 && this.queue.length > 0) {
      const c = this.queue.at(0);
      const want = this.crlfOwed === 2 ? 0x0d : 0x0a;
      if (c !== want) {
        this.fail('bulk string not followed by CRLF');
        return false;
      }
      this.queue.consume(1);
      this.size++;
      this.crlfOwed--;
    }
    if (this.crlfOwed > 0) return false;
    const text = this.pendingText;
    this.pendingText = '';
    this.complete(this.pendingTag, text);
    return true;
  }

  private readLine(): boolean {
    // Lines are short: a few bytes of the front chunk looked at here (a
    // native search costs more than that for "$3"), then the first 256 bytes,
    // then the rest, so a long queue is not copied per line.
    let nl = shortLineEnd(this.queue.frontChunk, this.queue.frontOffset);
    if (nl < 0) nl = this.queue.indexOfByte(0x0a, 256);
    if (nl < 0 && this.queue.length > 256) nl = this.queue.indexOfByte(0x0a, MAX_LINE);
    if (nl < 0) {
      if (this.queue.length >= MAX_LINE) this.fail('line too long');
      return false;
    }
    // Read the line where it lies (no views: a Redis reply can be hundreds of
    // lines); only a line split across chunks is copied out first.
    let buf = this.queue.frontChunk;
    let s = this.queue.frontOffset;
    if (s + nl >= buf.length) {
      buf = this.queue.peek(nl + 1);
      s = 0;
    }
    const e = nl >= 1 && buf[s + nl - 1] === 0x0d ? s + nl - 1 : s + nl;
    const tag = String.fromCharCode(e > s ? buf[s] : 0);
    // Lengths are the common case: read them from the bytes, without strings.
    const length = tag === '$' || tag === '*' || tag === ':' ? asciiInt(buf, s, e) : null;
    const rest = length === null ? buf.toString('utf8', s + 1, e) : '';
    this.queue.consume(nl + 1);
    this.size += nl + 1;
    if (e === s) {
      // Empty lines between inline commands are ignored by redis too.
      if (this.stack.length === 0) {
        this.inMessage = false;
        return true;
      }
      this.fail('empty line in aggregate');
      return false;
    }
    if (this.allowInline && this.stack.length === 0 && tag !== '*') {
      // Like redis-server: at the top of a client's stream only '*' starts RESP;
      // any other line is an inline command (telnet style), words split by spaces.
      this.complete('*', buf.toString('utf8', s, e).trim().split(/\s+/).slice(0, MAX_ARGS + 1));
      return true;
    }
    switch (tag) {
      case '+':
      case '-':
        this.complete(tag, rest);
        return true;
      case ':':
      case '(': {
        if (length !== null) {
          this.complete(tag, length);
          return true;
        }
        if (!/^[+-]?\d+$/.test(rest)) return this.malformed(`bad integer "${printable(buf.subarray(s, e), 32)}"`);
        const n = Number(rest);
        this.complete(tag, Number.isSafeInteger(n) ? n : rest);
        return true;
      }
      case ',': {
        // A double; what JSON cannot hold as a number (inf, nan, 1e999, damage) stays as its text.
        const d = Number(rest);
        this.complete(tag, rest.trim() !== '' && Number.isFinite(d) ? d : rest);
        return true;
      }
      case '#':
        if (rest !== 't' && rest !== 'f') return this.malformed('bad boolean');
        this.complete(tag, rest === 't');
        return true;
      case '_':
        this.complete('_', null);
        return true;
      case '$':
      case '=':
      case '!': {
        const len = length ?? parseLength(rest);
        if (len === null || len > MAX_BULK) return this.malformed(`bad bulk length "${printable(buf.subarray(s, e), 32)}"`);
        if (len < 0) {
          this.complete('_', null);
          return true;
        }
        const b = this.bulk;
        b.tag = tag;
        b.remaining = len;
        b.kept = 0;
        b.total = len;
        b.unkept = !this.keepsNextValue();
        b.limit = this.keepLimit();
        this.inBulk = true;
        return true;
      }
      case '*':
      case '~':
      case '>':
      case '%':
      case '|': {
        const count = length ?? parseLength(rest);
        if (count === null || count > MAX_COUNT) return this.malformed(`bad aggregate length "${printable(buf.subarray(s, e), 32)}"`);
        if (count < 0) {
          this.complete('_', null);
          return true;
        }
        if (this.stack.length >= MAX_DEPTH) return this.malformed('nesting too deep');
        const n = tag === '%' || tag === '|' ? count * 2 : count;
        if (n === 0) {
          if (tag === '|') return true; // empty attribute: the real value follows
          this.complete(tag, tag === '%' ? {} : [], 0);
          return true;
        }
        this.stack.push({ tag, count, remaining: n, items: [], dropped: 0 });
        return true;
      }
      default:
        return this.malformed(`unknown type byte "${printable(buf.subarray(s, s + 1))}"`);
    }
  }

  private malformed(why: string): boolean {
    this.fail(why);
    return false;
  }

  /** Whether the value being read next is kept (`complete` adds it to its aggregate) rather than only counted. */
  /** A script command's arguments (`*3 $4 EVAL $<script> …`, the command read first) keep more than other values. */
  private keepLimit(): number {
    if (this.scriptBytes <= this.keepBytes || this.stack.length !== 1) return this.keepBytes;
    const top = this.stack[0];
    const command = top.tag === '*' ? top.items[0] : undefined;
    return typeof command === 'string' && command.length <= 8 && SCRIPT_COMMANDS.has(command.toUpperCase()) ? this.scriptBytes : this.keepBytes;
  }

  private keepsNextValue(): boolean {
    const top = this.stack[this.stack.length - 1];
    if (top === undefined) return true;
    return top.items.length < MAX_ITEMS * (top.tag === '%' || top.tag === '|' ? 2 : 1) && this.keptValues < MAX_VALUES;
  }

  /** A value finished: add it to the open aggregate or hand the message on. */
  private complete(tag: string, value: Value, count?: number): void {
    let t = tag;
    let v = value;
    let items = count;
    while (true) {
      const top = this.stack[this.stack.length - 1];
      if (top === undefined) {
        this.inMessage = false;
        const m: RespMessage = { type: TYPE_NAMES[t] ?? 'unknown', value: v, size: this.size, time: this.startTime, frame: this.startFrame };
        if (items !== undefined) m.items = items;
        this.onMessage(m);
        return;
      }
      if (this.keepsNextValue()) {
        top.items.push(v);
        this.keptValues++;
      } else top.dropped++;
      if (--top.remaining > 0) return;
      this.stack.pop();
      if (top.tag === '|') return; // attributes describe the next value; they are not kept
      t = top.tag;
      v = buildAggregate(top);
      items = top.count;
    }
  }
}

/** Where the LF is in the first 16 bytes of buf from `start` (relative to start), or -1. */
function shortLineEnd(buf: Buffer, start: number): number {
  const end = Math.min(buf.length, start + 16);
  for (let i = start; i < end; i++) if (buf[i] === 0x0a) return i - start;
  return -1;
}

/** The integer after the type byte of the line buf[start, end) (`$12`, `*-1`), or null when it is not a short plain one. */
function asciiInt(buf: Buffer, start: number, end: number): number | null {
  let i = start + 1;
  let neg = false;
  if (i < end && buf[i] === 0x2d) {
    neg = true;
    i++;
  }
  if (i >= end || end - i > 12) return null;
  let n = 0;
  for (; i < end; i++) {
    const c = buf[i] - 0x30;
    if (c < 0 || c > 9) return null;
    n = n * 10 + c;
  }
  return neg ? -n : n;
}

function parseLength(s: string): number | null {
  return /^-?\d{1,12}$/.test(s) ? Number(s) : null;
}

function buildAggregate(a: Aggregate): Value {
  if (a.tag === '%') {
    const obj: { [k: string]: Value } = {};
    for (let i = 0; i + 1 < a.items.length; i += 2) obj[typeof a.items[i] === 'string' ? (a.items[i] as string) : JSON.stringify(a.items[i])] = a.items[i + 1];
    if (a.dropped > 0) obj['…'] = `${a.dropped / 2} more`;
    return obj;
  }
  if (a.dropped > 0) a.items.push(`…(${a.dropped} more)`);
  return a.items;
}

function renderBytes(b: Buffer): string {
  return looksLikeText(b) ? b.toString('utf8') : printable(b, b.length * 4 + 1);
}

/** renderBytes of buf[start, end), without a view for the usual short text value. */
function renderRange(buf: Buffer, start: number, end: number): string {
  return end - start <= 64 && isPlainAscii(buf, start, end) ? buf.toString('latin1', start, end) : renderBytes(buf.subarray(start, end));
}

/** Printable ASCII, tab, CR or LF only: text in every encoding looksLikeText accepts. */
function isPlainAscii(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = buf[i];
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c >= 0x7f) return false;
  }
  return true;
}

interface PendingCommand {
  request: Record<string, any>;
  /** Sent after a gap: a reply that began before it cannot be its answer (it answers a command the gap took). */
  afterGap?: boolean;
  /** Where the command ends in the client's stream (at most): a reply sent before the server had this much is not its answer. */
  end: number;
  command: string;
  time: number;
  frame: number;
  size: number;
  /** Subscribe-family replies still expected; the first one pairs with the command. */
  expected: number;
  emitted: boolean;
  /** Not answered (CLIENT REPLY OFF or SKIP): emitted, in its turn, without a reply. */
  oneWay?: boolean;
  /** What it keeps, estimated (bytes): its entry's strings. */
  cost: number;
}

export class RedisParser implements TcpStreamParser {
  private readonly readers: Record<Direction, RespReader>;
  private readonly pending = new Fifo<PendingCommand>();
  /** Problems that apply to calls emitted from now on (a malformed stream). */
  private readonly streamWarnings = new Set<string>();
  /** In RESP2 subscribed mode, plain arrays carry pub/sub messages. */
  private subscribed = false;
  /** After MONITOR's +OK the server streams one status line per command it runs: events, not replies. */
  private monitoring = false;
  /** A command has been read on this connection. */
  private commandSeen = false;
  /**
   * An error the server sent before any command, on a connection whose start was captured: a
   * refusal on accept (`-DENIED` in protected mode, `-ERR max number of clients reached`), after
   * which it closes. It answers the client's first command, which is often already on its way.
   */
  private refusal: RespMessage | undefined;
  /**
   * Replies owed to commands already emitted, in order (replies come in
   * command order, so the next ones are theirs): runs of those reported
   * unanswered by onTick (`late`: their replies are entries of their own),
   * and of those let go past MAX_PENDING (their replies are only counted).
   */
  private owed: Array<{ late: boolean; n: number }> = [];
  /**
   * `CLIENT REPLY OFF`: the server answers nothing until `CLIENT REPLY ON`
   * (whose +OK it sends). `CLIENT REPLY SKIP`: neither it nor the next
   * command is answered. Pairing replies with these commands would give each
   * later command an earlier one's reply.
   */
  private repliesOff = false;
  private skipReplies = 0;
  /**
   * After a gap a direction is read again from its next segment that starts
   * with a message (a command array; a reply's type byte), and is on
   * probation until a whole message is read: a false start (a segment that
   * began inside a value) is dropped, not reported as malformed.
   */
  private readonly resync: Record<Direction, boolean> = { c2s: false, s2c: false };
  private probation: Record<Direction, boolean> = { c2s: false, s2c: false };
  /** After a gap in the server's bytes: they are dropped until the client's next command, whose reply starts afresh. */
  private awaitingClient = false;
  /** When the last gap was reported (commands read after it are marked `afterGap`). */
  private gapAt: number | undefined;
  /**
   * A gap in the client's bytes was reported: every command read since comes
   * after it in the client's stream, though its packet may be older than the
   * report (segments held behind the hole until the server's ACK showed it lost).
   */
  private clientGapRead = false;
  /**
   * Since a gap, replies may be paired with the wrong commands: a client that
   * pipelines can have replies to lost or flushed commands still coming.
   * Commands sent after the gap and paired meanwhile carry `gap`. Once those
   * waiting are all answered, any reply still owed comes out without a
   * command, so pairing is in step again from there.
   */
  private unsure = false;
  /** After a gap in the server's bytes every command paired is unsure, not only those sent after the gap. */
  private unsureAll = false;
  /** Bytes of the client's stream so far, lost ones included (the unit of the packets' acknowledgements). */
  private clientOffset = 0;
  /** What the commands waiting keep (their `cost`), charged to the flow's memory budget. */
  private pendingBytes = 0;
  private readonly meter = currentMeter();
  /**
   * What skipped bytes are counted as: bytes after a gap, or (until a gap) the bytes before the first
   * message of a connection caught mid-way, which nothing lost: a capture that began there reads as
   * one with loss otherwise.
   */
  private droppedCounter = 'redis.gap_dropped';

  constructor(private readonly ctx: ConnectionContext) {
    const keep = Math.max(64, Math.min(ctx.options.maxBody, 4096));
    const script = Math.max(keep, Math.min(ctx.options.maxBody, MAX_SCRIPT));
    this.readers = {
      c2s: new RespReader(ctx, true, keep, (m) => this.onRequest(m), (why, dropped) => this.onMalformed('c2s', why, dropped), script),
      s2c: new RespReader(ctx, false, keep, (m) => this.onReply(m), (why, dropped) => this.onMalformed('s2c', why, dropped)),
    };
    // Caught mid-connection: either side's first bytes may be inside a value, as after a gap; a false start is
    // dropped and the next segment that starts a message read, rather than the side given up as malformed.
    if (ctx.clientGuessed) {
      this.probation = { c2s: true, s2c: true };
      this.droppedCounter = 'redis.midstream_dropped';
    }
  }

  onData(dir: Direction, data: Buffer): void {
    if (dir === 'c2s') this.clientOffset += data.length;
    if (dir === 's2c' && this.awaitingClient) return this.dropAfterGap(data.length);
    if (this.resync[dir]) {
      if (!startsMessage(dir, data)) return this.dropAfterGap(data.length);
      this.resync[dir] = false;
      this.probation[dir] = true;
    }
    this.readers[dir].push(data);
  }

  /**
   * Bytes are missing in `dir`: what was read of its current message is
   * dropped and the direction is read again from its next segment that starts
   * with a message. Replies come in order, so after a gap in the server's
   * bytes no later reply can be paired with a waiting command: those are
   * reported unanswered (warning `gap`) and the server's bytes are dropped
   * until the client's next command. After a gap in the client's bytes the
   * replies go on pairing with the commands read before it; the replies to
   * the commands it took come out without a command (warning `gap`).
   */
  onGap(dir: Direction, length: number): void {
    this.ctx.count('redis.gap');
    this.droppedCounter = 'redis.gap_dropped';
    this.releaseRefusal();
    if (dir === 'c2s') {
      this.clientOffset += length;
      this.clientGapRead = true;
    }
    this.gapAt = this.ctx.now;
    this.unsure = true;
    const reader = this.readers[dir];
    if (reader.dead) return; // malformed before: given up
    this.dropAfterGap(reader.restart());
    this.resync[dir] = true;
    this.probation[dir] = false;
    if (dir === 'c2s') return;
    for (const p of this.takeAllPending()) if (!p.emitted) this.emit(p, null, 'gap');
    this.owed = [];
    // A command read in part at the gap is read whole after it, and its reply may come after replies still owed.
    this.unsureAll = true;
    // Subscribed: the server's messages come without commands, and cannot wait for one.
    if (!this.subscribed) this.awaitingClient = true;
  }

  private dropAfterGap(n: number): void {
    if (n > 0) this.ctx.count(this.droppedCounter, n);
  }

  onTick(nowMs: number, timeoutMs: number): void {
    if (this.refusal !== undefined && nowMs - this.refusal.time > timeoutMs) this.releaseRefusal();
    while (this.pending.length > 0 && nowMs - this.pending.at(0)!.time > timeoutMs) {
      const p = this.shiftPending()!;
      if (!p.emitted) {
        this.emit(p, null);
        if (!p.oneWay) this.owe(true);
      }
    }
    this.emitOneWay();
  }

  pendingSince(): number | undefined {
    let min = this.refusal?.time ?? this.pending.find((p) => !p.emitted)?.time;
    // A message read in part becomes a call stamped with its start (a request, or a reply without one).
    for (const t of [this.readers.c2s.messageStart, this.readers.s2c.messageStart]) {
      if (t !== undefined && (min === undefined || t < min)) min = t;
    }
    return min;
  }

  onEnd(): void {
    this.releaseRefusal();
    // A message cut off by the end of the capture cannot be read: counted, not silently gone.
    for (const r of [this.readers.c2s, this.readers.s2c]) if (r.messageStart !== undefined) this.ctx.count('redis.truncated');
    for (const p of this.takeAllPending()) if (!p.emitted) this.emit(p, null);
  }

  private onMalformed(dir: Direction, why: string, dropped: number): void {
    if (this.probation[dir]) {
      // Read again after a gap from a segment that began inside a value: try the next one.
      this.readers[dir].restart();
      this.dropAfterGap(dropped);
      this.probation[dir] = false;
      this.resync[dir] = true;
      return;
    }
    this.ctx.count('redis.malformed');
    this.streamWarnings.add(`malformed: ${why}`);
  }

  private onRequest(m: RespMessage): void {
    this.probation.c2s = false;
    if (this.gapAt !== undefined) this.awaitingClient = false;
    // redis-server ignores "*-1" and "*0" from a client: no command, no reply.
    if (m.value === null || (Array.isArray(m.value) && m.value.length === 0)) return;
    const words = Array.isArray(m.value) ? m.value.map((w) => (typeof w === 'string' ? w : JSON.stringify(w))) : [String(m.value)];
    const command = (words[0] ?? '').toUpperCase();
    const request: Record<string, any> = { command };
    const argCount = Math.max(0, words.length - 1);
    if (argCount > 0 && !KEYLESS.has(command)) request.key = truncate(words[1], 256);
    // Passwords stay off the wire record: AUTH and HELLO … AUTH user pass.
    const helloAuth = command === 'HELLO' ? helloPasswordIndex(words) : -1;
    const args: string[] = [];
    const script = scriptIndex(command, words);
    for (let i = 1; i < words.length && args.length < MAX_ARGS; i++) args.push(command === 'AUTH' || i === helloAuth ? '***' : i === script ? words[i] : truncate(words[i], 256));
    request.args = args;
    if (argCount > MAX_ARGS) request.argsTruncated = argCount;
    if (command === 'SUBSCRIBE' || command === 'PSUBSCRIBE' || command === 'SSUBSCRIBE') this.subscribed = true;
    const oneWay = this.expectsNoReply(command, words);
    const cost = 96 + 2 * (command.length + (request.key?.length ?? 0) + args.reduce((n, a) => n + a.length, 0));
    while (this.pending.length > 0 && (this.pending.length >= MAX_PENDING || this.pendingBytes + cost > MAX_PENDING_BYTES)) {
      // A client pipelining past the bound: the oldest command goes out now without its reply, which
      // is still owed: it is skipped when it comes, so the next ones pair.
      const p = this.shiftPending()!;
      if (!p.emitted) {
        this.ctx.count('redis.replies_dropped');
        this.emit(p, null, undefined, true);
        if (!p.oneWay) this.owe(false);
      }
    }
    this.pending.push({
      request,
      command,
      time: m.time,
      frame: m.frame,
      size: m.size,
      expected: oneWay ? 0 : SUBSCRIBE_COMMANDS.has(command) ? Math.max(1, argCount) : 1,
      emitted: false,
      oneWay,
      afterGap: this.gapAt !== undefined && (m.time >= this.gapAt || this.clientGapRead),
      end: this.clientOffset,
      cost,
    });
    this.charge(cost);
    this.commandSeen = true;
    const refusal = this.refusal;
    if (refusal !== undefined && this.pending.length === 1 && !this.pending.at(0)!.oneWay) {
      this.refusal = undefined;
      this.emit(this.shiftPending()!, refusal, undefined, false, refusal);
    }
    this.emitOneWay();
  }

  /** Commands the server will not answer, at the front of the queue: emitted now, so calls keep the order they were made in. */
  private emitOneWay(): void {
    while (this.pending.at(0)?.oneWay) this.emit(this.shiftPending()!, null);
  }

  /** Whether the server will not answer this command (CLIENT REPLY OFF or SKIP in force, or this command sets them). */
  private expectsNoReply(command: string, words: string[]): boolean {
    if (command === 'CLIENT' && words[1]?.toUpperCase() === 'REPLY') {
      const mode = words[2]?.toUpperCase();
      if (mode === 'ON') {
        this.repliesOff = false;
        this.skipReplies = 0;
        return false;
      }
      if (mode === 'OFF') {
        this.repliesOff = true;
        return true;
      }
      if (mode === 'SKIP') {
        if (!this.repliesOff) this.skipReplies = 1;
        return true;
      }
      return false; // a wrong mode is answered with an error
    }
    if (this.repliesOff) return true;
    if (this.skipReplies > 0) {
      this.skipReplies--;
      return true;
    }
    return false;
  }

  private onReply(m: RespMessage): void {
    this.probation.s2c = false;
    this.pairReply(m);
    // The commands after the one answered that expect no reply are next.
    this.emitOneWay();
  }

  private pairReply(m: RespMessage): void {
    // A second message from the server: what it sent first was no refusal on accept.
    this.releaseRefusal();
    if (!this.commandSeen && this.pending.length === 0 && m.type === 'error' && this.ctx.clientGuessed !== true && this.gapAt === undefined) {
      this.refusal = m;
      return;
    }
    const kind = pubsubKind(m, this.subscribed);
    if (kind !== null) {
      if (SUBSCRIBE_KINDS.has(kind)) {
        if (kind.endsWith('unsubscribe') && Array.isArray(m.value) && m.value[2] === 0) this.subscribed = false;
        const front = this.pending.at(0);
        if (front && front.command.toLowerCase() === kind) {
          if (!front.emitted) {
            this.emit(front, m);
            front.emitted = true;
          } else this.ctx.count('redis.subscribe-confirmations');
          if (--front.expected <= 0) this.shiftPending();
          return;
        }
        // A confirmation answers a command: with none waiting for it after a gap, the command was in the lost bytes.
        this.emitStandalone(m, kind, this.gapAt !== undefined ? 'gap' : undefined);
        return;
      }
      this.emitStandalone(m, kind);
      return;
    }
    if (this.monitoring && m.type === 'simple' && MONITOR_LINE.test(String(m.value))) {
      this.emitMonitored(m);
      return;
    }
    const owed = this.owed[0];
    if (owed !== undefined) {
      // The reply of a command already reported: unanswered (a late response), or let go past the bound.
      if (--owed.n === 0) this.owed.shift();
      if (owed.late) this.emitStandalone(m, null, 'late response');
      return;
    }
    // A plain reply: drop a subscribe command still waiting for confirmations that will not come.
    while (this.pending.at(0)?.emitted) this.shiftPending();
    const front = this.pending.at(0);
    if (front && this.gapAt !== undefined && (this.sentBefore(front) || (front.afterGap && m.time < front.time))) {
      // Sent before the server had the command, or begun before it was sent: it answers one a gap took.
      this.emitStandalone(m, null, 'gap');
      return;
    }
    this.shiftPending();
    // Commands read before a gap in the client's bytes are the oldest, and their replies come first, in step.
    const unsure = this.unsure && front !== undefined && (front.afterGap === true || this.unsureAll);
    if (front?.command === 'MONITOR' && m.type === 'simple') this.monitoring = true;
    if (front?.command === 'RESET') this.monitoring = false;
    if (front) this.emit(front, m, unsure ? 'gap' : undefined);
    else this.emitStandalone(m, null, this.gapAt !== undefined ? 'gap' : undefined);
    if (unsure && this.pending.length === 0) this.unsure = this.unsureAll = false;
  }

  private shiftPending(): PendingCommand | undefined {
    const p = this.pending.shift();
    if (p) this.charge(-p.cost);
    return p;
  }

  private takeAllPending(): PendingCommand[] {
    this.charge(-this.pendingBytes);
    return this.pending.takeAll();
  }

  private charge(bytes: number): void {
    this.pendingBytes += bytes;
    this.meter?.add(bytes);
  }

  /** One more reply owed to a command already emitted (runs bounded: past it, the last run takes it). */
  private owe(late: boolean): void {
    const last = this.owed.at(-1);
    if (last && (last.late === late || this.owed.length >= MAX_OWED_RUNS)) last.n++;
    else this.owed.push({ late, n: 1 });
  }

  /** Whether the packet being read left the server before it had all of `p` (its acknowledgement says so). */
  private sentBefore(p: PendingCommand): boolean {
    const ack = this.ctx.ack;
    return ack !== undefined && ack.from === 's2c' && this.clientOffset + ack.ahead < p.end;
  }

  /**
   * The call of a command: with its reply, unanswered (`reply` null: an
   * error, warning `unanswered`), or, for a command the server does not
   * answer (CLIENT REPLY OFF or SKIP: `oneWay`), no reply and not an error.
   */
  private emit(p: PendingCommand, reply: RespMessage | null, warning?: string, untracked = false, answeredAt?: RespMessage): void {
    const oneWay = reply === null && p.oneWay === true;
    const outcome = reply ? shortValue(reply) : oneWay ? '(no reply: CLIENT REPLY)' : untracked ? '(reply not tracked)' : 'unanswered';
    const call: CallRecord = {
      protocol: 'redis',
      request: p.request,
      response: reply ? { type: reply.type, value: reply.value } : null,
      requestTime: p.time,
      requestFrame: p.frame,
      requestSize: p.size,
      responseSize: reply?.size ?? 0,
      error: reply ? reply.type === 'error' : !oneWay && !untracked,
      summary: `${p.command}${p.request.key !== undefined ? ' ' + truncate(p.request.key, 60) : ''} → ${outcome}`,
    };
    if (reply) {
      call.responseTime = answeredAt?.time ?? this.ctx.now;
      call.responseFrame = answeredAt?.frame ?? this.ctx.frame;
    }
    if (this.streamWarnings.size > 0 || !reply || warning) {
      const warnings = [...this.streamWarnings];
      if (warning) warnings.push(warning);
        if (!reply) warnings.push(oneWay ? 'no reply expected' : untracked ? 'reply not tracked: too many commands in flight' : 'unanswered');
      call.warnings = warnings;
    }
    this.ctx.emit(call);
  }

  /**
   * A line of the MONITOR feed: `<time> [<db> <client>] "CMD" "arg" …`. An entry of its own,
   * `response.push: "monitor"`, summarised by the command's name only (its arguments may be
   * values nobody wants in a summary; they stay in `response.value`, where redaction sees them).
   */
  private emitMonitored(m: RespMessage): void {
    const line = String(m.value);
    const command = MONITOR_LINE.exec(line)?.[1];
    this.ctx.count('redis.monitor_lines');
    const response = { type: m.type, value: m.value, push: 'monitor', ...(command !== undefined ? { command: command.toUpperCase() } : {}) };
    this.emitUnrequested(m, response, `monitor ${command !== undefined ? command.toUpperCase() : truncate(line, 40)}`, false);
  }

  /** A held refusal no command came for: an entry of its own. */
  private releaseRefusal(): void {
    const refusal = this.refusal;
    if (refusal === undefined) return;
    this.refusal = undefined;
    // Read in the packet it started in (a refusal is one line): said as of then, not of the packet that released it.
    this.emitStandalone(refusal, null, undefined, refusal);
  }

  /** A reply nobody asked for in this capture: a pub/sub push, or a reply whose command we missed. */
  private emitStandalone(m: RespMessage, kind: string | null, warning?: string, endedAt?: RespMessage): void {
    const v = Array.isArray(m.value) ? m.value : [];
    const summary = kind !== null ? `${kind} ${truncate(String(v[kind === 'pmessage' ? 2 : 1] ?? ''), 60)}` : `(no command) → ${shortValue(m)}`;
    const response = { type: m.type, value: m.value, ...(kind !== null ? { push: kind } : {}) };
    this.emitUnrequested(m, response, summary, m.type === 'error', warning, endedAt);
  }

  /** A server message no captured command asked for, as an entry of its own. */
  private emitUnrequested(m: RespMessage, response: Record<string, unknown>, summary: string, error: boolean, warning?: string, endedAt?: RespMessage): void {
    const call: CallRecord = {
      protocol: 'redis',
      request: null,
      response,
      requestTime: m.time,
      responseTime: endedAt?.time ?? this.ctx.now,
      requestFrame: m.frame,
      responseFrame: endedAt?.frame ?? this.ctx.frame,
      requestSize: 0,
      responseSize: m.size,
      error,
      summary,
    };
    const warnings = [...this.streamWarnings, ...(warning ? [warning] : [])];
    if (warnings.length > 0) call.warnings = warnings;
    this.ctx.emit(call);
  }
}

/**
 * Where a script or a library's code is among a command's words (`EVAL <script>`, `SCRIPT LOAD <script>`,
 * `FUNCTION LOAD [REPLACE] <code>`), or -1: kept whole (as the reader kept it) for the redactor to read.
 */
function scriptIndex(command: string, words: string[]): number {
  if (command === 'EVAL' || command === 'EVAL_RO') return 1;
  if ((command === 'SCRIPT' || command === 'FUNCTION') && words.length >= 3 && words[1].toUpperCase() === 'LOAD') return words.length - 1;
  return -1;
}

/** Where the password is in `HELLO [protover] AUTH user pass …` (an index into the command's words), or -1. */
function helloPasswordIndex(words: string[]): number {
  for (let i = 1; i < words.length; i++) if (words[i].toUpperCase() === 'AUTH') return i + 2;
  return -1;
}

/** The pub/sub kind of a server message ("message", "subscribe" …), or null for ordinary replies. */
function pubsubKind(m: RespMessage, subscribed: boolean): string | null {
  if (!Array.isArray(m.value) || m.value.length === 0) return m.type === 'push' ? 'push' : null;
  if (m.type !== 'push' && !(m.type === 'array' && subscribed)) return null;
  const first = typeof m.value[0] === 'string' ? m.value[0].toLowerCase() : '';
  if (SUBSCRIBE_KINDS.has(first) || MESSAGE_KINDS.has(first)) return first;
  return m.type === 'push' ? first || 'push' : null;
}

/** RESP type bytes a reply can start with. */
const REPLY_TYPES = new Set([...'+-:$*_#,(!=%~>|'].map((c) => c.charCodeAt(0)));

/** Whether a segment starts with a message of its direction: a command array (not an inline command, which any text looks like), or a reply's type byte. */
function startsMessage(dir: Direction, data: Buffer): boolean {
  if (dir === 's2c') return data.length > 0 && REPLY_TYPES.has(data[0]);
  if (data[0] !== 0x2a) return false;
  const verdict = probeRedis(data, true);
  return verdict === 'request' || (verdict === 'need-more' && data[1] >= 0x30 && data[1] <= 0x39);
}

function shortValue(m: RespMessage): string {
  const v = m.value;
  switch (m.type) {
    case 'null':
      return '(nil)';
    case 'array':
    case 'set':
    case 'push':
      // Counts describe the wire, not the kept (cut) value.
      return `[${m.items ?? (Array.isArray(v) ? v.length : 0)} items]`;
    case 'map':
      return `{${m.items ?? (v && typeof v === 'object' ? Object.keys(v).length : 0)} entries}`;
    case 'bulk':
    case 'verbatim':
      return JSON.stringify(truncate(String(v), 40));
    default:
      return truncate(String(v), 60);
  }
}

/** Probe: `*N\r\n$L\r\n<command>` from a client; on the Redis port also inline commands and replies. */
export function probeRedis(data: Buffer, portMatch: boolean): Probe {
  if (data.length === 0) return 'need-more';
  const c = data[0];
  if (c === 0x2a /* '*' */) {
    const s = data.subarray(0, 64).toString('latin1');
    const m = /^\*(\d{1,7})(\r\n(\$(\d{1,9})(\r\n([A-Za-z]*))?)?)?/.exec(s);
    if (!m) return portMatch && /^\*-/.test(s) ? 'request' : false; // hostile lengths are still Redis on its port
    if (m[2] === undefined) return data.length < 10 ? 'need-more' : false;
    if (m[3] === undefined) return data.length < 12 ? 'need-more' : false;
    if (m[5] === undefined) return data.length < 20 ? 'need-more' : false;
    const len = Number(m[4]);
    if (len === 0 || len > 32) return portMatch ? 'response' : false; // not a command name: an array reply
    const name = m[6];
    if (name.length === len) return 'request';
    if (name.length > len) return portMatch ? 'response' : false;
    // Fewer letters than announced: more bytes may come, or it is not a command.
    return m[0].length === s.length && data.length < 64 ? 'need-more' : portMatch ? 'response' : false;
  }
  if (!portMatch) return false;
  if (c === 0x2b || c === 0x2d || c === 0x3a || c === 0x24 || c === 0x25 || c === 0x3e || c === 0x5f) return 'response';
  const line = data.subarray(0, 64).toString('latin1');
  if (/^[A-Za-z]{2,20}( [^\r\n]*)?\r?\n/.test(line)) return 'request';
  if (/^[A-Za-z]{1,20}$/.test(line)) return 'need-more';
  return false;
}

export const redis: ProtocolDissector = {
  name: 'redis',
  transport: 'tcp',
  ports: [6379, 6380, 26379],
  priority: 20,
  reference: 'https://redis.io/docs/latest/develop/reference/protocol-spec/',
  probe(data, portMatch) {
    try {
      return probeRedis(data, portMatch);
    } catch {
      return false;
    }
  },
  createTcpParser(ctx) {
    return new RedisParser(ctx);
  },
};
