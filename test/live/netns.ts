// A minimal two-namespace lab for the live-capture tests: sht-<id>-a and
// sht-<id>-b joined by a veth pair in NET.0/24 (198.18.32.0/20 is ours), plus
// helpers to run shark/tcpdump inside a namespace and wait on their output.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cliBin } from '../helpers/paths.js';

export interface VethLab {
  nsA: string;
  nsB: string;
  /** Interface names inside nsA / nsB. */
  ifA: string;
  ifB: string;
  ipA: string;
  ipB: string;
  /** Run a bash command in a namespace, bounded by timeoutMs; resolves with its exit code and output. */
  sh(ns: string, cmd: string, timeoutMs?: number): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Start a process in a namespace (killed by stop()). */
  start(ns: string, argv: string[]): ChildProcess;
  stop(): void;
  /** The kernel's packet counters (rx + tx) of an interface inside a namespace. */
  packets(ns: string, dev: string): number;
}

function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
}

/**
 * `id`: a few lower-case letters/digits; `net`: first three octets inside
 * 198.18.32.0/20 (or the caller's own /24); `prefix`: namespace and interface
 * name prefix (a few letters), for areas that keep labs apart by name.
 */
export function makeVethLab(id: string, net: string, prefix = 'sht'): VethLab {
  const nsA = `${prefix}-${id}-a`;
  const nsB = `${prefix}-${id}-b`;
  const ifA = `${prefix}${id}a`;
  const ifB = `${prefix}${id}b`;
  const ipA = `${net}.1`;
  const ipB = `${net}.2`;
  const children: ChildProcess[] = [];
  const stop = () => {
    for (const c of children) {
      if (c.exitCode === null && c.signalCode === null && c.pid) {
        try {
          process.kill(c.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    for (const ns of [nsA, nsB]) spawnSync('ip', ['netns', 'del', ns]);
  };
  stop();
  try {
    ip(['netns', 'add', nsA]);
    ip(['netns', 'add', nsB]);
    // No IPv6: its router solicitations and MLD reports arrive at random
    // moments and would make packet counts differ for reasons of timing only.
    for (const ns of [nsA, nsB]) {
      spawnSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    }
    ip(['-n', nsA, 'link', 'add', ifA, 'type', 'veth', 'peer', 'name', ifB, 'netns', nsB]);
    ip(['-n', nsA, 'addr', 'add', `${ipA}/24`, 'dev', ifA]);
    ip(['-n', nsB, 'addr', 'add', `${ipB}/24`, 'dev', ifB]);
    for (const [ns, dev] of [
      [nsA, ifA],
      [nsB, ifB],
      [nsA, 'lo'],
      [nsB, 'lo'],
    ]) {
      ip(['-n', ns, 'link', 'set', dev, 'up']);
    }
  } catch (err) {
    stop();
    throw err;
  }
  return {
    nsA,
    nsB,
    ifA,
    ifB,
    ipA,
    ipB,
    stop,
    packets(ns, dev) {
      const read = (f: string) =>
        Number(spawnSync('ip', ['netns', 'exec', ns, 'cat', `/sys/class/net/${dev}/statistics/${f}`], { encoding: 'utf8' }).stdout.trim());
      return read('rx_packets') + read('tx_packets');
    },
    start(ns, argv) {
      const c = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(c);
      return c;
    },
    sh(ns, cmd, timeoutMs = 30_000) {
      return new Promise((resolve) => {
        const c = spawn('ip', ['netns', 'exec', ns, 'bash', '-c', cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
        children.push(c);
        let stdout = '';
        let stderr = '';
        c.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
        c.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
        const timer = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
        c.on('close', (code) => {
          clearTimeout(timer);
          resolve({ code: code ?? -1, stdout, stderr });
        });
      });
    },
  };
}

/**
 * tcpdump on `iface` inside `ns` writing `file`, with a 64 MiB kernel ring (the
 * default 2 MB drops packets under load); resolves once it listens. Stop it
 * with stopTcpdump.
 */
export async function tcpdumpIn(lab: VethLab, ns: string, iface: string, file: string, filter: string): Promise<ChildProcess> {
  const dump = lab.start(ns, ['tcpdump', '-Z', 'root', '--immediate-mode', '-B', '65536', '-i', iface, '-U', '-w', file, filter]);
  dump.stdout?.resume();
  await waitForStderr(dump, /listening on/, 10_000);
  return dump;
}

/** Stop a tcpdump as Ctrl-C does (it writes what it has) and wait for it to exit. */
export async function stopTcpdump(dump: ChildProcess): Promise<void> {
  if (dump.exitCode !== null) return;
  const closed = new Promise((resolve) => dump.on('close', resolve));
  dump.kill('SIGINT');
  await closed;
}

/** Start `shark ARGS` inside a namespace. */
export function sharkIn(lab: VethLab, ns: string, args: string[]): ChildProcess {
  return lab.start(ns, [process.execPath, cliBin, ...args]);
}

/** Collect a child's stderr and resolve once it matches `re` (rejects on exit or timeout). */
export function waitForStderr(child: ChildProcess, re: RegExp, timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out waiting for ${re} on stderr; got: ${text}`));
    }, timeoutMs);
    const onData = (d: Buffer) => {
      text += d.toString();
      if (re.test(text)) {
        cleanup();
        resolve(text);
      }
    };
    const onExit = () => {
      cleanup();
      reject(new Error(`exited (${child.exitCode}) before ${re}; stderr: ${text}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.stderr!.off('data', onData);
      child.off('exit', onExit);
    };
    child.stderr!.on('data', onData);
    child.on('exit', onExit);
  });
}

/** Everything a child writes until it exits, and its exit code (bounded). */
export function finish(child: ChildProcess, timeoutMs = 60_000): Promise<{ code: number | null; signal: string | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => out.push(d));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr });
    });
  });
}

/** Packets in a capture file, as tshark counts them. */
export function tsharkCount(file: string, filter?: string): number {
  const args = ['-r', file, '-T', 'fields', '-e', 'frame.number'];
  if (filter) args.push('-Y', filter);
  const r = spawnSync('tshark', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tshark -r ${file}: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean).length;
}

/**
 * Packets per capture file as capinfos counts them (one process for many files;
 * capinfos fails on a damaged or cut file, so this also says each file is whole).
 */
export function capinfosCounts(files: string[]): number[] {
  const r = spawnSync('capinfos', ['-M', '-c', '-T', ...files], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`capinfos: ${r.stderr}`);
  const counts = new Map(
    r.stdout
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split('\t'))
      .map(([name, n]) => [name, Number(n)] as const),
  );
  return files.map((f) => counts.get(f) ?? NaN);
}
