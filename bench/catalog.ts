// Benchmark: `shark catalog` and `shark diff` on the 200k-entry NDJSON file the
// filter benchmark writes (bench/filter.ts, same seed), beside jq grouping the
// same entries by service, method and path (counts only: no templating, no
// percentiles, so jq does less work). Alternating runs, medians. Figures only.
//   npx tsx bench/catalog.ts [entries] [--runs N]
// benchCatalog() returns the rows for `npm run bench` (bench/run.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../test/helpers/paths.js';
import { alternate, mb, rate, renderTable, seconds, type BenchRow } from './lib.js';
import { writeSyntheticEntries } from './filter.js';

const shark = [process.execPath, join(repoRoot, 'bin', 'run.js')];
const JQ_GROUP = 'reduce inputs as $e ({}; .[($e.dst.service // "") + " " + ($e.request.method // $e.request.command // "") + " " + ($e.request.path // "")] += 1) | length';

export async function benchCatalog(entries = 200_000, runs = 3): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'shark-bench-catalog-'));
  try {
    const file = join(dir, 'entries.ndjson');
    await writeSyntheticEntries(file, entries);
    const [cat, api, diff, jq] = await alternate(
      [
        { label: 'shark catalog', argv: [...shark, 'catalog', file] },
        { label: 'shark catalog --openapi', argv: [...shark, 'catalog', '--openapi', '--out', join(dir, 'specs'), file] },
        { label: 'shark diff', argv: [...shark, 'diff', file, file] },
        { label: 'jq grouping', argv: ['jq', '-n', JQ_GROUP, file] },
      ],
      runs,
    );
    const row = (name: string, m: typeof cat, count: number, note: string): BenchRow => ({
      name,
      shark: m!.label,
      peer: 'jq -n reduce … group by service+method+path',
      sharkFigure: `${seconds(m!.wallMs)} (${rate(count, m!.wallMs, 'entries')})`,
      peerFigure: `${seconds(jq!.wallMs)} (${rate(entries, jq!.wallMs, 'entries')})`,
      ratio: (jq!.wallMs * count) / entries / m!.wallMs,
      sharkRssMb: mb(m!.maxRssKb),
      peerRssMb: mb(jq!.maxRssKb),
      goal: 'memory bounded by endpoints, not calls',
      note,
    });
    return [
      row('catalog: entries → endpoint table', cat, entries, `medians of ${runs} alternating runs, ${entries} entries (the filter bench file)`),
      row('catalog --openapi (bodies, schemas)', api, entries, 'reads every field: headers, bodies'),
      row('diff A A (both sides, bodies)', diff, 2 * entries, 'entries/s counts both inputs'),
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  const runsAt = args.indexOf('--runs');
  const runs = runsAt >= 0 ? Number(args[runsAt + 1]) : 3;
  const n = Number(args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--runs') ?? 200_000);
  process.stdout.write(`${renderTable(await benchCatalog(n, runs))}\n`);
}
