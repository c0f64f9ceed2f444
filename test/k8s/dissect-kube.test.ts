// `shark dissect --kube`: names from a live cluster (the API-server fixture),
// on one thread and on worker threads (each enriches from one listed
// snapshot): the same bytes, with the pods named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiServerFixture } from '../fixtures/apiserver/server.js';
import { runCli } from '../helpers/cli.js';
import { sharedCaptures } from '../helpers/paths.js';

test('dissect --kube names endpoints from the cluster, the same with --workers 2', async () => {
  const capture = join(sharedCaptures, 'lab-bookinfo-mix.pcap');
  const plain = await runCli(['dissect', capture], { timeoutMs: 60_000 });
  assert.equal(plain.code, 0, plain.stderr);
  const ips = [...new Set(plain.stdout.split('\n').filter(Boolean).flatMap((l) => { const e = JSON.parse(l); return [e.src.ip, e.dst.ip]; }))].sort();
  const f = new ApiServerFixture({ nodes: [{ name: 'n1', ip: '198.18.250.1' }] });
  ips.forEach((ip, i) => f.addPod({ namespace: 'shop', name: `p-${i}`, ip, node: 'n1' }));
  await f.listen();
  const dir = mkdtempSync(join(tmpdir(), 'shark-dissect-kube-'));
  try {
    const kubeconfig = join(dir, 'kubeconfig');
    f.writeKubeconfig(kubeconfig);
    const one = await runCli(['dissect', '--kube', '--kubeconfig', kubeconfig, '--workers', '1', capture], { timeoutMs: 60_000 });
    const two = await runCli(['dissect', '--kube', '--kubeconfig', kubeconfig, '--workers', '2', capture], { timeoutMs: 60_000 });
    assert.equal(one.code, 0, one.stderr);
    assert.equal(two.code, 0, two.stderr);
    const entries = one.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    assert.ok(entries.length > 0);
    // Every address of the capture is a pod of the cluster: every end is named.
    for (const e of entries) for (const end of [e.src, e.dst]) assert.match(`${end.namespace}/${end.pod}`, /^shop\/p-\d+$/, `${end.ip} not named`);
    assert.equal(two.stdout, one.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await f.close();
  }
});
