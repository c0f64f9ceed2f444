// Benchmark: `shark map` throughput on synthetic NDJSON entries (bench/filter.ts
// makes them: HTTP, DNS, Redis, gRPC, PostgreSQL with Kubernetes metadata), and
// its linearity: 500k entries should take about twice as long as 250k, with a
// flat peak RSS (map memory depends on nodes and edges, not on entries).
//   npx tsx bench/map.ts [entries] [--runs N]      (default 500000, 3 runs)
// benchMap() returns the rows for `npm run bench` (bench/run.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../test/helpers/paths.js';
import { alternate, mb, rate, renderTable, seconds, type BenchRow } from './lib.js';
import { writeSyntheticEntries } from './filter.js';

const shark = [process.execPath, join(repoRoot, 'bin', 'run.js')];

export async function benchMap(entries = 500_000, runs = 3): Promise<BenchRow[]> {
  const half = Math.floor(entries / 2);
  const dir = mkdtempSync(join(tmpdir(), 'shark-bench-map-'));
  try {
    const small = join(dir, 'half.ndjson');
    const full = join(dir, 'full.ndjson');
    await writeSyntheticEntries(small, half);
    await writeSyntheticEntries(full, entries);
    const [h, f] = await alternate(
      [
        { label: `shark map ${half}`, argv: [...shark, 'map', small] },
        { label: `shark map ${entries}`, argv: [...shark, 'map', full] },
      ],
      runs,
    );
    const timeRatio = f!.wallMs / h!.wallMs;
    const rssRatio = f!.maxRssKb / h!.maxRssKb;
    return [
      {
        name: 'map: entries/s',
        shark: `shark map X.ndjson (${entries} entries)`,
        sharkFigure: `${seconds(f!.wallMs)} (${rate(entries, f!.wallMs, 'entries')})`,
        sharkRssMb: mb(f!.maxRssKb),
        note: `medians of ${runs} alternating runs; includes CLI start and NDJSON parsing`,
      },
      {
        name: 'map: linearity 1× → 2×',
        shark: `${half} vs ${entries} entries`,
        sharkFigure: `${seconds(h!.wallMs)} → ${seconds(f!.wallMs)}`,
        ratio: timeRatio,
        sharkRssMb: mb(f!.maxRssKb),
        goal: 'time ≤ 2.2× for 2× entries; RSS flat (≤ 1.2×)',
        met: timeRatio <= 2.2 && rssRatio <= 1.2,
        note: `time ×${timeRatio.toFixed(2)}, RSS ${mb(h!.maxRssKb)} → ${mb(f!.maxRssKb)} MB (×${rssRatio.toFixed(2)})`,
      },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  const runsAt = args.indexOf('--runs');
  const runs = runsAt >= 0 ? Number(args[runsAt + 1]) : 3;
  const n = args.find((a, i) => /^\d+$/.test(a) && args[i - 1] !== '--runs');
  process.stdout.write(`${renderTable(await benchMap(n ? Number(n) : 500_000, runs))}\n`);
}
