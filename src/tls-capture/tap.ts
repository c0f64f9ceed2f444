// `shark tap --tls`: plaintext of TLS calls, captured by eBPF uprobes on the
// TLS libraries (loader.ts), turned into TCP segments per connection
// (connections.ts) and dissected by the same engine as packets, so every
// protocol shark knows is seen inside TLS. Entries get `tls: true` and the
// hooked process(es). Losses (ring full, calls too large to copy whole, calls
// whose socket was not known) are counted and said in the summary, like
// packet drops.

import type { Entry, ProcessInfo } from '../model/entry.js';
import type { Packet } from '../model/packet.js';
import type { DissectionEngine, EngineOptions } from '../dissect/engine.js';
import { dissectPackets } from '../dissect/dissect-packets.js';
import type { LineSink } from '../output/stdout-sink.js';
import { describeLosses } from '../input/dissect-run.js';
import { ConnectionTable, endpointKey, processAt, type ProcessRef } from './connections.js';
import { MAX_WAITING, OtherEndWait } from './other-end-wait.js';
import type { TlsCounters, TlsEvent } from './frames.js';
import { WriteOrder, WRITE_WAIT_MS } from './write-order.js';
import { teachesRedaction } from '../redact/teaching.js';
import { startLoader, type RunningLoader } from './loader.js';
import { goProbes, goSpec, goVersion, watchGoBinaries } from './go-binaries.js';
import { watchUnhookedTls, type UnhookedProcess } from './unhooked.js';
import type { ProcessIdentities } from './process-identity.js';
import type { PodSelection } from './pod-selection.js';

export interface TlsTapOptions {
  /** Files hooked from the start; others are found in processes' maps when `scan`. */
  libs: string[];
  scan: boolean;
  ringSize?: number;
  durationMs?: number;
  count?: number;
  signal: AbortSignal;
  sink: LineSink;
  transforms?: ((e: Entry) => Entry | void)[];
  keep?: (e: Entry) => boolean;
  /** Shown the entries `keep` refuses that may teach redaction (redact/teaching.ts): the redactor, which then writes nothing. */
  teach?: (e: Entry) => void;
  engine?: Partial<EngineOptions>;
  /** Told once the probes are attached: traffic from then on is seen. */
  onReady?: (attached: string[]) => void;
  /** Loader warnings and files hooked later, one line each. */
  onNote?: (line: string) => void;
  /** Names each process's container and pod uid from its cgroup (the node agent). */
  identities?: ProcessIdentities;
  /** Keep only the calls of processes in these pods (the agent told the tapped pods); needs `identities`. */
  selection?: PodSelection;
  /** Given, once the loader runs, a view of the counters so far (the agent reports them every few seconds). */
  live?: (now: () => TlsTapResult) => void;
}

export interface TlsTapResult {
  entries: number;
  filtered: number;
  events: number;
  /** Events of processes outside the selected pods, dropped before dissection. */
  otherPods: number;
  kernel?: TlsCounters;
  identities?: ProcessIdentities['counters'];
  table: ConnectionTable['counters'];
  /** Reads put after a write that was still in flight (write-order.ts). */
  order?: WriteOrder['counters'];
  /** Processes whose TLS library --tls does not hook (unhooked.ts), by library. */
  unhooked?: Record<string, number>;
  counters?: Record<string, number>;
}

export async function runTlsTap(opts: TlsTapOptions): Promise<TlsTapResult> {
  // Go binaries named with --tls-lib are hooked through crypto/tls, the rest as OpenSSL.
  const libs: string[] = [];
  const go: string[] = [];
  const goPaths: string[] = [];
  for (const path of opts.libs) {
    if (!goVersion(path)) {
      libs.push(path);
      continue;
    }
    const p = await goProbes(path);
    if ('skip' in p) opts.onNote?.(`${path}: ${p.skip}`);
    else {
      go.push(goSpec(p));
      goPaths.push(path);
    }
  }
  const loader = await startLoader({ libs, go, scan: opts.scan, ringSize: opts.ringSize });
  opts.onReady?.([...loader.attached]);
  // Binaries found running are hooked through an open file (/proc/<pid>/fd/N): their notes name them by their path.
  const labels = new Map<string, string>();
  const hookFound = (spec: string, p: { path: string }, label: string) => {
    labels.set(p.path, label);
    loader.hookGo(spec);
  };
  const stopWatching = opts.scan ? watchGoBinaries(hookFound, (line) => opts.onNote?.(line), undefined, goPaths) : undefined;
  // What --tls cannot see is said, once per process, not left for the user to guess from missing calls.
  const unhooked: Record<string, number> = {};
  const sayUnhooked = (p: UnhookedProcess): void => {
    unhooked[p.library] = (unhooked[p.library] ?? 0) + 1;
    opts.onNote?.(`not hooked: ${p.exe ?? p.comm} (pid ${p.pid}) uses ${p.library}, which shark does not hook: its TLS traffic is not seen`);
  };
  // The agent says only what concerns the tapped pods (the node's other processes are not the user's question).
  const selection = opts.selection;
  const unhookedWatch = opts.scan ? watchUnhookedTls(sayUnhooked, { wanted: selection ? (id) => selection.allows(id) : undefined }) : undefined;
  const named = (text: string): string => {
    for (const [path, label] of labels) if (text.includes(path)) return text.replace(path, label);
    return text;
  };
  const seenAttached = loader.attached.length;
  const table = new ConnectionTable();
  const order = new WriteOrder();
  const result: TlsTapResult = { entries: 0, filtered: 0, events: 0, otherPods: 0, table: table.counters, order: order.counters, identities: opts.identities?.counters, unhooked };
  opts.live?.(() => ({ ...result, kernel: loader.counters() }));
  const stop = () => loader.stop();
  opts.signal.addEventListener('abort', stop, { once: true });
  const timer = opts.durationMs !== undefined ? setTimeout(stop, opts.durationMs) : undefined;
  let engine: DissectionEngine | undefined;
  const limit = opts.count ?? Infinity;
  const waiting = new OtherEndWait(table);
  let pumpTimer: NodeJS.Timeout | undefined;
  try {
    const entries = dissectPackets(packets(loader, order, table, result, seenAttached, { ...opts, named }), {
      reorderWindowMs: 1000,
      ...opts.engine,
      live: true,
      engineRef: (e) => (engine = e),
    });
    const done = (): boolean => result.entries >= limit || opts.sink.closed;
    const write = async (e: Entry): Promise<void> => {
      annotate(e, table);
      if (opts.keep && !opts.keep(e)) {
        result.filtered++;
        // A refused login may say what a kept answer's secret is.
        if (opts.teach && teachesRedaction(e)) opts.teach(e);
        return;
      }
      for (const t of opts.transforms ?? []) e = t(e) ?? e;
      const wait = opts.sink.write(JSON.stringify(e));
      if (wait) await wait;
      result.entries++;
    };
    // Entries wait briefly for their other end's events (other-end-wait.ts); a timer lets them go while no event comes.
    let writing: Promise<void> = Promise.resolve();
    const pump = (all = false): Promise<void> =>
      (writing = writing.then(async () => {
        for (const e of waiting.ready(all)) {
          if (done()) break;
          await write(e);
        }
        await opts.sink.flush();
        // Stopping the loader ends the stream; the engine then flushes what is pending.
        if (done()) stop();
      }));
    // A failed write surfaces at the next awaited pump (the chain stays rejected).
    pumpTimer = setInterval(() => pump().catch(() => undefined), 100);
    for await (const batch of entries) {
      for (const e of batch) waiting.add(e);
      await pump();
      if (done()) break;
    }
    clearInterval(pumpTimer);
    await pump(true);
  } finally {
    if (pumpTimer) clearInterval(pumpTimer);
    if (waiting.cutShort > 0) opts.onNote?.(`${waiting.cutShort} entries named before their other end could be (over ${MAX_WAITING} waiting)`);
    if (timer) clearTimeout(timer);
    stopWatching?.();
    unhookedWatch?.stop();
    opts.signal.removeEventListener('abort', stop);
    stop();
    await loader.exited;
    await opts.sink.flush();
    result.kernel = loader.counters();
    if (engine) result.counters = engine.summary();
  }
  return result;
}

async function* packets(
  loader: RunningLoader,
  order: WriteOrder,
  table: ConnectionTable,
  result: TlsTapResult,
  announced: number,
  opts: Pick<TlsTapOptions, 'onNote' | 'identities' | 'selection'> & { named: (text: string) => string },
): AsyncGenerator<Packet[]> {
  const note = opts.onNote;
  const ready: TlsEvent[] = [];
  const toPackets = (): Packet[] => {
    const batch: Packet[] = [];
    for (const ev of ready) {
      // Named at the process's first event (it may exit soon after: process-identity.ts).
      const who = opts.identities?.identify(ev.pid, ev.cgroupId);
      for (const p of table.onEvent(ev, who)) batch.push(p);
    }
    ready.length = 0;
    return batch;
  };
  // An empty batch when the loader is quiet (loader.ts): a read held for its write still goes in time.
  for await (const frames of loader.frames) {
    for (const f of frames) {
      if (f.type === 'event') {
        const ev = f.event;
        const who = opts.identities?.identify(ev.pid, ev.cgroupId);
        if (opts.selection && !(who && opts.selection.allows(who))) {
          if (ev.kind === 'data') result.otherPods++;
          continue;
        }
        if (ev.kind === 'data') result.events++;
        order.push(ev, ready);
      } else if (f.type === 'warning') note?.(opts.named(f.message));
      else if (f.type === 'attached' && loader.attached.length > announced) {
        announced = loader.attached.length;
        // A Go binary found running comes with its label (path and pid), not a pid of its own.
        note?.(f.pid > 0 ? `hooked ${f.path} (found in pid ${f.pid})` : `hooked ${opts.named(f.path)}`);
      }
    }
    order.expire(ready);
    const batch = toPackets();
    if (batch.length > 0) yield batch;
  }
  order.flush(ready);
  const rest = toPackets();
  if (rest.length > 0) yield rest;
}

/** `tls: true` and the processes at the connection's ends (client end first when both were hooked). */
export function annotate(e: Entry, table: ConnectionTable): void {
  const procs = table.processes(e.src, e.dst);
  if (!procs) return;
  e.tls = true;
  const frame = e.frames?.request ?? e.frames?.response;
  const client = processAt(procs, endpointKey(e.src), frame);
  const server = processAt(procs, endpointKey(e.dst), frame);
  const info = (p: ProcessRef, role: ProcessInfo['role']): ProcessInfo => ({
    pid: p.pid,
    comm: p.comm,
    role,
    ...(p.container ? { container: p.container } : {}),
    ...(p.podUid ? { podUid: p.podUid } : {}),
  });
  if (client) {
    e.process = info(client, 'client');
    if (server) e.peerProcess = info(server, 'server');
  } else if (server) e.process = info(server, 'server');
}

/** "412 events, 0 lost (ring full), …" for the summary line. */
export function tlsSummary(r: TlsTapResult): string {
  const k = r.kernel;
  const parts = [`${r.events} TLS events`];
  if (k) {
    parts.push(`${k.lostEvents} lost (ring full${k.lostEvents > 0 ? `, ${k.lostBytes} bytes; raise --tls-ring-size` : ''})`);
    if (k.skippedBytes > 0) parts.push(`${k.skippedBytes} bytes of calls over 16 MiB not copied`);
    if (k.noFd > 0) parts.push(`${k.noFd} calls with no known socket`);
    if (k.fdInferred > 0) parts.push(`${k.fdInferred} memory-BIO calls tied to their socket by the thread's socket I/O`);
    if (k.readFailed > 0) parts.push(`${k.readFailed} chunks unreadable`);
    if (k.activeFull > 0) parts.push(`${k.activeFull} calls missed (in-flight table full)`);
  } else parts.push('kernel counters unknown');
  if (r.otherPods > 0) parts.push(`${r.otherPods} events of processes outside the tapped pods dropped`);
  const id = r.identities;
  if (id) {
    parts.push(`processes named: ${id.fromProc} from /proc, ${id.fromCgroupId} by cgroup id (already exited), ${id.noContainer} in no container`);
    if (id.indexFull > 0) parts.push(`cgroup index full ${id.indexFull} times`);
    if (id.evicted > 0) parts.push(`${id.evicted} processes forgotten (table full)`);
  }
  const t = r.table;
  const unhooked = Object.entries(r.unhooked ?? {});
  if (unhooked.length > 0) {
    const n = unhooked.reduce((sum, [, c]) => sum + c, 0);
    parts.push(`${n} ${n === 1 ? 'process' : 'processes'} whose TLS --tls cannot see (${unhooked.map(([lib, c]) => `${lib}: ${c}`).join(', ')})`);
  }
  parts.push(`${t.connections} connections`);
  if (t.shared > 0) parts.push(`${t.shared} used by more than one process (a forked child, an fd passed on)`);
  if (t.bothEnds > 0) parts.push(`${t.bothEnds} seen at both ends (one entry each call)`);
  if (t.gaps > 0) parts.push(`${t.gaps} gaps (${t.gapBytes} bytes${t.gapsBothEnds > 0 ? `; ${t.gapsBothEnds} on connections hooked at both ends, not filled from the other end's copy` : ''})`);
  if (t.stale > 0) parts.push(`${t.stale} stale events dropped (${t.staleBytes} bytes already passed on)`);
  if (t.notInet > 0) parts.push(`${t.notInet} events on non-inet fds skipped`);
  if (t.noAddress > 0) parts.push(`${t.noAddress} events on sockets with no address (port 0) skipped (${t.noAddressBytes} bytes)`);
  if (t.evicted > 0) parts.push(`${t.evicted} connections evicted (table full)`);
  const o = r.order;
  if (o && (o.held > 0 || o.closesHeld > 0)) {
    if (o.held > 0) parts.push(`${o.held} reads put after a write still in flight on their socket`);
    if (o.closesHeld > 0) parts.push(`${o.closesHeld} closes put after a write still in flight on their socket`);
    if (o.timedOut > 0) parts.push(`${o.timedOut} of them let go after ${WRITE_WAIT_MS} ms without it`);
    if (o.cutShort > 0) parts.push(`${o.cutShort} holds let go early (too much held)`);
  }
  parts.push(`${r.entries} entries`);
  const losses = r.counters ? describeLosses(r.counters) : undefined;
  if (losses) parts.push(`lost or damaged: ${losses}`);
  return parts.join(', ');
}
