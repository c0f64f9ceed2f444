// Memcached, text and binary protocols (https://github.com/memcached/memcached/blob/master/doc/protocol.txt,
// https://github.com/memcached/memcached/wiki/BinaryProtocolRevamped). The
// first client byte picks the protocol (0x80 = binary). Text: commands pair
// with replies in order (a FIFO; `noreply` and `quit` expect none); a
// retrieval reply is VALUE blocks up to END, so hits and misses are counted
// per key. Meta commands with the q flag (mg/ms/md/ma … q, ended by mn) are
// answered only when the outcome is worth it (a hit, a failure): a reply such a
// command would not send goes to the next request. Binary: requests pair with
// responses by opaque; quiet commands (GetQ, SetQ …) are answered only on
// failure, so a later response closes the quiet requests before it. SASL auth
// data never leaves the dissector.
import type { CallRecord, ConnectionContext, Direction, Probe, ProtocolDissector, TcpStreamParser } from '../api.js';
import { ByteQueue } from '../byte-queue.js';
import { maskMemcachedSasl } from '../../redact/commands.js';
import { decimalInteger, looksLikeText, printable, truncate } from './util/text.js';

/** memcached's own key limit is 250 bytes; a command line is short. */
const MAX_LINE = 8 * 1024;
/** memcached's item size ceiling (-I) is 1 GiB; a larger announced size is garbage. */
const MAX_VALUE = 1024 * 1024 * 1024;
const MAX_PENDING = 1024;
/** Keys and values kept per entry; the rest are counted. */
const MAX_ITEMS = 100;
/** Statistics kept of one stats reply (text STAT lines, binary Stat packets); the rest are counted. */
const MAX_STATS = 500;

const STORAGE = new Set(['set', 'add', 'replace', 'append', 'prepend', 'cas']);
const RETRIEVAL = new Set(['get', 'gets', 'gat', 'gats']);
/** Commands whose reply runs to END (the retrievals and stats). */
const MULTI_LINE = new Set([...RETRIEVAL, 'stats']);
const KNOWN = new Set([...STORAGE, ...RETRIEVAL, 'delete', 'incr', 'decr', 'touch', 'stats', 'version', 'flush_all', 'verbosity', 'quit',
  'mg', 'ms', 'md', 'ma', 'mn', 'me', 'shutdown', 'cache_memlimit', 'lru_crawler', 'slabs', 'watch', 'misbehave', 'lru']);

export const OPCODES: Record<number, string> = {
  0x00: 'Get', 0x01: 'Set', 0x02: 'Add', 0x03: 'Replace', 0x04: 'Delete', 0x05: 'Increment', 0x06: 'Decrement', 0x07: 'Quit',
  0x08: 'Flush', 0x09: 'GetQ', 0x0a: 'NoOp', 0x0b: 'Version', 0x0c: 'GetK', 0x0d: 'GetKQ', 0x0e: 'Append', 0x0f: 'Prepend',
  0x10: 'Stat', 0x11: 'SetQ', 0x12: 'AddQ', 0x13: 'ReplaceQ', 0x14: 'DeleteQ', 0x15: 'IncrementQ', 0x16: 'DecrementQ',
  0x17: 'QuitQ', 0x18: 'FlushQ', 0x19: 'AppendQ', 0x1a: 'PrependQ', 0x1b: 'Verbosity', 0x1c: 'Touch', 0x1d: 'GAT', 0x1e: 'GATQ',
  0x20: 'SASL_LIST_MECHS', 0x21: 'SASL_AUTH', 0x22: 'SASL_STEP',
};
const STATUS: Record<number, string> = {
  0x00: 'No error', 0x01: 'Key not found', 0x02: 'Key exists', 0x03: 'Value too large', 0x04: 'Invalid arguments',
  0x05: 'Item not stored', 0x06: 'Incr/Decr on non-numeric value', 0x07: 'Vbucket belongs to another server',
  0x08: 'Authentication error', 0x09: 'Authentication continue', 0x20: 'Authentication error', 0x21: 'Authentication continue',
  0x81: 'Unknown command', 0x82: 'Out of memory', 0x83: 'Not supported', 0x84: 'Internal error', 0x85: 'Busy', 0x86: 'Temporary failure',
};
/**
 * The replies a meta command with the q flag still sends (besides ERROR, CLIENT_ERROR and
 * SERVER_ERROR): q leaves out a get's miss (EN) and a success (HD; ma's VA too), as memcached
 * 1.6 does. Any other reply answers a later request. A set fails only in a mode other than
 * set (M: add, append, prepend, replace) or with a compare-and-swap (C): see quietReplies.
 */
const QUIET_REPLIES: Record<string, string[]> = {
  mg: ['VA', 'HD'],
  ms: [],
  md: ['NF', 'EX'],
  ma: ['NF', 'NS', 'EX'],
};
/** Meta reply codes, whose flags echo the request's opaque (O) and key (k). */
const META_REPLIES = new Set(['HD', 'VA', 'EN', 'NF', 'NS', 'EX', 'MN', 'ME']);
/** Outcomes, not failures (as their text twins NOT_FOUND, EXISTS, NOT_STORED are): a miss, a lost CAS race. */
const BINARY_OUTCOMES = new Set([0x00, 0x01, 0x02, 0x05, 0x09, 0x21]);

interface Msg {
  rec: Record<string, any>;
  size: number;
  time: number;
  frame: number;
  /** This call's own warnings (gap, malformed, nonstandard). */
  warnings?: string[];
}

interface Pending extends Msg {
  /** Binary: the opaque that pairs it; quiet requests are answered only on failure. */
  opaque?: number;
  /** Binary quiet opcodes, and meta commands with the q flag. */
  quiet?: boolean;
  /** A meta command's opaque token (O flag), echoed by its reply. */
  metaOpaque?: string;
  /** A quiet meta command: the replies it can still get (errors aside). */
  quietReplies?: Set<string>;
  /** Text: how far into the server's stream its first packet acknowledged (undefined: not known). */
  acked?: number;
}

/** Server bytes lost (text protocol), as offsets in that direction's stream, until the next reply is read. */
interface ReplyLoss {
  start: number;
  end: number;
  /** The command whose reply began (or was being read) in the lost bytes. */
  first: Pending | undefined;
}

/** The text replies each classic command can get (protocol.txt); errors answer any. */
const REPLIES: Record<string, string[]> = {
  get: ['END'], gets: ['END'], gat: ['END'], gats: ['END'], stats: ['END'],
  set: ['STORED', 'NOT_STORED'], add: ['STORED', 'NOT_STORED'], replace: ['STORED', 'NOT_STORED'],
  append: ['STORED', 'NOT_STORED'], prepend: ['STORED', 'NOT_STORED'], cas: ['STORED', 'NOT_STORED', 'EXISTS', 'NOT_FOUND'],
  delete: ['DELETED', 'NOT_FOUND'], incr: ['NUMBER', 'NOT_FOUND'], decr: ['NUMBER', 'NOT_FOUND'], touch: ['TOUCHED', 'NOT_FOUND'],
  version: ['VERSION'], flush_all: ['OK'], verbosity: ['OK'],
};
const CLASSIC_REPLIES = new Set(Object.values(REPLIES).flat());

/** Whether a text reply can answer a command: undefined when the words do not say (errors, meta commands, others). */
function canAnswer(command: string, status: string): boolean | undefined {
  const replies = REPLIES[command];
  if (replies === undefined || !CLASSIC_REPLIES.has(status)) return undefined;
  return replies.includes(status);
}

function addWarning(m: Msg, w: string): void {
  if (!(m.warnings ??= []).includes(w)) m.warnings.push(w);
}

/** A reply being read: its values or stats, and a meta reply's flags. */
type Reply = Msg & { values: Record<string, any>[]; stats?: Record<string, string>; moreValues: number; metaFlags?: string[] };

/** Keeps at most `keep` bytes of a value while counting them all. */
function render(data: Buffer, into: Record<string, any>, noBodies: boolean, size: number): void {
  into.valueSize = size;
  if (noBodies) return;
  if (looksLikeText(data)) into.value = data.toString('utf8');
  else {
    into.value = data.toString('base64');
    into.valueEncoding = 'base64';
  }
  if (data.length < size) into.valueTruncated = true;
}

/** One direction of the text protocol: lines, and data blocks of announced size. */
class TextReader {
  private readonly queue = new ByteQueue();
  /** A data block being read: bytes still due, the part kept. */
  private block: { remaining: number; total: number; parts: Buffer[]; kept: number; done: (data: Buffer, total: number) => void } | null = null;
  private crlfOwed = 0;
  /** The message being read: its first packet's time, frame and acknowledgement, and its offset in the stream. */
  start: { time: number; frame: number; acked?: number; at: number } | null = null;
  size = 0;
  lost = false;
  /** Bytes delivered or reported lost: a position in this direction's stream. */
  offset = 0;

  constructor(
    private readonly ctx: ConnectionContext,
    private readonly keep: number,
    private readonly onLine: (line: string, reader: TextReader) => void,
    private readonly onMalformed: (why: string) => void,
    /** What a packet must start with to resume reading after lost bytes (a known command, or reply, word). */
    private readonly resync: RegExp,
    /** How far into the other direction the packet being read acknowledged (undefined: not known). */
    private readonly acked: () => number | undefined = () => undefined,
  ) {}

  push(data: Buffer): void {
    this.offset += data.length;
    if (this.lost) {
      if (!this.resync.test(data.subarray(0, 300).toString('latin1'))) {
        this.ctx.count('memcached.resync_skipped', data.length);
        return;
      }
      this.lost = false;
    }
    this.queue.push(data);
    while (!this.lost && this.queue.length > 0) {
      // A message starts with a line (the CRLF after a data block still belongs to the one before).
      if (this.start === null && this.block === null && this.crlfOwed === 0) {
        this.start = { time: this.ctx.now, frame: this.ctx.frame, acked: this.acked(), at: this.offset - this.queue.length };
        this.size = 0;
      }
      if (this.block) {
        if (!this.readBlock()) return;
      } else if (this.crlfOwed > 0) {
        const c = this.queue.at(0);
        if (c !== 0x0d && c !== 0x0a) {
          this.fail('data block not followed by CRLF');
          return;
        }
        this.queue.consume(1);
        this.size++;
        if (c === 0x0a) this.crlfOwed = 0;
      } else {
        const nl = this.queue.indexOfByte(0x0a, MAX_LINE);
        if (nl < 0) {
          if (this.queue.length >= MAX_LINE) this.fail('line too long');
          return;
        }
        const raw = this.queue.peek(nl + 1);
        const line = raw.toString('latin1', 0, nl > 0 && raw[nl - 1] === 0x0d ? nl - 1 : nl);
        this.queue.consume(nl + 1);
        this.size += nl + 1;
        this.onLine(line, this);
      }
    }
  }

  /** The line just read announced `n` data bytes (+ CRLF): read them, then call `done`. */
  expectBlock(n: number, done: (data: Buffer, total: number) => void): void {
    this.block = { remaining: n, total: n, parts: [], kept: 0, done };
  }

  /** The message read so far is complete: the next byte starts another. */
  finish(): void {
    this.start = null;
  }

  /** A message was being read when bytes were lost (its start seen, not its end). */
  get inMessage(): boolean {
    return this.start !== null || this.block !== null || this.crlfOwed > 0;
  }

  gap(length = 0): void {
    this.offset += length;
    this.queue.clear();
    this.block = null;
    this.crlfOwed = 0;
    this.start = null;
    this.lost = true;
  }

  fail(why: string): void {
    this.onMalformed(why);
    this.gap();
  }

  private readBlock(): boolean {
    const b = this.block!;
    const n = Math.min(b.remaining, this.queue.length);
    if (n > 0) {
      const room = this.keep - b.kept;
      if (room > 0) {
        const part = this.queue.take(Math.min(room, n));
        b.parts.push(part);
        b.kept += part.length;
        this.queue.consume(n - part.length);
      } else this.queue.consume(n);
      b.remaining -= n;
      this.size += n;
    }
    if (b.remaining > 0) return false;
    this.block = null;
    this.crlfOwed = 2;
    b.done(b.parts.length === 1 ? b.parts[0] : Buffer.concat(b.parts, b.kept), b.total);
    return true;
  }
}

export class MemcachedParser implements TcpStreamParser {
  private mode: 'text' | 'binary' | null = null;
  private readonly pending: Pending[] = [];
  /**
   * Binary: how many waiting requests carry each opaque, so that a response no request waits for is
   * not searched for among 1,024 (40,000 such responses took 0.5 s more CPU than the same entries
   * otherwise). Requests let go by other paths (timeout, overflow, end) stay counted until a
   * response misses them; the table is rebuilt when it grows past twice the queue.
   */
  private readonly opaques = new Map<number, number>();
  /**
   * Text protocol: replies owed to commands already emitted (timed out, or let
   * go past MAX_PENDING). Replies come in command order, so the next ones are
   * theirs: each is an entry of its own (`late response`), not paired with
   * the next command.
   */
  private owed = 0;
  /**
   * Binary: what each side lost or skipped since its last packet, said on the next packet read there
   * (the requests in flight then say it too); a connection-wide set marked every later call.
   */
  private readonly binCarry: Record<Direction, string[]> = { c2s: [], s2c: [] };
  /** Text: warnings the next command read gets (a malformed one before it). */
  private carry: string[] = [];
  /** Text: warnings the next reply read gets (the server's bytes before it were lost or malformed). */
  private replyCarry: string[] = [];
  /** Text: server bytes lost, until the next reply settles which commands they answered. */
  private replyLoss: ReplyLoss | null = null;
  /**
   * Text: client bytes lost. Their commands' replies come with none to pair
   * with (lone, `gap`), or before those of commands read after them: those
   * say `gap` until a lone reply has taken the loss ('said').
   */
  private commandLoss: 'none' | 'open' | 'said' = 'none';
  private readonly keep: number;
  private text: Record<Direction, TextReader> | null = null;
  private readonly bin: Record<Direction, ByteQueue> = { c2s: new ByteQueue(), s2c: new ByteQueue() };
  private readonly binLost: Record<Direction, boolean> = { c2s: false, s2c: false };
  /** The command being read (a storage command waits for its data block). */
  private cmd: Pending | null = null;
  /** The reply being read (retrievals and stats run to END). */
  private reply: Reply | null = null;

  constructor(private readonly ctx: ConnectionContext) {
    this.keep = ctx.options.noBodies ? 0 : ctx.options.maxBody;
  }

  onData(dir: Direction, data: Buffer): void {
    if (this.mode === null) {
      if (data.length === 0) return;
      this.mode = data[0] === 0x80 || data[0] === 0x81 ? 'binary' : 'text';
      if (this.mode === 'text') {
        this.text = {
          c2s: new TextReader(this.ctx, this.keep, (l, r) => this.commandLine(l, r), (w) => this.malformed(w, 'c2s'), RESYNC_COMMAND, () => this.ackedReplies()),
          s2c: new TextReader(this.ctx, this.keep, (l, r) => this.replyLine(l, r), (w) => this.malformed(w, 's2c'), RESYNC_REPLY),
        };
        // A gap before the first bytes (the connection's first command lost), or a capture that
        // began mid-connection: those bytes may be the rest of a command, a data block, so each
        // side starts where a known word starts a packet.
        for (const d of ['c2s', 's2c'] as const) if (this.binLost[d] || this.ctx.clientGuessed) this.text[d].gap();
        // Lost bytes (not a capture begun mid-way) are a loss to say, as after any gap.
        if (this.binLost.c2s) this.commandLoss = 'open';
        if (this.binLost.s2c) this.replyCarry = ['gap'];
      } else for (const d of ['c2s', 's2c'] as const) if (this.binLost[d]) this.binaryMark(d, 'gap');
    }
    if (this.text) this.text[dir].push(data);
    else this.binary(dir, data);
  }

  onGap(dir: Direction, length: number): void {
    this.ctx.count('memcached.gap');
    if (this.text) {
      const reader = this.text[dir];
      if (dir === 'c2s') {
        // A storage command whose data block was cut: its reply still comes, so it waits for it (its value unread).
        const cut = this.cmd;
        this.cmd = null;
        reader.gap(length);
        if (cut) {
          addWarning(cut, 'gap');
          this.queueCommand(cut);
        }
        this.commandLoss = 'open';
      } else {
        // The calls waiting are touched: the reply being read, or the one that began in the lost bytes, was one of theirs.
        for (const p of this.pending) addWarning(p, 'gap');
        const start = reader.offset;
        if (this.replyLoss) this.replyLoss.end = start + length;
        else if (this.owed > 0) this.owed--; // the lost reply was one owed to a command already emitted
        else this.replyLoss = { start, end: start + length, first: this.pending[0] };
        this.reply = null;
        reader.gap(length);
        this.replyCarry = ['gap'];
      }
    } else {
      const skipped = dir === 's2c' ? this.bigReply?.msg : this.bigRequest;
      if (this.skip[dir] >= length && skipped) {
        // Lost bytes inside a big value being skipped: that message lost them, the next header is where the count says.
        addWarning(skipped, 'gap');
        this.skip[dir] -= length;
        if (this.skip[dir] === 0) this.skipDone(dir);
        return;
      }
      if (this.mode === 'binary') this.binaryMark(dir, 'gap');
      // Past lost bytes the skip's count means nothing: reading resumes at the next header.
      this.bigReplyCut(dir, 'gap');
      this.bin[dir].clear();
      this.binLost[dir] = true;
    }
  }

  onTick(nowMs: number, timeoutMs: number): void {
    while (this.pending.length > 0 && nowMs - this.pending[0].time > timeoutMs) this.letGo(this.pending.shift()!);
  }

  /** A command emitted before its reply came: in the text protocol its reply is then owed (a quiet one's may never come). */
  private letGo(p: Pending): void {
    if (p.quiet) {
      this.emit(p, null, true);
      return;
    }
    this.emit(p, null);
    if (this.text) this.owed++;
  }

  pendingSince(): number | undefined {
    let min = this.pending[0]?.time;
    for (const t of [this.text?.c2s.start?.time, this.text?.s2c.start?.time, this.cmd?.time, this.reply?.time]) {
      if (t !== undefined && (min === undefined || t < min)) min = t;
    }
    return min;
  }

  onEnd(): void {
    if (this.cmd || this.reply || this.bigReply) this.ctx.count('memcached.truncated');
    this.bigReplyCut('s2c', 'truncated');
    this.endStatReply();
    for (const p of this.pending.splice(0)) this.emit(p, null, p.quiet === true);
  }

  private malformed(why: string, dir: Direction): void {
    this.ctx.count('memcached.malformed');
    const w = `malformed: ${why}`;
    if (!this.text) {
      this.binaryMark(dir, w);
      return;
    }
    // The reader drops what follows up to a known word: the calls waiting, and the next message of that side, say so.
    for (const p of this.pending) addWarning(p, w);
    if (dir === 'c2s') this.carry.push(w);
    else this.replyCarry.push(w);
  }

  /** How far into the server's stream the client's packet being read acknowledged. */
  private ackedReplies(): number | undefined {
    const ack = this.ctx.ack;
    if (!ack || ack.from !== 'c2s' || !this.text) return undefined;
    return this.text.s2c.offset + ack.ahead;
  }

  // ---- text protocol -------------------------------------------------------

  private commandLine(line: string, r: TextReader): void {
    const words = line.trim().split(/ +/);
    const command = words[0].toLowerCase();
    if (command === '') {
      r.finish();
      return;
    }
    const rec: Record<string, any> = { protocol: 'text', command };
    const start = r.start ?? { time: this.ctx.now, frame: this.ctx.frame, acked: this.ackedReplies() };
    const p: Pending = { rec, size: r.size, time: start.time, frame: start.frame, acked: start.acked };
    const args = words.slice(1);
    if (args[args.length - 1] === 'noreply') {
      rec.noreply = true;
      args.pop();
    }
    if (!KNOWN.has(command)) rec.unknownCommand = true;
    if (Object.hasOwn(QUIET_REPLIES, command)) {
      // mg/md/ma <key> <flags>* · ms <key> <datalen> <flags>*
      const flags = args.slice(command === 'ms' ? 2 : 1);
      if (flags.includes('q')) {
        p.quiet = rec.quiet = true;
        p.quietReplies = quietReplies(command, flags);
      }
      const opaque = flags.find((f) => f.startsWith('O'));
      if (opaque !== undefined) p.metaOpaque = rec.opaque = truncate(opaque.slice(1), 32);
    }
    if (STORAGE.has(command) || command === 'ms') {
      // set <key> <flags> <exptime> <bytes> [cas] · ms <key> <datalen> <flags>*
      const bytes = Number(command === 'ms' ? args[1] : args[3]);
      rec.key = truncate(args[0] ?? '', 250);
      if (command !== 'ms') {
        setInteger(rec, 'flags', args[1]);
        setInteger(rec, 'exptime', args[2]);
        if (command === 'cas') rec.cas = args[4];
      }
      if (!Number.isSafeInteger(bytes) || bytes < 0 || bytes > MAX_VALUE) {
        // memcached answers CLIENT_ERROR bad command line format and reads no data.
        rec.malformed = 'bad data length';
        r.finish();
        this.queueCommand(p);
        return;
      }
      this.cmd = p;
      r.expectBlock(bytes, (data, total) => {
        render(data, rec, this.ctx.options.noBodies, total);
        const c = this.cmd;
        this.cmd = null;
        if (c) {
          c.size = r.size + 2;
          r.finish();
          this.queueCommand(c);
        }
      });
      return;
    }
    if (RETRIEVAL.has(command)) {
      const keys = command.startsWith('gat') ? args.slice(1) : args;
      if (command.startsWith('gat')) setInteger(rec, 'exptime', args[0]);
      rec.keys = keys.slice(0, MAX_ITEMS).map((k) => truncate(k, 250));
      if (keys.length > MAX_ITEMS) rec.keysTruncated = keys.length;
      rec.key = rec.keys[0] ?? '';
    } else if (['delete', 'incr', 'decr', 'touch', 'mg', 'md', 'ma', 'me'].includes(command)) {
      rec.key = truncate(args[0] ?? '', 250);
      if (command === 'incr' || command === 'decr') rec.delta = args[1];
      if (command === 'touch') setInteger(rec, 'exptime', args[1]);
    } else if (args.length > 0) rec.args = args.slice(0, 20).map((a) => truncate(a, 250));
    r.finish();
    this.queueCommand(p);
  }

  private queueCommand(p: Pending): void {
    for (const w of this.carry.splice(0)) addWarning(p, w);
    // Read after lost client bytes: a lost command's reply may come first and be paired with it, unless a lone reply already took the loss.
    if (this.commandLoss === 'open') addWarning(p, 'gap');
    else this.commandLoss = 'none';
    if (p.rec.noreply || p.rec.command === 'quit') {
      this.emit(p, null, true);
      return;
    }
    if (this.pending.length >= MAX_PENDING) {
      this.ctx.count('memcached.pending_overflow');
      this.letGo(this.pending.shift()!);
    }
    this.pending.push(p);
  }

  private replyLine(line: string, r: TextReader): void {
    const sp = line.indexOf(' ');
    const word = sp < 0 ? line : line.slice(0, sp);
    const rest = sp < 0 ? '' : line.slice(sp + 1);
    const start = r.start ?? { time: this.ctx.now, frame: this.ctx.frame };
    const cur = this.reply ?? { rec: {}, size: 0, time: start.time, frame: start.frame, values: [], moreValues: 0 };
    if (word === 'VALUE' || word === 'VA') {
      // VALUE <key> <flags> <bytes> [<cas>] · meta: VA <size> <flags>*
      const a = rest.split(' ');
      const bytes = Number(word === 'VA' ? a[0] : a[2]);
      if (!Number.isSafeInteger(bytes) || bytes < 0 || bytes > MAX_VALUE) {
        r.fail(`bad ${word} line "${printable(Buffer.from(line.slice(0, 40)), 40)}"`);
        this.reply = null;
        return;
      }
      this.reply = cur;
      if (word === 'VA') cur.metaFlags = a.slice(1, 40);
      const v: Record<string, any> = word === 'VALUE' ? { key: truncate(a[0], 250) } : {};
      if (word === 'VALUE') setInteger(v, 'flags', a[1]);
      if (word === 'VALUE' && a[3] !== undefined) v.cas = a[3];
      r.expectBlock(bytes, (data, total) => {
        if (cur.values.length < MAX_ITEMS) {
          render(data, v, this.ctx.options.noBodies, total);
          cur.values.push(v);
        } else cur.moreValues++;
        if (word === 'VA') this.replyDone(cur, 'VA', r);
      });
      return;
    }
    if (word === 'STAT') {
      this.reply = cur;
      cur.stats ??= {};
      const i = rest.indexOf(' ');
      if (Object.keys(cur.stats).length < MAX_STATS) cur.stats[i < 0 ? rest : rest.slice(0, i)] = i < 0 ? '' : truncate(rest.slice(i + 1), 256);
      return;
    }
    if (this.reply !== null && word !== 'END' && !/ERROR$/.test(word)) {
      // Inside a multi-line reply only END (or an error) ends it.
      r.fail(`unexpected "${printable(Buffer.from(line.slice(0, 40)), 40)}" in a multi-line reply`);
      this.reply = null;
      return;
    }
    if (/^(ERROR|CLIENT_ERROR|SERVER_ERROR)$/.test(word)) cur.rec.message = truncate(rest, 1024);
    else if (word === 'VERSION') cur.rec.version = truncate(rest, 64);
    else if (/^\d+$/.test(word)) cur.rec.value = word;
    else if (rest !== '') cur.rec.args = rest.split(' ').slice(0, 20);
    if (META_REPLIES.has(word)) cur.metaFlags = rest === '' ? [] : rest.split(' ', 40);
    this.replyDone(cur, /^\d+$/.test(word) ? 'NUMBER' : truncate(word, 32), r);
  }

  private replyDone(cur: Reply, status: string, r: TextReader): void {
    this.reply = null;
    cur.size = r.size;
    r.finish();
    const res = cur.rec;
    res.status = status;
    if (cur.values.length > 0 || status === 'END') res.values = cur.values;
    if (cur.moreValues > 0) res.valuesTruncated = cur.values.length + cur.moreValues;
    if (cur.stats) res.stats = cur.stats;
    for (const w of this.replyCarry.splice(0)) addWarning(cur, w);
    if (this.replyLoss) this.settleReplyLoss(this.replyLoss, status, r.start?.at ?? r.offset);
    if (this.owed > 0) {
      this.owed--;
      addWarning(cur, 'late response');
      this.lone(cur);
      return;
    }
    // Quiet meta commands ahead that this reply cannot be for got none: their outcome was one q leaves out.
    while (this.pending[0]?.quiet && !answersQuiet(this.pending[0], status, cur.metaFlags)) this.emit(this.pending.shift()!, null, true);
    // After lost client bytes, a reply no command waiting can get answers a lost one.
    const fits = this.pending.length > 0 && canAnswer(this.pending[0].rec.command, status) !== false;
    const p = this.commandLoss !== 'none' && !fits ? undefined : this.pending.shift();
    if (!p) {
      if (this.commandLoss !== 'none') {
        addWarning(cur, 'gap');
        this.commandLoss = 'said';
      }
      this.lone(cur);
      return;
    }
    if (RETRIEVAL.has(p.rec.command) && Array.isArray(res.values)) {
      const hits = cur.values.length + cur.moreValues;
      res.hits = hits;
      res.misses = Math.max(0, (p.rec.keysTruncated ?? p.rec.keys?.length ?? 0) - hits);
    }
    // A multi-line command answered by one line (an error) or the reverse: say so, pair anyway (the FIFO is all we have).
    if (MULTI_LINE.has(p.rec.command) !== (status === 'END') && !/ERROR$/.test(status)) addWarning(p, `nonstandard: ${status} answers ${p.rec.command}`);
    this.emit(p, cur);
  }

  /**
   * The first reply after lost server bytes, starting at stream offset `at`:
   * decide which commands had their replies in the lost bytes and report
   * them unanswered (`gap`), as HTTP/1 does for its responses. The reply
   * that began in them answered the oldest command waiting then (unless its
   * packet was sent once the client had every lost byte: the lost bytes
   * answered a command the capture lost too). A command whose packet
   * acknowledged more of the lost bytes than the command before it was sent
   * once that one's reply had ended in them. Last, a reply cannot answer a
   * command of another kind (VALUE … END no set, STORED no get).
   */
  private settleReplyLoss(loss: ReplyLoss, status: string, at: number): void {
    this.replyLoss = null;
    const sentAfter = (p: Pending) => p.acked !== undefined && p.acked >= loss.end;
    const drop = () => {
      this.ctx.count('memcached.reply_lost_in_gap');
      this.emit(this.pending.shift()!, null);
    };
    if (loss.first !== undefined && this.pending[0] === loss.first && !sentAfter(loss.first)) drop();
    for (;;) {
      const cur = this.pending[0];
      const after = this.pending[1];
      if (cur?.acked === undefined || after?.acked === undefined || sentAfter(cur)) break;
      if (!(after.acked > cur.acked && after.acked > loss.start && after.acked <= at)) break;
      drop();
    }
    while (this.pending.length > 0 && canAnswer(this.pending[0].rec.command, status) === false) drop();
  }

  // ---- binary protocol -----------------------------------------------------

  /** Binary bytes of `dir` lost or skipped: the requests in flight, and the next packet of that side, say so. */
  private binaryMark(dir: Direction, w: string): void {
    for (const p of this.pending) addWarning(p, w);
    if (this.binCarry[dir].length < 4 && !this.binCarry[dir].includes(w)) this.binCarry[dir].push(w);
  }

  private binary(dir: Direction, data: Buffer): void {
    const q = this.bin[dir];
    if (this.skip[dir] > 0) {
      const drop = Math.min(this.skip[dir], data.length);
      this.skip[dir] -= drop;
      data = data.subarray(drop);
      if (this.skip[dir] === 0) this.skipDone(dir);
      if (data.length === 0) return;
    }
    if (this.binLost[dir]) {
      if (!binaryHeaderAt(data, dir === 'c2s' ? 0x80 : 0x81)) {
        this.ctx.count('memcached.resync_skipped', data.length);
        return;
      }
      this.binLost[dir] = false;
    }
    q.push(data);
    while (q.length >= 24) {
      const h = q.peek(24);
      const magic = h[0];
      const total = h.readUInt32BE(8);
      if (magic !== (dir === 'c2s' ? 0x80 : 0x81) || total > MAX_VALUE + 1024) {
        this.malformed(`bad binary header (magic 0x${magic.toString(16)})`, dir);
        q.clear();
        this.binLost[dir] = true;
        return;
      }
      // A packet is read whole up to the body limit plus room for key and extras; of a bigger one the head is read and the rest skipped as it comes.
      if (q.length < 24 + Math.min(total, this.keep + 512)) return;
      this.binaryPacket(dir, q, total);
      if (this.skip[dir] > 0) return;
    }
  }

  /**
   * Binary: the Stat reply being gathered. The server answers Stat with one packet per statistic
   * (its name the key, its value the value) and ends with one whose key is empty: one call, as the
   * text protocol's STAT lines up to END are (before: each statistic was a call without a command).
   */
  private statReply: { opaque: number; msg: Msg; stats: Record<string, string>; kept: number; more: number } | null = null;

  /** A skip still owed for a big binary value, per direction. */
  private skip: Record<Direction, number> = { c2s: 0, s2c: 0 };
  /**
   * A response whose big value is still being skipped: paired when its last byte comes, so that its
   * frame and time are the packet that completed it (tshark's, as for every response), not its first.
   */
  private bigReply: { opaque: number; msg: Msg } | null = null;
  /** The request whose big value is being skipped (it waits for its response already). */
  private bigRequest: Pending | null = null;

  /** The rest of a big value has been skipped: the response it belonged to is whole now. */
  private skipDone(dir: Direction): void {
    if (dir === 'c2s') this.bigRequest = null;
    const big = this.bigReply;
    if (dir !== 's2c' || !big) return;
    this.bigReply = null;
    this.pairResponse(big.opaque, big.msg);
  }

  /** The rest of a big value will not come (lost, or the end): its response goes out as read, marked. */
  private bigReplyCut(dir: Direction, w: string): void {
    this.skip[dir] = 0;
    if (dir === 'c2s') this.bigRequest = null;
    if (dir !== 's2c' || !this.bigReply) return;
    addWarning(this.bigReply.msg, w);
    this.skipDone(dir);
  }

  private binaryPacket(dir: Direction, q: ByteQueue, total: number): void {
    const avail = Math.min(q.length - 24, total);
    const pkt = q.peek(24 + avail);
    const opcode = pkt[1];
    const keyLen = pkt.readUInt16BE(2);
    const extras = pkt[4];
    const status = pkt.readUInt16BE(6);
    const opaque = pkt.readUInt32BE(12);
    const cas = pkt.readBigUInt64BE(16);
    const name = OPCODES[opcode] ?? `0x${opcode.toString(16)}`;
    const rec: Record<string, any> = { protocol: 'binary', opcode, opcodeName: name, opaque };
    if (keyLen + extras > total) {
      this.malformed('key and extras longer than the body', dir);
      q.clear();
      this.binLost[dir] = true;
      return;
    }
    const key = pkt.subarray(24 + extras, Math.min(24 + extras + keyLen, pkt.length));
    if (keyLen > 0) rec.key = truncate(printable(key, 1000), 250);
    const valueSize = total - extras - keyLen;
    const value = pkt.subarray(Math.min(24 + extras + keyLen, pkt.length));
    if (cas !== 0n) rec.cas = cas.toString();
    if (dir === 's2c') {
      rec.status = status;
      rec.statusName = STATUS[status] ?? 'unknown';
    }
    if (valueSize > 0) {
      if (dir === 's2c' && status !== 0) rec.message = truncate(value.toString('utf8'), 1024);
      else render(value.subarray(0, this.keep), rec, this.ctx.options.noBodies, valueSize);
    }
    if (extras >= 4 && (opcode === 0x01 || opcode === 0x02 || opcode === 0x03 || opcode === 0x11 || opcode === 0x12 || opcode === 0x13) && dir === 'c2s') {
      rec.flags = pkt.readUInt32BE(24);
      if (extras >= 8) rec.exptime = pkt.readUInt32BE(28);
    }
    const m: Msg = { rec: maskMemcachedSasl(rec, '***'), size: 24 + total, time: this.ctx.now, frame: this.ctx.frame };
    if (this.binCarry[dir].length > 0) m.warnings = this.binCarry[dir].splice(0);
    // One statistic of a Stat reply, read before its bytes are let go.
    const stat = dir === 's2c' && opcode === 0x10 && status === 0 && keyLen > 0 && avail === total
      ? { name: printable(key, 1000), value: value.toString('utf8', 0, Math.min(value.length, 1024)) }
      : null;
    q.consume(24 + avail);
    if (avail < total) {
      // The rest of a big value: consume it as it arrives.
      this.bigSkip(dir, q, total - avail);
    }
    if (dir === 's2c' && opcode === 0x10 && status === 0) {
      if (stat) {
        this.statLine(opaque, m, stat.name, stat.value);
        return;
      }
      if (keyLen === 0 && this.statReply?.opaque === opaque) {
        // The empty Stat packet that ends the reply: the call is the statistics read before it.
        const { msg, stats, kept, more } = this.statReply;
        this.statReply = null;
        msg.size += m.size;
        for (const w of m.warnings ?? []) addWarning(msg, w);
        msg.rec.stats = stats;
        if (more > 0) msg.rec.statsTruncated = kept + more;
        this.pairResponse(opaque, msg);
        return;
      }
    }
    if (dir === 's2c') this.endStatReply();
    if (dir === 's2c' && this.skip.s2c > 0) {
      this.bigReply = { opaque, msg: m };
      return;
    }
    if (dir === 'c2s') {
      const p: Pending = { ...m, opaque, quiet: /Q$/.test(name) };
      // QuitQ closes without a word; Quit is answered (an empty response) before the server closes.
      if (opcode === 0x17) {
        this.emit(p, null, true);
        return;
      }
      if (this.pending.length >= MAX_PENDING) {
        this.ctx.count('memcached.pending_overflow');
        this.emit(this.pending.shift()!, null);
      }
      this.pending.push(p);
      if (this.skip.c2s > 0) this.bigRequest = p;
      this.opaques.set(opaque, (this.opaques.get(opaque) ?? 0) + 1);
      if (this.opaques.size > 2 * MAX_PENDING) this.recountOpaques();
      return;
    }
    this.pairResponse(opaque, m);
  }

  /** One statistic of a binary Stat reply: kept (the first 500) until the empty packet that ends it. */
  private statLine(opaque: number, m: Msg, name: string, value: string): void {
    if (this.statReply?.opaque !== opaque) {
      this.endStatReply();
      const rec = { protocol: 'binary', opcode: 0x10, opcodeName: 'Stat', opaque, status: 0, statusName: STATUS[0] };
      this.statReply = { opaque, msg: { ...m, rec, size: 0, warnings: undefined }, stats: {}, kept: 0, more: 0 };
    }
    const cur = this.statReply!;
    cur.msg.size += m.size;
    for (const w of m.warnings ?? []) addWarning(cur.msg, w);
    // Counted, not Object.keys() per packet: a reply of a million statistics stays linear.
    const stat = truncate(name, 250);
    if (Object.hasOwn(cur.stats, stat)) cur.stats[stat] = truncate(value, 256);
    else if (cur.kept < MAX_STATS) {
      cur.stats[stat] = truncate(value, 256);
      cur.kept++;
    } else cur.more++;
  }

  /** A Stat reply whose ending packet never came (another response, the end): the call is what was read, marked. */
  private endStatReply(): void {
    const cur = this.statReply;
    if (!cur) return;
    this.statReply = null;
    cur.msg.rec.stats = cur.stats;
    if (cur.more > 0) cur.msg.rec.statsTruncated = cur.kept + cur.more;
    addWarning(cur.msg, 'truncated: Stat reply without its end');
    this.ctx.count('memcached.truncated');
    this.pairResponse(cur.opaque, cur.msg);
  }

  private pairResponse(opaque: number, m: Msg): void {
    // Responses come in request order; quiet requests before the answered one succeeded silently.
    const i = this.opaques.has(opaque) ? this.pending.findIndex((p) => p.opaque === opaque) : -1;
    if (i < 0) {
      this.opaques.delete(opaque);
      this.lone(m);
      return;
    }
    for (const quiet of this.pending.splice(0, i)) {
      this.forgetOpaque(quiet.opaque);
      this.emit(quiet, null, quiet.quiet === true);
    }
    this.forgetOpaque(opaque);
    this.emit(this.pending.shift()!, m);
  }

  private forgetOpaque(opaque: number | undefined): void {
    if (opaque === undefined) return;
    const n = this.opaques.get(opaque);
    if (n === undefined) return;
    if (n <= 1) this.opaques.delete(opaque);
    else this.opaques.set(opaque, n - 1);
  }

  /** The opaques of the requests waiting now (some counted were let go by timeouts, overflow or a gap). */
  private recountOpaques(): void {
    this.opaques.clear();
    for (const p of this.pending) if (p.opaque !== undefined) this.opaques.set(p.opaque, (this.opaques.get(p.opaque) ?? 0) + 1);
  }

  /** Consume the rest of a big value: what is queued now, the remainder as it arrives. */
  private bigSkip(dir: Direction, q: ByteQueue, n: number): void {
    const now = Math.min(n, q.length);
    q.consume(now);
    this.skip[dir] = n - now;
  }

  // ---- entries -------------------------------------------------------------

  private emit(p: Pending, reply: Msg | null, oneWay = false): void {
    const res = reply?.rec ?? null;
    const call: CallRecord = {
      protocol: 'memcached',
      request: p.rec,
      response: res,
      requestTime: p.time,
      requestFrame: p.frame,
      requestSize: p.size,
      responseSize: reply?.size ?? 0,
      error: isError(p.rec, res) || (!oneWay && res === null),
      summary: `${describe(p.rec)} → ${res ? outcome(res) : oneWay ? '(no response)' : 'unanswered'}`,
    };
    if (reply) {
      call.responseTime = this.ctx.now;
      call.responseFrame = this.ctx.frame;
    }
    const warnings = new Set([...(p.warnings ?? []), ...(reply?.warnings ?? [])]);
    if (!oneWay && res === null) warnings.add('unanswered');
    if (warnings.size > 0) call.warnings = [...warnings];
    this.ctx.emit(call);
  }

  private lone(m: Msg): void {
    const call: CallRecord = {
      protocol: 'memcached',
      request: null,
      response: m.rec,
      requestTime: m.time,
      requestFrame: m.frame,
      responseTime: this.ctx.now,
      responseFrame: this.ctx.frame,
      requestSize: 0,
      responseSize: m.size,
      error: isError({}, m.rec),
      summary: `(no command) → ${outcome(m.rec)}`,
    };
    const warnings = new Set(m.warnings ?? []);
    if (warnings.size > 0) call.warnings = [...warnings];
    this.ctx.emit(call);
  }
}

function quietReplies(command: string, flags: string[]): Set<string> {
  const replies = new Set(QUIET_REPLIES[command]);
  if (command === 'ms') {
    const mode = flags.find((f) => f.startsWith('M'))?.[1]?.toUpperCase();
    if (mode !== undefined && mode !== 'S') replies.add('NS').add('NF');
    if (flags.some((f) => f.startsWith('C'))) replies.add('EX').add('NF');
  }
  return replies;
}

/**
 * Whether a text reply can answer a quiet meta command: an error, or a reply q does not leave
 * out whose echoed opaque (O) and key (k), when given, are the command's.
 */
function answersQuiet(p: Pending, status: string, flags: string[] | undefined): boolean {
  if (/ERROR$/.test(status)) return true;
  if (!p.quietReplies?.has(status)) return false;
  if (!flags) return true;
  const opaque = flags.find((f) => f.startsWith('O'));
  if (p.metaOpaque !== undefined && opaque !== undefined && opaque.slice(1) !== p.metaOpaque) return false;
  const key = flags.find((f) => f.startsWith('k'));
  return key === undefined || typeof p.rec.key !== 'string' || key.slice(1) === p.rec.key;
}

function isError(req: Record<string, any>, res: Record<string, any> | null): boolean {
  if (typeof req.malformed === 'string') return true;
  if (res === null) return false;
  if (typeof res.status === 'string') return /ERROR$/.test(res.status);
  return typeof res.status === 'number' && !BINARY_OUTCOMES.has(res.status);
}

function describe(r: Record<string, any>): string {
  const name = r.protocol === 'binary' ? r.opcodeName : r.command;
  const keys = Array.isArray(r.keys) && r.keys.length > 1 ? `${truncate(r.keys[0], 60)} (+${r.keys.length - 1})` : typeof r.key === 'string' ? truncate(r.key, 60) : '';
  return `${name}${keys ? ` ${keys}` : ''}`;
}

function outcome(res: Record<string, any>): string {
  if (typeof res.status === 'number') return res.statusName ?? String(res.status);
  if (typeof res.hits === 'number') return `${res.hits} hit${res.hits === 1 ? '' : 's'}, ${res.misses} miss${res.misses === 1 ? '' : 'es'}`;
  if (res.status === 'NUMBER') return String(res.value);
  if (res.status === 'VERSION') return `VERSION ${res.version}`;
  if (res.message) return `${res.status} ${truncate(res.message, 60)}`;
  return String(res.status);
}

/** A binary header with this magic at the start of `data`, consistent with itself. */
function binaryHeaderAt(data: Buffer, magic: number): boolean {
  if (data.length < 24 || data[0] !== magic || OPCODES[data[1]] === undefined || data[5] !== 0) return false;
  const keyLen = data.readUInt16BE(2);
  const total = data.readUInt32BE(8);
  return keyLen + data[4] <= total && total <= MAX_VALUE;
}

const RESYNC_COMMAND = new RegExp(`^(${[...KNOWN].join('|')})( [^\\r\\n]*)?\\r\\n`);
const RESYNC_REPLY = /^(VALUE [^\r\n]*|STAT [^\r\n]*|VERSION [^\r\n]*|(CLIENT_|SERVER_)?ERROR[^\r\n]*|STORED|NOT_STORED|EXISTS|NOT_FOUND|END|DELETED|TOUCHED|OK|\d+|HD[^\r\n]*|VA [^\r\n]*|EN|NF|NS|EX|MN)\r\n/;
const STORAGE_LINE = /^(set|add|replace|append|prepend) [!-~]{1,250} \d{1,10} -?\d{1,10} \d{1,10}( noreply)?\r\n/;
const CAS_LINE = /^cas [!-~]{1,250} \d{1,10} -?\d{1,10} \d{1,10} \d{1,20}( noreply)?\r\n/;
const GET_LINE = /^(gets?|gats? -?\d{1,10}) [!-~]{1,250}( [!-~]{1,250})*\r\n/;
const PORT_REQUEST = /^(delete|incr|decr|touch|stats|version|flush_all|verbosity|quit|mg|ms|md|ma|mn|me)( [^\r\n]*)?\r\n/;
const PORT_REPLY = /^(VALUE |STORED\r|NOT_STORED\r|EXISTS\r|NOT_FOUND\r|END\r|DELETED\r|TOUCHED\r|STAT |VERSION |OK\r|ERROR\r|CLIENT_ERROR |SERVER_ERROR |HD|EN\r|NF\r|NS\r|EX\r|MN\r)/;

/**
 * Text: a storage command line (`set k 0 0 5`) or a get on any port — exact
 * shapes HTTP, Redis and SMTP do not take; on 11211 any command or reply.
 * Binary: a 24-byte request header (magic 0x80, a known opcode, data type 0,
 * key and extras inside the body) on any port; responses (0x81) on 11211.
 */
export function probeMemcached(data: Buffer, portMatch: boolean): Probe {
  if (data.length === 0) return 'need-more';
  const c = data[0];
  if (c === 0x80 || c === 0x81) {
    if (data.length < 24) return portMatch || c === 0x80 ? 'need-more' : false;
    if (!binaryHeaderAt(data, c)) return false;
    if (c === 0x81) return portMatch ? 'response' : false;
    // Off its port a request must also be small (an SSLv2-style hello can pass the header checks with a huge "body").
    if (!portMatch && data.readUInt32BE(8) > 1024 * 1024) return false;
    return 'request';
  }
  if (c < 0x41 || c > 0x7a) return false;
  const line = data.subarray(0, 600).toString('latin1');
  if (STORAGE_LINE.test(line) || CAS_LINE.test(line) || GET_LINE.test(line)) return 'request';
  if (portMatch) {
    if (PORT_REQUEST.test(line)) return 'request';
    if (PORT_REPLY.test(line)) return 'response';
  }
  // A command line not complete yet: only a known command word keeps us interested.
  if (!line.includes('\n') && line.length < 300 && /^[a-z_]{1,16}( |$)/.test(line) && KNOWN.has(line.split(' ')[0])) return 'need-more';
  return false;
}

export const memcached: ProtocolDissector = {
  name: 'memcached',
  transport: 'tcp',
  ports: [11211],
  priority: 50,
  reference: 'https://github.com/memcached/memcached/blob/master/doc/protocol.txt (binary: BinaryProtocolRevamped)',
  probe(data, portMatch) {
    try {
      return probeMemcached(data, portMatch);
    } catch {
      return false;
    }
  },
  createTcpParser(ctx) {
    return new MemcachedParser(ctx);
  },
};

/** `rec[field]` = the decimal integer `text` holds (exptime may be -1); left out when it holds none. */
function setInteger(rec: Record<string, any>, field: string, text: string | undefined): void {
  const n = decimalInteger(text, 15, true);
  if (n !== undefined) rec[field] = n;
}
