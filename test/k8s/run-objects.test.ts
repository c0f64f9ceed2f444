// The run's object lifecycle against the fixture's namespace controller:
// a create refused with 403 NamespaceTerminating (the namespace went away
// between the CLI's check and its create) is retried until the namespace is
// back, not failed on; other refusals are one line, exit 4.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { Writable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiServerFixture } from '../fixtures/apiserver/server.js';
import { findResource } from '../fixtures/apiserver/store.js';
import { loadKubeConfig } from '../../src/k8s/kubeconfig.js';
import { ClusterObjects } from '../../src/k8s/cluster-objects.js';
import { cleanCluster, createOne, leftBehindLine } from '../../src/k8s/run-objects.js';
import { UserError } from '../../src/cli/errors.js';

test('a create into a terminating namespace waits for it and succeeds once it is back; a real refusal is exit 4', { timeout: 30_000 }, async () => {
  const f = new ApiServerFixture({ users: { 'ro-token': { name: 'ro', groups: [] } } });
  await f.listen();
  const dir = mkdtempSync(join(tmpdir(), 'shk-kc-'));
  f.writeKubeconfig(join(dir, 'admin'));
  f.writeKubeconfig(join(dir, 'ro'), 'shark-lab', 'default', 'ro-token');
  try {
    f.ensureNamespace('agents');
    f.store.namespaceTerminateMs = 600_000;
    f.store.delete('namespaces', undefined, 'agents');
    const said: string[] = [];
    const objects = new ClusterObjects(loadKubeConfig({ kubeconfig: join(dir, 'admin') }).kc);
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'root', namespace: 'agents' }, data: {} };
    const created = createOne(objects, cm, f.url, (l) => said.push(l), new AbortController().signal);
    const end = Date.now() + 10_000;
    while (said.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(said, ['tap: namespace agents is terminating; waiting to create ConfigMap root']);
    f.store.finishTerminating('agents');
    f.ensureNamespace('agents');
    const obj = await created;
    assert.ok(obj.metadata.uid);
    assert.ok(f.store.get('configmaps', 'agents', 'root'));

    const ro = new ClusterObjects(loadKubeConfig({ kubeconfig: join(dir, 'ro') }).kc);
    await assert.rejects(createOne(ro, { ...cm, metadata: { name: 'x', namespace: 'agents' } }, f.url, () => {}, new AbortController().signal), (e: unknown) => {
      assert.ok(e instanceof UserError && e.exitCode === 4);
      assert.equal(
        (e as Error).message,
        `${f.url}: cannot create ConfigMap x: HTTP 403: configmaps is forbidden: User "ro" cannot create resource "configmaps" in API group "" in the namespace "agents"`,
      );
      return true;
    });
  } finally {
    await f.close();
  }
});

test('--clean removes the ClusterRole and binding older versions gave the agent; a user who may not see them is not an error', { timeout: 30_000 }, async () => {
  const f = new ApiServerFixture({ users: { 'ro-token': { name: 'ro', groups: [] } } });
  await f.listen();
  const dir = mkdtempSync(join(tmpdir(), 'shk-kc-'));
  f.writeKubeconfig(join(dir, 'admin'));
  f.writeKubeconfig(join(dir, 'ro'), 'shark-lab', 'default', 'ro-token');
  const labels = { 'app.kubernetes.io/managed-by': 'shark', 'shark.io/run': 'old1' };
  f.store.create(findResource('rbac.authorization.k8s.io', 'clusterroles')!, undefined, { metadata: { name: 'shark-agent-old1', labels }, rules: [] });
  f.store.create(findResource('rbac.authorization.k8s.io', 'clusterrolebindings')!, undefined, {
    metadata: { name: 'shark-agent-old1', labels },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'shark-agent-old1' },
    subjects: [],
  });
  const err = () => {
    const out = { text: '', stream: new Writable({ write: (c: Buffer, _e, cb) => ((out.text += c.toString()), cb()) }) };
    return out;
  };
  try {
    // Not allowed to list ClusterRoles: skipped; what stops it is the next thing it may not read.
    await assert.rejects(cleanCluster({ kubeconfig: join(dir, 'ro') }, err().stream), /cannot clean up: HTTP 403: configmaps is forbidden/);
    assert.equal(f.store.findAll('app.kubernetes.io/managed-by=shark').length, 2);
    const admin = err();
    assert.equal(await cleanCluster({ kubeconfig: join(dir, 'admin') }, admin.stream), 2, admin.text);
    assert.match(admin.text, /removed ClusterRoleBinding\/shark-agent-old1 \(left by an older shark\)/);
    assert.deepEqual(f.store.findAll('app.kubernetes.io/managed-by=shark'), []);
  } finally {
    await f.close();
  }
});

test('--clean by a user whose Role in the agents namespace does not cover the Namespace object: the lapsed run is removed, the namespace left', { timeout: 30_000 }, async () => {
  const f = new ApiServerFixture({ users: { 'jane-token': { name: 'jane', groups: [] } } });
  await f.listen();
  const dir = mkdtempSync(join(tmpdir(), 'shk-kc-'));
  f.writeKubeconfig(join(dir, 'jane'), 'shark-lab', 'default', 'jane-token');
  try {
    f.ensureNamespace('obs');
    const rbac = (plural: string) => findResource('rbac.authorization.k8s.io', plural)!;
    f.store.create(rbac('roles'), 'obs', {
      metadata: { name: 'shark-user' },
      rules: [{ apiGroups: ['', 'apps', 'batch'], resources: ['configmaps', 'serviceaccounts', 'daemonsets', 'jobs', 'pods', 'events'], verbs: ['*'] }],
    });
    f.store.create(rbac('rolebindings'), 'obs', {
      metadata: { name: 'shark-user' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'shark-user' },
      subjects: [{ kind: 'User', name: 'jane', apiGroup: 'rbac.authorization.k8s.io' }],
    });
    // A run whose CLI died an hour ago: its root (the lease ConfigMap) and its DaemonSet.
    const labels = { 'app.kubernetes.io/managed-by': 'shark', 'shark.io/run': 'dead1' };
    f.store.create(findResource('', 'configmaps')!, 'obs', {
      metadata: {
        name: 'shark-run-dead1',
        labels: { ...labels, 'app.kubernetes.io/component': 'run' },
        annotations: { 'shark.io/lease-seconds': '30', 'shark.io/renew-time': new Date(Date.now() - 3600_000).toISOString() },
      },
      data: {},
    });
    f.store.create(findResource('', 'serviceaccounts')!, 'obs', { metadata: { name: 'shark-agent-dead1', labels } });
    const out = { text: '' };
    const stream = new Writable({ write: (c: Buffer, _e, cb) => ((out.text += c.toString()), cb()) });
    const removed = await cleanCluster({ kubeconfig: join(dir, 'jane'), agentNamespace: 'obs' }, stream);
    assert.equal(removed, 2, out.text);
    assert.match(out.text, /^tap: cannot read namespace obs \(HTTP 403: namespaces "obs" is forbidden: User "jane" cannot get resource "namespaces" .*\); cleaning the runs in it all the same, the namespace itself is left as it is$/m);
    assert.match(out.text, /^tap: removed ConfigMap\/obs\/shark-run-dead1 \(run dead1, lease lapsed\)$/m);
    assert.deepEqual(f.store.findAll('app.kubernetes.io/managed-by=shark'), []);
    assert.ok(f.store.get('namespaces', undefined, 'obs'));
  } finally {
    await f.close();
  }
});

test('what a run left behind: one reason said once, and what removes it with or without a keeper', () => {
  const forbidden = (kind: string, name: string) => ({
    what: `${kind}/${name}`,
    why: `HTTP 403: ${kind.toLowerCase()}s "${name}" is forbidden: User "jane" cannot delete resource "${kind.toLowerCase()}s" in API group "" in the namespace "obs"`,
  });
  const o = { namespace: 'obs', keeperSeconds: 455, leaseSeconds: 30 };
  const denied = [forbidden('ConfigMap', 'shark-run-a'), forbidden('ServiceAccount', 'shark-agent-a')];
  assert.equal(
    leftBehindLine(denied, o),
    `tap: could not remove ConfigMap/shark-run-a, ServiceAccount/shark-agent-a (${denied[0].why}, and alike for each); ask someone who may delete in obs to run \`shark tap --clean --agent-namespace obs\` once the lease (30s) has lapsed`,
  );
  assert.match(leftBehindLine(denied, { ...o, keeperJob: 'shark-keeper-a' }), /; its keeper Job obs\/shark-keeper-a removes them once the run's lease lapses \(within about 8 min\)$/);
  // Different reasons are each said; the keeper does not remove a namespace.
  const mixed = leftBehindLine([{ what: 'DaemonSet/shark-agent-a', why: 'timeout' }, { what: 'Namespace/obs', why: 'HTTP 401: Unauthorized' }], { ...o, keeperJob: 'shark-keeper-a' });
  assert.equal(mixed, 'tap: could not remove DaemonSet/shark-agent-a (timeout); Namespace/obs (HTTP 401: Unauthorized); run `shark tap --clean --agent-namespace obs` once the lease (30s) has lapsed, after logging in again');
});
