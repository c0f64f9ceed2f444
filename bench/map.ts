// Benchmark: `shark map` throughput on synthetic NDJSON entries (bench/filter.ts
// makes them: HTTP, DNS, Redis, gRPC, PostgreSQL), placed on a fixed cluster
// topology (40 workloads in 5 namespaces, 160 caller → callee pairs, 5 % of
// calls to external IPs) so that the map has the size of a real one, and
// its linearity: 500k entries should take about twice as long as 250k, with a
// flat peak RSS (map memory depends on nodes and edges, not on entries).
//   npx tsx bench/map.ts [entries] [--runs N]      (default 500000, 3 runs)
// benchMap() returns the rows for `npm run bench` (bench/run.ts).
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../test/helpers/paths.js';
import { alternate, mb, measureOnce, rate, renderTable, seconds, type BenchRow } from './lib.js';
import { syntheticEntry } from './filter.js';
import { mulberry32 as rng } from '../test/helpers/random.js';

const shark = [process.execPath, join(repoRoot, 'bin', 'run.js')];


const NAMESPACES = ['shop', 'bookinfo', 'payments', 'data', 'kube-system'];
const WORKLOADS = Array.from({ length: 40 }, (_, i) => ({
  namespace: NAMESPACES[i % NAMESPACES.length],
  workload: `svc-${i}`,
  ip: `198.18.${10 + (i % NAMESPACES.length)}.${10 + i}`,
}));

function endpointOf(w: (typeof WORKLOADS)[number], port: number, pod: number): Record<string, unknown> {
  return { ip: w.ip, port, name: w.workload, namespace: w.namespace, pod: `${w.workload}-7d9f-${pod}`, service: w.workload, node: 'node-1', workload: w.workload };
}

/** Synthetic entries on a fixed topology, streamed to a file. */
export async function writeTopologyEntries(path: string, count: number): Promise<void> {
  const r = rng(7);
  const pairs = Array.from({ length: 160 }, () => [Math.floor(r() * 40), Math.floor(r() * 40)] as const);
  const out = createWriteStream(path);
  let buf: string[] = [];
  for (let i = 0; i < count; i++) {
    const e = syntheticEntry(i, r) as Record<string, any>;
    const [a, b] = pairs[Math.floor(r() * pairs.length)]!;
    e.src = endpointOf(WORKLOADS[a]!, 30000 + (i % 30000), i % 3);
    e.dst = r() < 0.05 ? { ip: `203.0.113.${1 + (i % 4)}`, port: 443, name: '', namespace: '', pod: '', service: '', node: '' } : endpointOf(WORKLOADS[b]!, (e.dst as any).port, i % 3);
    buf.push(JSON.stringify(e));
    if (buf.length === 1000) {
      if (!out.write(buf.join('\n') + '\n')) await once(out, 'drain');
      buf = [];
    }
  }
  if (buf.length) out.write(buf.join('\n') + '\n');
  out.end();
  await once(out, 'finish');
}

export async function benchMap(entries = 500_000, runs = 3): Promise<BenchRow[]> {
  const half = Math.floor(entries / 2);
  const dir = mkdtempSync(join(tmpdir(), 'shark-bench-map-'));
  try {
    const small = join(dir, 'half.ndjson');
    const full = join(dir, 'full.ndjson');
    await writeTopologyEntries(small, half);
    await writeTopologyEntries(full, entries);
    const [h, f] = await alternate(
      [
        { label: `shark map ${half}`, argv: [...shark, 'map', small] },
        { label: `shark map ${entries}`, argv: [...shark, 'map', full] },
      ],
      runs,
    );
    // RSS follows V8's lazy collection; the proof that nothing grows with the
    // input is that the full run also completes with the heap capped small.
    let capped: string;
    try {
      const c = await measureOnce({ label: 'capped', argv: [process.execPath, '--max-old-space-size=64', ...shark.slice(1), 'map', full] });
      capped = `completes with a 64 MB V8 heap cap (RSS ${mb(c.maxRssKb)} MB)`;
    } catch {
      capped = 'FAILED with a 64 MB V8 heap cap';
    }
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
        goal: 'time ≤ 2.2× for 2× entries; bounded memory (64 MB heap cap suffices)',
        met: timeRatio <= 2.2 && !capped.startsWith('FAILED'),
        note: `time ×${timeRatio.toFixed(2)}, RSS ${mb(h!.maxRssKb)} → ${mb(f!.maxRssKb)} MB (×${rssRatio.toFixed(2)}); ${capped}`,
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
