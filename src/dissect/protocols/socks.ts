// SOCKS 4, 4a and 5 (RFC 1928, RFC 1929): the proxy handshake is one call —
// the client's request (CONNECT, BIND or UDP ASSOCIATE, to a host and port)
// and the proxy's reply — and after a granted CONNECT the connection carries
// the target's protocol, dissected as a connection of its own would be
// (TLS to :443 most often; its calls with --tls-keylog), as tshark reads it.
// A username/password sub-negotiation keeps the user; the password never
// leaves this file. Port 1080, or `-d tcp.port==N,socks`.

import type { CallRecord, ConnectionContext, Direction, Probe, ProtocolDissector, TcpStreamParser } from '../api.js';
import { ByteQueue } from '../byte-queue.js';
import { truncate } from './util/text.js';
import { TunnelStream } from './util/tunnel-stream.js';
import { ipv6ToString } from '../decode/addresses.js';

/** A handshake message longer than this is not SOCKS (the longest is a v5 request naming a 255-byte host). */
const MAX_MESSAGE = 1024;
const COMMANDS: Record<number, string> = { 1: 'CONNECT', 2: 'BIND', 3: 'UDP ASSOCIATE' };
const METHODS: Record<number, string> = { 0: 'none', 1: 'GSSAPI', 2: 'username/password', 0xff: 'no acceptable methods' };
const REPLIES5: Record<number, string> = {
  0: 'succeeded', 1: 'general failure', 2: 'not allowed by ruleset', 3: 'network unreachable', 4: 'host unreachable',
  5: 'connection refused', 6: 'TTL expired', 7: 'command not supported', 8: 'address type not supported',
};
const REPLIES4: Record<number, string> = { 0x5a: 'granted', 0x5b: 'rejected', 0x5c: 'rejected: no identd', 0x5d: 'rejected: user id mismatch' };

type Stage = 'greeting' | 'method' | 'auth' | 'authReply' | 'request' | 'reply' | 'done';

/** What a message reader returns: the message's length, 'need-more', or 'bad'. */
type Length = number | 'need-more' | 'bad';

export class SocksParser implements TcpStreamParser {
  private readonly queues: Record<Direction, ByteQueue> = { c2s: new ByteQueue(), s2c: new ByteQueue() };
  private version = 0;
  private stage: Stage = 'greeting';
  private request: Record<string, any> = {};
  private requestAt: { time: number; frame: number; size: number } | undefined;
  private tunnel: TunnelStream | null = null;
  private dead = false;

  constructor(private readonly ctx: ConnectionContext) {}

  onData(dir: Direction, data: Buffer): void {
    if (this.tunnel) return this.tunnel.onData(dir, data);
    if (this.dead) return;
    if (dir === 'c2s' && this.requestAt === undefined && this.stage === 'request') this.requestAt = { time: this.ctx.now, frame: this.ctx.frame, size: 0 };
    this.queues[dir].push(data);
    this.step();
  }

  onGap(dir: Direction, length: number): void {
    if (this.tunnel) return this.tunnel.onGap(dir, length);
    this.ctx.count('socks.gap');
    this.fail('gap');
  }

  onTick(nowMs: number, timeoutMs: number): void {
    this.tunnel?.onTick(nowMs, timeoutMs);
    if (this.requestAt && this.stage === 'reply' && nowMs - this.requestAt.time > timeoutMs) this.fail('unanswered');
  }

  pendingSince(): number | undefined {
    if (this.tunnel) return this.tunnel.pendingSince();
    return this.stage === 'reply' ? this.requestAt?.time : undefined;
  }

  onEnd(reason: 'fin' | 'rst' | 'timeout' | 'eof'): void {
    if (this.tunnel) return this.tunnel.onEnd(reason);
    if (this.stage === 'reply') this.fail('unanswered');
  }

  /** Read every whole message the stage waits for, in order. */
  private step(): void {
    for (;;) {
      const dir: Direction = this.stage === 'method' || this.stage === 'authReply' || this.stage === 'reply' ? 's2c' : 'c2s';
      if (this.stage === 'done' || this.dead) return;
      const q = this.queues[dir];
      if (q.length === 0) return;
      const head = q.peek(Math.min(q.length, MAX_MESSAGE + 1));
      const len = this.lengthOf(head);
      if (len === 'need-more') {
        if (q.length > MAX_MESSAGE) this.fail(`malformed: ${this.stage} over ${MAX_MESSAGE} bytes`);
        return;
      }
      if (len === 'bad') return this.fail(`malformed: ${this.stage}`);
      this.read(q.take(len));
      if (this.tunnel) return;
    }
  }

  /** How long the message the stage waits for is, from its first bytes. */
  private lengthOf(b: Buffer): Length {
    const need = (n: number): Length => (b.length >= n ? n : 'need-more');
    switch (this.stage) {
      case 'greeting':
        if (b[0] === 5) return b.length < 2 ? 'need-more' : need(2 + b[1]);
        if (b[0] === 4) {
          // VN CD DSTPORT DSTIP USERID\0 [HOST\0 when DSTIP is 0.0.0.x, x ≠ 0: SOCKS 4a]
          if (b.length < 9) return 'need-more';
          const user = b.indexOf(0, 8);
          if (user < 0) return 'need-more';
          const is4a = b[4] === 0 && b[5] === 0 && b[6] === 0 && b[7] !== 0;
          if (!is4a) return user + 1;
          const host = b.indexOf(0, user + 1);
          return host < 0 ? 'need-more' : host + 1;
        }
        return 'bad';
      case 'method':
        return b[0] === 5 ? need(2) : 'bad';
      case 'auth':
        if (b[0] !== 1) return 'bad';
        if (b.length < 2) return 'need-more';
        if (b.length < 3 + b[1]) return 'need-more';
        return need(3 + b[1] + b[2 + b[1]]);
      case 'authReply':
        return need(2);
      case 'request':
      case 'reply':
        if (this.version === 4) return b[0] === 0 ? need(8) : 'bad';
        if (b[0] !== 5) return 'bad';
        if (b.length < 5) return 'need-more';
        return b[3] === 1 ? need(10) : b[3] === 4 ? need(22) : b[3] === 3 ? need(7 + b[4]) : 'bad';
      default:
        return 'bad';
    }
  }

  private read(m: Buffer): void {
    switch (this.stage) {
      case 'greeting':
        this.version = m[0];
        if (this.version === 4) {
          this.requestAt = { time: this.ctx.now, frame: this.ctx.frame, size: m.length };
          const user = m.indexOf(0, 8);
          const is4a = m[4] === 0 && m[5] === 0 && m[6] === 0 && m[7] !== 0;
          this.request = {
            version: is4a ? '4a' : 4,
            command: COMMANDS[m[1]] ?? `0x${m[1].toString(16)}`,
            host: is4a ? m.toString('latin1', user + 1, m.length - 1) : `${m[4]}.${m[5]}.${m[6]}.${m[7]}`,
            port: m.readUInt16BE(2),
          };
          if (user > 8) this.request.user = truncate(m.toString('latin1', 8, user), 256);
          this.stage = 'reply';
          return;
        }
        this.request = { version: 5, methods: [...m.subarray(2)].map((x) => METHODS[x] ?? `0x${x.toString(16)}`) };
        this.stage = 'method';
        return;
      case 'method':
        this.request.method = METHODS[m[1]] ?? `0x${m[1].toString(16)}`;
        if (m[1] === 0xff) {
          this.requestAt = { time: this.ctx.now, frame: this.ctx.frame, size: 0 };
          return this.finish({ reply: 'no acceptable methods', code: 0xff }, true);
        }
        this.stage = m[1] === 2 ? 'auth' : m[1] === 0 ? 'request' : 'done';
        if (this.stage === 'done') this.ctx.count('socks.unsupported_method');
        return;
      case 'auth':
        // RFC 1929: the user stays readable, the password is never kept.
        this.request.user = truncate(m.toString('latin1', 2, 2 + m[1]), 256);
        this.request.password = '***';
        this.stage = 'authReply';
        return;
      case 'authReply':
        if (m[1] !== 0) {
          this.requestAt = { time: this.ctx.now, frame: this.ctx.frame, size: 0 };
          return this.finish({ reply: 'authentication failed', code: m[1] }, true);
        }
        this.stage = 'request';
        return;
      case 'request': {
        this.requestAt ??= { time: this.ctx.now, frame: this.ctx.frame, size: 0 };
        this.requestAt.size = m.length;
        const at = readAddress(m, 3);
        this.request.command = COMMANDS[m[1]] ?? `0x${m[1].toString(16)}`;
        this.request.host = at.host;
        this.request.port = at.port;
        this.stage = 'reply';
        return;
      }
      case 'reply': {
        if (this.version === 4) {
          const code = m[1];
          return this.finish({ reply: REPLIES4[code] ?? `0x${code.toString(16)}`, code }, code !== 0x5a, m.length);
        }
        const code = m[1];
        const bound = readAddress(m, 3);
        return this.finish({ reply: REPLIES5[code] ?? `0x${code.toString(16)}`, code, boundHost: bound.host, boundPort: bound.port }, code !== 0, m.length);
      }
      default:
    }
  }

  /** The handshake's call; a granted CONNECT turns the rest of the connection into a tunnel. */
  private finish(response: Record<string, any>, error: boolean, size = 0, warnings: string[] = []): void {
    const at = this.requestAt ?? { time: this.ctx.now, frame: this.ctx.frame, size: 0 };
    const target = this.request.host !== undefined ? ` ${truncate(String(this.request.host), 80)}:${this.request.port}` : '';
    const call: CallRecord = {
      protocol: 'socks',
      request: this.request,
      response,
      requestTime: at.time,
      requestFrame: at.frame,
      responseTime: this.ctx.now,
      responseFrame: this.ctx.frame,
      requestSize: at.size,
      responseSize: size,
      error,
      summary: `${this.request.command ?? 'SOCKS'}${target} → ${response.reply}`,
    };
    if (warnings.length > 0) call.warnings = warnings;
    this.ctx.emit(call);
    this.stage = 'done';
    if (error || this.request.command !== 'CONNECT') return;
    this.tunnel = TunnelStream.takingOver(this.ctx, 'socks.tunnel', this.queues, typeof this.request.port === 'number' ? this.request.port : undefined);
  }

  /** The handshake ended without its reply (a gap, the end of the capture, the request timeout, bytes that are not SOCKS). */
  private fail(why: string): void {
    if (why.startsWith('malformed')) this.ctx.count('socks.malformed');
    if (this.stage === 'reply' && this.requestAt) {
      this.ctx.emit({
        protocol: 'socks',
        request: this.request,
        response: null,
        requestTime: this.requestAt.time,
        requestFrame: this.requestAt.frame,
        requestSize: this.requestAt.size,
        responseSize: 0,
        error: true,
        summary: `${this.request.command ?? 'SOCKS'} ${truncate(String(this.request.host ?? ''), 80)}:${this.request.port ?? ''} → unanswered`,
        warnings: why === 'unanswered' ? ['unanswered'] : [why, 'unanswered'],
      });
    }
    this.stage = 'done';
    this.dead = true;
  }

}

/** A SOCKS 5 address (type at `at`: IPv4, a named host, IPv6) and the port after it. */
function readAddress(m: Buffer, at: number): { host: string; port: number } {
  const type = m[at];
  if (type === 1) return { host: `${m[at + 1]}.${m[at + 2]}.${m[at + 3]}.${m[at + 4]}`, port: m.readUInt16BE(at + 5) };
  if (type === 4) return { host: ipv6ToString(m, at + 1), port: m.readUInt16BE(at + 17) };
  const n = m[at + 1];
  return { host: truncate(m.toString('latin1', at + 2, at + 2 + n), 255), port: m.readUInt16BE(at + 2 + n) };
}

/** A client's first message: a SOCKS 5 greeting of exactly its announced methods, or a SOCKS 4 request; on the SOCKS port only. */
export function probeSocks(data: Buffer, portMatch: boolean): Probe {
  if (!portMatch || data.length === 0) return false;
  if (data[0] === 5) {
    if (data.length < 2) return 'need-more';
    if (data[1] === 0) return false;
    if (data.length < 2 + data[1]) return 'need-more';
    return data.length === 2 + data[1] ? 'request' : false;
  }
  if (data[0] === 4 && (data[1] === 1 || data[1] === 2)) {
    if (data.length < 9) return 'need-more';
    return data.indexOf(0, 8) > 0 ? 'request' : data.length < MAX_MESSAGE ? 'need-more' : false;
  }
  return false;
}

export const socks: ProtocolDissector = {
  name: 'socks',
  transport: 'tcp',
  ports: [1080],
  priority: 40,
  reference: 'https://www.rfc-editor.org/rfc/rfc1928 (SOCKS 5), RFC 1929 (username/password)',
  probe: (data, portMatch) => {
    try {
      return probeSocks(data, portMatch);
    } catch {
      return false;
    }
  },
  createTcpParser: (ctx) => new SocksParser(ctx),
};
