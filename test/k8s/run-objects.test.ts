// The run's object lifecycle against the fixture's namespace controller:
// a create refused with 403 NamespaceTerminating (the namespace went away
// between the CLI's check and its create) is retried until the namespace is
// back, not failed on; other refusals are one line, exit 4.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiServerFixture } from '../fixtures/apiserver/server.js';
import { loadKubeConfig } from '../../src/k8s/kubeconfig.js';
import { ClusterObjects } from '../../src/k8s/cluster-objects.js';
import { createOne } from '../../src/k8s/run-objects.js';
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
