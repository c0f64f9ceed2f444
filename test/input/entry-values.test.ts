// Entries whose fields have the right types but hostile values: the shape
// check (entry-types.test.ts) lets them through, so every consumer must take
// them. Missing addresses, names holding the characters a consumer might use
// as a separator (NUL, newlines, quotes), and finite times no Date can hold
// (1e308) each crashed one: map (a NUL in a name split its edge keys; no
// `src.ip`), catalog and export --har (toISOString of 1e308).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { runCli } from '../helpers/cli.js';
import { readNdjson } from '../../src/ndjson/read.js';
import { StatsAggregator } from '../../src/stats/aggregate.js';
import { renderStats } from '../../src/stats/render.js';
import { BUILTIN_GROUPINGS } from '../../src/stats/group-by.js';
import { MAP_LEVELS, MapAggregator } from '../../src/map/graph.js';
import { renderDot } from '../../src/output/dot.js';
import { renderMermaid } from '../../src/output/mermaid.js';
import { parseEdgeLabel } from '../../src/map/labels.js';
import { Catalog } from '../../src/catalog/endpoints.js';
import { renderCatalog } from '../../src/catalog/render.js';
import { httpServices, openApiDocument } from '../../src/catalog/openapi.js';
import { harEntry } from '../../src/catalog/har.js';
import { formatterFor } from '../../src/output/formats/entry-format.js';
import { styles } from '../../src/output/formats/colour.js';
import type { Entry } from '../../src/model/entry.js';

const STRINGS = ['', '\u0000', '\u0001', '\u0001a\u00011\u0001', 'a\u0000b', '\u0000\u0000', '\n', '"\\', 'x'.repeat(300), '\u001b[31m', '%zz', '::ffff:1.2.3.4', '[', 'k8s'];
const NUMBERS = [1e308, -1e308, 8.64e15 + 1, -8.64e15 - 1, Number.MAX_SAFE_INTEGER, 0, -0, 1e-300, -1];

/** Paths an entry's consumers read, with the kind of value each may hold. */
const FIELDS: [string[], 'string' | 'number' | 'integer'][] = [
  [['id'], 'string'],
  [['timestamp'], 'number'],
  [['elapsedTime'], 'number'],
  [['protocol'], 'string'],
  [['summary'], 'string'],
  [['requestSize'], 'integer'],
  [['responseSize'], 'integer'],
  ...(['src', 'dst'] as const).flatMap((side) =>
    (['ip', 'name', 'namespace', 'pod', 'service', 'workload', 'node'] as const).map((k) => [[side, k], 'string'] as [string[], 'string']),
  ),
  [['src', 'port'], 'integer'],
  [['dst', 'port'], 'integer'],
  [['request', 'method'], 'string'],
  [['request', 'path'], 'string'],
  [['request', 'url'], 'string'],
  [['request', 'host'], 'string'],
  [['response', 'status'], 'integer'],
];

type Change = { path: string[]; value: unknown };

const change: fc.Arbitrary<Change> = fc.constantFrom(...FIELDS).chain(([path, kind]) =>
  fc.oneof(
    fc.constant({ path, value: undefined }), // the field left out
    kind === 'string'
      ? fc.constantFrom(...STRINGS).map((value) => ({ path, value }))
      : fc.constantFrom(...NUMBERS.filter((n) => kind === 'number' || Number.isInteger(n))).map((value) => ({ path, value })),
  ),
);

function entry(n: number, protocol: string, changes: Change[]): Entry {
  const ep = (ip: string, port: number) => ({ ip, port, name: '', namespace: 'ns', pod: `p${n % 3}`, service: 's', node: 'x', workload: 'w' });
  const e: Record<string, any> = {
    id: `${n}-0`,
    timestamp: 1_700_000_000_000 + n,
    protocol,
    transport: 'tcp',
    elapsedTime: 1.5,
    src: ep('198.18.0.1', 40000 + n),
    dst: ep('198.18.0.2', 80),
    request: { method: 'GET', path: `/a/${n % 4}?q=1`, url: `/a/${n % 4}?q=1`, host: 'api', headers: { host: 'api' } },
    response: { status: 200 + (n % 3) * 100, headers: {} },
    error: n % 3 === 2,
    requestSize: 10,
    responseSize: 20,
    summary: 's',
  };
  for (const { path, value } of changes) {
    let at = e;
    for (const k of path.slice(0, -1)) at = at[k];
    if (value === undefined) delete at[path.at(-1)!];
    else at[path.at(-1)!] = value;
  }
  return e as Entry;
}

/** Entries as a reader hands them on: through the shape check, so only well-typed ones. */
async function read(lines: string[]): Promise<Entry[]> {
  const out: Entry[] = [];
  for await (const batch of readNdjson(Readable.from([Buffer.from(lines.join('\n') + '\n')]), 'in.ndjson', { onBadLine: () => undefined })) out.push(...batch);
  return out;
}

const batch = fc.array(fc.tuple(fc.constantFrom('http', 'grpc', 'dns', 'redis'), fc.array(change, { minLength: 1, maxLength: 3 })), { minLength: 1, maxLength: 8 });

test('well-typed hostile values: every consumer takes them (map, stats, catalog, OpenAPI, HAR, the terminal formats)', async () => {
  const labels = { parts: parseEdgeLabel('all'), paths: 3 };
  const human = (['compact', 'wide', 'detail'] as const).map((f) => formatterFor(f, { styles: styles(true), columns: 80 })!);
  await fc.assert(
    fc.asyncProperty(batch, async (spec) => {
      // A good entry beside each hostile one: what is whole still counts.
      const lines = spec.flatMap(([protocol, changes], i) => [JSON.stringify(entry(2 * i, protocol, [])), JSON.stringify(entry(2 * i + 1, protocol, changes))]);
      const entries = await read(lines);
      assert.equal(entries.length, lines.length, 'every line is well typed');
      for (const level of MAP_LEVELS) {
        const map = new MapAggregator(level);
        map.add(entries);
        const g = map.graph({ topPaths: 3 });
        assert.equal(g.edges.reduce((n, e) => n + e.requests, 0), entries.filter((e) => e.src && e.dst).length);
        renderDot(g, labels);
        renderMermaid(g, labels);
      }
      for (const by of BUILTIN_GROUPINGS) {
        const stats = new StatsAggregator(by);
        await stats.addBatch(entries);
        renderStats(stats.snapshot(), { format: 'table' });
      }
      const catalog = new Catalog({ details: true });
      catalog.addBatch(entries);
      for (const format of ['table', 'json', 'markdown'] as const) renderCatalog(catalog.list(), { foldedCalls: 0, foldedServiceCalls: 0, maxEndpoints: 10_000, untrackedPositions: 0, deepBodies: 0, largeBodies: 0 }, format);
      for (const service of httpServices(catalog.list())) JSON.stringify(openApiDocument(service, catalog.list()));
      for (const e of entries) {
        const h = harEntry(e, { maxBody: 1024, creatorVersion: '0' });
        if (h) assert.match(String(h.startedDateTime), /^\d{4}-\d\d-\d\dT/);
        for (const f of human) f.line(JSON.stringify(e));
      }
    }),
    { numRuns: 300, seed: 7 },
  );
});

test('map: a name holding NUL stays one node of its own; an endpoint without an address is the node "?"', () => {
  const map = new MapAggregator('pod');
  const a = entry(1, 'http', [{ path: ['src', 'pod'], value: 'a\u0000b' }]);
  const b = entry(2, 'http', [{ path: ['src', 'pod'], value: 'a' }, { path: ['src', 'namespace'], value: 'ns\u0000b' }]);
  const c = entry(3, 'http', [{ path: ['dst', 'ip'], value: undefined }, { path: ['dst', 'pod'], value: '' }, { path: ['dst', 'service'], value: '' }, { path: ['dst', 'workload'], value: '' }, { path: ['dst', 'namespace'], value: '' }]);
  map.add([a, b, c]);
  const g = map.graph();
  const names = g.nodes.map((n) => n.name).sort();
  assert.ok(names.includes('a\u0000b'), names.join('|'));
  assert.ok(names.includes('?'), names.join('|'));
  assert.equal(g.nodes.find((n) => n.name === '?')!.ips.length, 0);
  assert.equal(g.edges.reduce((n, e) => n + e.requests, 0), 3);
});

test('CLI: map, catalog and export --har on entries with out-of-range times and NUL names: exit 0, no internal error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'shark-entry-values-'));
  try {
    const path = join(dir, 'e.ndjson');
    const lines = [
      entry(1, 'http', []),
      entry(2, 'http', [{ path: ['timestamp'], value: 1e308 }]),
      entry(3, 'http', [{ path: ['timestamp'], value: -8.64e15 - 1 }, { path: ['src', 'pod'], value: 'a\u0000b' }]),
      entry(4, 'http', [{ path: ['src', 'ip'], value: undefined }, { path: ['src', 'pod'], value: '' }, { path: ['src', 'service'], value: '' }, { path: ['src', 'workload'], value: '' }]),
    ].map((e) => JSON.stringify(e));
    writeFileSync(path, lines.join('\n') + '\n');
    for (const args of [['map'], ['map', '--format', 'json'], ['catalog'], ['catalog', '--format', 'json'], ['catalog', '--openapi'], ['export', '--har'], ['stats', '--by', 'endpoint']]) {
      const r = await runCli([...args, path]);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /internal error/, args.join(' '));
      if (args[0] === 'export') {
        const har = JSON.parse(r.stdout) as { log: { entries: { startedDateTime: string }[] } };
        // The two calls at times no Date holds are skipped and counted, not given a made-up time.
        assert.equal(har.log.entries.length, 2);
        assert.match(r.stderr, /2 HTTP calls written; 2 entries .*skipped/);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
