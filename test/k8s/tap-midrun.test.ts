// `shark tap` when the cluster turns against it after the start, as an SRE
// meets it: a tapped pod on a node the agents may not run on (with -n nothing
// else would say it is not captured), credentials that expire mid-run (not an
// outage: the open agent streams go on), and a user who may create but not
// delete (what is left, said once, and what will remove it). Agents are a
// stand-in process writing an entry every 200 ms.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exited, spawnTap, until } from '../helpers/tap-process.js';
import { ApiServerFixture, type FixtureOptions } from '../fixtures/apiserver/server.js';
import { findResource } from '../fixtures/apiserver/store.js';
import type { User } from '../fixtures/apiserver/rbac.js';

const MANAGED = 'app.kubernetes.io/managed-by=shark';

function entryAgent(command: string[]): ChildProcess {
  const entry = JSON.stringify({ timestamp: 0, protocol: 'dns', src: { ip: '198.18.34.12', port: 5353 }, dst: { ip: '198.18.34.13', port: 53 } });
  const script = `process.stderr.write('agent: capturing on any\\n');
    setInterval(() => process.stdout.write(${JSON.stringify(entry)}.replace('"timestamp":0', '"timestamp":' + Date.now()) + '\\n'), 200);
    process.stdin.on('data', (d) => { if (String(d).includes('"stop"')) process.exit(0); });
    process.stdin.on('end', () => process.exit(0));`;
  return spawn(process.execPath, ['-e', script, '--', ...command], { stdio: ['pipe', 'pipe', 'pipe'] });
}

async function fixture(opts: Partial<FixtureOptions> = {}, token?: string): Promise<{ f: ApiServerFixture; kubeconfig: string }> {
  const f = new ApiServerFixture({ nodes: [{ name: 'node0', ip: '198.18.34.1' }], spawnExec: entryAgent, ...opts });
  f.addPod({ namespace: 'data', name: 'redis-0', ip: '198.18.34.12', node: 'node0' });
  await f.listen();
  const kubeconfig = join(mkdtempSync(join(tmpdir(), 'shk-kc-')), 'config');
  f.writeKubeconfig(kubeconfig, 'shark-lab', 'default', token);
  return { f, kubeconfig };
}

test('-n: tapped pods on a node whose taint the agents do not tolerate are named as not captured, with the taint', { timeout: 60_000 }, async () => {
  const { f, kubeconfig } = await fixture();
  f.addNode({ name: 'gpu0', ip: '198.18.34.2', taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] });
  f.addPod({ namespace: 'data', name: 'trainer-0', ip: '198.18.34.20', node: 'gpu0' });
  const tap = spawnTap(['-n', 'data', '--kubeconfig', kubeconfig, '--agent-tolerate', 'none', '--agent-timeout', '20s']);
  try {
    await until(() => /agents running on 1 node/.test(tap.stderr()) && /gpu0/.test(tap.stderr()), 'the uncovered pod said', 30_000, tap);
    assert.match(tap.stderr(), /^tap: data\/trainer-0 is on node gpu0, which has no agent: not captured \(taint dedicated=gpu:NoSchedule is not tolerated: --agent-tolerate all tolerates every taint\)$/m);
    assert.doesNotMatch(tap.stderr(), /redis-0 is on node/);
    // A second pod there later is said too; the first is not said again.
    f.addPod({ namespace: 'data', name: 'trainer-1', ip: '198.18.34.21', node: 'gpu0' });
    await until(() => /trainer-1 is on node gpu0/.test(tap.stderr()), 'the second pod said', 10_000, tap);
    assert.equal((tap.stderr().match(/trainer-0 is on node/g) ?? []).length, 1, tap.stderr());
    tap.child.kill('SIGINT');
    assert.equal(await exited(tap), 0, tap.stderr());
  } finally {
    tap.child.kill('SIGKILL');
    await f.close();
  }
});

test('access revoked mid-run (403), then credentials that expire (401): each said as such, not as an outage, and the agent streams go on', { timeout: 60_000 }, async () => {
  const users: Record<string, User> = { 'jane-token': { name: 'jane', groups: ['system:masters'] } };
  const { f, kubeconfig } = await fixture({ users }, 'jane-token');
  const tap = spawnTap(['-n', 'data', '--kubeconfig', kubeconfig, '--agent-timeout', '20s']);
  try {
    await until(() => /agents running on 1 node/.test(tap.stderr()), 'agents running', 30_000, tap);
    // Her access is taken away (a ClusterRoleBinding removed), then given back. Before: "API server unreachable (HTTP 403 …)".
    users['jane-token'].groups = [];
    f.dropWatches();
    await until(() => /no longer lets this CLI read/.test(tap.stderr()), 'the 403 said', 15_000, tap);
    assert.match(tap.stderr(), /^tap: the API server no longer lets this CLI read what the tap watches \(HTTP 403: .*User "jane" cannot list resource .*\): its access changed mid-run; the agents' open streams go on, but pods that come and go are not seen; retrying for up to 300s$/m);
    users['jane-token'].groups = ['system:masters'];
    await until(() => /API server answers again/.test(tap.stderr()), 'access back', 15_000, tap);
    delete users['jane-token']; // the token expires
    f.dropWatches(); // the watches come back with it and are refused
    await until(() => /refuses this CLI's credentials/.test(tap.stderr()), 'the 401 said', 15_000, tap);
    assert.match(tap.stderr(), /^tap: the API server refuses this CLI's credentials \(HTTP 401: Unauthorized: .*log in again.*\); the agents' open streams go on, but pods that come and go are not seen and the run's lease is not renewed; retrying for up to 300s$/m);
    assert.doesNotMatch(tap.stderr(), /API server unreachable/);
    const before = tap.stdout().length;
    await until(() => tap.stdout().length > before + 200, 'entries still flowing', 10_000, tap);
    tap.child.kill('SIGINT');
    assert.equal(await exited(tap), 0, tap.stderr());
    // Nothing could be deleted: one line, the 401 once, and the keeper that will remove the run.
    const left = tap.stderr().split('\n').filter((l) => l.startsWith('tap: could not remove'));
    assert.equal(left.length, 1, tap.stderr());
    assert.equal((left[0].match(/HTTP 401/g) ?? []).length, 1, left[0]);
    assert.match(left[0], /^tap: could not remove DaemonSet\/shark-agent-\w+, ServiceAccount\/shark-agent-\w+, ConfigMap\/shark-run-\w+, Job\/shark-keeper-\w+ \(HTTP 401: .*, and alike for each\); its keeper Job shark-system\/shark-keeper-\w+ removes them once the run's lease lapses \(within about 8 min\)$/);
    assert.ok(f.store.findAll(MANAGED).length > 0, 'the objects are indeed still there');
  } finally {
    tap.child.kill('SIGKILL');
    await f.close();
  }
});

test('a user who may create but not delete: the objects left are named once with the reason, and the keeper removes them', { timeout: 60_000 }, async () => {
  const { f, kubeconfig } = await fixture({ users: { 'jane-token': { name: 'jane', groups: [] } } }, 'jane-token');
  f.ensureNamespace('shark-system');
  const rules = [
    { apiGroups: ['', 'apps', 'batch', 'discovery.k8s.io'], resources: ['*'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'update'] },
    { apiGroups: [''], resources: ['pods/exec'], verbs: ['create', 'get'] },
  ];
  for (const ns of ['data', 'shark-system']) {
    f.store.create(findResource('rbac.authorization.k8s.io', 'roles')!, ns, { metadata: { name: 'no-delete' }, rules });
    f.store.create(findResource('rbac.authorization.k8s.io', 'rolebindings')!, ns, {
      metadata: { name: 'no-delete' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'no-delete' },
      subjects: [{ kind: 'User', name: 'jane', apiGroup: 'rbac.authorization.k8s.io' }],
    });
  }
  const tap = spawnTap(['-n', 'data', '--kubeconfig', kubeconfig, '--agent-timeout', '20s']);
  try {
    await until(() => /agents running on 1 node/.test(tap.stderr()), 'agents running', 30_000, tap);
    tap.child.kill('SIGINT');
    assert.equal(await exited(tap), 0, tap.stderr());
    const left = tap.stderr().split('\n').filter((l) => l.startsWith('tap: could not remove'));
    assert.equal(left.length, 1, tap.stderr());
    assert.equal((left[0].match(/forbidden/g) ?? []).length, 1, left[0]);
    assert.match(left[0], /\(HTTP 403: daemonsets "shark-agent-\w+" is forbidden: User "jane" cannot delete resource "daemonsets" .*, and alike for each\); its keeper Job shark-system\/shark-keeper-\w+ removes them/);
  } finally {
    tap.child.kill('SIGKILL');
    await f.close();
  }
});

test('-A: a deleted agent pod is replaced and tapped again; a node removed mid-run is said, its pods gone with it', { timeout: 60_000 }, async () => {
  const { f, kubeconfig } = await fixture();
  f.addNode({ name: 'node1', ip: '198.18.34.3' });
  f.addPod({ namespace: 'data', name: 'redis-1', ip: '198.18.34.14', node: 'node1' });
  const tap = spawnTap(['-A', '--kubeconfig', kubeconfig, '--agent-timeout', '20s']);
  const agentOn = (node: string) => f.store.list('pods', 'shark-system').find((p) => p.spec.nodeName === node && p.metadata.name.startsWith('shark-agent-'));
  try {
    await until(() => /agents running on 2 node/.test(tap.stderr()), 'agents running', 30_000, tap);
    // An agent pod deleted by hand (or evicted): the DaemonSet controller makes a new one, which is tapped.
    const first = agentOn('node0')!.metadata.name;
    f.store.delete('pods', 'shark-system', first);
    await until(() => f.execs.some((e) => e.node === 'node0' && e.pod !== first), 'a new agent exec on node0', 15_000, tap);
    assert.notEqual(agentOn('node0')!.metadata.name, first);
    // node1 is scaled away: its pods go (pod GC), the CLI says the node left.
    f.store.delete('nodes', undefined, 'node1');
    await until(() => /^tap: node1: node left the cluster; its agent went with it$/m.test(tap.stderr()), 'node1 said gone', 15_000, tap);
    await until(() => /^-data\/redis-1$/m.test(tap.stderr()), 'its pod no longer tapped', 5_000, tap);
    assert.equal(agentOn('node1'), undefined);
    tap.child.kill('SIGINT');
    assert.equal(await exited(tap), 0, tap.stderr());
    await until(() => f.store.findAll(MANAGED).length === 0, 'objects removed', 5000, tap);
  } finally {
    tap.child.kill('SIGKILL');
    await f.close();
  }
});

test('a second Ctrl-C during a slow cleanup exits 130 and says what may be left and what removes it', { timeout: 60_000 }, async () => {
  const { f, kubeconfig } = await fixture();
  const tap = spawnTap(['-n', 'data', '--kubeconfig', kubeconfig, '--agent-timeout', '20s']);
  try {
    await until(() => /agents running on 1 node/.test(tap.stderr()), 'agents running', 30_000, tap);
    f.delayFor = (method) => (method === 'DELETE' ? 10_000 : 0); // deletes hang (finalizers, a loaded etcd)
    tap.child.kill('SIGINT');
    await until(() => f.requests.some((r) => r.startsWith('DELETE ')), 'the cleanup under way', 10_000, tap);
    await new Promise((r) => setTimeout(r, 500));
    tap.child.kill('SIGINT');
    assert.equal(await exited(tap), 130, tap.stderr());
    const last = tap.stderr().trimEnd().split('\n').at(-1)!;
    assert.match(last, /^tap: stopped before its cleanup finished: run \w+'s objects may be left in namespace shark-system; its keeper Job shark-system\/shark-keeper-\w+ removes them once the run's lease lapses \(within about 8 min\), or `shark tap --clean` once the lease \(30s\) has lapsed$/);
    assert.ok(f.store.findAll(MANAGED).length > 0, 'the objects are indeed still there');
  } finally {
    tap.child.kill('SIGKILL');
    await f.close();
  }
});

test('the built-in roles: edit in shark-system and view in data are enough for -n data; view cluster-wide is not enough for -A', { timeout: 60_000 }, async () => {
  const { f, kubeconfig } = await fixture({ users: { 'jane-token': { name: 'jane', groups: [] } } }, 'jane-token');
  f.ensureNamespace('shark-system');
  const bind = (kind: 'RoleBinding' | 'ClusterRoleBinding', role: string, ns?: string) =>
    f.store.create(findResource('rbac.authorization.k8s.io', kind === 'RoleBinding' ? 'rolebindings' : 'clusterrolebindings')!, ns, {
      metadata: { name: `jane-${role}` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
      subjects: [{ kind: 'User', name: 'jane', apiGroup: 'rbac.authorization.k8s.io' }],
    });
  bind('RoleBinding', 'edit', 'shark-system');
  bind('RoleBinding', 'view', 'data');
  const tap = spawnTap(['-n', 'data', '--kubeconfig', kubeconfig, '--agent-timeout', '20s']);
  try {
    await until(() => /agents running on 1 node/.test(tap.stderr()), 'agents running', 30_000, tap);
    await until(() => tap.stdout().length > 0, 'entries', 10_000, tap);
    tap.child.kill('SIGINT');
    assert.equal(await exited(tap), 0, tap.stderr());
    assert.doesNotMatch(tap.stderr(), /could not remove/);
    bind('ClusterRoleBinding', 'view');
    const all = spawnTap(['-A', '--kubeconfig', kubeconfig]);
    assert.equal(await exited(all), 4, all.stderr());
    assert.match(all.stderr(), /cannot list nodes .*HTTP 403: nodes is forbidden: User "jane" cannot list resource "nodes"/);
  } finally {
    tap.child.kill('SIGKILL');
    await f.close();
  }
});

test('a keeper pod that cannot be scheduled is said (a killed CLI would leave the run), and the tap goes on', { timeout: 60_000 }, async () => {
  const { f, kubeconfig } = await fixture();
  // The scheduler finds no room for the keeper (the agents tolerate and fit; the keeper's pod does not).
  f.store.on('pods', (ev: { type: string; object: Record<string, any> }) => {
    if (ev.type !== 'ADDED' || ev.object.metadata.labels?.['app.kubernetes.io/name'] !== 'shark-keeper') return;
    setTimeout(() => {
      const pod = f.store.get('pods', ev.object.metadata.namespace, ev.object.metadata.name);
      if (!pod) return;
      pod.status = { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/1 nodes are available: 1 Insufficient cpu.' }] };
      f.store.update('pods', pod);
    }, 400);
  });
  const tap = spawnTap(['-n', 'data', '--kubeconfig', kubeconfig, '--agent-timeout', '20s']);
  try {
    await until(() => /the run's keeper/.test(tap.stderr()), 'the keeper said', 30_000, tap);
    assert.match(tap.stderr(), /^tap: the run's keeper \(pod shark-keeper-\w+-\w+\) is not running \(failed: Unschedulable: 0\/1 nodes are available: 1 Insufficient cpu\.\): if this CLI is killed, its objects stay until `shark tap --clean`; the tap goes on$/m);
    await until(() => tap.stdout().length > 0, 'entries', 10_000, tap);
    tap.child.kill('SIGINT');
    assert.equal(await exited(tap), 0, tap.stderr());
    assert.equal((tap.stderr().match(/the run's keeper/g) ?? []).length, 1, tap.stderr());
  } finally {
    tap.child.kill('SIGKILL');
    await f.close();
  }
});

test('a node that joins mid-run: its pod is tapped once the DaemonSet makes its agent, with no word that it has none; a late agent that never captures is said at --agent-timeout, the run goes on', { timeout: 60_000 }, async () => {
  // node2's image has no shark (an exec that fails at once, as on a node of another architecture).
  const noShark = (command: string[]) => spawn(process.execPath, ['-e', `process.stderr.write('exec: "shark": executable file not found in $PATH\\n'); process.exit(127)`, '--', ...command], { stdio: ['pipe', 'pipe', 'pipe'] });
  const { f, kubeconfig } = await fixture({ spawnExec: (command, node) => (node?.name === 'node2' ? noShark(command) : entryAgent(command)) });
  const tap = spawnTap(['-n', 'data', '--kubeconfig', kubeconfig, '--agent-timeout', '6s']);
  try {
    await until(() => /agents running on 1 node/.test(tap.stderr()), 'agents running', 30_000, tap);
    // A real DaemonSet controller makes the new node's pod from its queue, a moment after the scheduler placed redis-1 there.
    f.store.daemonSetLagMs = 2000;
    f.addNode({ name: 'node1', ip: '198.18.34.3' });
    f.addPod({ namespace: 'data', name: 'redis-1', ip: '198.18.34.14', node: 'node1' });
    f.addNode({ name: 'node2', ip: '198.18.34.4' });
    f.addPod({ namespace: 'data', name: 'redis-2', ip: '198.18.34.15', node: 'node2' });
    await until(() => /\+data\/redis-1/.test(tap.stderr()), 'redis-1 tapped', 10_000, tap);
    await until(() => f.execs.some((e) => e.node === 'node1' && e.stderr.includes('capturing on')), 'the agent on node1', 20_000, tap);
    // Before: node2's failing exec was said once as "retrying" and nothing more, its pod uncaptured all run long.
    await until(() => /^tap: node2: agent pod .* is not capturing after 6s/m.test(tap.stderr()), 'the late agent said overdue', 20_000, tap);
    assert.match(tap.stderr(), /^tap: node2: agent pod shark-system\/shark-agent-\w+-\w+ is ready, but `shark agent` in it is not capturing after 6s \(it ended: command terminated with non-zero exit code: 127: exec: "shark": executable file not found in \$PATH\); not captured: data\/redis-2; retrying, the other nodes are tapped → kubectl exec /m);
    assert.doesNotMatch(tap.stderr(), /which has no agent/);
    assert.doesNotMatch(tap.stderr(), /node1: agent pod .* is not capturing/);
    assert.equal(tap.child.exitCode, null, 'the run goes on');
    tap.child.kill('SIGINT');
    assert.equal(await exited(tap), 0, tap.stderr());
    const last = tap.stderr().trimEnd().split('\n').at(-1)!;
    assert.match(last, /from 3 agent\(s\); removed \d+ object\(s\); no agent capturing on 1 node\(s\): node2$/);
    // The stand-in agents send no counters: node0's and node1's sessions lack them. node2's failed execs never
    // captured: they are no sessions whose last seconds were lost (before, each retry was counted).
    assert.match(tap.stderr(), /^tap: 2 agent session\(s\) ended without their last counters/m);
  } finally {
    tap.child.kill('SIGKILL');
    await f.close();
  }
});
