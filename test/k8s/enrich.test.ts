import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterSnapshot } from '../../src/model/cluster.js';
import { emptyEndpoint, type Entry } from '../../src/model/entry.js';
import { createEnricher, loadSnapshot } from '../../src/k8s/enrich.js';
import { makeEnrichment } from '../../src/k8s/enrichment.js';
import { podInfo } from '../../src/k8s/objects.js';
import { UserError } from '../../src/cli/errors.js';

const snap: ClusterSnapshot = {
  context: 'lab',
  takenAt: '2026-01-01T00:00:00Z',
  pods: [
    {
      name: 'nginx-7d9f-abcde',
      namespace: 'web',
      ip: '198.18.16.10',
      node: 'node-a',
      labels: { app: 'nginx' },
      owner: { kind: 'Deployment', name: 'nginx' },
    },
    { name: 'redis-0', namespace: 'data', ip: '198.18.17.10', node: 'node-b', labels: { app: 'redis' } },
    { name: 'agent-x', namespace: 'kube-system', ip: '198.18.16.1', node: 'node-a', labels: {}, hostNetwork: true },
  ],
  services: [
    {
      name: 'nginx',
      namespace: 'web',
      clusterIPs: ['198.19.0.10'],
      ports: [{ port: 80, protocol: 'TCP' }],
      selector: { app: 'nginx' },
    },
  ],
  nodes: [
    { name: 'node-a', addresses: ['198.18.16.1'] },
    { name: 'node-b', addresses: ['198.18.17.1'] },
  ],
  endpoints: [{ service: 'cache', namespace: 'data', ips: ['198.18.17.10'] }],
};

function entry(src: [string, number], dst: [string, number]): Entry {
  return {
    id: '1-0',
    timestamp: 0,
    protocol: 'http',
    transport: 'tcp',
    elapsedTime: 0,
    src: emptyEndpoint(...src),
    dst: emptyEndpoint(...dst),
    request: null,
    response: null,
    error: false,
    requestSize: 0,
    responseSize: 0,
    summary: '',
  };
}

test('pod IPs get pod, namespace, node, workload, labels and the selecting service', () => {
  const enrich = createEnricher(() => snap);
  const e = entry(['198.18.17.10', 40000], ['198.18.16.10', 80]);
  enrich(e);
  assert.equal(e.dst.pod, 'nginx-7d9f-abcde');
  assert.equal(e.dst.name, 'nginx-7d9f-abcde');
  assert.equal(e.dst.namespace, 'web');
  assert.equal(e.dst.node, 'node-a');
  assert.equal(e.dst.workload, 'nginx');
  assert.equal(e.dst.service, 'nginx');
  assert.deepEqual(e.dst.labels, { app: 'nginx' });
  // The source is named through its EndpointSlice, not a selector.
  assert.equal(e.src.pod, 'redis-0');
  assert.equal(e.src.service, 'cache');
  assert.equal(e.src.node, 'node-b');
});

test('service ClusterIPs match only on a service port; node IPs name the node', () => {
  const enrich = createEnricher(() => snap);
  const hit = entry(['198.18.16.1', 50000], ['198.19.0.10', 80]);
  enrich(hit);
  assert.equal(hit.dst.service, 'nginx');
  assert.equal(hit.dst.namespace, 'web');
  assert.equal(hit.dst.pod, '');
  // 198.18.16.1 is node-a (and a host-network pod's IP): the node wins.
  assert.equal(hit.src.node, 'node-a');
  assert.equal(hit.src.name, 'node-a');
  assert.equal(hit.src.pod, '');
  const miss = entry(['198.18.16.1', 50000], ['198.19.0.10', 8080]);
  enrich(miss);
  assert.equal(miss.dst.service, '');
  const unknown = entry(['203.0.113.9', 1], ['198.18.31.200', 2]);
  unknown.dst.name = 'example.org';
  enrich(unknown);
  assert.equal(unknown.dst.name, 'example.org');
  assert.equal(unknown.src.namespace, '');
});

test('a new snapshot object is re-indexed', () => {
  let current = snap;
  const enrich = createEnricher(() => current);
  const e1 = entry(['198.18.16.77', 1], ['198.18.16.10', 80]);
  enrich(e1);
  assert.equal(e1.src.pod, '');
  current = { ...snap, pods: [...snap.pods, { name: 'new', namespace: 'web', ip: '198.18.16.77', node: 'node-a', labels: {} }] };
  const e2 = entry(['198.18.16.77', 1], ['198.18.16.10', 80]);
  enrich(e2);
  assert.equal(e2.src.pod, 'new');
});

test('loadSnapshot reads a manifest.json {cluster} or a bare snapshot; bad files are one-line errors', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'shk-meta-'));
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ version: 1, cluster: snap }));
  writeFileSync(join(dir, 'bare.json'), JSON.stringify(snap));
  writeFileSync(join(dir, 'bad.json'), '{"nope": 1}');
  assert.equal(loadSnapshot(join(dir, 'manifest.json')).pods.length, 3);
  assert.equal(loadSnapshot(join(dir, 'bare.json')).nodes[1].name, 'node-b');
  assert.throws(() => loadSnapshot(join(dir, 'bad.json')), (e: unknown) => e instanceof UserError && e.exitCode === 3);
  assert.throws(() => loadSnapshot(join(dir, 'missing.json')), /missing\.json: cannot read/);
  const en = await makeEnrichment({ meta: join(dir, 'manifest.json') });
  assert.ok(en);
  const e = entry(['198.18.17.10', 1], ['198.18.16.10', 80]);
  en.enrich(e);
  assert.equal(e.dst.pod, 'nginx-7d9f-abcde');
  await en.close();
  assert.equal(await makeEnrichment({}), undefined);
});

test('owner: ReplicaSet named <deploy>-<pod-template-hash> resolves to the Deployment', () => {
  const p = podInfo({
    metadata: {
      name: 'reviews-v1-5d8f7c9b6-x2x9z',
      namespace: 'bookinfo',
      labels: { app: 'reviews', 'pod-template-hash': '5d8f7c9b6' },
      ownerReferences: [{ kind: 'ReplicaSet', name: 'reviews-v1-5d8f7c9b6', controller: true }],
    },
    spec: { nodeName: 'n1' },
    status: { podIP: '198.18.16.5' },
  });
  assert.deepEqual(p?.owner, { kind: 'Deployment', name: 'reviews-v1' });
  const s = podInfo({ metadata: { name: 'db-0', ownerReferences: [{ kind: 'StatefulSet', name: 'db' }] }, status: {} });
  assert.deepEqual(s?.owner, { kind: 'StatefulSet', name: 'db' });
});

test('per-pod capture: the tapped side is named after the pod at the source, not the IP\'s owner in the snapshot', () => {
  const enrich = createEnricher(() => snap);
  // The snapshot still gives 198.18.17.10 to redis-0, but the call passed nginx's interface as its client.
  const e = entry(['198.18.17.10', 40000], ['198.19.0.10', 80]);
  e.node = { name: 'node-a' };
  e.tapped = { pod: 'nginx-7d9f-abcde', namespace: 'web', side: 'client' };
  enrich(e);
  assert.equal(e.src.pod, 'nginx-7d9f-abcde');
  assert.equal(e.src.workload, 'nginx');
  assert.equal(e.dst.service, 'nginx');
  // A pod the snapshot does not know yet keeps its name and the capture node.
  const f = entry(['198.18.99.1', 40000], ['198.18.16.10', 80]);
  f.node = { name: 'node-c' };
  f.tapped = { pod: 'new-pod', namespace: 'jobs', side: 'client' };
  enrich(f);
  assert.deepEqual([f.src.pod, f.src.namespace, f.src.node], ['new-pod', 'jobs', 'node-c']);
  // When the snapshot agrees, nothing changes.
  const g = entry(['198.18.17.10', 40000], ['198.18.16.10', 80]);
  g.tapped = { pod: 'nginx-7d9f-abcde', namespace: 'web', side: 'server' };
  enrich(g);
  assert.equal(g.src.pod, 'redis-0');
  assert.equal(g.dst.pod, 'nginx-7d9f-abcde');
});

test('tap --tls: a process is named after the pod its cgroup is in, by pod uid or container id, whatever the addresses say; else it is the node\'s', () => {
  const CID = 'c0ffee'.repeat(10) + 'abcd';
  const SID = '5e'.repeat(32);
  const raw = (name: string, ns: string, uid: string, ip: string, containerID: string, sidecar?: string) => ({
    metadata: { name, namespace: ns, uid, labels: { app: name } },
    spec: { nodeName: 'node-a', containers: [{ name: 'main', image: 'x' }] },
    status: {
      phase: 'Running',
      podIP: ip,
      podIPs: [{ ip }],
      // As a kubelet reports them: runtime scheme, 64 hex; an init container too (a native sidecar).
      containerStatuses: [{ name: 'main', containerID, ready: true, started: true, restartCount: 0, state: { running: { startedAt: '2026-01-01T00:00:00Z' } } }],
      ...(sidecar ? { initContainerStatuses: [{ name: 'sidecar', containerID: `containerd://${sidecar}`, ready: true, started: true }] } : {}),
    },
  });
  const client = podInfo(raw('client', 'apps', '11111111-2222-4333-8444-555555555555', '198.18.16.20', `containerd://${CID}`, SID))!;
  const server = podInfo(raw('web', 'web', '66666666-7777-4888-9999-000000000000', '198.18.16.30', 'cri-o://not-an-id'))!;
  assert.deepEqual(client.containers, [CID, SID]);
  assert.equal(server.containers, undefined, 'an id that is not 64 hex is not kept');
  const s2: ClusterSnapshot = { ...snap, pods: [...snap.pods, client, server] };
  const enrich = createEnricher(() => s2);
  // A mesh call: both ends on 127.0.0.1, which names no pod; the client by container id, the server by pod uid.
  const e = entry(['127.0.0.1', 40000], ['127.0.0.1', 8443]);
  e.node = { name: 'node-a' };
  e.process = { pid: 10, comm: 'curl', role: 'client', container: CID };
  e.peerProcess = { pid: 20, comm: 'nginx', role: 'server', podUid: '66666666-7777-4888-9999-000000000000' };
  enrich(e);
  assert.deepEqual([e.process.pod, e.process.namespace, e.process.node], ['client', 'apps', undefined]);
  assert.deepEqual([e.peerProcess.pod, e.peerProcess.namespace], ['web', 'web']);
  assert.deepEqual([e.src.pod, e.src.namespace, e.src.workload], ['client', 'apps', '']);
  assert.deepEqual([e.dst.pod, e.dst.namespace], ['web', 'web']);
  // The node's own process (no container), or a container no pod of the cluster has: the node's.
  const f = entry(['198.18.16.1', 40001], ['198.18.16.30', 443]);
  f.node = { name: 'node-a' };
  f.process = { pid: 30, comm: 'kubelet', role: 'client' };
  f.peerProcess = { pid: 31, comm: 'gone', role: 'server', container: 'ab'.repeat(32) };
  enrich(f);
  assert.deepEqual([f.process.pod, f.process.node], [undefined, 'node-a']);
  assert.deepEqual([f.peerProcess.pod, f.peerProcess.node], [undefined, 'node-a']);
  assert.equal(f.src.node, 'node-a', 'the node address still names the node');
  assert.equal(f.dst.pod, 'web', 'the server side keeps the pod its IP names');
});
