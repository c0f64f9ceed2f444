// Benchmark: `shark merge` beside `mergecap -w -` on the same inputs,
// alternating, 3 runs each, medians, the ratio and peak RSS (also for twice
// the input, to show memory does not follow file size).
// Run: npx tsx bench/merge.ts [files…]   (no files: 4 synthetic captures of
// 80k packets each, written once into bench/.cache/ with shark's own writer).
// benchMerge() returns the rows for `npm run bench`.

import { createWriteStream, existsSync, mkdirSync, renameSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PcapWriter } from '../src/capture/writer.js';
import { LinkType } from '../src/model/packet.js';
import { cliBin, repoRoot } from '../test/helpers/paths.js';
import { alternate, mb, rate, renderTable, seconds, type BenchContext, type BenchRow } from './lib.js';
import { mulberry32 as rng } from '../test/helpers/random.js';

const cacheDir = join(repoRoot, 'bench', '.cache');
const INPUTS = 4;
const PACKETS_PER_INPUT = 80_000;


/** An Ethernet/IPv4/UDP frame of `size` bytes (valid headers, zero payload). */
function udpFrame(size: number, node: number, seq: number): Buffer {
  const frame = Buffer.alloc(size);
  frame.writeUIntBE(0x020000000000 + node, 0, 6);
  frame.writeUIntBE(0x020000000100 + node, 6, 6);
  frame.writeUInt16BE(0x0800, 12);
  const ip = 14;
  frame[ip] = 0x45;
  frame.writeUInt16BE(size - ip, ip + 2);
  frame.writeUInt16BE(seq & 0xffff, ip + 4);
  frame[ip + 8] = 64;
  frame[ip + 9] = 17;
  frame.writeUInt32BE(0xc6120000 + node, ip + 12); // 198.18.0.x
  frame.writeUInt32BE(0xc6120100 + (seq % 200), ip + 16);
  let sum = 0;
  for (let i = ip; i < ip + 20; i += 2) sum += frame.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  frame.writeUInt16BE(~sum & 0xffff, ip + 10);
  const udp = ip + 20;
  frame.writeUInt16BE(40000 + node, udp);
  frame.writeUInt16BE(53, udp + 2);
  frame.writeUInt16BE(size - udp, udp + 4);
  return frame;
}

/** Node `node`'s capture: packets at its own pace, so the inputs interleave unevenly. */
async function writeSynthetic(path: string, node: number, packets: number): Promise<void> {
  const tmp = `${path}.tmp`;
  const out = createWriteStream(tmp);
  const writer = new PcapWriter(out, { linkType: LinkType.ETHERNET });
  const r = rng(node + 1);
  let usec = 1_700_000_000 * 1e6;
  for (let k = 0; k < packets; k++) {
    usec += 1 + Math.floor(r() * (20 + node * 7));
    const size = 60 + Math.floor(r() * r() * 1400);
    await writer.write({
      tsSec: Math.floor(usec / 1e6),
      tsNsec: (usec % 1e6) * 1000,
      linkType: LinkType.ETHERNET,
      data: udpFrame(size, node, k),
      origLen: size,
      interfaceId: 0,
      frame: k + 1,
    });
  }
  await writer.end();
  out.end();
  await once(out, 'close');
  renameSync(tmp, path);
}

export async function syntheticInputs(packetsPerInput = PACKETS_PER_INPUT, log: (m: string) => void = () => {}): Promise<string[]> {
  mkdirSync(cacheDir, { recursive: true });
  const files: string[] = [];
  for (let node = 0; node < INPUTS; node++) {
    const path = join(cacheDir, `merge-node-${node}-${packetsPerInput}.pcap`);
    if (!existsSync(path)) {
      log(`writing ${path}`);
      await writeSynthetic(path, node, packetsPerInput);
    }
    files.push(path);
  }
  return files;
}

export async function benchMerge(ctx?: Partial<BenchContext>, files?: string[]): Promise<{ rows: BenchRow[] }> {
  const log = (m: string) => process.stderr.write(`bench merge: ${m}\n`);
  const runs = ctx?.runs ?? 3;
  const shark = ctx?.shark ?? [process.execPath, cliBin];
  // Given files: one row. Otherwise synthetic inputs, then the same with twice
  // the packets per file (memory should stay flat).
  const sets: { label: string; files: string[]; packets?: number }[] =
    files && files.length > 0
      ? [{ label: `merge ${files.length} files`, files }]
      : [
          { label: 'merge', files: await syntheticInputs(PACKETS_PER_INPUT, log), packets: INPUTS * PACKETS_PER_INPUT },
          { label: 'merge 2× longer files', files: await syntheticInputs(2 * PACKETS_PER_INPUT, log), packets: 2 * INPUTS * PACKETS_PER_INPUT },
        ];
  const rows: BenchRow[] = [];
  for (const set of sets) {
    log(`${set.label}: ${set.files.length} files, ${runs} runs each, alternating`);
    const [ours, theirs] = await alternate(
      [
        { label: 'shark merge', argv: [...shark, 'merge', '-w', '-', ...set.files] },
        { label: 'mergecap', argv: ['mergecap', '-w', '-', ...set.files] },
      ],
      runs,
    );
    const figure = (ms: number) => (set.packets ? `${seconds(ms)}, ${rate(set.packets, ms, 'pkt')}` : seconds(ms));
    rows.push({
      name: `${set.label} (${set.packets ?? '?'} pkts → pcapng)`,
      shark: 'shark merge',
      peer: 'mergecap',
      sharkFigure: figure(ours.wallMs),
      peerFigure: figure(theirs.wallMs),
      ratio: theirs.wallMs / ours.wallMs,
      sharkRssMb: mb(ours.maxRssKb),
      peerRssMb: mb(theirs.maxRssKb),
      goal: 'no slower than mergecap',
      met: ours.wallMs <= theirs.wallMs,
    });
  }
  return { rows };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { rows } = await benchMerge(undefined, process.argv.slice(2));
  process.stdout.write(`${renderTable(rows)}\n`);
}
