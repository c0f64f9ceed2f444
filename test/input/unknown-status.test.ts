// An HTTP status the capture lost (the response head gone with a gap, a
// malformed status line) is null in the entry: unknown, never 0. Every
// command that reads entries takes it as unknown: read without complaint,
// grouped and shown as `?`, not matched by a comparison, not a new error.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';

let dir = '';
let file = '';
let baseline = '';

function entry(id: number, status: number | null, error: boolean): Record<string, unknown> {
  const end = (ip: string, port: number) => ({ ip, port, name: '', namespace: '', pod: '', service: '', node: '' });
  return {
    id: `${id}-${id}`,
    timestamp: 1_700_000_000_000 + id,
    protocol: 'http2',
    transport: 'tcp',
    elapsedTime: 1,
    src: end('10.0.0.1', 40000 + id),
    dst: end('10.0.0.2', 8080),
    request: { method: 'GET', path: '/boom', url: 'http://svc/boom', authority: 'svc', scheme: 'http', streamId: 1, headers: {} },
    response: { status, statusText: '', httpVersion: 'HTTP/2.0', headers: {}, bodySize: 0 },
    error,
    requestSize: 10,
    responseSize: 10,
    summary: `GET /boom → ${status ?? '? (headers lost)'}`,
    ...(status === null ? { warnings: ['gap', 'gap: response headers lost'] } : {}),
  };
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'shark-unknown-status-'));
  file = join(dir, 'entries.ndjson');
  baseline = join(dir, 'baseline.ndjson');
  const lines = (es: Record<string, unknown>[]) => es.map((e) => JSON.stringify(e)).join('\n') + '\n';
  writeFileSync(file, lines([entry(1, 200, false), entry(2, 503, true), entry(3, null, false)]));
  writeFileSync(baseline, lines([entry(1, 200, false), entry(2, 503, true)]));
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('stats and catalog group a lost HTTP status as ?, never as 0, and read the line as valid', async () => {
  const stats = await runCli(['stats', '--by', 'status', '--format', 'json', '--strict', file]);
  assert.equal(stats.code, 0, stats.stderr);
  assert.equal(stats.stderr, '');
  const groups = JSON.stringify(JSON.parse(stats.stdout));
  assert.match(groups, /"http2 \?"/);
  assert.doesNotMatch(groups, /"http2 (0|null)"/);
  const catalog = await runCli(['catalog', '--format', 'json', file]);
  assert.equal(catalog.code, 0, catalog.stderr);
  const statuses = JSON.parse(catalog.stdout).endpoints?.[0]?.statuses ?? JSON.parse(catalog.stdout)[0]?.statuses;
  assert.deepEqual(Object.keys(statuses).sort(), ['200', '503', '?']);
});

test('filter: a lost status matches no comparison, == null finds it; the terminal formats show ?', async () => {
  const count = async (q: string) => (await runCli(['filter', '--count', q, file])).stdout.trim();
  assert.equal(await count('response.status < 400'), '1');
  assert.equal(await count('response.status >= 500'), '1');
  assert.equal(await count('response.status == 0'), '0');
  assert.equal(await count('response.status == null'), '1');
  const compact = await runCli(['filter', '-o', 'compact', 'response.status == null', file]);
  assert.equal(compact.code, 0, compact.stderr);
  assert.match(compact.stdout, /http2\s+\?\s/);
  assert.match(compact.stdout, /GET \/boom → \? \(headers lost\)/);
});

test('export --har writes HAR unknown status 0, and diff does not call a lost status a new error', async () => {
  const har = await runCli(['export', '--har', file]);
  assert.equal(har.code, 0, har.stderr);
  assert.deepEqual(JSON.parse(har.stdout).log.entries.map((e: { response: { status: number } }) => e.response.status), [200, 503, 0]);
  const diff = await runCli(['diff', '--format', 'json', baseline, file]);
  assert.doesNotMatch(diff.stdout, /new error status/, diff.stdout);
});
