// The framed event stream of the BPF loader (native/tls-capture/loader.c):
//   u32 length (whole frame, little endian) | u8 type | body
// decoded incrementally from its stdout. A frame longer than any the loader
// writes means the stream is out of step: that is an error, not a guess.

import { formatIpv6 } from '../dissect/decode/addresses.js';

/** struct tls_event's header (native/tls-capture/tls_capture.h). */
export const EVENT_HEADER = 120;
/** Largest data chunk of one event (CHUNK in tls_capture.h). */
export const CHUNK = 16384;
const MAX_FRAME = 5 + EVENT_HEADER + CHUNK;

export const FrameType = { DATA: 1, CLOSE: 2, COUNTERS: 3, ATTACHED: 4, WARNING: 5, READY: 6 } as const;

export interface TlsEvent {
  kind: 'data' | 'close';
  pid: number;
  tid: number;
  fd: number;
  /** Unix ms. */
  timeMs: number;
  tsSec: number;
  tsNsec: number;
  /** Offset of `data` in this (pid, fd, direction) stream; on close: bytes written in all. */
  pos: number;
  /** Bytes of the call after this chunk that were not copied; on close: bytes read in all. */
  skipped: number;
  /** The other direction's stream offset when the call returned (its bytes lost before then show as a gap). */
  otherPos: number;
  /** write: the process sent the bytes; read: it received them. */
  dir: 'write' | 'read';
  source: 'openssl' | 'go';
  /** 4 or 6; 0 when the fd was not an inet socket. */
  family: 0 | 4 | 6;
  local: { ip: string; port: number };
  remote: { ip: string; port: number };
  comm: string;
  /** The caller's cgroup v2 id (0 on a kernel without one): names its container after the process exited (cgroups.ts). */
  cgroupId: bigint;
  /**
   * A read that returned while a write on the same (pid, fd) was still in
   * its call (EVF_WRITE_IN_FLIGHT): that write's event comes later, its bytes
   * went out before these came in (write-order.ts puts this read after it).
   */
  afterWriteInFlight: boolean;
  data: Buffer;
}

/** The kernel side's counters (enum tls_counter), summed over CPUs. */
export interface TlsCounters {
  events: number;
  lostEvents: number;
  lostBytes: number;
  skippedBytes: number;
  noFd: number;
  readFailed: number;
  activeFull: number;
  /** Memory-BIO calls (node) whose socket was taken from the thread's neighbouring socket I/O. */
  fdInferred: number;
  ringSize: number;
}

export type Frame =
  | { type: 'event'; event: TlsEvent }
  | { type: 'counters'; counters: TlsCounters }
  | { type: 'attached'; pid: number; path: string }
  | { type: 'warning'; message: string }
  | { type: 'ready' };

export class FrameDecoder {
  private pending: Buffer = Buffer.alloc(0);

  /** Frames completed by `chunk` (the loader's stdout, in any split). */
  push(chunk: Buffer): Frame[] {
    const buf = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    const frames: Frame[] = [];
    let off = 0;
    while (off + 5 <= buf.length) {
      const len = buf.readUInt32LE(off);
      if (len < 5 || len > MAX_FRAME) throw new Error(`tls loader stream: frame of ${len} bytes at offset ${off}: out of step`);
      if (off + len > buf.length) break;
      const f = decodeFrame(buf[off + 4], buf.subarray(off + 5, off + len));
      if (f) frames.push(f);
      off += len;
    }
    // Keep only the unfinished frame (copied: `chunk` may be reused by the caller).
    this.pending = off < buf.length ? Buffer.from(buf.subarray(off)) : Buffer.alloc(0);
    return frames;
  }

  /** Bytes of an unfinished frame held (a loader that died mid-frame leaves some). */
  get buffered(): number {
    return this.pending.length;
  }
}

function decodeFrame(type: number, body: Buffer): Frame | undefined {
  switch (type) {
    case FrameType.DATA:
    case FrameType.CLOSE:
      return body.length >= EVENT_HEADER ? { type: 'event', event: decodeEvent(type, body) } : undefined;
    case FrameType.COUNTERS: {
      const n = (i: number) => (body.length >= (i + 1) * 8 ? Number(body.readBigUInt64LE(i * 8)) : 0);
      return {
        type: 'counters',
        counters: { events: n(0), lostEvents: n(1), lostBytes: n(2), skippedBytes: n(3), noFd: n(4), readFailed: n(5), activeFull: n(6), fdInferred: n(7), ringSize: n(8) },
      };
    }
    case FrameType.ATTACHED:
      return { type: 'attached', pid: body.readUInt32LE(0), path: body.subarray(4).toString('utf8') };
    case FrameType.WARNING:
      return { type: 'warning', message: body.toString('utf8') };
    case FrameType.READY:
      return { type: 'ready' };
    default:
      return undefined;
  }
}

function decodeEvent(type: number, b: Buffer): TlsEvent {
  const ts = b.readBigUInt64LE(16);
  const familyRaw = b.readUInt16LE(42);
  const family = familyRaw === 2 ? 4 : familyRaw === 10 ? 6 : 0;
  const len = b.readUInt32LE(32);
  return {
    kind: type === FrameType.CLOSE ? 'close' : 'data',
    pid: b.readUInt32LE(4),
    tid: b.readUInt32LE(8),
    fd: b.readInt32LE(12),
    timeMs: Number(ts / 1000n) / 1000,
    tsSec: Number(ts / 1_000_000_000n),
    tsNsec: Number(ts % 1_000_000_000n),
    pos: Number(b.readBigUInt64LE(24)),
    skipped: b.readUInt32LE(36),
    otherPos: Number(b.readBigUInt64LE(96)),
    dir: b[40] === 0 ? 'write' : 'read',
    source: b[41] === 1 ? 'go' : 'openssl',
    family,
    local: { ip: address(family, b.subarray(64, 80)), port: b.readUInt16LE(44) },
    remote: { ip: address(family, b.subarray(80, 96)), port: b.readUInt16LE(46) },
    comm: b.subarray(48, 64).toString('latin1').replace(/\0.*$/s, ''),
    cgroupId: b.readBigUInt64LE(104),
    afterWriteInFlight: (b.readUInt32LE(112) & 1) !== 0,
    data: b.subarray(EVENT_HEADER, EVENT_HEADER + Math.min(len, b.length - EVENT_HEADER)),
  };
}

/** Dotted quad, or IPv6 text; an IPv4-mapped IPv6 address (a dual-stack socket) as IPv4. */
function address(family: number, a: Buffer): string {
  if (family === 4) return `${a[0]}.${a[1]}.${a[2]}.${a[3]}`;
  if (family !== 6) return '';
  if (a.subarray(0, 10).every((x) => x === 0) && a[10] === 0xff && a[11] === 0xff) return `${a[12]}.${a[13]}.${a[14]}.${a[15]}`;
  return formatIpv6(a, 0);
}
