// Live packets from libpcap, as batches of Packet: through the capture helper
// process (helper.ts) when it is built, else through the `cap` binding here.
//
// The rest of this file is the `cap` fallback (and interface listing).
// `cap` delivers each packet into ONE reused buffer and cannot be
// back-pressured, so every packet is copied out at once, stamped with our own
// clock (cap does not pass libpcap's timestamp on), and put in a bounded
// queue; what does not fit is counted as `lost` rather than hidden.
// One cap handle per interface; each packet carries its interface's index.

import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { ExitCode, UserError } from '../cli/errors.js';
import { LinkType, type CaptureInterface, type Packet } from '../model/packet.js';
import { findHelper, helperCandidates, openHelperCapture } from './helper.js';

/** What we use of the untyped `cap` addon. */
interface CapHandle {
  open(device: string, filter: string, bufferSize: number, buffer: Buffer): string;
  close(): void;
  on(event: 'packet', listener: (nbytes: number, truncated: boolean) => void): void;
  removeAllListeners(event?: string): void;
}
interface CapModule {
  Cap: { new (): CapHandle; deviceList(): DeviceInfo[] };
}

export interface DeviceInfo {
  name: string;
  description?: string;
  addresses: { addr: string; netmask?: string; broadaddr?: string }[];
  flags?: string;
}

export interface LiveOptions {
  interfaces: string[];
  /** BPF expression (pcap-filter(7)); empty = everything. */
  filter?: string;
  /** Bytes kept per packet; the cap binding's own limit is 65535. */
  snaplen?: number;
  /** libpcap's kernel buffer size in bytes. */
  bufferSize?: number;
  /** Closing the capture when aborted. */
  signal?: AbortSignal;
  /** Packets held between libpcap and the consumer before new ones are counted as lost. */
  queuePackets?: number;
  /** Bytes held likewise. */
  queueBytes?: number;
  /** Most packets per yielded batch. */
  batchSize?: number;
  /** Capture helper: its memory ring between libpcap and shark, in bytes (default 64 MiB). */
  ringSize?: number;
  /** Capture helper: an on-disk spool taking packets when the ring is full, in bytes (default none). */
  spoolSize?: number;
  /** Capture helper: where the spool file lives (default $TMPDIR or /tmp; unlinked at once). */
  spoolDir?: string;
  /**
   * Capture helper: libpcap's immediate mode (one ring slot per packet)
   * instead of 10 ms blocks. Per-pod capture wants it: after a filter change
   * libpcap re-filters the next unread block in userland, where `ifindex`
   * (a kernel ancillary field) never matches, so a whole block would be lost
   * rather than one packet.
   */
  immediate?: boolean;
  /** Capture helper: how often it reports its counters (default 1 s). */
  statsIntervalMs?: number;
  /**
   * Who captures: the helper process when it is built (default), or `cap` in
   * this process. $SHARK_CAPTURE_HELPER=off forces `cap` for `auto`.
   */
  capturer?: 'auto' | 'helper' | 'cap';
}

export interface LiveStats {
  /** Packets libpcap handed us (including those we then lost). */
  received: number;
  /**
   * Packets the interface counters saw but libpcap never delivered; undefined
   * when it cannot be told (a BPF filter is set, or a pseudo interface like
   * `any`): the cap binding exposes no pcap_stats().
   */
  kernelDropped: number | undefined;
  /** Interface rx drops during the capture (/sys/class/net/IF/statistics/rx_dropped). */
  ifDropped: number;
  /** Packets our queue had no room for because the consumer was too slow. */
  lost: number;
  /** Where packet times come from: the kernel (capture helper) or shark's clock when dequeued (cap). */
  timestamps?: 'kernel' | 'shark';
  /** Capture helper: packets handed to shark so far. */
  delivered?: number;
  /** Capture helper: new flows shed whole because shark was too far behind. */
  shedFlows?: number;
  /** Capture helper: packets of shed flows (and non-flow packets while shedding). */
  shedPackets?: number;
  /** Capture helper: shed flows by "tcp/80", "udp/53" … (the flow's server port). */
  shedByPort?: Record<string, number>;
  /** Capture helper: bytes queued in its memory ring and on-disk spool. */
  ringBytes?: number;
  spoolBytes?: number;
  /** Capture helper: age of the oldest packet not yet handed to shark, in ms. */
  lagMs?: number;
}

export interface LiveCapture {
  /** One description per opened interface, in `interfaceId` order. */
  readonly interfaces: CaptureInterface[];
  batches(): AsyncGenerator<Packet[]>;
  /** Replace the BPF filter on every interface (a bad filter throws and leaves the old one). */
  setFilter(bpf: string): void;
  stats(): LiveStats;
  /** Stop capturing; queued packets are still yielded, then batches() ends. */
  close(): void;
  readonly closed: boolean;
}

const require = createRequire(import.meta.url);
let capModule: CapModule | undefined;
function cap(): CapModule {
  capModule ??= require('cap') as CapModule;
  return capModule;
}

/**
 * Handles whose open() threw. cap's destructor would uv_poll_stop() a poll
 * handle it never initialised (a crash when the GC runs), so they are kept
 * reachable for the life of the process.
 */
const failedHandles: CapHandle[] = [];

/**
 * Handles closed while the process goes on (setFilter replaces them). cap's
 * close() stops its uv_poll but never uv_close()s it, so if the GC freed the
 * handle, libuv's handle list would point into freed memory (agents crashed
 * with SIGSEGV a while after a filter change). Kept reachable instead.
 */
const closedHandles: CapHandle[] = [];

/** The cap binding sets libpcap's snaplen to 65535; more cannot be asked for. */
export const MAX_SNAPLEN = 65535;

export function listInterfaces(): DeviceInfo[] {
  return cap().Cap.deviceList();
}

/** `tcpdump -D` style lines: "1.eth0 [Up, Running]" → here "1.eth0 (description) addresses". */
export function formatInterfaceList(devices: DeviceInfo[]): string {
  return devices
    .map((d, i) => {
      const parts = [`${i + 1}.${d.name}`];
      if (d.description) parts.push(`(${d.description})`);
      const addrs = d.addresses.map((a) => a.addr).filter(Boolean);
      if (addrs.length > 0) parts.push(`[${addrs.join(', ')}]`);
      if (d.flags) parts.push(`{${d.flags.replace(/PCAP_IF_/g, '').toLowerCase()}}`);
      return parts.join(' ');
    })
    .join('\n');
}

/** cap reports the link type as a name (or "Unknown linktype N" with the DLT). */
function linkTypeOf(name: string): number {
  switch (name) {
    case 'NULL':
      return LinkType.NULL;
    case 'ETHERNET':
      return LinkType.ETHERNET;
    case 'IEEE802_11_RADIO':
      return 127;
    case 'LINKTYPE_LINUX_SLL':
      return LinkType.LINUX_SLL;
    case 'RAW':
      return LinkType.RAW;
  }
  const m = /Unknown linktype (\d+)/.exec(name);
  if (!m) return LinkType.ETHERNET;
  const dlt = Number(m[1]);
  // DLT and LINKTYPE agree above 104; the few below that differ are mapped.
  if (dlt === 12 || dlt === 14) return LinkType.RAW;
  return dlt;
}

/**
 * Length on the wire. cap passes only the captured length, and libpcap cuts
 * at 65535 without saying so (GSO frames are larger), so the IP header's own
 * length is believed when it says more.
 */
export function wireLength(linkType: number, data: Buffer): number {
  let off: number;
  let proto: number;
  if (linkType === LinkType.ETHERNET) {
    if (data.length < 14) return data.length;
    off = 14;
    proto = data.readUInt16BE(12);
    while ((proto === 0x8100 || proto === 0x88a8) && data.length >= off + 4) {
      proto = data.readUInt16BE(off + 2);
      off += 4;
    }
  } else if (linkType === LinkType.LINUX_SLL) {
    if (data.length < 16) return data.length;
    off = 16;
    proto = data.readUInt16BE(14);
  } else if (linkType === LinkType.RAW) {
    off = 0;
    proto = data.length > 0 && data[0] >> 4 === 6 ? 0x86dd : 0x0800;
  } else return data.length;
  if (proto === 0x0800 && data.length >= off + 4) {
    return Math.max(data.length, off + data.readUInt16BE(off + 2));
  }
  if (proto === 0x86dd && data.length >= off + 6) {
    const payload = data.readUInt16BE(off + 4);
    // payload 0 = jumbogram or a TSO frame: unknown, keep what we have.
    return payload === 0 ? data.length : Math.max(data.length, off + 40 + payload);
  }
  return data.length;
}

/** Wall clock anchored once and advanced with the monotonic clock: no jumps, ns digits. */
function makeClock(): () => [number, number] {
  const anchorNs = BigInt(Date.now()) * 1_000_000n;
  const hrStart = process.hrtime.bigint();
  return () => {
    const ns = anchorNs + (process.hrtime.bigint() - hrStart);
    return [Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n)];
  };
}

interface IfCounters {
  packets: number;
  dropped: number;
}

/** Kernel interface counters, undefined for pseudo devices (any, nflog …). */
function readCounters(name: string): IfCounters | undefined {
  try {
    const dir = `/sys/class/net/${name}/statistics/`;
    const read = (f: string) => Number(readFileSync(dir + f, 'utf8').trim());
    const rx = read('rx_packets');
    // On loopback libpcap sees each packet once (the outgoing copy is skipped).
    const tx = name === 'lo' ? 0 : read('tx_packets');
    return { packets: rx + tx, dropped: read('rx_dropped') };
  } catch {
    return undefined;
  }
}

function classifyOpenError(iface: string, message: string): UserError {
  if (/permission|not permitted|EPERM|EACCES/i.test(message)) {
    return new UserError(
      `${iface}: permission denied — needs CAP_NET_RAW (and CAP_NET_ADMIN for promiscuous mode); run as root or setcap`,
      ExitCode.CAPTURE,
    );
  }
  if (/no such device/i.test(message)) return noSuchInterface(iface);
  return new UserError(`${iface}: cannot capture: ${message}`, ExitCode.CAPTURE);
}

function noSuchInterface(iface: string): UserError {
  return new UserError(`no such interface '${iface}' (see shark tap --list-interfaces)`, ExitCode.CAPTURE);
}

/** Open one cap handle; failures become the one-line errors users can act on. */
function openHandle(iface: string, filter: string, bufferSize: number, buffer: Buffer): { handle: CapHandle; linkType: number } {
  const { Cap } = cap();
  const handle = new Cap();
  try {
    const name = handle.open(iface, filter, bufferSize, buffer);
    return { handle, linkType: linkTypeOf(name) };
  } catch (err) {
    failedHandles.push(handle);
    const message = (err as Error).message;
    if (filter !== '') {
      // cap compiles the filter after activating the device: if the device
      // opens without the filter, the filter was what libpcap refused.
      const probe = new Cap();
      let deviceOk = false;
      try {
        probe.open(iface, '', 1 << 16, Buffer.alloc(64));
        deviceOk = true;
      } catch {
        failedHandles.push(probe);
      }
      if (deviceOk) {
        probe.close();
        return badFilter(filter, message);
      }
    }
    throw classifyOpenError(iface, message);
  }
}

function badFilter(filter: string, message: string): never {
  throw new UserError(`bad filter '${filter}': ${message}`, ExitCode.USAGE);
}

interface Source {
  name: string;
  handle: CapHandle;
  buffer: Buffer;
  linkType: number;
  countersAtStart: IfCounters | undefined;
}

let fallbackNoted = false;

/**
 * Live capture through the capture helper when it is built (kernel
 * timestamps, a ring decoupled from dissection, spool, shedding), else
 * through `cap` in this process, said once on stderr with the reason.
 */
export function openLive(opts: LiveOptions): LiveCapture {
  const capturer = opts.capturer ?? 'auto';
  const off = process.env.SHARK_CAPTURE_HELPER === 'off';
  if (capturer === 'helper' || (capturer === 'auto' && !off)) {
    const path = findHelper();
    if (path) return openHelperCapture(path, opts);
    if (capturer === 'helper') {
      throw new UserError(`capture helper not built (looked for ${helperCandidates().join(', ')}): run bash native/capture/build.sh`, ExitCode.CAPTURE);
    }
  }
  const capture = openCapLive(opts);
  // Said once the capture is open: an error opening it stays the one line users see.
  if (capturer === 'auto' && !fallbackNoted) {
    fallbackNoted = true;
    const why = off
      ? 'SHARK_CAPTURE_HELPER=off'
      : `capture helper not built (looked for ${helperCandidates().join(', ')}; bash native/capture/build.sh builds it)`;
    const ignored = opts.ringSize !== undefined || opts.spoolSize ? '; --ring/--spool do not apply' : '';
    process.stderr.write(`shark: ${why}: capturing in-process with cap, timestamps from shark's clock when packets are dequeued${ignored}\n`);
  }
  return capture;
}

function openCapLive(opts: LiveOptions): LiveCapture {
  if (opts.interfaces.length === 0) throw new UserError('no interface given (-i IFACE)', ExitCode.USAGE);
  const known = new Set(listInterfaces().map((d) => d.name));
  for (const name of opts.interfaces) {
    if (!known.has(name)) throw noSuchInterface(name);
  }
  const snaplen = Math.max(64, Math.min(opts.snaplen ?? MAX_SNAPLEN, MAX_SNAPLEN));
  const bufferSize = opts.bufferSize ?? 32 * 1024 * 1024;
  const queuePackets = opts.queuePackets ?? 200_000;
  const queueBytes = opts.queueBytes ?? 128 * 1024 * 1024;
  const batchSize = opts.batchSize ?? 1024;
  let filter = opts.filter ?? '';
  const now = makeClock();

  let queue: Packet[] = [];
  let queuedBytes = 0;
  let frame = 0;
  let received = 0;
  let lost = 0;
  let closed = false;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };

  const listen = (src: Source, interfaceId: number) => {
    src.handle.on('packet', (nbytes: number) => {
      received++;
      if (closed) return;
      if (queue.length >= queuePackets || queuedBytes + nbytes > queueBytes) {
        lost++;
        return;
      }
      const [tsSec, tsNsec] = now();
      // Copy before anything else runs: cap overwrites this buffer next packet.
      const data = Buffer.allocUnsafe(nbytes);
      src.buffer.copy(data, 0, 0, nbytes);
      queue.push({
        tsSec,
        tsNsec,
        linkType: src.linkType,
        data,
        origLen: wireLength(src.linkType, data),
        interfaceId,
        frame: ++frame,
      });
      queuedBytes += nbytes;
      if (wake) notify();
    });
  };

  const sources: Source[] = [];
  try {
    for (const name of opts.interfaces) {
      const buffer = Buffer.alloc(snaplen);
      const { handle, linkType } = openHandle(name, filter, bufferSize, buffer);
      const src: Source = { name, handle, buffer, linkType, countersAtStart: readCounters(name) };
      sources.push(src);
      listen(src, sources.length - 1);
    }
  } catch (err) {
    for (const s of sources) s.handle.close();
    throw err;
  }

  const interfaces: CaptureInterface[] = sources.map((s) => ({
    linkType: s.linkType,
    snaplen,
    name: s.name,
    tsUnitsPerSec: 1e9,
  }));

  let finalStats: LiveStats | undefined;
  const measure = (): LiveStats => {
    let ifDropped = 0;
    let wire: number | undefined = filter === '' ? 0 : undefined;
    for (const s of sources) {
      const nowCounters = readCounters(s.name);
      if (!nowCounters || !s.countersAtStart) {
        wire = undefined;
        continue;
      }
      ifDropped += Math.max(0, nowCounters.dropped - s.countersAtStart.dropped);
      if (wire !== undefined) wire += nowCounters.packets - s.countersAtStart.packets;
    }
    return {
      received,
      kernelDropped: wire === undefined ? undefined : Math.max(0, wire - received),
      ifDropped,
      lost,
      timestamps: 'shark',
    };
  };

  const close = () => {
    if (closed) return;
    finalStats = measure();
    closed = true;
    for (const s of sources) {
      s.handle.removeAllListeners('packet');
      s.handle.close();
      closedHandles.push(s.handle);
    }
    opts.signal?.removeEventListener('abort', close);
    notify();
  };
  if (opts.signal?.aborted) close();
  else opts.signal?.addEventListener('abort', close, { once: true });

  return {
    interfaces,
    get closed() {
      return closed;
    },
    stats: () => finalStats ?? measure(),
    close,
    setFilter(bpf: string) {
      if (closed) return;
      for (let i = 0; i < sources.length; i++) {
        const old = sources[i];
        // Open the replacement first so a bad filter leaves the old one running.
        const buffer = Buffer.alloc(snaplen);
        const { handle, linkType } = openHandle(old.name, bpf, bufferSize, buffer);
        const next: Source = { ...old, handle, buffer, linkType };
        old.handle.removeAllListeners('packet');
        old.handle.close();
        closedHandles.push(old.handle);
        sources[i] = next;
        listen(next, i);
      }
      filter = bpf;
    },
    async *batches(): AsyncGenerator<Packet[]> {
      try {
        while (true) {
          if (queue.length === 0) {
            if (closed) return;
            await new Promise<void>((resolve) => (wake = resolve));
            continue;
          }
          let batch: Packet[];
          if (queue.length <= batchSize) {
            batch = queue;
            queue = [];
          } else {
            batch = queue.slice(0, batchSize);
            queue = queue.slice(batchSize);
          }
          for (const p of batch) queuedBytes -= p.data.length;
          yield batch;
        }
      } finally {
        close();
      }
    },
  };
}
