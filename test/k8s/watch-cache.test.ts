// The watch cache against the API-server fixture (real HTTP, real client-node):
// initial list, watch events, 410 Gone → relist with differences reported,
// and an API server that goes away → onFatal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiServerFixture } from '../fixtures/apiserver/server.js';
import { findResource } from '../fixtures/apiserver/store.js';
import { loadKubeConfig } from '../../src/k8s/kubeconfig.js';
import { ClusterWatch } from '../../src/k8s/watch-cache.js';
import { makeEnrichment } from '../../src/k8s/enrichment.js';
import { emptyEndpoint, type Entry } from '../../src/model/entry.js';
import { UserError } from '../../src/cli/errors.js';

const podType = findResource('', 'pods')!;

function addPod(f: ApiServerFixture, ns: string, name: string, ip: string, node = 'n1') {
  return f.store.create(podType, ns, {
    metadata: { name, labels: { app: name } },
    spec: { nodeName: node, containers: [{ name: 'c', image: 'x' }] },
    status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] },
  });
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function setup() {
  const f = new ApiServerFixture({ nodes: [{ name: 'n1', ip: '198.18.16.1' }] });
  await f.listen();
  const kubeconfig = join(mkdtempSync(join(tmpdir(), 'shk-kc-')), 'config');
  f.writeKubeconfig(kubeconfig);
  return { f, kubeconfig };
}

test('list, then watch: added and deleted pods show up in the snapshot and as events', async () => {
  const { f, kubeconfig } = await setup();
  const events: string[] = [];
  const cw = new ClusterWatch(loadKubeConfig({ kubeconfig }).kc, {
    onEvent: (kind, type, o) => events.push(`${kind} ${type} ${o.metadata.name}`),
  });
  try {
    addPod(f, 'default', 'before', '198.18.16.10');
    await cw.start();
    assert.deepEqual(cw.snapshot().pods.map((p) => p.name), ['before']);
    assert.deepEqual(cw.snapshot().nodes, [{ name: 'n1', addresses: ['198.18.16.1'] }]);
    addPod(f, 'default', 'after', '198.18.16.11');
    await until(() => cw.snapshot().pods.length === 2, 'watch ADDED');
    f.store.delete('pods', 'default', 'before');
    await until(() => cw.snapshot().pods.length === 1, 'watch DELETED');
    assert.ok(events.includes('pods ADDED after'));
    assert.ok(events.includes('pods DELETED before'));
    assert.ok(f.requests.some((r) => r.startsWith('GET /api/v1/pods?') && r.includes('watch=true')));
  } finally {
    cw.stop();
    await f.close();
  }
});

test('410 Gone on resume → relist, and what changed meanwhile is reported', async () => {
  const { f, kubeconfig } = await setup();
  const events: string[] = [];
  const cw = new ClusterWatch(loadKubeConfig({ kubeconfig }).kc, {
    kinds: ['pods'],
    onEvent: (_k, type, o) => events.push(`${type} ${o.metadata.name}`),
  });
  try {
    addPod(f, 'default', 'a', '198.18.16.10');
    await cw.start();
    // Drop the watch connections, then compact history: the resume is too old.
    const lists = () => f.requests.filter((r) => r.startsWith('GET /api/v1/pods?') && !r.includes('watch=')).length;
    assert.equal(lists(), 1);
    f.store.compact();
    addPod(f, 'default', 'b', '198.18.16.11');
    f.store.compact();
    f.dropWatches();
    await until(() => lists() >= 2, 'a relist after 410');
    await until(() => cw.snapshot().pods.length === 2, 'relisted pods');
    assert.ok(events.includes('ADDED b'), events.join(','));
  } finally {
    cw.stop();
    await f.close();
  }
});

test('the API server going away ends in onFatal; --kube enrichment names pods and fails cleanly when unreachable', async () => {
  const { f, kubeconfig } = await setup();
  f.store.create(findResource('', 'namespaces')!, undefined, { metadata: { name: 'web' } });
  addPod(f, 'web', 'nginx', '198.18.16.10');
  let fatal: unknown;
  const cw = new ClusterWatch(loadKubeConfig({ kubeconfig }).kc, { kinds: ['pods'], giveUpMs: 500, onFatal: (e) => (fatal = e) });
  const en = await makeEnrichment({ kube: true, kubeconfig });
  try {
    await cw.start();
    const e = { src: emptyEndpoint('198.18.16.99', 1), dst: emptyEndpoint('198.18.16.10', 80) } as Entry;
    en!.enrich(e);
    assert.equal(e.dst.pod, 'nginx');
    assert.equal(e.dst.node, 'n1');
    await f.close();
    await until(() => fatal !== undefined, 'onFatal', 8000);
  } finally {
    cw.stop();
    await en?.close();
  }
  await assert.rejects(makeEnrichment({ kube: true, kubeconfig }), (err: unknown) => {
    return err instanceof UserError && err.exitCode === 4 && /cannot list cluster objects: ECONNREFUSED/.test(err.message) && !err.message.includes('\n');
  });
  assert.throws(() => loadKubeConfig({ kubeconfig, context: 'nope' }), /unknown context "nope" \(known: shark-lab\)/);
  assert.throws(() => loadKubeConfig({ kubeconfig: '/nonexistent/kc' }), (e: unknown) => e instanceof UserError && e.exitCode === 4);
});
