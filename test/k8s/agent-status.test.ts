// Reading agent state from what the control plane reports, as the
// Kubernetes docs shape it (pod phase and conditions, containerStatuses
// state/lastState, DaemonSet status, Events): each failure mode gives its
// reason, message and a hint; nodes that can never run the agent are told
// apart from nodes that are slow.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { agentStates, describeState, podNode, unsupportedReason, untoleratedTaints } from '../../src/k8s/agent-status.js';

type Obj = Record<string, any>;
const base = { namespace: 'shark-system', image: 'ghcr.io/shark-cli/shark:0.1.0', events: [] as Obj[] };
const node = (name: string, labels: Record<string, string> = {}, taints: Obj[] = []) => ({
  metadata: { name, labels: { 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', ...labels } },
  spec: { taints },
});
const pod = (name: string, nodeName: string, status: Obj) => ({ metadata: { name, uid: `uid-${name}` }, spec: { nodeName }, status });

test('container states: CreateContainerConfigError and Unschedulable are failures with hints; Running not Ready is starting', () => {
  const states = agentStates({
    ...base,
    nodes: [node('a'), node('b'), node('c'), node('d')],
    pods: [
      pod('p-a', 'a', { phase: 'Pending', containerStatuses: [{ state: { waiting: { reason: 'CreateContainerConfigError', message: 'secret "x" not found' } } }] }),
      pod('p-b', 'b', { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/4 nodes are available: 1 Insufficient cpu.' }] }),
      pod('p-c', 'c', { phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }] }),
      pod('p-d', 'd', { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] }),
    ],
  });
  assert.deepEqual(
    states.map((s) => [s.node, s.phase, s.reason]),
    [
      ['a', 'failed', 'CreateContainerConfigError'],
      ['b', 'failed', 'Unschedulable'],
      ['c', 'starting', 'NotReady'],
      ['d', 'ready', undefined],
    ],
  );
  assert.equal(describeState(states[0]), 'a: failed: CreateContainerConfigError: secret "x" not found');
  assert.match(states[1].hint!, /taint|CPU/);
});

test('an agent OOM-killed at its memory limit is a crash loop whose hint names the limit, not the logs', () => {
  const crashed = (reason: string, code: number) =>
    pod('p-' + reason, 'a', {
      phase: 'Running',
      containerStatuses: [{ state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 40s' } }, lastState: { terminated: { exitCode: code, reason } } }],
    });
  const oom = { ...crashed('OOMKilled', 137), spec: { nodeName: 'a', containers: [{ name: 'agent', resources: { limits: { memory: '512Mi' } } }] } };
  const [s] = agentStates({ ...base, nodes: [node('a')], pods: [oom] });
  assert.equal(describeState(s), 'a: failed: CrashLoopBackOff: back-off 40s; last exit code 137 (OOMKilled)');
  assert.match(s.hint!, /^the agent ran out of its memory limit \(512Mi\) and was killed: tap fewer pods, pass --no-bodies/);
  const [other] = agentStates({ ...base, nodes: [node('a')], pods: [crashed('Error', 2)] });
  assert.match(other.hint!, /logs p-Error --previous/);
});

test('image pulls: the Pulling event means pulling; ErrImagePull takes the event message when the status has none', () => {
  const pulling = pod('p', 'a', { phase: 'Pending', containerStatuses: [{ state: { waiting: { reason: 'ContainerCreating' } } }] });
  const ev = (reason: string, message: string, uid = 'uid-p') => ({ involvedObject: { uid }, reason, message, lastTimestamp: '2026-01-01T00:00:00Z' });
  const s1 = agentStates({ ...base, nodes: [node('a')], pods: [pulling], events: [ev('Pulling', 'Pulling image "x"')] });
  assert.equal(s1[0].phase, 'pulling');
  const failing = pod('p', 'a', { phase: 'Pending', containerStatuses: [{ state: { waiting: { reason: 'ErrImagePull' } } }] });
  const s2 = agentStates({ ...base, nodes: [node('a')], pods: [failing], events: [ev('Failed', 'Failed to pull image "x": not found')] });
  assert.equal(s2[0].reason, 'ErrImagePull');
  assert.equal(s2[0].message, 'Failed to pull image "x": not found');
  assert.match(s2[0].hint!, /--agent-image/);
});

test('without node access (-n): pods the DaemonSet wants but could not create are counted from its status', () => {
  const ds = { metadata: { uid: 'ds' }, status: { desiredNumberScheduled: 3 } };
  const ready = pod('p', 'a', { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] });
  const fail = { involvedObject: { uid: 'ds' }, reason: 'FailedCreate', message: 'Error creating: exceeded quota: agents', lastTimestamp: 'x' };
  const states = agentStates({ ...base, daemonSet: ds, pods: [ready], events: [fail] });
  assert.deepEqual(states.map((s) => s.phase), ['ready', 'failed', 'failed']);
  assert.match(states[1].hint!, /ResourceQuota/);
});

test('nodes that cannot run the agent: Windows, virtual-kubelet, Fargate, an architecture without an image; untolerated taints', () => {
  const archs = ['amd64', 'arm64'];
  assert.match(unsupportedReason(node('w', { 'kubernetes.io/os': 'windows' }), archs)!, /windows/);
  assert.match(unsupportedReason(node('v', { type: 'virtual-kubelet' }), archs)!, /virtual/);
  assert.match(unsupportedReason(node('f', { 'eks.amazonaws.com/compute-type': 'fargate' }), archs)!, /Fargate/);
  assert.match(unsupportedReason(node('s', { 'kubernetes.io/arch': 's390x' }), archs)!, /s390x/);
  assert.equal(unsupportedReason(node('ok', { 'kubernetes.io/arch': 'arm64' }), archs), undefined);
  const tainted = node('t', {}, [
    { key: 'gpu', value: 'true', effect: 'NoSchedule' },
    { key: 'soft', effect: 'PreferNoSchedule' },
  ]);
  assert.deepEqual(untoleratedTaints(tainted, []), ['gpu=true:NoSchedule']);
  assert.deepEqual(untoleratedTaints(tainted, [{ operator: 'Exists', effect: 'NoSchedule' }]), []);
  // The DaemonSet controller tolerates these on every pod it makes: a cordoned or pressured node keeps its agent.
  const cordoned = node('c', {}, [
    { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' },
    { key: 'node.kubernetes.io/disk-pressure', effect: 'NoSchedule' },
    { key: 'dedicated', value: 'db', effect: 'NoExecute' },
  ]);
  assert.deepEqual(untoleratedTaints(cordoned, []), ['dedicated=db:NoExecute']);
  // A DaemonSet pod not yet bound names its node through the controller's node affinity.
  const unbound = { spec: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n7'] }] }] } } } } };
  assert.equal(podNode(unbound), 'n7');
});

test('progress: per-node lines in a small cluster; in a big one only failures, plus counts; ready once the DaemonSet has counted', async () => {
  const { AgentProgress } = await import('../../src/k8s/agent-progress.js');
  const lines: string[] = [];
  const ds = { metadata: { uid: 'ds', generation: 1 }, status: {} as Obj };
  let nodes = [node('a'), node('b')];
  let pods: Obj[] = [];
  const progress = new AgentProgress({ say: (l) => lines.push(l), tolerations: [], view: () => ({ ...base, daemonSet: ds, pods, nodes }) });
  pods = nodes.map((n) => pod(`p-${n.metadata.name}`, n.metadata.name, { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] }));
  progress.update();
  assert.deepEqual(lines, ['tap: a: agent pod ready', 'tap: b: agent pod ready']);
  assert.equal(progress.allReady(), false, 'the controller has not observed this generation');
  ds.status = { observedGeneration: 1, desiredNumberScheduled: 2 };
  assert.equal(progress.allReady(), true);
  // A node removed (scale-down): said once, its agent gone with it.
  nodes = [node('a')];
  pods = pods.filter((p) => p.spec.nodeName === 'a');
  progress.update();
  progress.update();
  assert.deepEqual(lines.slice(2), ['tap: b: node left the cluster; its agent went with it']);

  lines.length = 0;
  nodes = Array.from({ length: 12 }, (_, i) => node(`n${i}`));
  pods = nodes.map((n, i) =>
    i === 3
      ? pod(`p-${i}`, n.metadata.name, { phase: 'Pending', containerStatuses: [{ state: { waiting: { reason: 'ImagePullBackOff', message: 'nope' } } }] })
      : pod(`p-${i}`, n.metadata.name, { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] }),
  );
  progress.update();
  assert.equal(lines.length, 2, lines.join('\n'));
  assert.equal(lines[0], 'tap: n3: failed: ImagePullBackOff: nope');
  assert.match(lines[1], /^tap: agents: 11 running, 1 failed of 12 node\(s\)$/);
  assert.equal(progress.allReady(), false);
  assert.equal(progress.failures().length, 1);
});

test('progress: a NotReady or unreachable node is told once and not waited on, and waited on again once Ready; without -A nodes read at the deadline count', async () => {
  const { AgentProgress } = await import('../../src/k8s/agent-progress.js');
  const { notReadyReason } = await import('../../src/k8s/agent-status.js');
  const withReady = (n: Obj, status: string, reason?: string, message?: string, taints: Obj[] = []) => ({
    ...n,
    spec: { taints },
    status: { conditions: [{ type: 'Ready', status, ...(reason ? { reason } : {}), ...(message ? { message } : {}) }] },
  });
  assert.equal(notReadyReason(withReady(node('a'), 'True')), undefined);
  assert.equal(notReadyReason(node('a')), undefined, 'no conditions known: not judged');
  assert.deepEqual(notReadyReason(withReady(node('a'), 'False', 'KubeletNotReady', 'container runtime network not ready')), {
    short: 'NotReady',
    text: 'node NotReady (Ready=False KubeletNotReady: container runtime network not ready)',
  });
  assert.equal(notReadyReason({ ...node('a', {}, [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }]) })?.text, 'node unreachable (taint node.kubernetes.io/unreachable)');

  const lines: string[] = [];
  const ds = { metadata: { uid: 'ds', generation: 1 }, status: { observedGeneration: 1, desiredNumberScheduled: 2 } as Obj };
  const ready = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] };
  let nodes: Obj[] | undefined = [node('a'), withReady(node('b'), 'Unknown', 'NodeStatusUnknown', 'Kubelet stopped posting node status.')];
  let pods: Obj[] = [pod('p-a', 'a', ready), pod('p-b', 'b', { phase: 'Pending' })];
  const progress = new AgentProgress({ say: (l) => lines.push(l), tolerations: [], view: () => ({ ...base, daemonSet: ds, pods, nodes }) });
  progress.update();
  progress.update();
  assert.deepEqual(lines, [
    'tap: b: no agent: node unreachable (Ready=Unknown NodeStatusUnknown: Kubelet stopped posting node status.): its agent cannot start there; the other nodes are tapped',
    'tap: a: agent pod ready',
  ]);
  assert.equal(progress.allReady(), true, 'the NotReady node is not waited on');
  assert.equal(progress.expected, 1);
  assert.equal(progress.skippedSummary(), 'no agent on 1 node(s): b (unreachable)');
  // Back: waited on again, and said.
  lines.length = 0;
  nodes = [node('a'), withReady(node('b'), 'True')];
  progress.update();
  assert.equal(lines[0], 'tap: b: node Ready again; its agent is tapped once it runs');
  assert.equal(progress.allReady(), false);
  assert.equal(progress.skippedSummary(), undefined);

  // Without -A: per pod; the waiting pod's node is read (a 403 leaves it unknown, waited on).
  lines.length = 0;
  nodes = undefined;
  pods = [pod('p-a', 'a', ready), pod('p-b', 'b', { phase: 'Pending' }), pod('p-c', 'c', { phase: 'Pending' })];
  const other = new AgentProgress({ say: (l) => lines.push(l), tolerations: [], view: () => ({ ...base, daemonSet: ds, pods, nodes }) });
  other.update();
  assert.deepEqual(other.waitingNodes(), ['b', 'c']);
  await other.lookUpNodes(async (name) => {
    if (name === 'c') throw Object.assign(new Error('forbidden'), { code: 403 });
    return withReady(node(name), 'False', 'KubeletNotReady');
  });
  other.update();
  assert.equal(other.expected, 2);
  assert.match(lines.join('\n'), /^tap: b: no agent: node NotReady \(Ready=False KubeletNotReady\)/m);
  assert.deepEqual(other.failures(), ['c: scheduled → still starting: a slow image pull (raise --agent-timeout), or a node that is down (kubectl get node c)?']);
});

test('progress while the run taps: a failed agent names the tapped pods it leaves out and stays in the summary until it runs; an OOM hint names the command that raises the limit', async () => {
  const { AgentProgress } = await import('../../src/k8s/agent-progress.js');
  const lines: string[] = [];
  const ds = { metadata: { uid: 'ds', name: 'shark-agent-r1', generation: 1 }, status: { observedGeneration: 1 } as Obj };
  const ready = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] };
  const oom = {
    phase: 'Running',
    containerStatuses: [{ restartCount: 3, state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 40s' } }, lastState: { terminated: { exitCode: 137, reason: 'OOMKilled' } } }],
  };
  let pods: Obj[] = [pod('p-a', 'a', ready)];
  const tapped: Record<string, string[]> = { b: ['data/redis-1', 'data/redis-2', 'web/nginx-0', 'web/nginx-1'], c: [] };
  const progress = new AgentProgress({ say: (l) => lines.push(l), tolerations: [], tappedOn: (n) => tapped[n] ?? [], view: () => ({ ...base, daemonSet: ds, pods }) });
  progress.update();
  progress.startTapping();
  const limited = (name: string, n: string, status: Obj) => ({ ...pod(name, n, status), spec: { nodeName: n, containers: [{ name: 'agent', resources: { limits: { memory: '768Mi' } } }] } });
  pods = [pod('p-a', 'a', ready), limited('p-b', 'b', oom), pod('p-c', 'c', { phase: 'Pending', containerStatuses: [{ state: { waiting: { reason: 'ErrImagePull', message: 'nope' } } }] })];
  progress.update();
  progress.update();
  assert.equal(lines.length, 3, lines.join('\n'));
  assert.equal(
    lines[1],
    'tap: b: failed: CrashLoopBackOff: back-off 40s; last exit code 137 (OOMKilled); not captured: data/redis-1, data/redis-2, web/nginx-0, … (4 in all); the other nodes are tapped → the agent ran out of its memory limit (768Mi) and was killed: tap fewer pods, pass --no-bodies or a smaller --max-body, or raise the limit: kubectl -n shark-system set resources ds/shark-agent-r1 -c agent --limits=memory=1536Mi (later runs: --agent-memory 1536Mi)',
  );
  assert.match(lines[2], /^tap: c: failed: ErrImagePull: nope; no tapped pod there yet; the other nodes are tapped → the node cannot pull/);
  assert.equal(progress.failedSummary(), 'no agent running on 2 node(s): b (CrashLoopBackOff), c (ErrImagePull)');
  // The kubelet's retries flip the reason (ImagePullBackOff, ErrImagePull …) and the back-off: no news while tapping.
  pods[2] = pod('p-c', 'c', { phase: 'Pending', containerStatuses: [{ state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image' } } }] });
  pods[1] = limited('p-b', 'b', { ...oom, containerStatuses: [{ ...oom.containerStatuses[0], state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 1m20s' } } }] });
  progress.update();
  assert.equal(lines.length, 3, lines.join('\n'));
  // b runs again, c's node left: neither is in the summary any more.
  pods = [pod('p-a', 'a', ready), pod('p-b', 'b', ready)];
  progress.update();
  assert.equal(lines.at(-1), 'tap: b: agent pod ready');
  assert.equal(progress.failedSummary(), undefined);
});
