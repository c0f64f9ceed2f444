import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, runShell } from '../helpers/cli.js';
import { examplesDir } from '../helpers/paths.js';

test('recording folders: read from their entry files and named by their saved cluster snapshot', async () => {
  const dir = mkdtempSync(join(tmpdir(), 's4k-rec-'));
  try {
    const r = await runShell(`node bin/run.js record --name ex --out ${dir} --no-kube -q < ${join(examplesDir, 'bookinfo-mix.pcap')}`);
    assert.equal(r.code, 0, r.stderr);
    const folder = join(dir, readdirSync(dir).find((d) => d.startsWith('ex-'))!);
    const manifestPath = join(folder, 'manifest.json');
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Record<string, unknown>;
    manifest.cluster = {
      context: 'test',
      takenAt: '2026-11-23T03:49:00Z',
      pods: [{ name: 'reviews-v1-0', namespace: 'bookinfo', ip: '198.18.20.43', node: 'n0', labels: { app: 'reviews' } }],
      services: [{ name: 'reviews', namespace: 'bookinfo', clusterIPs: ['10.96.0.9'], ports: [{ port: 80, protocol: 'TCP' }], selector: { app: 'reviews' } }],
      nodes: [],
    };
    writeFileSync(manifestPath, JSON.stringify(manifest));
    for (const args of [['catalog', '--format', 'json', folder], ['catalog', '--openapi', '--out', join(dir, 'specs'), folder]]) {
      const out = await runCli(args);
      assert.equal(out.code, 0, out.stderr);
      if (args[1] === '--format') {
        const services = new Set((JSON.parse(out.stdout) as { endpoints: Array<{ service: string; protocol: string }> }).endpoints.filter((e) => e.protocol === 'http').map((e) => e.service));
        assert.deepEqual([...services], ['bookinfo/reviews']);
      }
    }
    assert.deepEqual(readdirSync(join(dir, 'specs')), ['bookinfo_reviews.openapi.json']);
    const same = await runCli(['diff', '--fail-on', 'new-endpoint,vanished,errors,latency,schema', folder, folder]);
    assert.equal(same.code, 0, same.stderr);
    // Against the capture itself (no names): every named endpoint is new, every unnamed one vanished.
    const named = await runCli(['diff', '--format', 'json', join(examplesDir, 'bookinfo-mix.pcap'), folder]);
    const changes = (JSON.parse(named.stdout) as { changes: Array<{ kind: string; service: string }> }).changes;
    assert.ok(changes.some((c) => c.kind === 'new-endpoint' && c.service === 'bookinfo/reviews'));
    assert.ok(changes.some((c) => c.kind === 'vanished' && c.service !== 'bookinfo/reviews'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a folder that is not a recording is a usage error', async () => {
  const r = await runCli(['catalog', examplesDir]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /is a directory without a readable manifest.json/);
});
