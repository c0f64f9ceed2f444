// Naming endpoints from the live watch cache (real client-node against the
// API-server fixture): a pod that has finished gives up its IP to the pod that
// reuses it, and hostNetwork pods are named by node address + container port
// when that port is theirs alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiServerFixture } from '../fixtures/apiserver/server.js';
import { findResource, type Obj } from '../fixtures/apiserver/store.js';
import { loadKubeConfig } from '../../src/k8s/kubeconfig.js';
import { ClusterWatch } from '../../src/k8s/watch-cache.js';
import { createEnricher } from '../../src/k8s/enrich.js';
import { emptyEndpoint, type Endpoint, type Entry } from '../../src/model/entry.js';

const podType = findResource('', 'pods')!;
const NODE_IP = '198.19.110.1';

function pod(f: ApiServerFixture, ns: string, name: string, phase: string, ip: string, extra: { hostNetwork?: boolean; ports?: number[] } = {}): Obj {
  f.ensureNamespace(ns);
  return f.store.create(podType, ns, {
    metadata: { name, labels: { app: name } },
    spec: {
      nodeName: 'n1',
      ...(extra.hostNetwork ? { hostNetwork: true } : {}),
      containers: [{ name: 'c', image: 'x', ...(extra.ports ? { ports: extra.ports.map((p) => ({ containerPort: p, hostPort: p, protocol: 'TCP' })) } : {}) }],
    },
    status: { phase, podIP: ip, podIPs: [{ ip }] },
  });
}

function named(enrich: (e: Entry) => void, ip: string, port: number): Endpoint {
  const e = {
    id: '1',
    timestamp: 0,
    protocol: 'tcp',
    transport: 'tcp',
    elapsedTime: 0,
    src: emptyEndpoint('198.19.110.200', 40000),
    dst: emptyEndpoint(ip, port),
    request: null,
    response: null,
    error: false,
    requestSize: 0,
    responseSize: 0,
    summary: '',
  } as Entry;
  enrich(e);
  return e.dst;
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('finished pods do not claim their old IP; hostNetwork pods are named by their port', async () => {
  const f = new ApiServerFixture({ nodes: [{ name: 'n1', ip: NODE_IP }] });
  await f.listen();
  const kubeconfig = join(mkdtempSync(join(tmpdir(), 's4c-kc-')), 'config');
  f.writeKubeconfig(kubeconfig);
  const watch = new ClusterWatch(loadKubeConfig({ kubeconfig }).kc, { kinds: ['pods', 'nodes'] });
  try {
    // A Job's pod ran and finished; its IP went to a new pod created after it (listed after it).
    pod(f, 'batch', 'migrate-x7k2p', 'Succeeded', '198.19.110.20');
    pod(f, 'web', 'api-0', 'Running', '198.19.110.20');
    // A new pod listed before an evicted one that had the same IP.
    pod(f, 'web', 'cache-0', 'Running', '198.19.110.21');
    pod(f, 'batch', 'evicted-q8w', 'Failed', '198.19.110.21');
    // Two hostNetwork pods on the node: the port tells them apart; a third shares nothing.
    pod(f, 'kube-system', 'node-exporter-abc', 'Running', NODE_IP, { hostNetwork: true, ports: [9100] });
    pod(f, 'ingress', 'ingress-nginx-def', 'Running', NODE_IP, { hostNetwork: true, ports: [80, 443] });
    pod(f, 'kube-system', 'kube-proxy-ghi', 'Running', NODE_IP, { hostNetwork: true });
    await watch.start();
    const enrich = createEnricher(() => watch.snapshot());

    assert.equal(named(enrich, '198.19.110.20', 8080).pod, 'api-0');
    assert.equal(named(enrich, '198.19.110.21', 6379).pod, 'cache-0');
    assert.deepEqual(
      [9100, 443, 80].map((p) => named(enrich, NODE_IP, p)).map((d) => [d.pod, d.namespace, d.node]),
      [
        ['node-exporter-abc', 'kube-system', 'n1'],
        ['ingress-nginx-def', 'ingress', 'n1'],
        ['ingress-nginx-def', 'ingress', 'n1'],
      ],
    );
    // Any other port of the node's address is the node.
    const other = named(enrich, NODE_IP, 10250);
    assert.equal(other.pod, '');
    assert.equal(other.name, 'n1');

    // The running pod finishes (live, through the watch): its IP names nothing any more.
    const api = f.store.get('pods', 'web', 'api-0')!;
    f.store.update('pods', { ...api, status: { ...api.status, phase: 'Succeeded' } });
    await until(() => named(enrich, '198.19.110.20', 8080).pod === '', 'the finished pod forgotten');

    // A second pod claiming the same host port (a rollout): the port no longer names one pod.
    pod(f, 'kube-system', 'node-exporter-new', 'Running', NODE_IP, { hostNetwork: true, ports: [9100] });
    await until(() => named(enrich, NODE_IP, 9100).pod === '', 'an ambiguous port not named');
    assert.equal(named(enrich, NODE_IP, 9100).name, 'n1');
  } finally {
    watch.stop();
    await f.close();
  }
});
