// Finding, checking and running the BPF loader (native/tls-capture/loader.c):
// one helper process whose stdout is the framed event stream (frames.ts).
// Every reason `--tls` cannot run is found before or while it starts and
// given as one line (exit 4): no permission, no BTF, loader not built, or
// the loader's own reason when the kernel refuses the programs.

import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { ExitCode, UserError } from '../cli/errors.js';
import { FrameDecoder, type Frame, type TlsCounters } from './frames.js';
import { packageRoot } from '../cli/package-root.js';

/** Where the loader is looked for: $SHARK_TLS_LOADER alone when set, else the build tree (scripts/install.sh) and the agent image's place. */
export function loaderCandidates(): string[] {
  if (process.env.SHARK_TLS_LOADER) return [process.env.SHARK_TLS_LOADER];
  const root = `${packageRoot()}/`;
  return [`${root}build/tls-capture/shark-tls-capture`, '/usr/local/lib/shark/shark-tls-capture'];
}

/** OpenSSL libraries hooked from the start (others are found in running processes' maps). */
export function defaultLibraries(): string[] {
  const dirs = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib'];
  const found: string[] = [];
  for (const name of ['libssl.so.3', 'libssl.so.1.1']) {
    const hit = dirs.map((d) => `${d}/${name}`).find((p) => existsSync(p));
    if (hit) found.push(hit);
  }
  return found;
}

/** Why BPF cannot run here, in one line, or undefined when it may. */
export function bpfUnavailable(): string | undefined {
  if (process.platform !== 'linux') return `eBPF needs Linux (this is ${process.platform})`;
  if (!existsSync('/sys/kernel/btf/vmlinux')) return 'the kernel has no BTF (/sys/kernel/btf/vmlinux is missing): CO-RE BPF programs cannot load';
  const caps = effectiveCapabilities();
  const has = (bit: number) => caps !== undefined && (caps >> BigInt(bit)) & 1n;
  // CAP_SYS_ADMIN (21) covers everything; else CAP_BPF (39) + CAP_PERFMON (38).
  if (caps !== undefined && !has(21) && !(has(39) && has(38))) {
    return 'needs root, or CAP_BPF and CAP_PERFMON (and CAP_SYS_RESOURCE on kernels before 5.11): this process has neither';
  }
  return undefined;
}

function effectiveCapabilities(): bigint | undefined {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? BigInt(`0x${m[1]}`) : undefined;
  } catch {
    return undefined;
  }
}

export function findLoader(): string | undefined {
  return loaderCandidates().find((p) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

export interface LoaderOptions {
  /** Files to hook from the start (libssl, or binaries with OpenSSL linked in). */
  libs: string[];
  /** Go binaries to hook from the start (go-binaries.ts goSpec). */
  go?: string[];
  /** Also hook OpenSSL found in every process's maps, rescanning for new processes. */
  scan: boolean;
  ringSize?: number;
}

export interface RunningLoader {
  /** Files hooked at start (and later, as `attached` frames arrive). */
  attached: string[];
  /** Frames in order until the loader exits (an empty batch after QUIET_TICK_MS without any); then the iterator ends. */
  frames: AsyncIterable<Frame[]>;
  /** The latest counters the kernel side reported. */
  counters(): TlsCounters | undefined;
  /** Hook a Go binary found later (goSpec). */
  hookGo(spec: string): void;
  /** Ask the loader to drain and exit (SIGTERM to our own child). */
  stop(): void;
  /** Resolves with the loader's exit code once it is gone. */
  exited: Promise<number | null>;
}

/** Reads of the loader's stdout (64 KiB each at most) waiting for the engine. */
const MAX_QUEUED_READS = 64;
/** The longest the frame stream stays silent: an empty batch after this many ms without frames. */
const QUIET_TICK_MS = 50;

const unavailable = (why: string) => new UserError(`--tls: ${why}`, ExitCode.CAPTURE);

/**
 * Checks, spawns the loader and waits until its probes are attached (its
 * READY frame). Throws a UserError (exit 4) with the one-line reason when
 * capture cannot run.
 */
export async function startLoader(opts: LoaderOptions): Promise<RunningLoader> {
  const why = bpfUnavailable();
  if (why) throw unavailable(why);
  const path = findLoader();
  if (!path) throw unavailable(`the BPF loader is not built (looked for ${loaderCandidates().join(', ')}): run bash native/tls-capture/build.sh (scripts/install.sh does)`);
  const args = [...opts.libs.flatMap((l) => ['--lib', l]), ...(opts.go ?? []).flatMap((g) => ['--go', g])];
  if (!opts.scan) args.push('--no-scan');
  if (opts.ringSize !== undefined) args.push('--ring-size', String(opts.ringSize));
  const child = spawn(path, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    if (stderr.length < 4096) stderr += d.toString('utf8');
  });
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : null)));
    child.on('error', () => resolve(null));
  });
  const spawnError = new Promise<Error>((resolve) => child.on('error', resolve));
  const decoder = new FrameDecoder();
  let latest: TlsCounters | undefined;
  const attached: string[] = [];
  const queue: Frame[][] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  let ready: () => void = () => {};
  const isReady = new Promise<void>((r) => (ready = r));
  let failure: Error | undefined;
  child.stdout!.on('data', (chunk: Buffer) => {
    let frames: Frame[];
    try {
      frames = decoder.push(chunk);
    } catch (err) {
      failure = err as Error;
      child.kill('SIGTERM');
      return;
    }
    for (const f of frames) {
      if (f.type === 'counters') latest = f.counters;
      else if (f.type === 'attached') attached.push(f.path);
      else if (f.type === 'ready') ready();
    }
    if (frames.length > 0) queue.push(frames);
    // Backpressure: while shark is behind, the loader's pipe fills, it stops
    // reading the ring, and the kernel counts what no longer fits (lostEvents).
    if (queue.length >= MAX_QUEUED_READS) child.stdout!.pause();
    wake?.();
  });
  child.stdout!.on('end', () => {
    ended = true;
    wake?.();
  });
  // An abandoned pipe must not kill shark (the loader exits on its own when our stdin to it closes).
  child.stdin!.on('error', () => {});
  const started = await Promise.race([isReady.then(() => 'ready' as const), exited.then(() => 'exited' as const), spawnError.then((e) => e)]);
  if (started !== 'ready') {
    const reason = started instanceof Error ? started.message : (stderr.trim().split('\n').pop() ?? '') || 'the BPF loader exited before attaching';
    throw unavailable(reason);
  }
  return {
    attached,
    counters: () => latest,
    stop: () => stopChild(child),
    hookGo: (spec) => {
      if (child.stdin!.writable) child.stdin!.write(`go ${spec}\n`);
    },
    exited,
    frames: (async function* () {
      for (;;) {
        while (queue.length > 0) {
          const next = queue.shift()!;
          if (queue.length < MAX_QUEUED_READS / 2) child.stdout!.resume();
          yield next;
        }
        if (ended) break;
        // Quiet for QUIET_TICK_MS: an empty batch, so what waits on time (write-order.ts) is let go in time.
        let timer: NodeJS.Timeout | undefined;
        const woken = await new Promise<boolean>((r) => {
          wake = () => r(true);
          timer = setTimeout(() => r(false), QUIET_TICK_MS);
        });
        clearTimeout(timer);
        wake = undefined;
        if (!woken) yield [];
      }
      if (failure) throw failure;
    })(),
  };
}

function stopChild(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
}
