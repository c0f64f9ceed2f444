// Live packets through shark's capture helper (native/capture/shark-capture.c),
// a separate process like Wireshark's dumpcap: it drains libpcap at capture
// speed into its own memory ring (and optional disk spool) whatever the
// dissector is doing, stamps packets with the kernel's time, and sheds whole
// new flows when shark falls too far behind. This side spawns it, waits until
// its interfaces are open, and cuts its stdout into batches. Backpressure is
// the pipe: while the consumer is behind, its stdout is paused, the helper's
// writes block, and the helper's ring (not Node's heap) takes the load.

import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExitCode, UserError } from '../cli/errors.js';
import type { CaptureInterface, Packet } from '../model/packet.js';
import { HELPER_MAX_SNAPLEN, HelperStreamDecoder, RECORD_HEADER, linkTypeOfDlt, parseHelperStats, type HelperStats } from './helper-stream.js';
import type { LiveCapture, LiveOptions, LiveStats } from './live.js';
import { packageRoot } from '../cli/package-root.js';

/** Where the helper is looked for: $SHARK_CAPTURE_HELPER_PATH alone when set, else the build tree (scripts/install.sh) and the agent image's place. */
export function helperCandidates(): string[] {
  if (process.env.SHARK_CAPTURE_HELPER_PATH) return [process.env.SHARK_CAPTURE_HELPER_PATH];
  const root = `${packageRoot()}/`;
  return [`${root}build/capture/shark-capture`, '/usr/local/lib/shark/shark-capture'];
}

export function findHelper(): string | undefined {
  return helperCandidates().find((p) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Bytes of helper output held in Node before its stdout is paused (the helper's ring holds the rest). */
const MAX_HELD_BYTES = 1 << 20;
/** How long opening may take before shark gives up on the helper. */
const READY_TIMEOUT_MS = 15_000;
/** Longest stderr line kept from the helper (stats lines are well under 4 KiB). */
const MAX_STDERR_LINE = 64 * 1024;

/** Sleep without returning to the event loop: openLive is synchronous, as cap's open is. */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

interface ReadyReport {
  interfaces?: { name: string; dlt: number; snaplen: number }[];
  error?: 'permission' | 'nodevice' | 'filter' | 'other';
  interface?: string;
  message?: string;
}

function openError(r: ReadyReport, filter: string): UserError {
  const iface = r.interface ?? '';
  const message = r.message ?? 'unknown error';
  switch (r.error) {
    case 'permission':
      return new UserError(`${iface}: permission denied — needs CAP_NET_RAW (and CAP_NET_ADMIN for promiscuous mode); run as root or setcap`, ExitCode.CAPTURE);
    case 'nodevice':
      return new UserError(`no such interface '${iface}' (see shark tap --list-interfaces)`, ExitCode.CAPTURE);
    case 'filter':
      return new UserError(`bad filter '${filter}': ${message}`, ExitCode.USAGE);
    default:
      return new UserError(`${iface ? `${iface}: ` : ''}cannot capture: ${message}`, ExitCode.CAPTURE);
  }
}

/** Wait (synchronously) until the helper wrote `file`; its text, or undefined after timeoutMs. */
function awaitFile(file: string, timeoutMs: number): string | undefined {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(file)) {
    if (Date.now() > deadline) return undefined;
    sleepSync(2);
  }
  const text = readFileSync(file, 'utf8');
  rmSync(file, { force: true });
  return text;
}

/**
 * Spawn the helper and wait (synchronously) for its ready file: the
 * interfaces it opened, or why it could not. `dir` also receives its filter
 * acknowledgements (setFilter).
 */
function startHelper(path: string, args: string[], filter: string, dir: string): { child: ChildProcess; ready: ReadyReport } {
  const readyFile = join(dir, 'ready');
  const child = spawn(path, [...args, '--ready-file', readyFile, '--ack-dir', dir], { stdio: ['pipe', 'pipe', 'pipe'] });
  // spawn() has forked and exec'd by now; the helper runs while this thread waits.
  const text = awaitFile(readyFile, READY_TIMEOUT_MS);
  if (text === undefined) {
    child.kill('SIGKILL');
    throw new UserError(`capture helper ${path} did not open its interfaces within ${READY_TIMEOUT_MS / 1000} s`, ExitCode.CAPTURE);
  }
  const ready = JSON.parse(text) as ReadyReport;
  if (ready.error) {
    child.kill('SIGKILL');
    throw openError(ready, filter);
  }
  return { child, ready };
}

export function openHelperCapture(path: string, opts: LiveOptions): LiveCapture {
  if (opts.interfaces.length === 0) throw new UserError('no interface given (-i IFACE)', ExitCode.USAGE);
  const snaplen = Math.max(64, Math.min(opts.snaplen ?? 65535, HELPER_MAX_SNAPLEN));
  const batchSize = opts.batchSize ?? 1024;
  let filter = opts.filter ?? '';
  const args = [...opts.interfaces.flatMap((i) => ['-i', i]), '-s', String(snaplen)];
  if (filter) args.push('-f', filter);
  if (opts.bufferSize !== undefined) args.push('-B', String(opts.bufferSize));
  if (opts.ringSize !== undefined) args.push('--ring', String(opts.ringSize));
  if (opts.spoolSize) args.push('--spool', String(opts.spoolSize));
  if (opts.spoolDir) args.push('--spool-dir', opts.spoolDir);
  if (opts.statsIntervalMs !== undefined) args.push('--stats-ms', String(opts.statsIntervalMs));
  if (opts.immediate) args.push('--immediate');
  const dir = mkdtempSync(join(tmpdir(), 'shark-capture-'));
  let started: { child: ChildProcess; ready: ReadyReport };
  try {
    started = startHelper(path, args, filter, dir);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const { child, ready } = started;
  let filterSeq = 0;
  const opened = ready.interfaces ?? [];
  const interfaces: CaptureInterface[] = opened.map((i) => ({
    linkType: linkTypeOfDlt(i.dlt),
    snaplen: i.snaplen,
    name: i.name,
    tsUnitsPerSec: 1e9,
  }));
  const decoder = new HelperStreamDecoder(interfaces.map((i) => i.linkType));

  let latest: HelperStats | undefined;
  let errorLine: string | undefined;
  let stderrTail = '';
  let delivered = 0;
  let closed = false;
  let failure: Error | undefined;
  const queue: { packets: Packet[]; bytes: number }[] = [];
  let heldBytes = 0;
  let ended = false;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };

  const exited = new Promise<number | null>((resolve) => {
    child.on('close', (code, signal) => {
      rmSync(dir, { recursive: true, force: true });
      resolve(code ?? (signal ? 128 : null));
    });
  });
  child.on('error', (err) => {
    failure ??= new UserError(`capture helper ${path}: ${err.message}`, ExitCode.CAPTURE);
    notify();
  });
  // shark may stop reading or exit first: neither is an error of ours.
  child.stdin!.on('error', () => {});
  child.stdout!.on('error', () => {});
  // The helper keeps shark alive only while someone iterates batches(): a
  // command that failed before reading must still exit (the helper then sees
  // stdin's end, stops, and its writes fail).
  const hold = (on: boolean) => {
    for (const h of [child, child.stdin, child.stdout, child.stderr] as ({ ref(): void; unref(): void } | null)[]) {
      if (on) h?.ref();
      else h?.unref();
    }
  };
  hold(false);

  child.stdout!.on('data', (chunk: Buffer) => {
    let packets: Packet[];
    try {
      packets = decoder.push(chunk);
    } catch (err) {
      failure ??= new UserError((err as Error).message, ExitCode.CAPTURE);
      child.kill('SIGKILL');
      notify();
      return;
    }
    if (packets.length > 0) {
      let bytes = 0;
      for (const p of packets) bytes += RECORD_HEADER + p.data.length;
      queue.push({ packets, bytes });
      heldBytes += bytes;
      if (heldBytes >= MAX_HELD_BYTES) child.stdout!.pause();
    }
    notify();
  });
  child.stdout!.on('end', () => {
    ended = true;
    notify();
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (text: string) => {
    stderrTail += text;
    let nl: number;
    while ((nl = stderrTail.indexOf('\n')) >= 0) {
      const line = stderrTail.slice(0, nl);
      stderrTail = stderrTail.slice(nl + 1);
      const stats = parseHelperStats(line);
      if (stats) latest = stats;
      else if (line.startsWith('shark-capture filter error: ')) {
        // setFilter checked the expression already; the kernel can still refuse it (too long a program).
        process.stderr.write(`shark: capture filter not applied (the previous one stays): ${line.slice(28)}\n`);
      } else if (line.startsWith('shark-capture error: ')) errorLine = line.slice(21);
    }
    if (stderrTail.length > MAX_STDERR_LINE) stderrTail = '';
  });

  const close = () => {
    if (closed) return;
    closed = true;
    opts.signal?.removeEventListener('abort', close);
    // "stop": the helper stops capturing, hands on everything queued, then exits.
    if (child.stdin!.writable) child.stdin!.end('stop\n');
  };
  if (opts.signal?.aborted) close();
  else opts.signal?.addEventListener('abort', close, { once: true });

  const stats = (): LiveStats => {
    const s = latest;
    return {
      received: s?.received ?? 0,
      // pcap_stats() from the helper: known with a filter too, and for `any`.
      kernelDropped: s?.kernelDropped ?? 0,
      ifDropped: s?.ifDropped ?? 0,
      lost: s?.dropped ?? 0,
      timestamps: 'kernel',
      delivered,
      shedFlows: s?.shedFlows ?? 0,
      shedPackets: s?.shedPackets ?? 0,
      shedByPort: s?.shedByPort ?? {},
      ringBytes: s?.ringBytes ?? 0,
      spoolBytes: s?.spoolBytes ?? 0,
      lagMs: s?.lagMs ?? 0,
    };
  };

  /** After the consumer stopped early: make the helper go (EPIPE on its writes), wait a little for its last stats. */
  const abandon = async () => {
    close();
    child.stdout!.destroy();
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  };

  return {
    interfaces,
    get closed() {
      return closed;
    },
    stats,
    close,
    setFilter(bpf: string) {
      if (closed) return;
      if (/[\r\n]/.test(bpf)) throw new UserError(`bad filter '${bpf}': a line break in a filter`, ExitCode.USAGE);
      if (child.exitCode !== null || !child.stdin!.writable) throw new UserError('capture helper has exited: the filter cannot be changed', ExitCode.CAPTURE);
      // Synchronous, as cap's was: when this returns the new filter is in force, or it threw and the old one stays.
      // Through a file: the control line stays short, so the pipe takes it at once (per-pod filters grow long).
      const seq = ++filterSeq;
      const file = join(dir, `expr-${seq}`);
      writeFileSync(file, bpf);
      child.stdin!.write(`filter-file ${file}\n`);
      const answer = awaitFile(join(dir, `filter-${seq}`), READY_TIMEOUT_MS);
      rmSync(file, { force: true });
      if (answer === undefined) throw new UserError(`capture helper did not apply filter '${bpf}' within ${READY_TIMEOUT_MS / 1000} s`, ExitCode.CAPTURE);
      if (answer.startsWith('error: ')) throw new UserError(`bad filter '${bpf}': ${answer.slice(7).trim()}`, ExitCode.USAGE);
      filter = bpf;
    },
    async *batches(): AsyncGenerator<Packet[]> {
      let finished = false;
      hold(true);
      try {
        while (true) {
          if (failure) throw failure;
          const held = queue.shift();
          if (held) {
            const next = held.packets;
            heldBytes -= held.bytes;
            if (heldBytes < MAX_HELD_BYTES / 2) child.stdout!.resume();
            delivered += next.length;
            for (let i = 0; i < next.length; i += batchSize) yield next.length <= batchSize ? next : next.slice(i, i + batchSize);
            continue;
          }
          if (ended) break;
          await new Promise<void>((resolve) => (wake = resolve));
        }
        // The final stats line comes on stderr just before the helper exits.
        const code = await exited;
        if (failure) throw failure;
        if (code !== 0 && code !== null) {
          throw new UserError(`capture helper failed (exit ${code}): ${errorLine ?? 'no reason given'}${filter ? ` (filter '${filter}')` : ''}`, ExitCode.CAPTURE);
        }
        if (decoder.pending > 0) throw new UserError(`capture helper: its output ended inside a record (${decoder.pending} bytes)`, ExitCode.CAPTURE);
        finished = true;
      } finally {
        if (!finished) await abandon();
        else close();
        hold(false);
      }
    },
  };
}

export type { HelperStats };
