// Starts and stops shark's network-namespace lab (scripts/lab/lab.sh) from tests.
// Each lab lives entirely inside namespaces named `<prefix>-…`, so test files
// running in parallel only need different prefixes (labIdentity() gives one).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './paths.js';

export const labScript = join(repoRoot, 'scripts', 'lab', 'lab.sh');

export interface LabOptions {
  /** namespace name prefix, 1-10 lower-case letters/digits (e.g. `shl123`) */
  prefix: string;
  /** first three octets of a /24 inside 198.18.0.0/15 (e.g. `198.18.10`) */
  net: string;
  /** number of node namespaces, 1..7 (default 2) */
  nodes?: number;
}

export interface LabNode {
  name: string; // node0, node1, …
  index: number;
  ns: string; // network namespace to `ip netns exec` into
  ip: string; // the node bridge's address (its pods' gateway)
  bridge: string; // capture here to see this node's pods' traffic
}

export interface LabPod {
  name: string; // client0, client1, …, web, redis, dns
  ns: string;
  node: number;
  ip: string;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunningCapture {
  /**
   * Stops tcpdump (SIGINT, so the file is complete) and returns its packet count.
   * With `marker`, first waits until the file holds those bytes (traffic the test sent
   * last): tcpdump writes in order, so everything before the marker is in the file too.
   */
  stop(opts?: { marker?: string }): Promise<{ captured: number; dropped: number }>;
  /** Resolves when tcpdump has exited (after `count` packets, or after stop()). */
  whenDone(): Promise<{ captured: number; dropped: number }>;
}

export interface CaptureOptions {
  /** tcpdump filter expression */
  filter?: string;
  /** stop after this many packets */
  count?: number;
  /** kernel buffer in KiB (tcpdump -B; default 64 MiB) */
  bufferKiB?: number;
  /** deliver each packet at once (default true; false batches, which drops less under heavy load) */
  immediate?: boolean;
}

export interface Lab {
  prefix: string;
  net: string;
  nodes: LabNode[];
  pods: LabPod[];
  pod(name: string): LabPod;
  /** Runs a command in a namespace: argv as given, or a string through `bash -c`. Never rejects on a non-zero exit. */
  exec(ns: string, cmd: string | string[], opts?: { timeoutMs?: number }): Promise<ExecResult>;
  /**
   * Runs the bounded client mix (HTTP, Redis, DNS, ICMP) from every client pod;
   * `extra` adds HTTPS with SNI (`tls`) and HTTP/2 cleartext (`h2c`) requests.
   */
  traffic(opts?: { rounds?: number; extra?: ('tls' | 'h2c')[] }): Promise<void>;
  /** Starts tcpdump on a node's bridge writing pcap to `file`; resolves once it is listening. */
  capture(node: number, file: string, opts?: CaptureOptions): Promise<RunningCapture>;
  /** Tears everything down (idempotent). */
  stop(): Promise<void>;
}

let labsInThisProcess = 0;

/** A prefix and /24 unique to this process (and to each call within it). */
export function labIdentity(base = 'shl'): { prefix: string; net: string } {
  const serial = labsInThisProcess++;
  const pid = process.pid % 1000;
  const n = (process.pid * 4 + serial) % 512;
  return {
    prefix: `${base}${String(pid).padStart(3, '0')}${serial}`,
    net: `198.${18 + (n >> 8)}.${n & 255}`,
  };
}

function labEnv(opts: LabOptions, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    LAB_PREFIX: opts.prefix,
    LAB_NET: opts.net,
    LAB_NODES: String(opts.nodes ?? 2),
    ...extra,
  };
}

function run(argv: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}

function parseTopology(tsv: string): { nodes: LabNode[]; pods: LabPod[] } {
  const nodes: LabNode[] = [];
  const pods: LabPod[] = [];
  for (const line of tsv.split('\n')) {
    const [kind, name, ns, node, ip] = line.split('\t');
    if (kind === 'node' && name && ns && ip) nodes.push({ name, ns, index: Number(node), ip, bridge: 'br0' });
    if (kind === 'pod' && name && ns && ip) pods.push({ name, ns, node: Number(node), ip });
  }
  return { nodes, pods };
}

function downSync(opts: LabOptions): void {
  spawnSync('bash', [labScript, 'down'], { env: labEnv(opts), stdio: 'ignore', timeout: 30_000 });
}

export async function startLab(opts: LabOptions): Promise<Lab> {
  const up = await run(['bash', labScript, 'up'], labEnv(opts), 60_000);
  if (up.code !== 0) {
    downSync(opts);
    throw new Error(`lab ${opts.prefix} failed to start (exit ${up.code}): ${up.stderr.trim()}`);
  }
  const { nodes, pods } = parseTopology(up.stdout);
  // If the test process dies without calling stop(), still leave no namespaces behind.
  const onExit = (): void => downSync(opts);
  process.once('exit', onExit);
  let stopped = false;

  const lab: Lab = {
    prefix: opts.prefix,
    net: opts.net,
    nodes,
    pods,
    pod(name) {
      const pod = pods.find((p) => p.name === name);
      if (!pod) throw new Error(`lab ${opts.prefix} has no pod ${name} (pods: ${pods.map((p) => p.name).join(', ')})`);
      return pod;
    },
    exec(ns, cmd, execOpts = {}) {
      const argv = typeof cmd === 'string' ? ['bash', '-c', cmd] : cmd;
      return run(['ip', 'netns', 'exec', ns, ...argv], process.env, execOpts.timeoutMs ?? 30_000);
    },
    async traffic(trafficOpts = {}) {
      const env = labEnv(opts, { LAB_ROUNDS: String(trafficOpts.rounds ?? 1), LAB_EXTRA: (trafficOpts.extra ?? []).join(',') });
      const result = await run(['bash', labScript, 'traffic'], env, 120_000);
      if (result.code !== 0) throw new Error(`lab ${opts.prefix} traffic failed (exit ${result.code}): ${result.stderr.trim()}`);
    },
    capture(node, file, captureOpts = {}) {
      const target = nodes[node];
      if (!target) return Promise.reject(new Error(`lab ${opts.prefix} has no node ${node}`));
      return startTcpdump(target, file, captureOpts);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      process.removeListener('exit', onExit);
      const down = await run(['bash', labScript, 'down'], labEnv(opts), 60_000);
      if (down.code !== 0) throw new Error(`lab ${opts.prefix} teardown failed: ${down.stderr.trim()}`);
    },
  };
  return lab;
}

function startTcpdump(node: LabNode, file: string, opts: CaptureOptions): Promise<RunningCapture> {
  const argv = ['netns', 'exec', node.ns, 'tcpdump', '-i', node.bridge, '-U', '-n', '-Z', 'root', '-w', file];
  if (opts.immediate ?? true) argv.push('--immediate-mode');
  // A larger ring than libpcap's 2 MB default: on a veth with segmentation offload each
  // ring slot is sized for a 64 KB packet, so 2 MB holds ~32 packets, and a burst while
  // tcpdump is descheduled under CI load was dropped by the kernel (51 of 418 once).
  argv.push('-B', String(opts.bufferKiB ?? 65_536));
  if (opts.count !== undefined) argv.push('-c', String(opts.count));
  if (opts.filter) argv.push(opts.filter);
  // `ip netns exec` execs tcpdump in place, so this pid is tcpdump's own.
  // --immediate-mode: without it libpcap hands packets over in ~1 s blocks, and
  // the last block is lost when tcpdump is stopped right after the traffic.
  const child = spawn('ip', argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tcpdump in ${node.ns} did not start: ${stderr.trim()}`));
    }, 10_000);
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      if (stderr.includes('listening on')) {
        clearTimeout(timer);
        const whenDone = async (): Promise<{ captured: number; dropped: number }> => {
          await closed;
          const captured = /(\d+) packets? captured/.exec(stderr);
          const dropped = /(\d+) packets? dropped by kernel/.exec(stderr);
          return { captured: Number(captured?.[1] ?? 0), dropped: Number(dropped?.[1] ?? 0) };
        };
        resolve({
          async stop(stopOpts = {}) {
            // tcpdump stops reading on SIGINT: packets still in the kernel ring are not
            // written. Under load it may lag the traffic by a few hundred ms (a ping's
            // last reply was lost once in CI),
            // so let it catch up first: it writes each packet at once (-U), so it has
            // caught up when the file stops growing and it sleeps in poll() (bounded: a
            // capture of steady traffic ends anyway). Surer still: a marker sent last.
            if (stopOpts.marker !== undefined) await untilFileHolds(file, Buffer.from(stopOpts.marker), 15_000);
            else await untilFileSettles(file, child.pid, 400, 500, 5_000);
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
            return whenDone();
          },
          whenDone,
        });
      }
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    void closed.then(() => {
      clearTimeout(timer);
      if (!stderr.includes('listening on')) reject(new Error(`tcpdump in ${node.ns} exited: ${stderr.trim()}`));
    });
  });
}

/** Waits until `file` holds `marker` (searching only what was added since the last look), or `maxMs`. */
async function untilFileHolds(file: string, marker: Buffer, maxMs: number): Promise<void> {
  const start = Date.now();
  let from = 0;
  while (Date.now() - start < maxMs) {
    if (existsSync(file)) {
      const data = readFileSync(file).subarray(from);
      if (data.includes(marker)) return;
      from += Math.max(0, data.length - marker.length);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Waits at least `minMs`, then until `file`'s size has not changed for `quietMs`
 * while tcpdump (`pid`) sleeps (waiting in poll() for packets: its ring is empty;
 * one descheduled under load with packets to write is runnable, not sleeping),
 * or `maxMs` in all.
 */
async function untilFileSettles(file: string, pid: number | undefined, minMs: number, quietMs: number, maxMs: number): Promise<void> {
  const sizeOf = (): number => (existsSync(file) ? statSync(file).size : -1);
  const start = Date.now();
  let size = sizeOf();
  let since = start;
  for (;;) {
    await new Promise((r) => setTimeout(r, 100));
    const now = Date.now();
    const next = sizeOf();
    if (next !== size) {
      size = next;
      since = now;
    }
    if ((now - start >= minMs && now - since >= quietMs && sleeping(pid)) || now - start >= maxMs) return;
  }
}

/** Whether process `pid` is asleep (state S in /proc/PID/stat), or gone. */
function sleeping(pid: number | undefined): boolean {
  if (pid === undefined) return true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The state follows the command's name, which is in parentheses and may hold spaces.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'R';
  } catch {
    return true;
  }
}
