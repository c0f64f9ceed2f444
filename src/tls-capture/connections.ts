// TLS plaintext events → TCP segments of one connection each. The kernel side
// tags every chunk with its process, fd, socket addresses and the offset of
// the chunk in that (process, fd, direction) stream; here:
//  - one connection per socket pair, whichever end was hooked: when client and
//    server are both hooked (both on this node), the first end seen feeds the
//    stream and the other end's copy of the same bytes is dropped, so a call is
//    one entry, not two; the other end's process is remembered;
//  - offsets become sequence numbers, so bytes the kernel could not deliver
//    (ring full, a call too large to copy whole) are a hole of known size, and
//    a pure ACK from the other side makes the engine report it as a gap at once;
//  - who each end is (process id and name) is kept, bounded, for the entries.

import type { Packet } from '../model/packet.js';
import type { TlsEvent } from './frames.js';
import type { CgroupIdentity } from './cgroup.js';
import { tcpPacket, TCP_ACK, TCP_FIN, TCP_PSH, type Address } from './wire.js';

export interface ProcessRef extends CgroupIdentity {
  pid: number;
  comm: string;
}

/** What the entries of one connection learn about its processes. */
export interface ConnectionProcesses {
  /** Hooked process per end, by its local "ip:port". */
  ends: Map<string, ProcessRef>;
  /** Gaps in the connection while one end alone was known (counted as both ends' once the other shows). */
  gaps?: number;
  /**
   * An end used by several processes in turn (see ConnectionTable.share): from
   * which frame on each one did, by end, so a call is named after the process
   * that made it (at most MAX_TURNS a connection end; the last one holds past it).
   */
  turns?: Map<string, Array<{ frame: number; proc: ProcessRef }>>;
}

const MAX_TURNS = 64;

/** The process at `end` when frame `frame` was made: the one whose turn it was, else the end's last known one. */
export function processAt(procs: ConnectionProcesses, end: string, frame: number | undefined): ProcessRef | undefined {
  const turns = procs.turns?.get(end);
  if (!turns || frame === undefined) return procs.ends.get(end);
  let at: ProcessRef | undefined;
  for (const t of turns) if (t.frame <= frame) at = t.proc;
  return at ?? turns[0].proc;
}

interface Conn {
  key: string;
  /** The feeding end: its (pid, fd) and its local and remote address. */
  pid: number;
  fd: number;
  local: Address;
  remote: Address;
  /** Bytes of each direction handed on so far (offset of the next byte). */
  next: { write: number; read: number };
  /** Both directions have had a segment (the engine reads acknowledgements only then). */
  started: boolean;
  procs: ConnectionProcesses;
  /**
   * Once another process uses the feeding end's socket too (a child forked
   * with the connection, an fd passed over a unix socket): each (pid, fd)
   * of that end, by "pid:fd", with where its own offsets stood after its
   * last event (each counts from its own first call; see shared).
   */
  own?: Map<string, { write: number; read: number }>;
}

/**
 * How long after the feeding end closed the other end's events are still
 * taken for its copy of the same bytes: a server may still be reading what
 * the client wrote when the client closes (they would otherwise start a new
 * connection in mid-stream, its first bytes a false gap).
 */
const CLOSED_COPY_MS = 2000;

/** Initial sequence numbers: any fixed values do (no SYN is made up). */
const ISN_LOCAL = 0x10000000;
const ISN_REMOTE = 0x50000000;

export interface ConnectionTableOptions {
  /** Connections tracked at once; past it the least recently active one is forgotten (counted). */
  maxConnections?: number;
  /** Closed connections whose processes are kept for entries still to come out. */
  maxClosed?: number;
}

export class ConnectionTable {
  /** By "pid:fd" of the feeding end. Map order = least recently active first. */
  private readonly open = new Map<string, Conn>();
  /** By socket pair: the connection (open or closed) and its processes. */
  private readonly byPair = new Map<string, ConnectionProcesses & { feeder?: string; closed?: { feeder: string; atMs: number } }>();
  private frame = 0;
  readonly counters = { connections: 0, shared: 0, bothEnds: 0, gaps: 0, gapBytes: 0, gapsBothEnds: 0, stale: 0, staleBytes: 0, notInet: 0, noAddress: 0, noAddressBytes: 0, evicted: 0, afterClose: 0 };
  private readonly maxConnections: number;
  private readonly maxClosed: number;

  constructor(opts: ConnectionTableOptions = {}) {
    this.maxConnections = opts.maxConnections ?? 16384;
    this.maxClosed = opts.maxClosed ?? 16384;
  }

  /** The packets one event stands for (none when the other end already feeds the connection); `who`: the process's container, if known. */
  onEvent(ev: TlsEvent, who: CgroupIdentity = {}): Packet[] {
    if (ev.family === 0) {
      this.counters.notInet++;
      return [];
    }
    // A socket whose address the kernel could not give (port 0: not connected, or gone from the
    // port hash before the kernel side's fallback could name it): no connection to put it in, and
    // an entry with port 0 would name a wrong one. Counted, not guessed.
    if (ev.local.port === 0 || ev.remote.port === 0) {
      this.counters.noAddress++;
      this.counters.noAddressBytes += ev.data.length;
      return [];
    }
    const id = `${ev.pid}:${ev.fd}`;
    const c = this.open.get(id);
    const pair = pairKey(ev.local, ev.remote);
    // The fd was closed and reused without a close event (close_range, dup2, a lost event): the
    // old connection ends here, as at its close, at the offsets it had reached.
    if (c && c.key !== pair) {
      const own = c.own?.get(id);
      const ended = own ? this.shared(id, c, { ...ev, kind: 'close', pos: own.write, skipped: own.read }, who) : this.close(id, c, { ...ev, pos: c.next.write, skipped: c.next.read });
      return ended.concat(this.packetsOf(id, undefined, pair, ev, who));
    }
    return this.packetsOf(id, c, pair, ev, who);
  }

  /** onEvent's packets once any connection the fd had before is ended. */
  private packetsOf(id: string, c: Conn | undefined, pair: string, ev: TlsEvent, who: CgroupIdentity): Packet[] {
    if (!c) {
      if (ev.kind === 'close') return [];
      const known = this.byPair.get(pair);
      // The other end of a connection already fed from its first end (same bytes, seen twice),
      // or still reading what that end had before it closed.
      const fedByOther = known !== undefined && known.feeder !== undefined && known.feeder !== id;
      const feeder = fedByOther ? this.open.get(known.feeder!) : undefined;
      // Not the other end but this end again in another process: new bytes of the same end.
      if (feeder && addr(feeder.local) === addr(ev.local)) return this.share(id, feeder, ev, who);
      const afterClose = known?.feeder === undefined && known?.closed !== undefined && known.closed.feeder !== id && ev.timeMs - known.closed.atMs < CLOSED_COPY_MS;
      if (fedByOther || afterClose) {
        if (afterClose) this.counters.afterClose++;
        if (!known!.ends.has(addr(ev.local))) {
          this.counters.bothEnds++;
          this.counters.gapsBothEnds += known!.gaps ?? 0;
          known!.gaps = 0;
        }
        known!.ends.set(addr(ev.local), { pid: ev.pid, comm: ev.comm, ...who });
        return [];
      }
      c = {
        key: pair,
        pid: ev.pid,
        fd: ev.fd,
        local: ev.local,
        remote: ev.remote,
        next: { write: 0, read: 0 },
        procs: known ?? { ends: new Map() },
        started: false,
      };
      c.procs.ends.set(addr(ev.local), { pid: ev.pid, comm: ev.comm, ...who });
      this.remember(pair, { ...c.procs, feeder: id });
      this.counters.connections++;
      if (this.open.size >= this.maxConnections) this.evictOldest();
    } else {
      this.open.delete(id); // re-inserted below: most recently active last
    }
    this.open.set(id, c);
    if (c.own) return this.shared(id, c, ev, who);
    return ev.kind === 'close' ? this.close(id, c, ev) : this.data(c, ev);
  }

  /**
   * A (pid, fd) of the feeding end's side that is not the feeder: a child that
   * inherited the connection across fork (python's os.fork, a pre-fork
   * server), or a process the fd was passed to. Its calls are bytes of this
   * end that no other copy carries (the other end's copy of them is dropped as
   * usual), so it feeds the connection too. Before this its calls were taken
   * for the other end's copy and dropped, uncounted.
   */
  private share(id: string, c: Conn, ev: TlsEvent, who: CgroupIdentity): Packet[] {
    // Its copy of the fd closed before it wrote anything: the socket lives on in the feeder.
    if (ev.kind === 'close') return [];
    if (!c.own) {
      this.counters.shared++;
      // The feeder's own offsets are the connection's until now.
      c.own = new Map([[`${c.pid}:${c.fd}`, { ...c.next }]]);
    }
    // Its own offsets begin where its first call found them.
    c.own.set(id, ev.dir === 'write' ? { write: ev.pos, read: ev.otherPos } : { write: ev.otherPos, read: ev.pos });
    this.open.set(id, c);
    return this.shared(id, c, ev, who);
  }

  /**
   * An event of a connection whose end is shared by several (pid, fd)s: its
   * offsets, counted in its own stream, are moved to where the connection
   * stands (the processes take turns, as a parent waiting for its child
   * does; bytes one of them lost are still a hole). A close ends the
   * connection only when the last of them closes.
   */
  private shared(id: string, c: Conn, ev: TlsEvent, who: CgroupIdentity): Packet[] {
    const own = c.own!.get(id)!;
    const moved = (dir: 'write' | 'read', pos: number): number => c.next[dir] + Math.max(0, pos - own[dir]);
    if (ev.kind === 'close') {
      c.own!.delete(id);
      this.open.delete(id);
      const next = c.own!.keys().next().value;
      if (next === undefined) return this.close(id, c, { ...ev, pos: moved('write', ev.pos), skipped: moved('read', ev.skipped) });
      // Another process still holds the socket: it feeds the connection from now on.
      const [pid, fd] = next.split(':').map(Number);
      Object.assign(c, { pid, fd });
      const pair = this.byPair.get(c.key);
      if (pair) pair.feeder = next;
      return [];
    }
    const dir = ev.dir;
    const other = dir === 'write' ? 'read' : 'write';
    const end = ev.pos + ev.data.length + ev.skipped;
    if (end <= own[dir]) {
      this.counters.stale++;
      this.counters.staleBytes += ev.data.length;
      return [];
    }
    // Bytes of it this process had passed on already (an event reaching past its offset keeps its new bytes).
    const already = Math.max(0, own[dir] - ev.pos);
    const data = ev.data.subarray(Math.min(already, ev.data.length));
    const skipped = ev.skipped - Math.max(0, already - ev.data.length);
    const pos = moved(dir, ev.pos + already);
    own[dir] = end;
    own[other] = Math.max(own[other], ev.otherPos);
    // Each call is named after the process whose turn it was (processAt).
    const at = addr(ev.local);
    const proc = { pid: ev.pid, comm: ev.comm, ...who };
    if (!c.procs.turns) {
      // The same map where entries look processes up (byPair holds a copy of procs, sharing its maps).
      c.procs.turns = new Map();
      const pair = this.byPair.get(c.key);
      if (pair) pair.turns = c.procs.turns;
    }
    let turns = c.procs.turns.get(at);
    if (!turns) {
      const before = c.procs.ends.get(at);
      turns = before ? [{ frame: 0, proc: before }] : [];
      c.procs.turns.set(at, turns);
    }
    if (turns.at(-1)?.proc.pid !== ev.pid && turns.length < MAX_TURNS) turns.push({ frame: this.frame + 1, proc });
    c.procs.ends.set(at, proc);
    // What the other direction had carried is where the connection stands: another process's
    // count of it says nothing of lost bytes.
    return this.data(c, { ...ev, data, skipped, pos, otherPos: c.next[other] });
  }

  /** Processes of the connection between `a` and `b` (either order), if it was hooked. */
  processes(a: Address, b: Address): ConnectionProcesses | undefined {
    return this.byPair.get(pairKey(a, b));
  }

  private data(c: Conn, ev: TlsEvent): Packet[] {
    const out: Packet[] = [];
    const sent = ev.dir;
    const expected = c.next[sent];
    const end = ev.pos + ev.data.length + ev.skipped;
    const [src, dst, isn, peerIsn, other] =
      sent === 'write'
        ? [c.local, c.remote, ISN_LOCAL, ISN_REMOTE, 'read' as const]
        : [c.remote, c.local, ISN_REMOTE, ISN_LOCAL, 'write' as const];
    if (end <= expected) {
      // Offsets never go back within one (pid, fd), so these bytes were already passed on, or
      // were counted into the other side's offset when this connection was first seen: counted, not added.
      this.counters.stale++;
      this.counters.staleBytes += ev.data.length;
      return out;
    }
    // Partly new (it began before the offset this connection first took): the segment goes on whole;
    // reassembly keeps only the bytes past what it has, as for a TCP retransmission that adds data.
    if (!c.started) {
      // An empty segment from the other side first, at its offset then: both directions exist
      // from the start, as after a handshake, so later acknowledgements can tell of lost bytes.
      c.started = true;
      c.next[other] = ev.otherPos;
      out.push(tcpPacket(dst, src, peerIsn + ev.otherPos, isn + ev.pos, TCP_ACK, Buffer.alloc(0), ev, ++this.frame));
    }
    // Acknowledge what the other direction had carried when this call returned, delivered or not,
    // as TCP would: bytes of it the kernel lost are then known lost, and which call they answered.
    const acked = Math.max(c.next[other], ev.otherPos);
    out.push(tcpPacket(src, dst, isn + ev.pos, peerIsn + acked, TCP_ACK | TCP_PSH, ev.data, ev, ++this.frame));
    if (ev.pos > expected || ev.skipped > 0) {
      // Bytes before (or after) this chunk never came: the other side "acknowledges" them,
      // which makes the engine report the hole as a gap now rather than wait for it.
      this.counters.gaps++;
      this.counters.gapBytes += Math.max(ev.pos - expected, 0) + ev.skipped;
      // The other end's copy of these bytes, when it was hooked too, is not used to fill the hole
      // (its offsets count from its own first call, which need not be this end's): said apart.
      const pair = this.byPair.get(c.key);
      if (c.procs.ends.size > 1) this.counters.gapsBothEnds++;
      else if (pair) pair.gaps = (pair.gaps ?? 0) + 1;
      out.push(tcpPacket(dst, src, peerIsn + c.next[other], isn + end, TCP_ACK, Buffer.alloc(0), ev, ++this.frame));
    }
    c.next[sent] = end;
    return out;
  }

  /** The feeding end closed its fd: both directions end (FIN each way) at their final offsets. */
  private close(id: string, c: Conn, ev: TlsEvent): Packet[] {
    this.open.delete(id);
    const pair = this.byPair.get(c.key);
    if (pair) {
      pair.feeder = undefined;
      pair.closed = { feeder: id, atMs: ev.timeMs };
    }
    // The close event carries the stream's final offsets (written, read): bytes lost at the very end are a gap too.
    const written = Math.max(c.next.write, ev.pos);
    const read = Math.max(c.next.read, ev.skipped);
    return [
      tcpPacket(c.local, c.remote, ISN_LOCAL + written, ISN_REMOTE + read, TCP_ACK | TCP_FIN, Buffer.alloc(0), ev, ++this.frame),
      tcpPacket(c.remote, c.local, ISN_REMOTE + read, ISN_LOCAL + written + 1, TCP_ACK | TCP_FIN, Buffer.alloc(0), ev, ++this.frame),
    ];
  }

  private remember(pair: string, v: ConnectionProcesses & { feeder?: string }): void {
    this.byPair.delete(pair);
    this.byPair.set(pair, v);
    // Bounded: the oldest pairs' processes are forgotten (their entries are long out by then).
    while (this.byPair.size > this.maxConnections + this.maxClosed) {
      const oldest = this.byPair.keys().next().value as string;
      this.byPair.delete(oldest);
    }
  }

  private evictOldest(): void {
    const oldest = this.open.keys().next().value as string | undefined;
    if (oldest === undefined) return;
    const c = this.open.get(oldest)!;
    this.open.delete(oldest);
    const pair = this.byPair.get(c.key);
    if (pair) pair.feeder = undefined;
    this.counters.evicted++;
  }
}

function addr(a: Address): string {
  return a.ip.includes(':') ? `[${a.ip}]:${a.port}` : `${a.ip}:${a.port}`;
}

function pairKey(a: Address, b: Address): string {
  const x = addr(a);
  const y = addr(b);
  return x < y ? `${x} ${y}` : `${y} ${x}`;
}

/** "ip:port" of an endpoint, as ConnectionProcesses.ends is keyed. */
export const endpointKey = addr;
