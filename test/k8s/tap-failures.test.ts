// `shark tap` in a cluster that does not cooperate: agents that cannot pull
// their image or crash, Pod Security refusing them, nodes that cannot run
// them, a user who may read one namespace only, a namespace still
// terminating, two runs at once and `--clean`, `--dry-run`, and filter
// pushdown. The API-server fixture plays the control plane from the
// Kubernetes docs (admission, RBAC, DaemonSet controller, namespace
// lifecycle); where a kubelet would report a container state, the test sets
// it in the store as a kubelet would. Agents are a stand-in process (no
// capture is needed to show how the CLI fails): it says "capturing on" and
// ends on stdin EOF, as `shark agent` does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { exited, spawnTap, until, type Tap } from '../helpers/tap-process.js';
import { ApiServerFixture, type FixtureOptions } from '../fixtures/apiserver/server.js';
import { findResource, type NodeSpec, type Obj } from '../fixtures/apiserver/store.js';

const MANAGED = 'app.kubernetes.io/managed-by=shark';

/** Stands in for `shark agent`: reports it captures, then idles until stdin ends. */
function fakeAgent(command: string[]): ChildProcess {
  const script = `process.stderr.write('agent: capturing on any\\n'); process.stdin.resume(); process.stdin.on('end', () => process.exit(0));`;
  const child = spawn(process.execPath, ['-e', script, '--', ...command], { stdio: ['pipe', 'pipe', 'pipe'] });
  return child;
}

const NODES: NodeSpec[] = [
  { name: 'node0', ip: '198.18.30.1' },
  { name: 'node1', ip: '198.18.30.2' },
];

async function fixture(opts: Partial<FixtureOptions> = {}, kubeconfigOpts: { namespace?: string; token?: string } = {}): Promise<{ f: ApiServerFixture; kubeconfig: string }> {
  const f = new ApiServerFixture({ nodes: NODES, spawnExec: fakeAgent, ...opts });
  f.addPod({ namespace: 'data', name: 'redis-0', ip: '198.18.30.12', node: 'node0', labels: { app: 'redis' } });
  f.addPod({ namespace: 'web', name: 'nginx-0', ip: '198.18.30.13', node: 'node1', labels: { app: 'nginx' } });
  await f.listen();
  const kubeconfig = join(mkdtempSync(join(tmpdir(), 'shk-kc-')), 'config');
  f.writeKubeconfig(kubeconfig, 'shark-lab', kubeconfigOpts.namespace ?? 'default', kubeconfigOpts.token);
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

/** What a kubelet reports for a pod whose container waits (image pull, crash loop …). */
function kubeletReports(f: ApiServerFixture, onNode: (node: string) => Obj | undefined): void {
  f.store.podStartMs = 3_600_000; // this "kubelet" never starts the container by itself
  f.store.on('pods', (ev: { type: string; object: Obj }) => {
    if (ev.type !== 'ADDED' || ev.object.metadata.labels?.['app.kubernetes.io/managed-by'] !== 'shark') return;
    const status = onNode(ev.object.spec.nodeName);
    if (!status) return;
    setTimeout(() => {
      const pod = f.store.get('pods', ev.object.metadata.namespace, ev.object.metadata.name);
      if (!pod) return;
      pod.status = { ...pod.status, ...status };
      f.store.update('pods', pod);
    }, 20);
  });
}

function waitingContainer(reason: string, message: string, lastExit?: number, lastReason = 'Error'): Obj {
  return {
    phase: reason === 'CrashLoopBackOff' ? 'Running' : 'Pending',
    conditions: [
      { type: 'PodScheduled', status: 'True' },
      { type: 'Ready', status: 'False', reason: 'ContainersNotReady' },
    ],
    containerStatuses: [
      {
        name: 'agent',
        ready: false,
        restartCount: lastExit === undefined ? 0 : 4,
        image: 'ghcr.io/shark-cli/shark:0.1.0',
        imageID: '',
        state: { waiting: { reason, message } },
        ...(lastExit !== undefined ? { lastState: { terminated: { exitCode: lastExit, reason: lastReason } } } : {}),
      },
    ],
  };
}

test('image pull failure on one node, crash loop on another, OOM kills on a third, a Windows node: per-node reasons, exit 4 at the deadline', { timeout: 60_000 }, async () => {
  const { f, kubeconfig } = await fixture();
  f.addNode({ name: 'win0', ip: '198.18.30.9', labels: { 'kubernetes.io/os': 'windows' } });
  f.addNode({ name: 'node2', ip: '198.18.30.4' });
  kubeletReports(f, (node) =>
    node === 'node0'
      ? waitingContainer('ImagePullBackOff', 'Back-off pulling image "ghcr.io/shark-cli/shark:0.1.0"')
      : node === 'node2'
        ? waitingContainer('CrashLoopBackOff', 'back-off 20s restarting failed container=agent', 137, 'OOMKilled')
        : waitingContainer('CrashLoopBackOff', 'back-off 40s restarting failed container=agent', 13),
  );
  // --agent-memory reaches the live DaemonSet: the OOM-killed agent's hint names its limit, and twice it for the next run.
  const tap = spawnTap(['-A', '--kubeconfig', kubeconfig, '--agent-timeout', '5s', '--agent-memory', '768Mi']);
  try {
    assert.equal(await exited(tap), 4, tap.stderr());
    const err = tap.stderr();
    assert.match(err, /^tap: node0: failed: ImagePullBackOff: Back-off pulling image "ghcr\.io\/shark-cli\/shark:0\.1\.0" → .*--agent-image/m);
    assert.match(err, /^tap: node1: failed: CrashLoopBackOff: back-off 40s restarting failed container=agent; last exit code 13 \(Error\) → .*logs shark-agent-\w+-\w+ --previous/m);
    assert.match(
      err,
      /^tap: node2: failed: CrashLoopBackOff: back-off 20s restarting failed container=agent; last exit code 137 \(OOMKilled\) → the agent ran out of its memory limit \(768Mi\) and was killed: tap fewer pods, pass --no-bodies or a smaller --max-body, or run again with --agent-memory 1536Mi$/m,
    );
    // The Windows node: listed once, never waited on or blamed.
    assert.equal((err.match(/win0/g) ?? []).length, 1, err);
    assert.match(err, /^tap: win0: no agent: windows node/m);
    assert.match(err.trimEnd().split('\n').at(-1)!, /^tap: agents not running on 3 of 3 node\(s\) after 5s \(DaemonSet shark-agent-\w+: 3 desired, 0 ready, 3 unavailable; reasons above\)$/);
    assert.doesNotMatch(err, /^\s+at /m);
    // Every object of the run is gone, the namespace (terminating) included.
    await until(() => f.store.findAll(MANAGED).length === 0, 'objects removed', 5000, tap);
  } finally {
    await f.close();
  }
});

test('Pod Security baseline refuses the agent in an existing namespace the user may not label: FailedCreate and what to do', { timeout: 60_000 }, async () => {
  const { f, kubeconfig } = await fixture(
    { users: { 'jane-token': { name: 'jane', groups: [] } } },
    { token: 'jane-token' },
  );
  f.store.podSecurityDefault = 'baseline';
  f.ensureNamespace('shark-system');
  // jane: everything inside shark-system, read elsewhere, but she may not patch the namespace object itself.
  grant(f, 'jane', 'shark-system', [{ apiGroups: ['', 'apps'], resources: ['pods', 'pods/exec', 'configmaps', 'serviceaccounts', 'daemonsets', 'events'], verbs: ['*'] }]);
  grant(f, 'jane', 'shark-system', [{ apiGroups: [''], resources: ['namespaces'], verbs: ['get'] }], 'ns-read');
  grant(f, 'jane', 'data', [{ apiGroups: ['', 'discovery.k8s.io'], resources: ['pods', 'services', 'endpointslices'], verbs: ['get', 'list', 'watch'] }]);
  const tap = spawnTap(['redis', '-n', 'data', '--kubeconfig', kubeconfig, '--agent-timeout', '5s']);
  try {
    assert.equal(await exited(tap), 4, tap.stderr());
    const err = tap.stderr();
    assert.match(err, /^tap: cannot label namespace shark-system pod-security\.kubernetes\.io\/enforce=privileged \(HTTP 403: namespaces "shark-system" is forbidden: User "jane" cannot patch resource "namespaces"/m);
    assert.match(err, /failed: FailedCreate: Error creating: pods "shark-agent-\w+-\w+" is forbidden: violates PodSecurity "baseline:latest": host namespaces \(hostNetwork=true\), non-default capabilities \(container "agent" must not include "NET_RAW"/);
    assert.match(err, /→ namespace shark-system has no pod-security\.kubernetes\.io\/enforce label, so the cluster's default level \(baseline\) applies and refuses the agent \(hostNetwork, NET_RAW\): kubectl label namespace shark-system pod-security\.kubernetes\.io\/enforce=privileged --overwrite/);
    const ds = f.store.findAll(MANAGED).find((o) => o.kind === 'DaemonSet');
    assert.equal(ds, undefined, 'the run removed its DaemonSet');
    // The controller's record: FailedCreate events on the DaemonSet, pods missing from its status.
    const events = f.store.list('events', 'shark-system').filter((e) => e.reason === 'FailedCreate');
    assert.ok(events.length >= 1 && events.every((e) => e.involvedObject.kind === 'DaemonSet'));
  } finally {
    await f.close();
  }
});

test('a namespace labelled Pod Security restricted that the user may not relabel: the label is named at once and in the verdict, exit 4', { timeout: 60_000 }, async () => {
  const { f, kubeconfig } = await fixture({ users: { 'jane-token': { name: 'jane', groups: [] } } }, { token: 'jane-token' });
  f.store.create(findResource('', 'namespaces')!, undefined, { metadata: { name: 'shark-system', labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } });
  grant(f, 'jane', 'shark-system', [{ apiGroups: ['', 'apps', 'batch'], resources: ['pods', 'pods/exec', 'configmaps', 'serviceaccounts', 'daemonsets', 'jobs', 'events'], verbs: ['*'] }]);
  grant(f, 'jane', 'shark-system', [{ apiGroups: [''], resources: ['namespaces'], verbs: ['get'] }], 'ns-read');
  grant(f, 'jane', 'data', [{ apiGroups: ['', 'discovery.k8s.io'], resources: ['pods', 'services', 'endpointslices'], verbs: ['get', 'list', 'watch'] }]);
  const tap = spawnTap(['redis', '-n', 'data', '--kubeconfig', kubeconfig, '--agent-timeout', '5s']);
  try {
    assert.equal(await exited(tap), 4, tap.stderr());
    const err = tap.stderr();
    assert.match(
      err,
      /^tap: namespace shark-system is labelled pod-security\.kubernetes\.io\/enforce=restricted, which refuses the agents \(hostNetwork, NET_RAW\), and it cannot be relabelled \(HTTP 403: namespaces "shark-system" is forbidden: User "jane" cannot patch resource "namespaces"[^\n]*\); ask an admin: kubectl label namespace shark-system pod-security\.kubernetes\.io\/enforce=privileged --overwrite, or pass --agent-namespace a namespace that allows privileged pods$/m,
    );
    assert.match(err, /failed: FailedCreate: Error creating: pods "shark-agent-\w+-\w+" is forbidden: violates PodSecurity "restricted:latest"/);
    assert.match(err, /→ namespace shark-system is labelled pod-security\.kubernetes\.io\/enforce=restricted, which refuses the agent \(hostNetwork, NET_RAW\): kubectl label namespace shark-system pod-security\.kubernetes\.io\/enforce=privileged --overwrite/);
    assert.match(err.trimEnd().split('\n').at(-1)!, /^tap: agents not running on \d of \d node\(s\) after 5s/);
    assert.equal(f.store.get('namespaces', undefined, 'shark-system')!.metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');
  } finally {
    await f.close();
  }
});

test('--agent-priority-class naming a PriorityClass the cluster lacks: FailedCreate on every node, what to do, exit 4', { timeout: 60_000 }, async () => {
  const { f, kubeconfig } = await fixture();
  const tap = spawnTap(['-A', '--kubeconfig', kubeconfig, '--agent-timeout', '4s', '--agent-priority-class', 'shark-high']);
  try {
    assert.equal(await exited(tap), 4, tap.stderr());
    const err = tap.stderr();
    assert.match(
      err,
      /^tap: node0: failed: FailedCreate: Error creating: pods "shark-agent-\w+-\w+" is forbidden: no PriorityClass with name shark-high was found → --agent-priority-class names a PriorityClass the cluster does not have \(kubectl get priorityclasses lists them\): pass one of those, or leave the flag out$/m,
    );
    assert.match(err.trimEnd().split('\n').at(-1)!, /^tap: agents not running on 2 of 2 node\(s\) after 4s/);
    await until(() => f.store.findAll(MANAGED).length === 0, 'objects removed', 5000, tap);
  } finally {
    await f.close();
  }
});

function grant(f: ApiServerFixture, user: string, namespace: string, rules: Obj[], name = `${user}-role`): void {
  f.ensureNamespace(namespace);
  f.store.create(findResource('rbac.authorization.k8s.io', 'roles')!, namespace, { metadata: { name }, rules });
  f.store.create(findResource('rbac.authorization.k8s.io', 'rolebindings')!, namespace, {
    metadata: { name },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
    subjects: [{ kind: 'User', name: user, apiGroup: 'rbac.authorization.k8s.io' }],
  });
}

test('a user who may read one namespace: -n works (only that namespace is read), -A is one clear line and exit 4', { timeout: 60_000 }, async () => {
  const { f, kubeconfig } = await fixture({ users: { 'jane-token': { name: 'jane', groups: [] } } }, { token: 'jane-token' });
  f.ensureNamespace('shark-system');
  f.store.patch('namespaces', undefined, 'shark-system', { metadata: { labels: { 'pod-security.kubernetes.io/enforce': 'privileged' } } });
  grant(f, 'jane', 'shark-system', [{ apiGroups: ['', 'apps'], resources: ['pods', 'pods/exec', 'configmaps', 'serviceaccounts', 'daemonsets', 'events'], verbs: ['*'] }]);
  grant(f, 'jane', 'data', [{ apiGroups: ['', 'discovery.k8s.io'], resources: ['pods', 'services', 'endpointslices'], verbs: ['get', 'list', 'watch'] }]);
  const all = spawnTap(['-A', '--kubeconfig', kubeconfig]);
  try {
    assert.equal(await exited(all), 4, all.stderr());
    assert.equal(
      all.stderr().trim().split('\n').at(-1),
      `tap: ${f.url}: cannot list pods in every namespace: HTTP 403: pods is forbidden: User "jane" cannot list resource "pods" in API group "" at the cluster scope; -A needs cluster-wide list/watch of pods, services, endpointslices and nodes: tap named namespaces with -n NS instead`,
    );
    assert.ok(!f.requests.some((r) => r.startsWith('POST')), 'nothing was created');

    const seen = f.requests.length;
    const one = spawnTap(['redis', '-n', 'data', '--kubeconfig', kubeconfig]);
    await until(() => /agents running on 2 node\(s\)/.test(one.stderr()), 'agents running', 20_000, one);
    await until(() => f.execs.filter((e) => e.stderr.includes('capturing on')).length === 2, 'two agents exec’d', 10_000, one);
    assert.match(one.stderr(), /^\+data\/redis-0$/m);
    // jane may not create Jobs: the run goes on rooted on its lease ConfigMap, and she is told what that costs.
    assert.match(one.stderr(), /^tap: cannot create the run's keeper Job \(HTTP 403: .*cannot create resource "jobs" in API group "batch".*\); if this CLI is killed, its objects stay until `shark tap --clean`/m);
    const root = f.store.findAll(MANAGED).find((o) => o.kind === 'ConfigMap')!;
    assert.equal(f.store.findAll(MANAGED).find((o) => o.kind === 'DaemonSet')!.metadata.ownerReferences[0].uid, root.metadata.uid);
    // Only the namespaces it taps (and the agents'), never cluster-wide lists or nodes.
    const reads = f.requests.slice(seen).filter((r) => r.startsWith('GET /api') && !r.includes('/exec'));
    assert.ok(reads.every((r) => /\/namespaces\/(data|shark-system)(\/|\?|$)/.test(r)), reads.filter((r) => !/\/namespaces\/(data|shark-system)/.test(r)).join('\n'));
    one.child.kill('SIGINT');
    assert.equal(await exited(one), 0, one.stderr());
    // The namespace existed before the run: it stays, and only the run's objects went.
    assert.deepEqual(f.store.findAll(MANAGED), []);
    assert.ok(f.store.get('namespaces', undefined, 'shark-system'));
  } finally {
    all.child.kill('SIGKILL');
    await f.close();
  }
});

test('a user who may not watch events in the agents namespace is told that namespace needs them, not the tapped one', { timeout: 60_000 }, async () => {
  const { f, kubeconfig } = await fixture({ users: { 'jane-token': { name: 'jane', groups: [] } } }, { token: 'jane-token' });
  f.ensureNamespace('shark-system');
  grant(f, 'jane', 'shark-system', [{ apiGroups: ['', 'apps', 'batch'], resources: ['pods', 'pods/exec', 'configmaps', 'serviceaccounts', 'daemonsets', 'jobs'], verbs: ['*'] }]);
  grant(f, 'jane', 'data', [{ apiGroups: ['', 'discovery.k8s.io'], resources: ['pods', 'services', 'endpointslices'], verbs: ['get', 'list', 'watch'] }]);
  const tap = spawnTap(['-n', 'data', '--kubeconfig', kubeconfig]);
  try {
    assert.equal(await exited(tap), 4, tap.stderr());
    assert.equal(
      tap.stderr(),
      `tap: ${f.url}: cannot list events in namespace shark-system: HTTP 403: events is forbidden: User "jane" cannot list resource "events" in API group "" in the namespace "shark-system"; the run watches its agents there: ask for get/list/watch on pods, events and daemonsets in namespace shark-system (or pass --agent-namespace NS where you have them)\n`,
    );
    assert.ok(!f.requests.some((r) => r.startsWith('POST')), 'nothing was created');
  } finally {
    tap.child.kill('SIGKILL');
    await f.close();
  }
});

test('a user who may not exec into the agent pods: one line before anything is deployed; one whose get is not enough: one line naming the pod and node, exit 4, nothing left', { timeout: 60_000 }, async () => {
  const { f, kubeconfig } = await fixture({ users: { 'jane-token': { name: 'jane', groups: [] } } }, { token: 'jane-token' });
  f.ensureNamespace('shark-system');
  f.store.patch('namespaces', undefined, 'shark-system', { metadata: { labels: { 'pod-security.kubernetes.io/enforce': 'privileged' } } });
  // Everything a run needs but pods/exec (RBAC '*' would grant subresources too: named one by one).
  const rules = [{ apiGroups: ['', 'apps', 'batch'], resources: ['pods', 'configmaps', 'serviceaccounts', 'daemonsets', 'jobs', 'events'], verbs: ['*'] }];
  grant(f, 'jane', 'shark-system', rules);
  grant(f, 'jane', 'data', [{ apiGroups: ['', 'discovery.k8s.io'], resources: ['pods', 'services', 'endpointslices'], verbs: ['get', 'list', 'watch'] }]);
  const tap = spawnTap(['-n', 'data', '--kubeconfig', kubeconfig, '--agent-timeout', '20s']);
  try {
    assert.equal(await exited(tap), 4, tap.stderr());
    assert.equal(
      tap.stderr().split('\n').filter((l) => l.startsWith('tap: ')).join('\n'),
      `tap: ${f.url}: this user may not exec into pods in namespace shark-system (kubectl auth can-i create pods/exec -n shark-system: no), and entries leave the agents only through exec; ask for create and get on pods/exec there, or pass --agent-namespace a namespace where you have them`,
    );
    assert.deepEqual(
      f.requests.filter((r) => !r.startsWith('GET ')),
      ['POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews', 'POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews'],
      'nothing but the access reviews (create, then get) was sent',
    );

    // `get` passes the review (API servers before 1.30 authorize exec with it), but this one asks `create` of a websocket exec.
    grant(f, 'jane', 'shark-system', [{ apiGroups: [''], resources: ['pods/exec'], verbs: ['get'] }], 'exec-get');
    const late = spawnTap(['-n', 'data', '--kubeconfig', kubeconfig, '--agent-timeout', '20s']);
    assert.equal(await exited(late), 4, late.stderr());
    const agent = f.requests.find((r) => r.startsWith('UPGRADE '))!.match(/pods\/(shark-agent-[^/]+)\/exec/)![1];
    assert.deepEqual(f.store.findAll(MANAGED), [], 'nothing of the run is left');
    assert.match(
      late.stderr().trim().split('\n').at(-1)!,
      new RegExp(`^tap: ${f.url.replace(/[.]/g, '\\.')}: cannot exec into agent pod shark-system/${agent} on node node[01] \\(HTTP 403 Forbidden\\): this user may not create pods/exec in namespace shark-system, so no entry can leave the agents; ask for create and get on pods/exec there \\(kubectl auth can-i create pods/exec -n shark-system\\)$`),
    );
    assert.doesNotMatch(late.stderr(), /paused|reconnecting/);
  } finally {
    tap.child.kill('SIGKILL');
    await f.close();
  }
});

test('a namespace still terminating is waited for; the agents get the least privilege; two runs own their objects; --clean removes only the lapsed one', { timeout: 90_000 }, async () => {
  const { f, kubeconfig } = await fixture();
  f.store.namespaceTerminateMs = 600_000; // ends when the test says so, below
  f.ensureNamespace('shark-system');
  f.store.delete('namespaces', undefined, 'shark-system'); // a previous run's cleanup, still going on
  const a = spawnTap(['redis', '-n', 'data', '--kubeconfig', kubeconfig]);
  let b: Tap | undefined;
  try {
    await until(() => /namespace shark-system is terminating .*waiting/.test(a.stderr()), 'run A waiting', 30_000, a);
    await new Promise((r) => setTimeout(r, 600));
    assert.ok(!f.requests.some((r) => r.startsWith('POST') && !r.includes('selfsubjectaccessreviews')), 'nothing created into a terminating namespace');
    f.store.finishTerminating('shark-system');
    f.store.namespaceTerminateMs = 300;
    await until(() => /agents running on 2 node\(s\)/.test(a.stderr()), 'run A running', 30_000, a);
    const ns = f.store.get('namespaces', undefined, 'shark-system')!;
    assert.equal(ns.metadata.labels['pod-security.kubernetes.io/enforce'], 'privileged');
    // Least privilege: no token, no RBAC, NET_RAW only, every taint tolerated, Linux nodes only.
    const kinds = f.store.findAll(MANAGED).map((o) => o.kind);
    assert.ok(!kinds.some((k) => /Role/.test(k)), kinds.join(','));
    const ds = f.store.findAll(MANAGED).find((o) => o.kind === 'DaemonSet')!;
    const pod = ds.spec.template.spec;
    assert.equal(pod.automountServiceAccountToken, false);
    assert.deepEqual(pod.containers[0].securityContext.capabilities, { drop: ['ALL'], add: ['NET_RAW'] });
    assert.deepEqual(pod.nodeSelector, { 'kubernetes.io/os': 'linux' });
    assert.deepEqual(pod.tolerations, [
      { operator: 'Exists', effect: 'NoSchedule' },
      { operator: 'Exists', effect: 'NoExecute' },
    ]);
    // The run's root is its keeper Job: the lease, the account and the DaemonSet are owned by it.
    const root = f.store.findAll(MANAGED).find((o) => o.kind === 'Job')!;
    const owned = f.store.findAll(MANAGED).filter((o) => o.kind === 'DaemonSet' || o.kind === 'ServiceAccount' || o.kind === 'ConfigMap');
    assert.equal(owned.length, 3);
    for (const o of owned) {
      assert.equal(o.metadata.ownerReferences[0].uid, root.metadata.uid, `${o.kind} is owned by the run's root`);
    }

    // Run B, with a short lease, is killed -9: its objects stay behind.
    b = spawnTap(['web', '-n', 'web', '--kubeconfig', kubeconfig, '--agent-lease', '1s']);
    await until(() => /agents running on 2 node\(s\)/.test(b!.stderr()), 'run B running', 30_000, b);
    const runOf = (o: Obj) => o.metadata.labels['shark.io/run'];
    const runA = runOf(root);
    const runB = [...new Set(f.store.findAll(MANAGED).map(runOf).filter((r) => r && r !== runA))][0];
    b.child.kill('SIGKILL');
    await b.exit;
    await new Promise((r) => setTimeout(r, 1600)); // B's lease lapses; A renews its own
    const clean = spawnTap(['--clean', '--kubeconfig', kubeconfig]);
    assert.equal(await exited(clean), 0, clean.stderr());
    assert.match(clean.stderr(), new RegExp(`run ${runA} is alive .*: kept`));
    assert.match(clean.stderr(), new RegExp(`removed DaemonSet/shark-system/shark-agent-${runB} \\(run ${runB}, lease lapsed\\)`));
    // Its keeper too (in this fixture no kubelet runs the keeper, so nothing ended the run before --clean).
    assert.match(clean.stderr(), new RegExp(`removed Job/shark-system/shark-keeper-${runB} \\(run ${runB}, lease lapsed\\)`));
    const left = f.store.findAll(MANAGED).filter((o) => o.kind !== 'Pod' && o.kind !== 'Namespace');
    assert.deepEqual([...new Set(left.map(runOf))], [runA], 'only run A’s objects are left');
    assert.equal(a.child.exitCode, null, 'run A still runs');

    a.child.kill('SIGINT');
    assert.equal(await exited(a), 0, a.stderr());
    assert.match(a.stderr(), /removed 5 object\(s\)/);
    await until(() => f.store.findAll(MANAGED).length === 0, 'everything removed', 5000, a);
  } finally {
    a.child.kill('SIGKILL');
    b?.child.kill('SIGKILL');
    await f.close();
  }
});

test('--dry-run: multi-document YAML, nothing sent, schema-valid, and real kubectl applies it', { timeout: 60_000 }, async () => {
  const f = new ApiServerFixture({ nodes: NODES, spawnExec: fakeAgent, tls: true });
  await f.listen();
  const kubeconfig = join(mkdtempSync(join(tmpdir(), 'shk-kc-')), 'config');
  f.writeKubeconfig(kubeconfig);
  try {
    const tap = spawnTap(['-A', '--dry-run', '--kubeconfig', kubeconfig, '--agent-image', 'registry.example/shark:1']);
    assert.equal(await exited(tap), 0, tap.stderr());
    assert.deepEqual(f.requests, [], 'the cluster was not contacted');
    const docs = parseAllDocuments(tap.stdout()).map((d) => d.toJS() as Obj);
    assert.deepEqual(docs.map((d) => d.kind), ['Namespace', 'ConfigMap', 'ServiceAccount', 'DaemonSet']);
    const validators: Record<string, (o: Obj) => { validate(): void }> = {
      Namespace: (o) => new Namespace(o),
      ConfigMap: (o) => new ConfigMap(o),
      ServiceAccount: (o) => new ServiceAccount(o),
      DaemonSet: (o) => new DaemonSet(o),
    };
    for (const d of docs) assert.doesNotThrow(() => validators[d.kind](d).validate(), `${d.kind} is schema-valid`);
    assert.equal(docs[3].spec.template.spec.containers[0].image, 'registry.example/shark:1');

    const apply = await run('kubectl', ['--kubeconfig', kubeconfig, 'apply', '-f', '-'], tap.stdout());
    assert.equal(apply.status, 0, apply.stderr);
    assert.match(apply.stdout, /namespace\/shark-system created/);
    assert.match(apply.stdout, /daemonset\.apps\/shark-agent-\w+ created/);
    // The DaemonSet controller scheduled an agent on each node of the fixture.
    assert.equal(f.store.list('pods', 'shark-system').length, 2);
    // Applied by hand, the run has no lease: --clean keeps it.
    const clean = spawnTap(['--clean', '--kubeconfig', kubeconfig]);
    assert.equal(await exited(clean), 0, clean.stderr());
    assert.match(clean.stderr(), /has no lease .*: kept/);
    assert.equal(f.store.list('daemonsets', 'shark-system').length, 1);
  } finally {
    await f.close();
  }
});

test('pushdown: -f and --protocols run on the agents; a filter on names runs in the CLI; a bad filter is exit 2 before anything is deployed', { timeout: 60_000 }, async () => {
  const { f, kubeconfig } = await fixture();
  try {
    const bad = spawnTap(['-A', '--kubeconfig', kubeconfig, '-f', 'http and (']);
    assert.equal(await exited(bad), 2, bad.stderr());
    assert.equal(f.requests.length, 0, 'nothing was read or deployed');

    const tap = spawnTap(['-A', '--kubeconfig', kubeconfig, '-f', 'http && response.status >= 500', '--protocols', 'http,dns']);
    await until(() => f.execs.length === 2, 'agents exec’d', 20_000, tap);
    for (const e of f.execs) {
      const cmd = e.command.join(' ');
      assert.match(cmd, /--protocols http,dns/);
      assert.ok(e.command.includes('--kfl') && e.command[e.command.indexOf('--kfl') + 1] === 'http && response.status >= 500', cmd);
    }
    tap.child.kill('SIGINT');
    assert.equal(await exited(tap), 0, tap.stderr());

    const before = f.execs.length;
    const names = spawnTap(['-A', '--kubeconfig', kubeconfig, '-f', 'dst.namespace == "web"']);
    await until(() => f.execs.length === before + 2, 'agents exec’d', 20_000, names);
    assert.match(names.stderr(), /the filter reads names the CLI adds .*: it runs in the CLI/);
    assert.ok(f.execs.slice(before).every((e) => !e.command.includes('--kfl')));
    names.child.kill('SIGINT');
    assert.equal(await exited(names), 0, names.stderr());
  } finally {
    await f.close();
  }
});
