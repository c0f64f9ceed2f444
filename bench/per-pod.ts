// Per-pod capture's figures beside the `host a or host b …` filter it
// replaces (issue 14), on this machine:
//   - BPF instructions (tcpdump -d) and the time to install the filter on a
//     live `any` handle (libpcap compile + optimise + a new handle, synchronous
//     in the agent's event loop), for N pods;
//   - the userspace choice of one copy per connection (once.ts), packets/s.
//   node --import tsx bench/per-pod.ts [--pods 100,200,300,1000,2000]
// Needs CAP_NET_RAW (opens `any`). Prints a Markdown table on stdout.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { ConnectionOnce, type TappedPod } from '../src/capture/per-pod/once.js';
import { MAX_KERNEL_INTERFACES, ifindexFilter } from '../src/capture/per-pod/capture.js';
import { LinkType, type Packet } from '../src/model/packet.js';

const arg = process.argv.indexOf('--pods');
const sizes = (arg > 0 ? process.argv[arg + 1] : '100,200,300,1000,2000').split(',').map(Number);
const require = createRequire(import.meta.url);
const { Cap } = require('cap') as { Cap: new () => { open(d: string, f: string, b: number, buf: Buffer): string; close(): void } };
const keep: unknown[] = []; // cap handles must stay reachable (see src/capture/live.ts)

const ip = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

function instructions(filter: string): number | string {
  const r = spawnSync('tcpdump', ['-i', 'any', '-y', 'LINUX_SLL', '-d', filter], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) return `error: ${r.stderr.split('\n').find((l) => /tcpdump:/.test(l) && !/data link/.test(l)) ?? r.stderr.slice(0, 80)}`;
  return r.stdout.split('\n').filter(Boolean).length;
}

function installMs(filter: string, runs = 3): string {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const c = new Cap();
    keep.push(c);
    const t0 = performance.now();
    try {
      c.open('any', filter, 2 << 20, Buffer.alloc(65535));
    } catch (err) {
      return `error: ${(err as Error).message.slice(0, 60)}`;
    }
    times.push(performance.now() - t0);
    c.close();
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)].toFixed(1);
}

console.log('| pods | `host …` instructions | `host …` install ms | per-pod filter | per-pod instructions | per-pod install ms |');
console.log('|---:|---:|---:|---|---:|---:|');
for (const n of sizes) {
  const host = Array.from({ length: n }, (_, i) => `host ${ip(i + 256)}`).join(' or ');
  const perPod = ifindexFilter(
    Array.from({ length: n }, (_, i) => i + 10),
    [1, 4],
  );
  const kind = n <= MAX_KERNEL_INTERFACES ? `${n} ifindexes listed` : 'bridges and lo left out';
  // Past 300 pods a host filter takes tens of seconds to compile (500: ~30 s here): not measured.
  const hostCols = n <= 300 ? `${instructions(host)} | ${installMs(host, 1)}` : 'not measured | not measured (500 pods: 2,759 instructions, ~30 s)';
  console.log(`| ${n} | ${hostCols} | ${kind} | ${instructions(perPod)} | ${installMs(perPod)} |`);
}

// Userspace: a same-node DNAT'd UDP exchange (4 packets, 2 kept) over many connections.
function sll(outgoing: boolean, src: string, sport: number, dst: string, dport: number): Packet {
  const d = Buffer.alloc(16 + 28);
  d.writeUInt16BE(outgoing ? 4 : 0, 0);
  d.writeUInt16BE(0x0800, 14);
  d[16] = 0x45;
  d[16 + 9] = 17;
  src.split('.').forEach((o, i) => (d[28 + i] = Number(o)));
  dst.split('.').forEach((o, i) => (d[32 + i] = Number(o)));
  d.writeUInt16BE(sport, 36);
  d.writeUInt16BE(dport, 38);
  return { tsSec: 0, tsNsec: 0, linkType: LinkType.LINUX_SLL, data: d, origLen: d.length, interfaceId: 0, frame: 0 };
}
const once = new ConnectionOnce();
const pods = new Map<string, TappedPod>();
for (let i = 0; i < 1000; i++) pods.set(ip(i + 256), { name: `p${i}`, namespace: 'b' });
once.setPods(pods);
const packets: Packet[] = [];
for (let i = 0; i < 50_000; i++) {
  const a = ip(256 + (i % 1000));
  const b = ip(256 + ((i * 7) % 1000));
  const port = 32768 + (i % 28000);
  packets.push(sll(false, a, port, '10.96.0.10', 53), sll(true, a, port, b, 53), sll(false, b, 53, a, port), sll(true, '10.96.0.10', 53, a, port));
}
const t0 = performance.now();
let kept = 0;
for (const p of packets) if (once.keep(p)) kept++;
const ms = performance.now() - t0;
console.log(`\nonce.ts: ${packets.length} packets (${kept} kept, ${once.counters.duplicates} duplicates) in ${ms.toFixed(0)} ms = ${Math.round(packets.length / (ms / 1000)).toLocaleString('en')} packets/s`);
