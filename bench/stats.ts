// Benchmark: `shark stats FILE.pcap` (dissection included) beside
// `tshark -r FILE -q -z http,tree` on the same capture, alternating, 3 runs
// each, medians and the ratio (> 1: shark is faster). Figures only.
//   npx tsx bench/stats.ts [FILE.pcap] [--runs N]
// Without FILE: the cached lab bench capture (bench/capture.ts records it once).
// benchStats(ctx) returns the rows for `npm run bench` (bench/run.ts).
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../test/helpers/paths.js';
import { alternate, mb, rate, renderTable, seconds, type BenchContext, type BenchRow } from './lib.js';
import { ensureBenchCaptures, packetCount } from './capture.js';

const shark = [process.execPath, join(repoRoot, 'bin', 'run.js')];

export async function benchStats(ctx?: BenchContext): Promise<BenchRow[]> {
  const capture = ctx?.capture ?? (await ensureBenchCaptures({ log: (m) => process.stderr.write(`bench: ${m}\n`) })).capture;
  return statsRows(capture, ctx?.packets ?? packetCount(capture), ctx?.runs ?? 3);
}

async function statsRows(capture: string, packets: number, runs: number): Promise<BenchRow[]> {
  const [s, t, w] = await alternate(
    [
      { label: 'shark stats', argv: [...(shark), 'stats', '--workers', '1', capture] },
      { label: 'tshark http,tree', argv: ['tshark', '-r', capture, '-q', '-z', 'http,tree'] },
      // Each worker aggregates its own flows; only their tables come back (stats/aggregate.ts).
      { label: 'shark stats --workers 2', argv: [...(shark), 'stats', '--workers', '2', capture] },
    ],
    runs,
  );
  const ratio = t!.wallMs / s!.wallMs;
  const ratio2 = t!.wallMs / w!.wallMs;
  return [
    {
      name: 'stats: capture → table',
      shark: 'shark stats X.pcap',
      peer: 'tshark -r X -q -z http,tree',
      sharkFigure: `${seconds(s!.wallMs)} (${rate(packets, s!.wallMs, 'pkt')})`,
      peerFigure: `${seconds(t!.wallMs)} (${rate(packets, t!.wallMs, 'pkt')})`,
      ratio,
      sharkRssMb: mb(s!.maxRssKb),
      peerRssMb: mb(t!.maxRssKb),
      goal: '≥ 1.5× tshark end to end (issue 16)',
      met: ratio >= 1.5,
      note: `medians of ${runs} alternating runs, ${packets} packets`,
    },
    {
      name: 'stats --workers 2: capture → table',
      shark: 'shark stats --workers 2 X.pcap',
      peer: 'tshark -r X -q -z http,tree',
      sharkFigure: `${seconds(w!.wallMs)} (${rate(packets, w!.wallMs, 'pkt')})`,
      peerFigure: `${seconds(t!.wallMs)} (${rate(packets, t!.wallMs, 'pkt')})`,
      ratio: ratio2,
      sharkRssMb: mb(w!.maxRssKb),
      peerRssMb: mb(t!.maxRssKb),
      goal: '≥ 1.5× tshark end to end (issue 16)',
      met: ratio2 >= 1.5,
      note: `same runs; the workers aggregate, the main thread merges their tables`,
    },
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  const runsAt = args.indexOf('--runs');
  const runs = runsAt >= 0 ? Number(args[runsAt + 1]) : 3;
  const file = args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--runs');
  const rows = file ? await statsRows(file, packetCount(file), runs) : await benchStats();
  process.stdout.write(`${renderTable(rows)}\n`);
}
