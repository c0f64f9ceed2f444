// `shark record` as a library: one run = take the lock, finish what a killed
// run left, apply retention, record into a new folder (rotated capture files
// + dissected entries + manifest.json), apply retention again, release.
// Every file is written under a temporary name and renamed when whole, so a
// folder never holds a half file; a folder still marked INCOMPLETE is a run
// that died, and the next run completes it.

import { existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { ExitCode, UserError, errnoText } from '../cli/errors.js';
import { formatSize } from '../cli/units.js';
import type { DissectionEngine, EngineOptions } from '../dissect/engine.js';
import { dissectPackets } from '../dissect/dissect-packets.js';
import { dissectLiveParallel } from '../tap/live-workers.js';
import { describeLosses, lossCounters } from '../input/dissect-run.js';
import type { KubeConfigFlags } from '../k8s/kubeconfig.js';
import type { Entry } from '../model/entry.js';
import { packetTimeMs, type CaptureInterface, type Packet } from '../model/packet.js';
import { openLive, type LiveCapture, type LiveOptions } from '../capture/live.js';
import { openCapture } from '../capture/reader.js';
import { detectKind, sniff } from '../input/entries.js';
import { readNdjson } from '../ndjson/read.js';
import { entryJson } from '../ndjson/stringify.js';
import { followCluster } from './cluster-context.js';
import { acquireLock } from './lock.js';
import {
  INCOMPLETE,
  MANIFEST,
  MANIFEST_VERSION,
  type IncompleteMarker,
  type Manifest,
  type ManifestFile,
  type StopReason,
} from './manifest.js';
import { encodingFor, type CaptureEncoding } from './pcap-encoding.js';
import { recoverAll, type RecoveryReport } from './recovery.js';
import { applyRetention, folderStamp, listRecordings, planRetention, type RetentionPolicy } from './retention.js';
import { FileSeries, type SeriesFile } from './rotation.js';
import { syncDir, writeFileAtomic } from './safe-file.js';

export type RecordSource =
  | { kind: 'live'; interfaces: string[]; filter?: string; snaplen?: number; bufferSize?: number; buffers?: Pick<LiveOptions, 'ringSize' | 'spoolSize' | 'spoolDir'> }
  | { kind: 'stream'; stream: Readable; name: string };

export interface RecordOptions extends RetentionPolicy {
  name: string;
  outDir: string;
  source: RecordSource;
  durationMs?: number;
  maxPackets?: number;
  /** Stop when no packet (or entry) arrived for this long. */
  untilIdleMs?: number;
  rotateBytes?: number;
  rotateEveryMs?: number;
  gzip?: boolean;
  /** Dissect packets into entries (default true). */
  entries?: boolean;
  /** Applied to every entry written to the entry files (redaction); the pcap files keep the packets as captured. */
  redact?: (e: Entry) => Entry;
  engine?: Partial<EngineOptions>;
  /** Live input: dissect on this many worker threads (src/tap/live-workers.ts). */
  workers?: number;
  command: string[];
  /** Take a cluster snapshot for the manifest (undefined: do not). */
  kube?: KubeConfigFlags;
  /** The clock for folder names, manifest times and retention ages (tests inject one). */
  now?: () => Date;
  signal: AbortSignal;
  /** Told once the source is open (live: capturing). */
  onReady?: () => void;
  /** Human notes: recovered runs, stale locks, deleted recordings. */
  onNote?: (line: string) => void;
  /** A bad entry line skipped (not JSON, a field of the wrong type): said even with --quiet. */
  onBadLine?: (line: string) => void;
}

export interface RecordResult {
  folder: string;
  path: string;
  manifest: Manifest;
  recovered: RecoveryReport[];
  removed: string[];
  staleLockFrom?: number;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const MAX_NAME = 200;
const DISK_ERRORS = new Set(['ENOSPC', 'EDQUOT', 'EFBIG', 'EIO', 'EROFS', 'EACCES', 'EPERM']);

function isDiskError(err: unknown): err is NodeJS.ErrnoException {
  return typeof err === 'object' && err !== null && DISK_ERRORS.has((err as NodeJS.ErrnoException).code ?? '');
}

function diskErrorText(err: NodeJS.ErrnoException): string {
  if (err.code === 'ENOSPC' || err.code === 'EDQUOT') return 'disk full';
  if (err.code === 'EFBIG') return 'file too large for the filesystem';
  if (err.code === 'EACCES' || err.code === 'EPERM') return 'permission denied';
  return `write failed (${err.code})`;
}

/** Stop signal shared by timers, limits and Ctrl-C; `reason` is the first cause. */
class Stopper {
  reason: StopReason | undefined;
  private listeners: (() => void)[] = [];
  readonly promise: Promise<void>;
  private resolve!: () => void;
  constructor() {
    this.promise = new Promise((r) => (this.resolve = r));
  }
  stop(reason: StopReason): void {
    if (this.reason) return;
    this.reason = reason;
    this.resolve();
    for (const l of this.listeners) l();
  }
  onStop(l: () => void): void {
    if (this.reason) l();
    else this.listeners.push(l);
  }
}

/** Iterate until the iterable ends or `stopper` fires (a stdin read may never return otherwise). */
async function* untilStopped<T>(source: AsyncIterable<T>, stopper: Stopper): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  try {
    while (!stopper.reason) {
      const r = await Promise.race([it.next(), stopper.promise.then(() => 'stopped' as const)]);
      if (r === 'stopped' || r.done) return;
      yield r.value;
    }
  } finally {
    void it.return?.()?.catch(() => {});
  }
}

export async function record(opts: RecordOptions): Promise<RecordResult> {
  if (!NAME.test(opts.name)) {
    throw new UserError(`--name: '${opts.name}' may only hold letters, digits, '.', '_' and '-'`, ExitCode.USAGE);
  }
  // The name goes into file names (`.shark-record-NAME.lock`, `NAME-<stamp>`), which the file system caps at 255 bytes.
  if (opts.name.length > MAX_NAME) throw new UserError(`--name: at most ${MAX_NAME} characters (got ${opts.name.length})`, ExitCode.USAGE);
  const now = opts.now ?? (() => new Date());
  try {
    mkdirSync(opts.outDir, { recursive: true });
  } catch (err) {
    throw new UserError(`${opts.outDir}: cannot create the output folder (${errnoText((err as NodeJS.ErrnoException).code)})`, ExitCode.OUTPUT);
  }
  const lock = acquireLock(opts.outDir, opts.name);
  const note = opts.onNote ?? (() => {});
  try {
    if (lock.staleFrom !== undefined) note(`${lock.path}: took over the lock of a run that is gone (pid ${lock.staleFrom})`);
    const recovered = await recoverAll(opts.outDir, opts.name, now());
    for (const r of recovered) note(describeRecovery(r));
    const removed = applyRetention(opts.outDir, planRetention(listRecordings(opts.outDir, opts.name), opts, now().getTime()), opts.name);
    const result = await recordOnce(opts, now);
    result.recovered = recovered;
    result.staleLockFrom = lock.staleFrom;
    const after = planRetention(listRecordings(opts.outDir, opts.name), opts, now().getTime(), result.folder);
    result.removed = removed.concat(applyRetention(opts.outDir, after, opts.name));
    for (const f of result.removed) note(`removed old recording ${f} (retention)`);
    return result;
  } catch (err) {
    if (isDiskError(err)) throw new UserError(`${opts.outDir}: ${diskErrorText(err)}`, ExitCode.OUTPUT);
    throw err;
  } finally {
    lock.release();
  }
}

function newFolder(outDir: string, name: string, start: Date): { folder: string; path: string } {
  const base = `${name}-${folderStamp(start)}`;
  for (let i = 1; ; i++) {
    const folder = i === 1 ? base : `${base}-${i}`;
    const path = join(outDir, folder);
    if (existsSync(path) || existsSync(join(outDir, `.deleting-${folder}`))) continue;
    mkdirSync(path);
    return { folder, path };
  }
}

/** How often buffered records are looked at while the input may be paused (they are written once 1 s old). */
const FLUSH_CHECK_MS = 250;

interface RunState {
  packets: number;
  entries: number;
  capture?: LiveCapture;
  sourceKind: Manifest['source']['kind'];
  captureSeries?: FileSeries;
  entrySeries?: FileSeries;
  engine?: DissectionEngine;
  /** The workers' summed engine counters (--workers). */
  counters?: Record<string, number>;
}

/** A source opened before anything is written, so a bad interface, filter or stdin leaves no folder behind. */
type OpenedSource =
  | { kind: 'live'; capture: LiveCapture }
  | { kind: 'stream'; head: Buffer; rest: AsyncIterator<Buffer>; stream: Readable; name: string };

async function openSource(src: RecordSource): Promise<OpenedSource> {
  if (src.kind === 'live') {
    const capture = openLive({ interfaces: src.interfaces, filter: src.filter, snaplen: src.snaplen, bufferSize: src.bufferSize, ...src.buffers });
    return { kind: 'live', capture };
  }
  const { head, rest } = await sniff(src.stream);
  if (detectKind(head) === 'unknown') {
    throw new UserError(`${src.name}: neither a pcap/pcapng capture nor NDJSON entries at byte 0`, ExitCode.BAD_INPUT);
  }
  return { kind: 'stream', head, rest, stream: src.stream, name: src.name };
}

async function recordOnce(opts: RecordOptions, now: () => Date): Promise<RecordResult> {
  const source = await openSource(opts.source);
  const start = now();
  let created: { folder: string; path: string };
  try {
    created = newFolder(opts.outDir, opts.name, start);
  } catch (err) {
    if (source.kind === 'live') source.capture.close();
    throw err;
  }
  const { folder, path } = created;
  const sourceInfo: Manifest['source'] =
    opts.source.kind === 'live'
      ? { kind: 'live', interfaces: opts.source.interfaces, ...(opts.source.filter ? { filter: opts.source.filter } : {}) }
      : { kind: 'pcap' };
  const marker: IncompleteMarker = { pid: process.pid, name: opts.name, start: start.toISOString(), command: opts.command, source: sourceInfo };
  writeFileAtomic(join(path, INCOMPLETE), JSON.stringify(marker) + '\n');
  // The cluster at the start, then its changes appended beside the files while recording.
  const cluster = opts.kube ? followCluster(opts.kube, path) : undefined;

  const stopper = new Stopper();
  const state: RunState = { packets: 0, entries: 0, sourceKind: sourceInfo.kind };
  const timers: NodeJS.Timeout[] = [];
  let idleTimer: NodeJS.Timeout | undefined;
  const touch = () => {
    if (opts.untilIdleMs === undefined) return;
    if (idleTimer) clearTimeout(idleTimer);
    idleTimer = setTimeout(() => stopper.stop('idle'), opts.untilIdleMs);
  };
  const onAbort = () => stopper.stop('interrupted');
  if (opts.signal.aborted) onAbort();
  else opts.signal.addEventListener('abort', onAbort, { once: true });
  if (opts.durationMs !== undefined) timers.push(setTimeout(() => stopper.stop('duration'), opts.durationMs));
  // What is buffered reaches the disk within about a second even while the input pauses (a quiet
  // interface, a stalled pipe): flushIfDue ran only when the next batch came, so a run killed in a
  // pause lost up to 256 KB that had come before it. A write that fails here stops the run as one
  // failing on the data path does.
  let flushFailure: { err: unknown; file: string | undefined } | undefined;
  const flusher = setInterval(() => {
    if (flushFailure) return;
    for (const series of [state.captureSeries, state.entrySeries]) {
      try {
        series?.flushIfDue(Date.now());
      } catch (err) {
        flushFailure = { err, file: series?.currentPath };
        stopper.stop('disk-full');
        return;
      }
    }
  }, FLUSH_CHECK_MS);
  flusher.unref();
  timers.push(flusher);

  let failure: NodeJS.ErrnoException | undefined;
  let failedFile: string | undefined;
  try {
    touch();
    await runSource(opts, source, path, state, stopper, touch);
    if (flushFailure) throw flushFailure.err;
    if (!stopper.reason) stopper.stop('end-of-input');
  } catch (err) {
    if (!isDiskError(err)) throw err;
    failure = err;
    failedFile = flushFailure?.file ?? state.captureSeries?.currentPath ?? state.entrySeries?.currentPath;
    stopper.stop('disk-full');
    state.capture?.close();
  } finally {
    for (const t of timers) clearTimeout(t);
    if (idleTimer) clearTimeout(idleTimer);
    opts.signal.removeEventListener('abort', onAbort);
  }

  // Finish the files: normally, or keeping what reached the disk whole.
  const finished: { files: SeriesFile[]; kind: 'capture' | 'entries' }[] = [];
  const seriesList = [
    [state.captureSeries, 'capture'],
    [state.entrySeries, 'entries'],
  ] as const;
  for (const [series, kind] of seriesList) {
    if (!series) continue;
    let files: SeriesFile[];
    if (failure) files = series.salvage();
    else {
      try {
        files = series.close();
      } catch (err) {
        if (!isDiskError(err)) throw err;
        failure = err;
        failedFile = series.currentPath;
        files = series.salvage();
      }
    }
    finished.push({ files, kind });
  }

  const manifest: Manifest = {
    version: MANIFEST_VERSION,
    name: opts.name,
    start: start.toISOString(),
    end: now().toISOString(),
    status: failure ? 'disk-full' : 'complete',
    stopReason: failure ? 'disk-full' : stopper.reason,
    packets: 0,
    entries: 0,
    source: state.sourceKind === 'live' ? sourceInfo : { kind: state.sourceKind },
    command: opts.command,
    files: [],
  };
  for (const { files, kind } of finished) {
    for (const f of files) {
      const isCapture = kind === 'capture';
      const fileKind: ManifestFile['kind'] = isCapture ? (f.name.endsWith('.pcapng') ? 'pcapng' : 'pcap') : 'entries';
      const mf: ManifestFile = { name: f.name, kind: fileKind, bytes: f.bytes, sha256: f.sha256, count: f.count };
      if (f.firstTime !== undefined) mf.first = new Date(f.firstTime).toISOString();
      if (f.lastTime !== undefined) mf.last = new Date(f.lastTime).toISOString();
      manifest.files.push(mf);
      if (isCapture) manifest.packets += f.count;
      else manifest.entries += f.count;
    }
  }
  manifest.files.sort((a, b) => a.name.localeCompare(b.name));
  if (state.capture) {
    const s = state.capture.stats();
    manifest.dropped = {
      lost: s.lost,
      interface: s.ifDropped,
      ...(s.kernelDropped !== undefined ? { kernel: s.kernelDropped } : {}),
      // The capture helper shed whole new flows while dissection was too far behind.
      ...(s.shedFlows !== undefined ? { shedFlows: s.shedFlows, shedPackets: s.shedPackets ?? 0 } : {}),
    };
  }
  const counters = state.counters ?? state.engine?.summary();
  const losses = counters ? lossCounters(counters) : {};
  if (Object.keys(losses).length > 0) manifest.losses = losses;
  if (cluster) {
    const ctx = await cluster.initial;
    if ('cluster' in ctx) manifest.cluster = ctx.cluster;
    else manifest.clusterError = ctx.clusterError;
    const changes = await cluster.stop();
    if (changes) manifest.clusterChanges = changes;
  }

  let manifestWritten = false;
  try {
    writeFileAtomic(join(path, MANIFEST), JSON.stringify(manifest, null, 2) + '\n');
    unlinkSync(join(path, INCOMPLETE));
    syncDir(path);
    manifestWritten = true;
  } catch (err) {
    if (!isDiskError(err)) throw err;
    failure ??= err;
    failedFile ??= join(path, MANIFEST);
  }
  if (failure) {
    const kept = manifest.files.length;
    const note = manifestWritten
      ? `${kept} complete file${kept === 1 ? '' : 's'} kept, manifest written`
      : `${kept} complete file${kept === 1 ? '' : 's'} kept; the next run completes the manifest`;
    throw new UserError(
      `${failedFile ?? path}: ${diskErrorText(failure)} after ${counted(manifest.packets || state.packets, 'packet', 'packets')}; ${note}`,
      ExitCode.OUTPUT,
    );
  }
  return { folder, path, manifest, recovered: [], removed: [] };
}

async function runSource(
  opts: RecordOptions,
  src: OpenedSource,
  path: string,
  state: RunState,
  stopper: Stopper,
  touch: () => void,
): Promise<void> {
  if (src.kind === 'live') {
    const capture = src.capture;
    state.capture = capture;
    stopper.onStop(() => capture.close());
    opts.onReady?.();
    await recordPackets(opts, path, state, capture.batches(), () => capture.interfaces, stopper, touch, true);
    return;
  }
  stopper.onStop(() => src.stream.destroy());
  const rest = src.rest;
  const iterable = { [Symbol.asyncIterator]: () => rest };
  const kind = detectKind(src.head);
  opts.onReady?.();
  if (kind === 'empty' || kind === 'unknown') return;
  if (kind === 'ndjson') {
    state.sourceKind = 'ndjson';
    await recordEntries(opts, path, state, readNdjson(iterable, src.name, { prefix: src.head, onBadLine: opts.onBadLine }), stopper, touch);
    return;
  }
  state.sourceKind = kind;
  const reader = openCapture(src.head, iterable, src.name);
  await recordPackets(opts, path, state, reader.batches(), () => reader.interfaces, stopper, touch, false);
}

/** Entries are their own series (`nightly-entries-00001.ndjson`), rotated by the same rules. */
function entrySeriesFor(opts: RecordOptions, path: string): FileSeries {
  return new FileSeries({
    dir: path,
    base: `${opts.name}-entries`,
    extension: opts.gzip ? 'ndjson.gz' : 'ndjson',
    // An empty gzip member first, so even an entry-less file is valid gzip.
    header: opts.gzip ? () => gzipSync(Buffer.alloc(0)) : undefined,
    encodeUnit: opts.gzip ? (b) => gzipSync(b) : undefined,
    rotateBytes: opts.rotateBytes,
    rotateEveryMs: opts.rotateEveryMs,
  });
}

async function recordPackets(
  opts: RecordOptions,
  path: string,
  state: RunState,
  batches: AsyncIterable<Packet[]>,
  interfaces: () => CaptureInterface[],
  stopper: Stopper,
  touch: () => void,
  live: boolean,
): Promise<void> {
  let encoding: CaptureEncoding | undefined;
  const enc = () => (encoding ??= encodingFor(interfaces()));
  const captures = new FileSeries({
    dir: path,
    base: opts.name,
    // The file extension is decided when the first file opens (pcapng interfaces are known by then).
    get extension() {
      return enc().extension;
    },
    header: () => enc().header(),
    rotateBytes: opts.rotateBytes,
    rotateEveryMs: opts.rotateEveryMs,
  });
  state.captureSeries = captures;
  const wantEntries = opts.entries !== false;
  const entries = wantEntries ? entrySeriesFor(opts, path) : undefined;
  state.entrySeries = entries;
  const limit = opts.maxPackets ?? Infinity;

  const tee = async function* (): AsyncGenerator<Packet[]> {
    const source = live ? batches : untilStopped(batches, stopper);
    for await (let batch of source) {
      // A live capture still drains its queue after --packets stopped it.
      if (batch.length === 0 || state.packets >= limit) continue;
      touch();
      if (state.packets + batch.length >= limit) {
        batch = batch.slice(0, limit - state.packets);
        stopper.stop('packets');
      }
      for (const p of batch) captures.add(enc().record(p), packetTimeMs(p));
      state.packets += batch.length;
      captures.flushIfDue(Date.now());
      yield batch;
      if (stopper.reason && !live) return;
    }
  };

  if (!entries) {
    for await (const _ of tee()) void _;
    return;
  }
  const entryBatches =
    live && (opts.workers ?? 1) > 1
      ? dissectLiveParallel(tee(), { workers: opts.workers as number, engine: { ...opts.engine }, onSummary: (c) => (state.counters = c) })
      : dissectPackets(tee(), { ...opts.engine, live, engineRef: (e) => (state.engine = e) });
  for await (const batch of entryBatches) {
    addEntries(entries, batch, state, opts.redact);
    entries.flushIfDue(Date.now());
  }
}

function addEntries(series: FileSeries, batch: Entry[], state: RunState, redact: (e: Entry) => Entry = (e) => e): void {
  for (const e of batch) {
    series.add(Buffer.from(entryJson(redact(e)) + '\n'), typeof e.timestamp === 'number' ? e.timestamp : undefined);
  }
  state.entries += batch.length;
}

async function recordEntries(
  opts: RecordOptions,
  path: string,
  state: RunState,
  batches: AsyncIterable<Entry[]>,
  stopper: Stopper,
  touch: () => void,
): Promise<void> {
  const series = entrySeriesFor(opts, path);
  state.entrySeries = series;
  const limit = opts.maxPackets ?? Infinity;
  for await (let batch of untilStopped(batches, stopper)) {
    touch();
    if (state.entries + batch.length >= limit) {
      batch = batch.slice(0, limit - state.entries);
      stopper.stop('packets');
    }
    addEntries(series, batch, state, opts.redact);
    series.flushIfDue(Date.now());
  }
}

export function describeRecovery(r: RecoveryReport): string {
  const who = r.pid ? ` (pid ${r.pid})` : '';
  let line = `${r.folder}: completed a run that was killed${who}: ${counted(r.files, 'whole file', 'whole files')} kept (${counted(r.packets, 'packet', 'packets')}, ${counted(r.entries, 'entry', 'entries')})`;
  if (r.salvaged.length > 0) line += `, cut back to whole records: ${r.salvaged.join(', ')}`;
  if (r.removed.length > 0) line += `, removed (nothing whole): ${r.removed.join(', ')}`;
  return line;
}

/** One line for cron mail. */
export function recordSummary(r: RecordResult, elapsedMs: number): string {
  const m = r.manifest;
  const bytes = m.files.reduce((s, f) => s + f.bytes, 0);
  const parts = [
    `${r.folder}: ${counted(m.packets, 'packet', 'packets')}, ${counted(m.entries, 'entry', 'entries')} in ${counted(m.files.length, 'file', 'files')} (${formatBytes(bytes)}), ${(elapsedMs / 1000).toFixed(1)} s, stopped: ${m.stopReason}`,
  ];
  if (m.dropped && ((m.dropped.kernel ?? 0) > 0 || (m.dropped.lost ?? 0) > 0)) {
    parts.push(`dropped: ${m.dropped.kernel ?? 0} by kernel, ${m.dropped.lost ?? 0} lost`);
  }
  if (m.dropped?.shedFlows || m.dropped?.shedPackets) {
    parts.push(`shed: ${m.dropped.shedFlows ?? 0} new flows (${m.dropped.shedPackets ?? 0} packets) while dissection was behind`);
  }
  const losses = m.losses ? describeLosses(m.losses) : undefined;
  if (losses) parts.push(`lost or damaged in dissection: ${losses}`);
  if (r.recovered.length > 0) parts.push(`recovered ${r.recovered.length} killed run${r.recovered.length === 1 ? '' : 's'}`);
  if (r.removed.length > 0) parts.push(`removed ${r.removed.length} old recording${r.removed.length === 1 ? '' : 's'}`);
  if (m.clusterError) parts.push(`no cluster snapshot (${m.clusterError})`);
  return parts.join('; ');
}

/** `1 entry`, `2 entries`: the summary is read by people (cron mail). */
function counted(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** Sizes in the summary line, in the units of --rotate-size and --max-total (KB = 1024). */
export function formatBytes(n: number): string {
  return formatSize(n);
}
