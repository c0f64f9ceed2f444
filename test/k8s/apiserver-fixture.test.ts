// The API-server fixture checked against clients that were not written with
// it: real kubectl (the one on PATH, 1.32, plus an older and a newer release)
// for get, get -w, apply -f, auth can-i and wait; and the behaviours the
// Kubernetes docs describe that shark's CLI must cope with: list pagination
// (limit/continue, 410 on an expired token), watch bookmarks and 410 Gone →
// relist, Pod Security admission, RBAC 403 wording, namespaces that stay
// Terminating, and a DaemonSet controller that honours nodeSelector and taints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Watch } from '@kubernetes/client-node';
import { ApiServerFixture, type FixtureOptions } from '../fixtures/apiserver/server.js';
import { findResource, type Obj } from '../fixtures/apiserver/store.js';
import { loadKubeConfig } from '../../src/k8s/kubeconfig.js';
import { ClusterWatch } from '../../src/k8s/watch-cache.js';

const podType = findResource('', 'pods')!;

async function setup(opts: Partial<FixtureOptions> = {}, token?: string) {
  const f = new ApiServerFixture({ nodes: [{ name: 'n1', ip: '198.18.31.1' }], tls: true, users: { 'jane-token': { name: 'jane', groups: [] } }, ...opts });
  f.addPod({ namespace: 'data', name: 'redis-0', ip: '198.18.31.10', node: 'n1' });
  await f.listen();
  const kubeconfig = join(mkdtempSync(join(tmpdir(), 'shk-kc-')), 'config');
  f.writeKubeconfig(kubeconfig, 'shark-lab', 'default', token);
  return { f, kubeconfig };
}

/** Run a command without blocking the event loop (the fixture answers from this process). */
function run(cmd: string, args: string[], input = ''): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], timeout: 20_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(input);
  });
}

/** kubectl on PATH, and the other releases installed beside it (kubectl.1.29 …). */
function kubectls(): { version: string; bin: string }[] {
  const onPath = spawnPath('kubectl');
  if (!onPath) return [];
  const dir = dirname(realpathSync(onPath));
  const out = [{ version: 'PATH', bin: onPath }];
  // 1.29 is the oldest whose `apply` validates through OpenAPI v3; 1.27/1.28 want the protobuf OpenAPI v2 the fixture does not serve.
  for (const v of ['1.29', '1.33']) if (existsSync(join(dir, `kubectl.${v}`))) out.push({ version: v, bin: join(dir, `kubectl.${v}`) });
  return out;
}

function spawnPath(cmd: string): string | undefined {
  for (const d of (process.env.PATH ?? '').split(':')) if (d && existsSync(join(d, cmd))) return join(d, cmd);
  return undefined;
}

function grantRead(f: ApiServerFixture, user: string, namespace: string): void {
  f.store.create(findResource('rbac.authorization.k8s.io', 'roles')!, namespace, {
    metadata: { name: 'reader' },
    rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }],
  });
  f.store.create(findResource('rbac.authorization.k8s.io', 'rolebindings')!, namespace, {
    metadata: { name: 'reader' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'reader' },
    subjects: [{ kind: 'User', name: user, apiGroup: 'rbac.authorization.k8s.io' }],
  });
}

for (const { version, bin } of kubectls()) {
  test(`real kubectl (${version}) against the fixture: get, get -w, apply -f, auth can-i, wait`, { timeout: 60_000 }, async () => {
    const { f, kubeconfig } = await setup();
    const k = (args: string[], input = '') => run(bin, ['--kubeconfig', kubeconfig, ...args], input);
    try {
      const get = await k(['get', 'pods', '-A']);
      assert.equal(get.status, 0, get.stderr);
      assert.match(get.stdout, /^data\s+redis-0\s/m);

      const cm = (v: string) => JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'data' }, data: { v } });
      const created = await k(['apply', '-f', '-'], cm('1'));
      assert.equal(created.status, 0, created.stderr);
      assert.match(created.stdout, /configmap\/cfg created/);
      const changed = await k(['apply', '-f', '-'], cm('2'));
      assert.equal(changed.status, 0, changed.stderr);
      assert.match(changed.stdout, /configmap\/cfg configured/);
      assert.equal(f.store.get('configmaps', 'data', 'cfg')!.data.v, '2');

      const yes = await k(['auth', 'can-i', 'create', 'pods/exec', '-n', 'data']);
      assert.equal(yes.stdout.trim(), 'yes', yes.stderr);

      const waited = await k(['wait', '--for=condition=Ready', 'pod/redis-0', '-n', 'data', '--timeout=10s']);
      assert.equal(waited.status, 0, waited.stderr);
      assert.match(waited.stdout, /pod\/redis-0 condition met/);

      // get -w: a pod added later is printed.
      const w = spawn(bin, ['--kubeconfig', kubeconfig, 'get', 'pods', '-n', 'data', '-w'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      w.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      try {
        const end = Date.now() + 15_000;
        while (!out.includes('redis-0') && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
        f.addPod({ namespace: 'data', name: 'redis-1', ip: '198.18.31.11', node: 'n1' });
        while (!out.includes('redis-1') && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
        assert.match(out, /^redis-1\s/m, out);
      } finally {
        w.kill('SIGKILL');
      }
    } finally {
      await f.close();
    }
  });
}

test('RBAC: a user who may read one namespace — kubectl auth can-i and the 403 wording', { timeout: 30_000 }, async () => {
  const { f, kubeconfig } = await setup({}, 'jane-token');
  grantRead(f, 'jane', 'data');
  const k = (args: string[]) => run('kubectl', ['--kubeconfig', kubeconfig, ...args]);
  try {
    assert.equal((await k(['auth', 'can-i', 'list', 'pods', '-n', 'data'])).stdout.trim(), 'yes');
    assert.equal((await k(['auth', 'can-i', 'list', 'pods', '-A'])).stdout.trim(), 'no');
    assert.equal((await k(['auth', 'can-i', 'create', 'pods', '-n', 'data'])).stdout.trim(), 'no');
    const denied = await k(['get', 'pods', '-A']);
    assert.notEqual(denied.status, 0);
    assert.match(denied.stderr, /pods is forbidden: User "jane" cannot list resource "pods" in API group "" at the cluster scope/);
    const ok = await k(['get', 'pods', '-n', 'data']);
    assert.equal(ok.status, 0, ok.stderr);
  } finally {
    await f.close();
  }
});

test('lists are paginated: limit/continue pages cover every item once; a token from before a compaction is 410', async () => {
  const { f, kubeconfig } = await setup({ tls: false });
  try {
    for (let i = 0; i < 7; i++) f.addPod({ namespace: 'data', name: `p${i}`, ip: `198.18.31.${20 + i}`, node: 'n1' });
    const kc = loadKubeConfig({ kubeconfig }).kc;
    const get = async (path: string) => {
      const res = await fetch(`${f.url}${path}`, { headers: { Authorization: 'Bearer fixture-token' } });
      return { code: res.status, body: (await res.json()) as Obj };
    };
    const names: string[] = [];
    let cont = '';
    let pages = 0;
    do {
      const { body } = await get(`/api/v1/pods?limit=3${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`);
      names.push(...body.items.map((p: Obj) => p.metadata.name));
      cont = body.metadata.continue ?? '';
      pages++;
    } while (cont);
    assert.equal(pages, 3);
    assert.deepEqual(names.sort(), ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'redis-0']);
    const first = await get('/api/v1/pods?limit=3');
    f.addPod({ namespace: 'data', name: 'p7', ip: '198.18.31.27', node: 'n1' }); // history moves on …
    f.store.compact(); // … and the version the token was taken at is compacted away
    const expired = await get(`/api/v1/pods?limit=3&continue=${encodeURIComponent(first.body.metadata.continue)}`);
    assert.equal(expired.code, 410);
    assert.equal(expired.body.reason, 'Expired');

    // The CLI's watch cache reads in pages too (and only the namespace it is given).
    const seen = f.requests.length;
    const cw = new ClusterWatch(kc, { kinds: ['pods'], scopes: { pods: ['data'] }, pageSize: 3 });
    await cw.start();
    cw.stop();
    assert.equal(cw.objects('pods').length, 9);
    const lists = f.requests.slice(seen).filter((r) => !r.includes('watch='));
    assert.equal(lists.length, 3, lists.join('\n'));
    assert.ok(lists.every((r) => r.startsWith('GET /api/v1/namespaces/data/pods?') && r.includes('limit=3')), lists.join('\n'));
    assert.equal(lists.filter((r) => r.includes('continue=')).length, 2);
  } finally {
    await f.close();
  }
});

test('watch bookmarks carry the resourceVersion; 410 Gone after compaction makes the cache relist', async () => {
  const { f, kubeconfig } = await setup({ tls: false });
  try {
    const kc = loadKubeConfig({ kubeconfig }).kc;
    const types: string[] = [];
    const ctl = await new Watch(kc).watch('/api/v1/pods', { allowWatchBookmarks: true, resourceVersion: String(f.store.resourceVersion) }, (type, obj: Obj) => types.push(`${type} ${obj.metadata?.resourceVersion}`), () => {});
    await new Promise((r) => setTimeout(r, 100));
    f.sendBookmarks();
    const end = Date.now() + 3000;
    while (!types.some((t) => t.startsWith('BOOKMARK')) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    ctl.abort();
    assert.deepEqual(types, [`BOOKMARK ${f.store.resourceVersion}`]);

    const cw = new ClusterWatch(kc, { kinds: ['pods'] });
    await cw.start();
    f.store.compact();
    f.dropWatches(); // the watch resumes from a version that is gone: 410, relist
    f.store.create(podType, 'data', { metadata: { name: 'late' }, spec: { nodeName: 'n1' }, status: { phase: 'Running', podIP: '198.18.31.40' } });
    const end2 = Date.now() + 5000;
    while (!cw.objects('pods').some((p) => p.metadata.name === 'late') && Date.now() < end2) await new Promise((r) => setTimeout(r, 20));
    cw.stop();
    assert.ok(cw.objects('pods').some((p) => p.metadata.name === 'late'));
  } finally {
    await f.close();
  }
});

test('Pod Security: baseline refuses hostNetwork and NET_RAW unless the namespace is labelled privileged', async () => {
  const { f } = await setup({ tls: false });
  try {
    f.store.podSecurityDefault = 'baseline';
    f.ensureNamespace('agents');
    const pod = (name: string) => ({
      metadata: { name },
      spec: { hostNetwork: true, containers: [{ name: 'agent', image: 'x', securityContext: { capabilities: { add: ['NET_RAW'] } } }] },
    });
    assert.throws(() => f.store.create(podType, 'agents', pod('a')), (e: Error & { code?: number }) => {
      assert.equal(e.code, 403);
      assert.equal(
        e.message,
        'pods "a" is forbidden: violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true), non-default capabilities (container "agent" must not include "NET_RAW" in securityContext.capabilities.add)',
      );
      return true;
    });
    f.store.patch('namespaces', undefined, 'agents', { metadata: { labels: { 'pod-security.kubernetes.io/enforce': 'privileged' } } });
    assert.equal(f.store.create(podType, 'agents', pod('b')).metadata.name, 'b');
  } finally {
    await f.close();
  }
});

test('a deleted namespace stays Terminating, refuses new content (403 NamespaceTerminating), then is gone', async () => {
  const { f } = await setup({ tls: false });
  try {
    f.store.namespaceTerminateMs = 300;
    f.store.delete('namespaces', undefined, 'data');
    const ns = f.store.get('namespaces', undefined, 'data')!;
    assert.equal(ns.status.phase, 'Terminating');
    assert.ok(ns.metadata.deletionTimestamp);
    assert.throws(
      () => f.store.create(findResource('', 'configmaps')!, 'data', { metadata: { name: 'x' } }),
      (e: Error & { code?: number; details?: Obj }) => e.code === 403 && e.details?.causes?.[0]?.reason === 'NamespaceTerminating',
    );
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(f.store.get('namespaces', undefined, 'data'), undefined);
    assert.equal(f.store.get('pods', 'data', 'redis-0'), undefined, 'its content went with it');
  } finally {
    await f.close();
  }
});

test('the DaemonSet controller skips nodes whose taints are not tolerated or whose labels do not match; status counts them', async () => {
  const { f } = await setup({ tls: false, nodes: [] });
  try {
    f.store.podStartMs = 3_600_000;
    f.addNode({ name: 'plain', ip: '198.18.31.1' });
    f.addNode({ name: 'gpu', ip: '198.18.31.2', taints: [{ key: 'gpu', value: 'true', effect: 'NoSchedule' }] });
    f.addNode({ name: 'win', ip: '198.18.31.3', labels: { 'kubernetes.io/os': 'windows' } });
    f.ensureNamespace('agents');
    const ds = (name: string, tolerations: Obj[]) =>
      f.store.create(findResource('apps', 'daemonsets')!, 'agents', {
        metadata: { name },
        spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { nodeSelector: { 'kubernetes.io/os': 'linux' }, tolerations, containers: [{ name: 'c', image: 'x' }] } } },
      });
    ds('strict', []);
    ds('tolerant', [{ operator: 'Exists', effect: 'NoSchedule' }]);
    const nodesOf = (name: string) => f.store.list('pods', 'agents').filter((p) => p.metadata.name.startsWith(`${name}-`)).map((p) => p.spec.nodeName).sort();
    assert.deepEqual(nodesOf('strict'), ['plain']);
    assert.deepEqual(nodesOf('tolerant'), ['gpu', 'plain']);
    const status = f.store.get('daemonsets', 'agents', 'tolerant')!.status;
    assert.equal(status.desiredNumberScheduled, 2);
    assert.equal(status.currentNumberScheduled, 2);
    assert.equal(status.numberReady, 0);
    assert.equal(status.numberUnavailable, 2);
  } finally {
    await f.close();
  }
});
