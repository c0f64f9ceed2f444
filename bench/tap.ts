// Local live capture under load: `shark tap -i eth0 -w` and `tcpdump -w` on the
// same lab pod interface at the same time while wrk hammers nginx, compared
// with the packets the kernel counted on that interface (rx + tx). Goal (issues
// 7, 16): zero missed where tcpdump has zero; packets the capture helper shed
// (whole new flows, dissection behind) are counted apart from missed ones.
// Live entries run twice: through the capture helper, and through `cap` in
// process (SHARK_CAPTURE_HELPER=off), the way shark captured before it.
//   node --import tsx bench/tap.ts [--seconds 5] [--connections 16]
//   SHARK_BENCH_TAP_LAB=prefix,net picks the lab's namespaces and /24 (default shtb,198.18.40).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cliBin } from '../test/helpers/paths.js';
import { startLab, type Lab } from '../test/helpers/lab.js';
import type { BenchContext, BenchRow } from './lib.js';

const log = (m: string): void => void process.stderr.write(`bench tap: ${m}\n`);

interface Capturer {
  label: string;
  child: ChildProcess;
  stderr: () => string;
}

function start(lab: Lab, ns: string, label: string, argv: string[], env: NodeJS.ProcessEnv = process.env): Capturer {
  const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'ignore', 'pipe'], env });
  let text = '';
  child.stderr!.on('data', (d) => (text += d));
  void lab;
  return { label, child, stderr: () => text };
}

async function listening(c: Capturer, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!/listening on/.test(c.stderr())) {
    if (c.child.exitCode !== null) throw new Error(`${c.label} exited: ${c.stderr()}`);
    if (Date.now() > end) throw new Error(`${c.label} did not start: ${c.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function stopped(c: Capturer): Promise<void> {
  return new Promise((resolve) => {
    if (c.child.exitCode !== null) return resolve();
    const timer = setTimeout(() => c.child.kill('SIGKILL'), 30_000);
    c.child.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
    c.child.kill('SIGINT');
  });
}

function wirePackets(ns: string, dev: string): number {
  const read = (f: string) =>
    Number(spawnSync('ip', ['netns', 'exec', ns, 'cat', `/sys/class/net/${dev}/statistics/${f}`], { encoding: 'utf8' }).stdout.trim());
  return read('rx_packets') + read('tx_packets');
}

function fileCount(file: string): number {
  const r = spawnSync('capinfos', ['-M', '-c', '-T', file], { encoding: 'utf8' });
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  return Number(line.split('\t')[1] ?? NaN);
}

export interface TapBenchOptions {
  seconds?: number;
  connections?: number;
}

export async function benchTap(ctx?: Partial<BenchContext>, opts: TapBenchOptions = {}): Promise<{ rows: BenchRow[] }> {
  const seconds = opts.seconds ?? 5;
  const connections = opts.connections ?? 16;
  const shark = ctx?.shark ?? [process.execPath, cliBin];
  if (spawnSync('which', ['wrk']).status !== 0) throw new Error('wrk is not installed (apt-get install wrk; see bench/packages.txt)');
  const tmp = mkdtempSync(join(tmpdir(), 'shark-bench-tap-'));
  const [prefix, net] = (process.env.SHARK_BENCH_TAP_LAB ?? 'shtb,198.18.40').split(',');
  const lab = await startLab({ prefix: prefix!, net: net!, nodes: 1 });
  try {
    const rows: BenchRow[] = [];
    // Packets to a file, then live dissection to entries (helper, then cap): each beside tcpdump -w.
    for (const mode of ['pcap', 'entries', 'entries-cap', 'entries-shed'] as const) {
      rows.push(await round(lab, tmp, shark, mode, seconds, connections));
    }
    return { rows };
  } finally {
    await lab.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function round(
  lab: Lab,
  tmp: string,
  shark: string[],
  mode: 'pcap' | 'entries' | 'entries-cap' | 'entries-shed',
  seconds: number,
  connections: number,
): Promise<BenchRow> {
  const client = lab.pod('client0');
  const web = lab.pod('web');
  const ours = join(tmp, `shark-${mode}.pcap`);
  const theirs = join(tmp, `tcpdump-${mode}.pcap`);
  const sharkArgs = mode === 'pcap' ? ['tap', '-i', 'eth0', '-w', ours] : ['tap', '-i', 'eth0'];
  // A small ring and a new connection per request (ab without -k): past the ring, new flows are shed, not missed.
  if (mode === 'entries-shed') sharkArgs.push('--ring', '4MB');
  if (process.env.SHARK_BENCH_TAP_BUFFER) sharkArgs.push('-B', process.env.SHARK_BENCH_TAP_BUFFER);
  const env = mode === 'entries-cap' ? { ...process.env, SHARK_CAPTURE_HELPER: 'off' } : process.env;
  const tap = start(lab, client.ns, 'shark tap', [...shark, ...sharkArgs], env);
  const tcpdump = start(lab, client.ns, 'tcpdump', ['tcpdump', '--immediate-mode', '-i', 'eth0', '-w', theirs]);
  await Promise.all([listening(tap), listening(tcpdump)]);
  const before = wirePackets(client.ns, 'eth0');
  const load =
    mode === 'entries-shed'
      ? ['ab', '-q', '-t', String(seconds), '-n', '1000000', '-c', String(connections), `http://${web.ip}/`]
      : ['wrk', '-t2', `-c${connections}`, `-d${seconds}s`, `http://${web.ip}/`];
  log(`${mode}: ${load.join(' ')} against nginx, captured on ${client.name}'s eth0 by both at once`);
  const wrk = await lab.exec(client.ns, load, { timeoutMs: (seconds + 30) * 1000 });
  const requests = /(\d+) requests in|Complete requests:\s+(\d+)/.exec(wrk.stdout)?.slice(1).find(Boolean) ?? '?';
  await new Promise((r) => setTimeout(r, 1500)); // let both drain their buffers
  const wire = wirePackets(client.ns, 'eth0') - before;
  await Promise.all([stopped(tap), stopped(tcpdump)]);
  const summary = /tap: \d+ packets captured.*$/m.exec(tap.stderr())?.[0] ?? tap.stderr().trim();
  const sharkCount = mode === 'pcap' ? fileCount(ours) : Number(/tap: (\d+) packets captured/.exec(summary)?.[1] ?? NaN);
  const sharkLost = Number(/(\d+) lost/.exec(summary)?.[1] ?? 0);
  // The capture helper's accounting: shed whole flows (counted, not dissected) and what libpcap handed it.
  const shed = /(\d+) new flows shed \((?:[^;)]*; )?(\d+) packets\)/.exec(summary);
  const shedFlows = Number(shed?.[1] ?? 0);
  const shedPackets = Number(shed?.[2] ?? 0);
  const tcpdumpCount = fileCount(theirs);
  const tcpdumpDropped = Number(/(\d+) packets dropped by kernel/.exec(tcpdump.stderr())?.[1] ?? NaN);
  // Both also see a few packets after the counters were read (before SIGINT reached them).
  const sharkMissing = Math.max(0, wire - sharkCount - shedPackets - sharkLost);
  const tcpdumpMissing = Math.max(0, wire - tcpdumpCount);
  log(`${mode}: ${requests} HTTP requests; wire ${wire} packets; shark ${sharkCount} (${summary}); tcpdump ${tcpdumpCount} (dropped by kernel: ${tcpdumpDropped})`);
  const how = mode === 'entries-cap' ? ' (cap in process: SHARK_CAPTURE_HELPER=off)' : mode === 'entries-shed' ? ' --ring 4MB' : '';
  const loader = mode === 'entries-shed' ? 'ab, a connection per request' : 'wrk';
  return {
    name: `tap ${mode === 'pcap' ? '-w' : '(live entries)'}${how} under ${loader} (${requests} requests, ${wire} packets on the wire)`,
    shark: mode === 'pcap' ? 'shark tap -i eth0 -w' : `shark tap -i eth0 > entries${how}`,
    peer: 'tcpdump -w',
    sharkFigure:
      `${sharkCount} captured, ${sharkMissing} missed` +
      (sharkLost ? `, ${sharkLost} lost in queue` : '') +
      (shedFlows || shedPackets ? `, ${shedPackets} packets of ${shedFlows} new flows shed (counted)` : ''),
    peerFigure: `${tcpdumpCount} captured, ${tcpdumpMissing} missed`,
    ratio: tcpdumpCount > 0 ? sharkCount / tcpdumpCount : undefined,
    goal: 'zero drops where tcpdump has zero',
    met: tcpdumpMissing > 0 || (sharkMissing === 0 && sharkLost === 0),
    note: summary,
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? Number(process.argv[i + 1]) : undefined;
  };
  const { rows } = await benchTap(undefined, { seconds: arg('--seconds'), connections: arg('--connections') });
  for (const r of rows) {
    process.stdout.write(`${r.name}\n  ${r.shark}: ${r.sharkFigure}\n  ${r.peer}: ${r.peerFigure}\n  goal: ${r.goal}: ${r.met ? 'met' : 'NOT met'}\n`);
  }
}
