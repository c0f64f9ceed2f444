// The fixture's Job and TTL-after-finished controllers and cascading deletion
// (controllers.ts, store.ts), as the Kubernetes docs describe them: the run's
// keeper Job depends on them to take a run away by itself. The run's objects
// are created over HTTP by the real ClusterObjects, as `shark tap` does. No
// kubelet runs here: what a kubelet would report about the keeper's pod
// (Succeeded, a container restart) is written into its status, as a kubelet
// does; test/k8s/run-expiry.test.ts runs the real image instead.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { ApiServerFixture } from '../fixtures/apiserver/server.js';
import { findResource, type Obj } from '../fixtures/apiserver/store.js';
import { agentManifests, ownedBy, runSelector } from '../../src/k8s/agent-manifests.js';
import { ClusterObjects } from '../../src/k8s/cluster-objects.js';
import { loadKubeConfig } from '../../src/k8s/kubeconfig.js';
import { cleanCluster } from '../../src/k8s/run-objects.js';
import { until } from '../helpers/until.js';

const NODES = [{ name: 'node0', ip: '198.19.200.1' }];

async function setup(): Promise<{ f: ApiServerFixture; objects: ClusterObjects; kubeconfig: string }> {
  const f = new ApiServerFixture({ nodes: NODES });
  await f.listen();
  const kubeconfig = join(mkdtempSync(join(tmpdir(), 's6r-kc-')), 'config');
  f.writeKubeconfig(kubeconfig);
  return { f, objects: new ClusterObjects(loadKubeConfig({ kubeconfig }).kc), kubeconfig };
}

/** Create a run as `shark tap` does: namespace, keeper Job, then the rest owned by it. */
async function createRun(objects: ClusterObjects, runId: string, opts: { backoffLimit?: number } = {}): Promise<Obj> {
  const m = agentManifests({ runId, image: 'shark:test', leaseSeconds: 30 });
  if (!(await objects.readNamespace(m.namespace))) await objects.create(m.roots[0]);
  const job = structuredClone(m.root);
  if (opts.backoffLimit !== undefined) job.spec.backoffLimit = opts.backoffLimit;
  const root = await objects.create(job);
  for (const o of m.owned) await objects.create(ownedBy(o, root));
  return root;
}

const keeperPods = (f: ApiServerFixture, runId: string) =>
  f.store.list('pods', 'shark-system').filter((p) => p.metadata.ownerReferences?.[0]?.kind === 'Job' && p.metadata.labels['shark.io/run'] === runId);

/** What a kubelet reports for the keeper's pod (one container). */
function report(f: ApiServerFixture, pod: Obj, status: Obj): void {
  const cur = f.store.get('pods', pod.metadata.namespace, pod.metadata.name)!;
  cur.status = { ...cur.status, ...status };
  f.store.update('pods', cur);
}

test('a keeper Job runs one pod; when it Succeeded the Job is Complete, its TTL (0) deletes it and the run goes with it; another run stays', { timeout: 30_000 }, async () => {
  const { f, objects } = await setup();
  try {
    const root = await createRun(objects, 'gone01');
    await createRun(objects, 'stay01');
    const pod = await until(() => keeperPods(f, 'gone01')[0], 'the keeper pod', 5000);
    // The Job controller's pod: from the template, controlled by the Job, with the Job's generated labels.
    assert.deepEqual(pod.metadata.ownerReferences[0], { apiVersion: 'batch/v1', kind: 'Job', name: root.metadata.name, uid: root.metadata.uid, controller: true, blockOwnerDeletion: true });
    assert.equal(pod.metadata.labels['batch.kubernetes.io/job-name'], root.metadata.name);
    assert.equal(pod.spec.nodeName, 'node0');
    assert.equal(pod.spec.restartPolicy, 'OnFailure');
    const job = f.store.get('jobs', 'shark-system', root.metadata.name)!;
    assert.deepEqual(job.spec.selector, { matchLabels: { 'batch.kubernetes.io/controller-uid': root.metadata.uid } });
    await until(() => f.store.get('jobs', 'shark-system', root.metadata.name)?.status?.active === 1, 'status.active 1', 5000);
    // The agents' DaemonSet pods exist under the run too (they must go as well).
    await until(() => f.store.findAll(runSelector('gone01')).some((o) => o.kind === 'Pod' && o.metadata.ownerReferences?.[0]?.kind === 'DaemonSet'), 'agent pods', 5000);

    // Watch the Job's last states as a client would.
    const seen: Obj[] = [];
    f.store.on('jobs', (ev: { type: string; object: Obj }) => ev.object.metadata.name === root.metadata.name && seen.push({ type: ev.type, ...ev.object }));
    report(f, pod, { phase: 'Succeeded', containerStatuses: [{ name: 'keeper', ready: false, restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed' } } }] });
    await until(() => f.store.findAll(runSelector('gone01')).length === 0, 'the run gone', 5000, () => JSON.stringify(f.store.findAll(runSelector('gone01')).map((o) => `${o.kind}/${o.metadata.name}`)));
    const complete = seen.find((j) => (j.status?.conditions ?? []).some((c: Obj) => c.type === 'Complete' && c.status === 'True'));
    assert.ok(complete, JSON.stringify(seen.map((j) => j.status)));
    assert.equal(complete.status.succeeded, 1);
    assert.ok(complete.status.completionTime);
    assert.deepEqual(complete.status.conditions.map((c: Obj) => c.type), ['SuccessCriteriaMet', 'Complete']);
    // Deleted by the TTL controller in the foreground: marked first, then gone.
    const marked = seen.find((j) => j.type === 'MODIFIED' && j.metadata.deletionTimestamp);
    assert.deepEqual(marked?.metadata.finalizers, ['foregroundDeletion']);
    assert.equal(seen.at(-1)!.type, 'DELETED');
    // The other run is untouched: its Job still active, its objects all there.
    assert.deepEqual(f.store.findAll(runSelector('stay01')).map((o) => o.kind).filter((k) => k !== 'Pod').sort(), ['ConfigMap', 'DaemonSet', 'Job', 'ServiceAccount']);
    assert.equal(keeperPods(f, 'stay01').length, 1);
  } finally {
    await f.close();
  }
});

test('restarts count against backoffLimit: past it the Job is Failed, and a Failed Job is deleted by its TTL too — so the keeper’s limit is the largest int32', { timeout: 30_000 }, async () => {
  const { f, objects } = await setup();
  try {
    await createRun(objects, 'fail01', { backoffLimit: 2 });
    await createRun(objects, 'keep01');
    const crash = (pod: Obj, n: number) =>
      report(f, pod, { phase: 'Running', containerStatuses: [{ name: 'keeper', ready: false, restartCount: n, state: { waiting: { reason: 'CrashLoopBackOff' } } }] });
    // Once running (the fixture's stand-in kubelet reports Running on its own a moment after scheduling).
    const weak = await until(() => keeperPods(f, 'fail01').find((p) => p.status?.phase === 'Running'), 'keeper pod running', 5000);
    const strong = await until(() => keeperPods(f, 'keep01').find((p) => p.status?.phase === 'Running'), 'keeper pod running', 5000);
    crash(weak, 3);
    crash(strong, 3);
    await until(() => f.store.findAll(runSelector('fail01')).length === 0, 'the crashing run with backoffLimit 2 gone', 5000);
    // The keeper as shipped survives the same crashes: its Job still runs the same pod.
    await new Promise((r) => setTimeout(r, 300));
    const job = f.store.list('jobs', 'shark-system').find((j) => j.metadata.labels['shark.io/run'] === 'keep01')!;
    assert.equal(job.status.failed, 3);
    assert.ok(!(job.status.conditions ?? []).length, JSON.stringify(job.status));
    assert.equal(keeperPods(f, 'keep01')[0].metadata.name, strong.metadata.name);
    // A pod that ended Failed (evicted, its node drained) is replaced, and the run lives on.
    report(f, strong, { phase: 'Failed', reason: 'Evicted' });
    await until(() => keeperPods(f, 'keep01').some((p) => p.status?.phase !== 'Failed'), 'a replacement keeper pod', 5000);
    assert.equal(f.store.findAll(runSelector('keep01')).filter((o) => o.kind === 'DaemonSet').length, 1);
  } finally {
    await f.close();
  }
});

test('deleting a Job without a propagation policy orphans its pod (batch/v1’s default); ClusterObjects deletes it with Background, pod included', { timeout: 30_000 }, async () => {
  const { f, objects } = await setup();
  try {
    const a = await createRun(objects, 'orph01');
    const b = await createRun(objects, 'back01');
    const pa = await until(() => keeperPods(f, 'orph01')[0], 'keeper pod', 5000);
    await until(() => keeperPods(f, 'back01')[0], 'keeper pod', 5000);
    // A bare DELETE, as an old client sends it.
    const res = await fetch(`${f.url}/apis/batch/v1/namespaces/shark-system/jobs/${a.metadata.name}`, { method: 'DELETE', headers: { authorization: 'Bearer fixture-token' } });
    assert.equal(res.status, 200);
    const orphan = f.store.get('pods', 'shark-system', pa.metadata.name);
    assert.ok(orphan, 'the pod stays');
    assert.equal(orphan.metadata.ownerReferences, undefined);
    // The run's other objects were owned by the Job: orphaned too, not deleted.
    assert.ok(f.store.findAll(runSelector('orph01')).some((o) => o.kind === 'DaemonSet'));
    await objects.remove('Job', b.metadata.name, 'shark-system');
    assert.deepEqual(f.store.findAll(runSelector('back01')), []);
  } finally {
    await f.close();
  }
});

test('with the Job controller turned off nothing ends a run: `tap --clean` still removes a keeper-rooted run whose lease lapsed, and keeps a live one', { timeout: 30_000 }, async () => {
  const { f, objects, kubeconfig } = await setup();
  f.store.jobs.enabled = false;
  try {
    await createRun(objects, 'dead01');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(keeperPods(f, 'dead01').length, 0, 'no controller, no keeper pod');
    await createRun(objects, 'live01');
    // The dead run's lease renewed an hour ago; the live one's now.
    await objects.renew('shark-system', 'dead01', new Date(Date.now() - 3600_000));
    let said = '';
    const err = new Writable({ write: (c, _e, cb) => ((said += String(c)), cb()) });
    await cleanCluster({ kubeconfig }, err);
    assert.match(said, /removed Job\/shark-system\/shark-keeper-dead01 \(run dead01, lease lapsed\)/);
    assert.match(said, /run live01 is alive/);
    assert.deepEqual(f.store.findAll(runSelector('dead01')), []);
    assert.deepEqual(f.store.findAll(runSelector('live01')).map((o) => o.kind).sort(), ['ConfigMap', 'DaemonSet', 'Job', 'Pod', 'ServiceAccount']);
  } finally {
    await f.close();
  }
});

test('the garbage collector deletes a dependent only with its last owner: with another owner left, it only loses the reference', { timeout: 10_000 }, () => {
  const f = new ApiServerFixture({ nodes: NODES });
  const cm = findResource('', 'configmaps')!;
  const a = f.store.create(cm, 'default', { metadata: { name: 'owner-a' } });
  const b = f.store.create(cm, 'default', { metadata: { name: 'owner-b' } });
  const ref = (o: Obj) => ({ apiVersion: 'v1', kind: 'ConfigMap', name: o.metadata.name, uid: o.metadata.uid });
  f.store.create(cm, 'default', { metadata: { name: 'both', ownerReferences: [ref(a), ref(b)] } });
  f.store.delete('configmaps', 'default', 'owner-a');
  assert.deepEqual(f.store.get('configmaps', 'default', 'both')?.metadata.ownerReferences, [ref(b)]);
  f.store.delete('configmaps', 'default', 'owner-b');
  assert.equal(f.store.get('configmaps', 'default', 'both'), undefined);
});
