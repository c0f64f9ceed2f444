// The benchmark input: a lab capture (real nginx, redis-server, dnsmasq traffic
// between network namespaces) of at least 300k packets of mixed HTTP/Redis/DNS,
// and a 2× version for the memory-flatness check. Recorded once into
// bench/.cache/ (git-ignored) and reused.
//   npx tsx bench/capture.ts [--force]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { labIdentity, startLab, type Lab } from '../test/helpers/lab.js';
import { repoRoot } from '../test/helpers/paths.js';

export const cacheDir = join(repoRoot, 'bench', '.cache');
const MIN_PACKETS = 300_000;
/** Record this many (≥ 2 × MIN_PACKETS): the first half is the 1× capture, all of it the 2× one. */
const TARGET_PACKETS = 640_000;
/** Hard bound on the recording, whatever the packet rate. */
const RECORD_SECONDS = 100;

export interface BenchCaptures {
  capture: string;
  capture2x: string;
  packets: number;
  packets2x: number;
  /** how the 2× file was made */
  doubling: 'recorded' | 'time-shifted copy';
  recordedAt: string;
  kernelDrops: number;
}

const metaFile = join(cacheDir, 'captures.json');

export function packetCount(file: string): number {
  const out = spawnSync('capinfos', ['-c', '-M', '-T', '-r', file], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`capinfos ${file}: ${out.stderr.trim()}`);
  const fields = out.stdout.trim().split('\t');
  return Number(fields[fields.length - 1]);
}

function run(argv: string[]): void {
  const out = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`${argv.join(' ')}: ${out.stderr.trim()}`);
}

/** Returns the cached captures, recording them first if missing (or when forced). */
export async function ensureBenchCaptures(opts: { force?: boolean; log?: (m: string) => void } = {}): Promise<BenchCaptures> {
  const log = opts.log ?? ((m: string) => process.stderr.write(`bench: ${m}\n`));
  if (!opts.force && existsSync(metaFile)) {
    const meta = JSON.parse(readFileSync(metaFile, 'utf8')) as BenchCaptures;
    if (existsSync(meta.capture) && existsSync(meta.capture2x)) {
      log(`reusing ${meta.capture} (${meta.packets} packets) and ${meta.capture2x} (${meta.packets2x})`);
      return meta;
    }
  }
  mkdirSync(cacheDir, { recursive: true });
  const raw = join(cacheDir, 'lab-mix-raw.pcap');
  log(`recording a lab capture of up to ${TARGET_PACKETS} packets (≤ ${RECORD_SECONDS} s)…`);
  const { captured, dropped } = await recordLabMix(raw);
  if (captured < MIN_PACKETS) throw new Error(`the lab produced only ${captured} packets in ${RECORD_SECONDS} s (need ${MIN_PACKETS})`);

  const capture = join(cacheDir, 'lab-mix-1x.pcap');
  const capture2x = join(cacheDir, 'lab-mix-2x.pcap');
  let doubling: BenchCaptures['doubling'];
  if (captured >= 2 * MIN_PACKETS) {
    // 1× is the first half of the recording, 2× all of it: both real traffic.
    run(['editcap', '-r', raw, capture, `1-${Math.floor(captured / 2)}`]);
    renameSync(raw, capture2x);
    doubling = 'recorded';
  } else {
    // Not enough for two halves: 2× is the capture followed by a copy shifted past its end.
    renameSync(raw, capture);
    const shifted = join(cacheDir, 'lab-mix-shifted.pcap');
    const duration = Number(spawnSync('capinfos', ['-u', '-M', '-T', '-r', capture], { encoding: 'utf8' }).stdout.trim().split('\t').pop());
    run(['editcap', '-t', String(Math.ceil(duration) + 1), capture, shifted]);
    run(['mergecap', '-a', '-F', 'pcap', '-w', capture2x, capture, shifted]);
    rmSync(shifted);
    doubling = 'time-shifted copy';
  }
  const meta: BenchCaptures = {
    capture,
    capture2x,
    packets: packetCount(capture),
    packets2x: packetCount(capture2x),
    doubling,
    recordedAt: new Date().toISOString(),
    kernelDrops: dropped,
  };
  writeFileSync(metaFile, `${JSON.stringify(meta, null, 2)}\n`);
  log(`recorded ${meta.packets} packets (1×) and ${meta.packets2x} (2×, ${doubling}); kernel drops: ${dropped}`);
  return meta;
}

/** The traffic generators recordLabMix runs, and the Debian package of each. */
const GENERATORS: [string, string][] = [
  ['ab', 'apache2-utils'],
  ['redis-benchmark', 'redis-tools'],
  ['dig', 'bind9-dnsutils'],
];

/**
 * Drives HTTP (ab keep-alive: JSON, gzip/chunked HTML, 500s), Redis
 * (redis-benchmark, no pipelining) and DNS (dig batches incl. NXDOMAIN and TCP)
 * from client1 and captures on node1's bridge, where all of it passes.
 */
async function recordLabMix(file: string): Promise<{ captured: number; dropped: number }> {
  // A generator missing would leave its protocol out of the capture, silently
  // (a recording without HTTP was once benchmarked as if it had it).
  for (const [tool, pkg] of GENERATORS) {
    if (spawnSync('which', [tool]).status !== 0) throw new Error(`${tool} is not installed (apt-get install ${pkg}; see bench/packages.txt)`);
  }
  const lab: Lab = await startLab({ ...labIdentity('shlb'), nodes: 2 });
  const loads: ChildProcess[] = [];
  const failed: string[] = [];
  try {
    const client = lab.pod('client1').ns;
    const web = lab.pod('web').ip;
    const redis = lab.pod('redis').ip;
    const dns = lab.pod('dns').ip;
    const queries = join(cacheDir, 'dig-batch.txt');
    const names = ['reviews', 'details', 'ratings', 'productpage', 'redis', 'www'];
    const lines: string[] = [];
    for (let i = 0; i < 500; i++) {
      const name = names[i % names.length]!;
      lines.push(`@${dns} ${name}.bookinfo.svc.cluster.local A`);
      if (i % 5 === 0) lines.push(`@${dns} ${name}.bookinfo.svc.cluster.local AAAA`);
      if (i % 7 === 0) lines.push(`@${dns} nosuch${i}.bookinfo.svc.cluster.local A`);
      if (i % 50 === 0) lines.push(`@${dns} +tcp ${name}.bookinfo.svc.cluster.local A`);
    }
    writeFileSync(queries, `${lines.join('\n')}\n`);

    const capture = await lab.capture(1, file, { count: TARGET_PACKETS, bufferKiB: 131072, immediate: false });
    const limit = String(RECORD_SECONDS);
    const load = (argv: string[]): void => {
      const child = spawn('ip', ['netns', 'exec', client, 'timeout', limit, ...argv], { stdio: 'ignore' });
      // 124 is timeout's own stop at the end; SIGTERM is ours once the capture is full.
      child.on('exit', (code) => {
        if (code !== null && code !== 0 && code !== 124) failed.push(`${argv[0]} exited with ${code}`);
      });
      loads.push(child);
    };
    load(['ab', '-q', '-k', '-c', '2', '-n', '2000000', `http://${web}/details/1`]);
    load(['ab', '-q', '-k', '-c', '1', '-n', '2000000', '-H', 'Accept-Encoding: gzip', `http://${web}/productpage`]);
    load(['ab', '-q', '-k', '-c', '1', '-n', '2000000', `http://${web}/ratings/1`]);
    // redis-benchmark runs its tests one after the other: small -n and -l (loop)
    // so that every command type recurs throughout the recording
    const redisTests = 'set,get,incr,lpush,hset,lrange_100';
    for (let i = 0; i < 2; i++) load(['redis-benchmark', '-h', redis, '-c', '2', '-n', '3000', '-l', '-q', '-t', redisTests]);
    for (let i = 0; i < 2; i++) {
      load(['bash', '-c', `for i in $(seq 1 1000); do dig +tries=1 +time=1 -f ${queries} >/dev/null; done`]);
    }
    // tcpdump stops by itself at TARGET_PACKETS; the time bound covers a slow machine.
    const deadline = setTimeout(() => void capture.stop(), RECORD_SECONDS * 1000);
    const result = await capture.whenDone();
    clearTimeout(deadline);
    if (failed.length > 0) throw new Error(`a traffic generator failed, so the capture lacks its protocol: ${failed.join('; ')}`);
    return result;
  } finally {
    for (const child of loads) if (child.exitCode === null) child.kill('SIGTERM');
    await lab.stop();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const meta = await ensureBenchCaptures({ force: process.argv.includes('--force') });
  process.stdout.write(`${JSON.stringify(meta, null, 2)}\n`);
}
