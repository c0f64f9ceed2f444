// The small hostile-input findings: a table of 10,000 rows and hundreds of
// rules without quadratic work; rules-file YAML errors at their real line;
// one unit spelling for sizes in every output; a pcapng if_tsoffset that
// puts packets before 1970 is bad input (exit 3), not a negative timestamp.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Table from 'cli-table3';
import { runCli } from '../helpers/cli.js';
import { renderRows, type Column } from '../../src/output/table.js';
import { formatSize, parseSize } from '../../src/cli/units.js';

let dir: string;
before(() => (dir = mkdtempSync(join(tmpdir(), 'shark-small-'))));
after(() => rmSync(dir, { recursive: true, force: true }));

function entry(i: number, path: string, bytes = 10): string {
  const ep = (ip: string, port: number) => ({ ip, port, name: '', namespace: '', pod: '', service: '', node: '' });
  return JSON.stringify({
    id: `${i}-0`,
    timestamp: 1_700_000_000_000 + i,
    protocol: 'http',
    transport: 'tcp',
    elapsedTime: i % 50,
    src: ep('198.18.0.1', 40000),
    dst: ep('198.18.0.2', 80),
    request: { method: 'GET', path, url: path, headers: {} },
    response: { status: 200, headers: {} },
    error: false,
    requestSize: bytes,
    responseSize: bytes,
    summary: `GET ${path} → 200`,
  });
}

test('stats --by endpoint with 10,000 distinct paths, and --check with 300 rules, run in one pass (no quadratic layout)', async () => {
  const file = join(dir, 'paths.ndjson');
  // Slugs, not numbers: `/p/7` would be templated to `/p/{id}` (one row).
  writeFileSync(file, Array.from({ length: 10_000 }, (_, i) => entry(i, `/p/x${i}`)).join('\n') + '\n');
  const r = await runCli(['stats', '--by', 'endpoint', file], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  const rows = r.stdout.split('\n').filter((l) => l.startsWith('│ 198.18.0.2:80 GET /p/'));
  assert.equal(rows.length, 10_000);
  const rules = join(dir, 'rules.yaml');
  const list = Array.from({ length: 150 }, (_, i) => `  - {name: l${i}, type: latency, path: /p/x${i}, latency: 300, percentile: p95}\n  - {name: e${i}, type: error-rate, scope: http, max: 2}\n`);
  writeFileSync(rules, `rules:\n${list.join('')}`);
  const check = await runCli(['stats', '--check', rules, '--format', 'json', file], { timeoutMs: 60_000 });
  assert.equal(check.code, 0, check.stderr);
  const result = JSON.parse(check.stdout) as { total: number; passed: boolean };
  assert.deepEqual([result.total, result.passed], [300, true]);
});

test('the table renderer draws exactly what cli-table3 drew, wide and combining characters included', () => {
  const columns: Column[] = [{ title: 'name' }, { title: 'n', align: 'right' }, { title: 'x' }];
  const rows = [
    ['a', '1', ''],
    ['héllo wörld', '12345', 'x'],
    ['日本語', '7', 'é'],
    ['e\u0301', '0', '🚀 go'],
    ['a|b', '22', 'Ｆｕｌｌ'],
  ];
  const old = new Table({ head: columns.map((c) => c.title), colAligns: columns.map((c) => c.align ?? 'left'), style: { head: [], border: [], compact: true } });
  for (const r of rows) old.push(r);
  assert.equal(renderRows(columns, rows, 'table'), old.toString() + '\n');
});

test('rules-file YAML errors give their real line', async () => {
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'rules:\n  - name: a\n    type: expect\n    filter: http\n    min: [1\n  - name: b\n');
  const r = await runCli(['stats', '--check', bad, join(dir, 'none.ndjson')]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /bad\.yaml: bad YAML: .* at line 6\n$/);
  writeFileSync(bad, 'rules:\n  - name: a\n    type: expect\n    filter: http\n    filter: dns\n');
  const dup = await runCli(['stats', '--check', bad, join(dir, 'none.ndjson')]);
  assert.equal(dup.code, 2, dup.stderr);
  assert.match(dup.stderr, /bad\.yaml: bad YAML: Map keys must be unique at line 5\n$/);
});

test('sizes are printed in the units flags are read in (KB = 1024), never kB beside KB', async () => {
  assert.equal(formatSize(1023), '1023 B');
  assert.equal(formatSize(1536), '1.5 KB');
  assert.equal(formatSize(parseSize('16KB', 'x')), '16 KB');
  assert.equal(formatSize(parseSize('5GB', 'x')), '5.0 GB');
  const file = join(dir, 'sizes.ndjson');
  writeFileSync(file, [entry(1, '/a', 1536), entry(2, '/b', 3 * 1024 * 1024)].join('\n') + '\n');
  const stats = await runCli(['stats', '--by', 'endpoint', file]);
  assert.match(stats.stdout, /│ +1\.5 KB │/);
  assert.match(stats.stdout, /│ +3\.0 MB │/);
  const map = await runCli(['map', file]);
  assert.match(map.stdout, /6\.0 MB/);
  for (const out of [stats.stdout, map.stdout]) assert.doesNotMatch(out, /\d kB/);
});

test('a pcapng if_tsoffset that puts a packet before 1970: one line naming the byte, exit 3 (no negative timestamp)', async () => {
  const u16 = (v: number) => Buffer.from(new Uint16Array([v]).buffer);
  const u32 = (v: number) => Buffer.from(new Uint32Array([v >>> 0]).buffer);
  const block = (type: number, body: Buffer) => Buffer.concat([u32(type), u32(12 + body.length), body, u32(12 + body.length)]);
  const shb = block(0x0a0d0d0a, Buffer.concat([u32(0x1a2b3c4d), u16(1), u16(0), Buffer.alloc(8, 0xff)]));
  const offset = Buffer.alloc(8);
  offset.writeBigInt64LE(-2_000_000_000n);
  const idb = block(1, Buffer.concat([u16(101), u16(0), u32(65535), u16(14), u16(8), offset, u32(0)]));
  const packet = Buffer.alloc(20);
  packet[0] = 0x45;
  const micros = 1_700_000_000n * 1_000_000n;
  const epb = block(6, Buffer.concat([u32(0), u32(Number(micros >> 32n)), u32(Number(micros & 0xffffffffn)), u32(20), u32(20), packet]));
  const file = join(dir, 'tsoffset.pcapng');
  writeFileSync(file, Buffer.concat([shb, idb, epb]));
  const at = shb.length + idb.length;
  for (const cmd of [['dissect'], ['dissect', '--packets'], ['stats']]) {
    const r = await runCli([...cmd, file]);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stderr.trim().split('\n').at(-1), `${cmd[0]}: ${file}: packet time out of range (-300000000 s since 1970, with if_tsoffset -2000000000 s) at byte ${at}`);
    assert.doesNotMatch(r.stdout, /"timestamp":-|"time":-/);
  }
});
