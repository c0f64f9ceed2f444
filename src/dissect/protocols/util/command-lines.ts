// The line-oriented mail protocols (SMTP, IMAP, POP3): a client's command
// lines paired with the server's reply lines, and their STARTTLS. Each
// dialect (smtp.ts, imap.ts, pop3.ts) says what a command is, when a reply
// is complete, which commands carry secrets and which command asks for TLS;
// this reads the lines, pairs, emits and, once the server accepted the
// client's STARTTLS (STLS), reads the rest of the connection as TLS (with
// --tls-keylog, the same protocol inside it), as tshark does.

import type { CallRecord, ConnectionContext, Direction, TcpStreamParser } from '../../api.js';
import { ByteQueue } from '../../byte-queue.js';
import { truncate } from './text.js';
import { TunnelStream } from './tunnel-stream.js';

/** RFC 5321 §4.5.3.1.5 allows 512-byte command lines; extensions and IMAP lines run far longer. */
const MAX_LINE = 64 * 1024;
/** Commands waiting for their reply (pipelining): past this the oldest goes out unanswered, counted. */
const MAX_PENDING = 256;
/** Reply lines kept on an entry (an EHLO's capabilities, a CAPA list); the rest are counted. */
export const MAX_KEPT_LINES = 32;
const MAX_LINE_TEXT = 512;

/** One client command waiting for its reply. */
export interface MailCommand {
  request: Record<string, any>;
  /** What the summary shows of the request (already masked). */
  label: string;
  time: number;
  frame: number;
  size: number;
  /** Set by the dialect: the tag an IMAP reply names. */
  tag?: string;
  /** The command asks the server to start TLS. */
  startsTls?: boolean;
  /** Lost bytes came between it and its reply, or before it in its own direction. */
  gap?: boolean;
}

/** What a dialect does with a server line. */
export type ReplyLine =
  /** Part of the reply being read; `raw` bytes of a literal follow the line. */
  | { kind: 'more'; raw?: number }
  /** The reply to the oldest (or the tagged) command is complete. */
  | { kind: 'done'; response: Record<string, any>; error: boolean; text: string; tag?: string; raw?: number };

export interface Dialect {
  /** Entry protocol name and its summary's prefix. */
  readonly name: string;
  readonly label: string;
  /** A client line → the command (undefined: not a command: SASL data, IMAP's DONE, body lines, handled in `clientRaw`). */
  command(line: string, pending: readonly MailCommand[]): { cmd: MailCommand | null; raw?: number };
  /** A server line, `first` the first line of the reply it belongs to. */
  reply(line: string, pending: readonly MailCommand[]): ReplyLine;
  /** True when the completed reply accepts the client's STARTTLS. */
  acceptsTls(cmd: MailCommand, response: Record<string, any>): boolean;
}

/** A TLS handshake record (a ClientHello starts 0x16 0x03 0x01–0x04): never how a text command starts. */
export function isTlsHandshake(data: Buffer): boolean {
  return data.length >= 3 && data[0] === 0x16 && data[1] === 0x03 && data[2] <= 0x04;
}

export function lineText(s: string): string {
  return truncate(s, MAX_LINE_TEXT);
}

export class CommandLineParser implements TcpStreamParser {
  private readonly queues: Record<Direction, ByteQueue> = { c2s: new ByteQueue(), s2c: new ByteQueue() };
  /** Bytes of a literal (IMAP `{n}`, SMTP BDAT) still to pass over, per direction. */
  private readonly raw: Record<Direction, number> = { c2s: 0, s2c: 0 };
  /** After lost bytes: the rest of the line they cut is skipped. */
  private readonly resync: Record<Direction, boolean> = { c2s: false, s2c: false };
  private readonly pending: MailCommand[] = [];
  /** The reply being read: its first line's time and frame, its size so far. */
  private reply: { time: number; frame: number; size: number } | null = null;
  /** The client asked for TLS and the reply has not said no: its ClientHello may come next. */
  private tlsAsked = false;
  private tls: TunnelStream | null = null;
  private dead = false;

  private readonly dialect: Dialect;

  /** `makeDialect`: this connection's dialect state, and after STARTTLS a fresh one for the same protocol inside TLS. */
  constructor(
    private readonly ctx: ConnectionContext,
    private readonly makeDialect: (ctx: ConnectionContext) => Dialect,
  ) {
    this.dialect = makeDialect(ctx);
  }

  onData(dir: Direction, data: Buffer): void {
    if (this.tls) {
      this.tls.onData(dir, data);
      return;
    }
    if (this.dead) return;
    const q = this.queues[dir];
    if (dir === 'c2s' && this.tlsAsked && q.length === 0 && this.raw.c2s === 0 && isTlsHandshake(data)) {
      // The ClientHello right behind STARTTLS: the server's yes was lost (or is still to come in the capture's order).
      this.startTls();
      this.tls!.onData(dir, data);
      return;
    }
    q.push(data);
    this.drain(dir);
  }

  onGap(dir: Direction, length: number): void {
    if (this.tls) {
      this.tls.onGap(dir, length);
      return;
    }
    if (this.dead) return;
    this.ctx.count(`${this.dialect.name}.gap`);
    this.queues[dir].clear();
    this.raw[dir] = 0;
    this.resync[dir] = true;
    if (dir === 's2c') {
      // Replies were lost: the commands waiting for them cannot be paired any more.
      this.reply = null;
      for (const c of this.pending.splice(0)) this.emit(c, null, false, 'gap');
    } else {
      // Commands were lost: the next replies may answer them, not the commands read since.
      for (const c of this.pending) c.gap = true;
      this.lostCommands = true;
    }
  }

  /** Client bytes were lost: a reply with nothing waiting answers a lost command. */
  private lostCommands = false;

  onTick(nowMs: number, timeoutMs: number): void {
    this.tls?.onTick(nowMs, timeoutMs);
  }

  pendingSince(): number | undefined {
    if (this.tls) return this.tls.pendingSince();
    if (this.pending.length > 0) return this.pending[0].time;
    return this.reply?.time;
  }

  onEnd(reason: 'fin' | 'rst' | 'timeout' | 'eof'): void {
    if (this.tls) {
      this.tls.onEnd(reason);
      return;
    }
    for (const c of this.pending.splice(0)) this.emit(c, null, false, undefined);
  }

  private drain(dir: Direction): void {
    const q = this.queues[dir];
    while (!this.tls && !this.dead && q.length > 0) {
      if (this.raw[dir] > 0) {
        const n = Math.min(this.raw[dir], q.length);
        q.consume(n);
        this.raw[dir] -= n;
        if (this.reply && dir === 's2c') this.reply.size += n;
        continue;
      }
      const nl = q.indexOfByte(0x0a, MAX_LINE);
      if (nl < 0) {
        if (q.length >= MAX_LINE) {
          // Not a line protocol after all (or a line past any server's limit): stop reading it, counted.
          this.ctx.count(`${this.dialect.name}.malformed_line_too_long`);
          this.dead = true;
          q.clear();
        }
        return;
      }
      const bytes = q.take(nl + 1);
      if (this.resync[dir]) {
        this.resync[dir] = false;
        continue;
      }
      const line = bytes.toString('latin1', 0, nl > 0 && bytes[nl - 1] === 0x0d ? nl - 1 : nl);
      if (dir === 'c2s') this.clientLine(line, nl + 1);
      else this.serverLine(line, nl + 1);
    }
    if (this.tls && q.length > 0) this.tls.onData(dir, q.take(q.length));
  }

  private clientLine(line: string, size: number): void {
    const { cmd, raw } = this.dialect.command(line, this.pending);
    if (raw) this.raw.c2s = raw;
    if (!cmd) {
      // A line that belongs to the command before it (SASL data, a message body): its size goes there.
      const last = this.pending[this.pending.length - 1];
      if (last) last.size += size + (raw ?? 0);
      return;
    }
    cmd.size = size + (raw ?? 0);
    if (cmd.startsTls) this.tlsAsked = true;
    if (this.pending.length >= MAX_PENDING) {
      this.ctx.count(`${this.dialect.name}.pending_overflow`);
      this.emit(this.pending.shift()!, null, false, undefined);
    }
    this.pending.push(cmd);
  }

  private serverLine(line: string, size: number): void {
    this.reply ??= { time: this.ctx.now, frame: this.ctx.frame, size: 0 };
    this.reply.size += size;
    const r = this.dialect.reply(line, this.pending);
    if (r.raw) this.raw.s2c = r.raw;
    if (r.kind === 'more') return;
    const reply = this.reply;
    this.reply = null;
    let at = r.tag === undefined ? 0 : this.pending.findIndex((c) => c.tag === r.tag);
    if (this.lostCommands && (r.tag === undefined || at < 0)) {
      // Answers a command lost with the client's bytes: no request to show.
      if (this.pending.length === 0 || r.tag !== undefined) this.lostCommands = false;
      if (this.pending.length === 0) at = -1;
    }
    const cmd = at >= 0 ? this.pending.splice(at, 1)[0] : undefined;
    const call: CallRecord = {
      protocol: this.dialect.name,
      request: cmd ? cmd.request : null,
      response: r.response,
      requestTime: cmd ? cmd.time : reply.time,
      responseTime: this.ctx.now,
      requestFrame: cmd ? cmd.frame : reply.frame,
      responseFrame: this.ctx.frame,
      requestSize: cmd ? cmd.size : 0,
      responseSize: reply.size,
      error: r.error,
      summary: `${this.dialect.label} ${cmd ? cmd.label : '(no request)'} → ${lineText(r.text)}`,
    };
    if (cmd?.gap) call.warnings = ['gap'];
    this.ctx.emit(call);
    if (cmd?.startsTls) {
      this.tlsAsked = false;
      if (this.dialect.acceptsTls(cmd, r.response)) this.startTls();
    }
  }

  /** The server said yes to STARTTLS: TLS from the next byte on, each way. */
  private startTls(): void {
    this.ctx.count(`${this.dialect.name}.starttls`);
    // Inside, the same protocol goes on where it stopped (the client speaks first: no greeting a probe would know).
    const inside = (ctx: ConnectionContext): TcpStreamParser => new CommandLineParser(ctx, this.makeDialect);
    this.tls = TunnelStream.takingOver(this.ctx, `${this.dialect.name}.tls`, this.queues, undefined, inside);
    for (const c of this.pending.splice(0)) this.emit(c, null, false, undefined);
  }

  private emit(cmd: MailCommand, response: Record<string, any> | null, error: boolean, warning: 'gap' | undefined): void {
    const call: CallRecord = {
      protocol: this.dialect.name,
      request: cmd.request,
      response,
      requestTime: cmd.time,
      requestFrame: cmd.frame,
      requestSize: cmd.size,
      responseSize: 0,
      error,
      summary: `${this.dialect.label} ${cmd.label} → (no reply)`,
    };
    if (warning || cmd.gap) call.warnings = ['gap'];
    this.ctx.emit(call);
  }
}
