// Every object `shark tap` creates must be accepted by a real API server:
// validate each against the Kubernetes OpenAPI schema (kubernetes-models).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { parseAllDocuments } from 'yaml';
import { agentManifests, ownedBy, MANAGED_BY, RUN_LABEL, KEEPER_BACKOFF_LIMIT } from '../../src/k8s/agent-manifests.js';
import { dryRunYaml } from '../../src/k8s/dry-run.js';
import { podSecurityViolations } from '../fixtures/apiserver/admission.js';
import { checkAgentLimit, checkClusterFlags } from '../../src/tap/cluster-flags.js';
import type { TapFlags } from '../../src/tap/flags.js';
import { doubledMemory, parseQuantity } from '../../src/k8s/quantity.js';
import { agentStates, lessMemory } from '../../src/k8s/agent-status.js';
import { trimObject } from '../../src/k8s/trim.js';

const validators: Record<string, (o: any) => { validate(): void }> = {
  Namespace: (o) => new Namespace(o),
  ConfigMap: (o) => new ConfigMap(o),
  ServiceAccount: (o) => new ServiceAccount(o),
  DaemonSet: (o) => new DaemonSet(o),
  Job: (o) => new Job(o),
};

test('every agent manifest validates against the OpenAPI schema, owned by the run root (the keeper Job) as created', () => {
  const m = agentManifests({ runId: 'abc123', namespace: 'shark-system', image: 'shark:test' });
  assert.deepEqual(
    m.objects.map((o) => o.kind),
    ['Namespace', 'Job', 'ConfigMap', 'ServiceAccount', 'DaemonSet'],
  );
  assert.equal(m.root, m.roots[1]);
  const root = { ...m.roots[1], metadata: { ...m.roots[1].metadata, uid: '0b9f6c1e-1111-4a4a-9a9a-123456789abc' } };
  for (const o of m.owned) {
    assert.deepEqual(ownedBy(o, root).metadata.ownerReferences, [
      { apiVersion: 'batch/v1', kind: 'Job', name: 'shark-keeper-abc123', uid: root.metadata.uid, blockOwnerDeletion: false },
    ]);
  }
  for (const obj of [...m.roots, ...m.owned.map((o) => ownedBy(o, root))]) {
    const make = validators[obj.kind];
    assert.ok(make, `validator for ${obj.kind}`);
    assert.doesNotThrow(() => make(structuredClone(obj)).validate(), `${obj.kind} is schema-valid`);
    assert.equal(obj.metadata.labels[MANAGED_BY], 'shark');
    // The namespace may be shared by runs: it carries no run id.
    if (obj.kind !== 'Namespace') assert.equal(obj.metadata.labels[RUN_LABEL], 'abc123');
  }
});

test('the validator really rejects a broken DaemonSet (the check above can fail)', () => {
  const ds = structuredClone(agentManifests({ runId: 'x1' }).objects.find((o) => o.kind === 'DaemonSet')!);
  ds.spec.template.spec.containers[0].securityContext.capabilities.add = 'NET_RAW';
  assert.throws(() => new DaemonSet(ds).validate());
});

test('the agent is least-privilege: no token, no RBAC, NET_RAW only, Linux nodes, every taint tolerated unless restricted', () => {
  const m = agentManifests({ runId: 'r2', createNamespace: false });
  assert.ok(!m.objects.some((o) => o.kind === 'Namespace'));
  assert.ok(!m.objects.some((o) => /Role/.test(o.kind)), 'no RBAC objects');
  const ds = m.objects.find((o) => o.kind === 'DaemonSet')!;
  const pod = ds.spec.template.spec;
  const sc = pod.containers[0].securityContext;
  assert.equal(pod.hostNetwork, true);
  assert.equal(pod.automountServiceAccountToken, false);
  assert.equal(m.objects.find((o) => o.kind === 'ServiceAccount')!.automountServiceAccountToken, false);
  assert.equal(sc.privileged, false);
  assert.deepEqual(sc.capabilities, { drop: ['ALL'], add: ['NET_RAW'] });
  assert.deepEqual(pod.nodeSelector, { 'kubernetes.io/os': 'linux' });
  assert.ok(pod.containers[0].resources.limits.memory && pod.containers[0].resources.requests.cpu);
  assert.deepEqual(pod.tolerations, [
    { operator: 'Exists', effect: 'NoSchedule' },
    { operator: 'Exists', effect: 'NoExecute' },
  ]);
  const cp = agentManifests({ runId: 'r3', tolerate: 'control-plane' }).owned.find((o) => o.kind === 'DaemonSet')!;
  assert.ok(cp.spec.template.spec.tolerations.every((t: any) => t.key?.startsWith('node-role.kubernetes.io/')));
  const none = agentManifests({ runId: 'r4', tolerate: 'none' }).owned.find((o) => o.kind === 'DaemonSet')!;
  assert.deepEqual(none.spec.template.spec.tolerations, []);
  const ns = agentManifests({ runId: 'r5' }).roots[0];
  assert.equal(ns.metadata.labels['pod-security.kubernetes.io/enforce'], 'privileged');
  // The template's labels satisfy the selector (a real API server rejects otherwise).
  for (const [k, v] of Object.entries(ds.spec.selector.matchLabels)) assert.equal(ds.spec.template.metadata.labels[k], v);
});

test('--service-mesh alone grows the agent: hostPID, SYS_ADMIN and SYS_PTRACE; the manifest still validates', () => {
  const plain = agentManifests({ runId: 'r6' }).owned.find((o) => o.kind === 'DaemonSet')!;
  assert.equal(plain.spec.template.spec.hostPID, undefined);
  const m = agentManifests({ runId: 'r7', serviceMesh: true });
  const ds = m.owned.find((o) => o.kind === 'DaemonSet')!;
  assert.equal(ds.spec.template.spec.hostPID, true);
  assert.deepEqual(ds.spec.template.spec.containers[0].securityContext.capabilities, { drop: ['ALL'], add: ['NET_RAW', 'SYS_ADMIN', 'SYS_PTRACE'] });
  assert.equal(ds.spec.template.spec.containers[0].securityContext.privileged, false);
  for (const o of m.objects) assert.doesNotThrow(() => validators[o.kind](structuredClone(o)).validate(), `${o.kind} is schema-valid`);
});

test('--tls alone grows the agent: hostPID, BPF/PERFMON/SYS_ADMIN/SYS_PTRACE/SYS_RESOURCE, BTF and tracefs read-only; not privileged; schema-valid', () => {
  const plain = agentManifests({ runId: 'r8' }).owned.find((o) => o.kind === 'DaemonSet')!;
  assert.equal(plain.spec.template.spec.volumes.some((v: any) => v.hostPath), false, 'no host path without --tls');
  const m = agentManifests({ runId: 'r9', tls: true });
  const pod = m.owned.find((o) => o.kind === 'DaemonSet')!.spec.template.spec;
  assert.equal(pod.hostPID, true);
  const sc = pod.containers[0].securityContext;
  assert.deepEqual(sc.capabilities, { drop: ['ALL'], add: ['BPF', 'NET_RAW', 'PERFMON', 'SYS_ADMIN', 'SYS_PTRACE', 'SYS_RESOURCE'] });
  assert.equal(sc.privileged, false);
  assert.equal(sc.allowPrivilegeEscalation, false);
  assert.equal(sc.readOnlyRootFilesystem, true);
  assert.deepEqual(pod.volumes.find((v: any) => v.name === 'btf'), { name: 'btf', hostPath: { path: '/sys/kernel/btf', type: 'Directory' } });
  assert.deepEqual(pod.containers[0].volumeMounts.find((v: any) => v.name === 'btf'), { name: 'btf', mountPath: '/sys/kernel/btf', readOnly: true });
  assert.deepEqual(pod.volumes.find((v: any) => v.name === 'tracefs'), { name: 'tracefs', hostPath: { path: '/sys/kernel/tracing', type: 'Directory' } });
  assert.deepEqual(pod.containers[0].volumeMounts.find((v: any) => v.name === 'tracefs'), { name: 'tracefs', mountPath: '/sys/kernel/tracing', readOnly: true });
  // The node's cgroup tree, read-only: a process gone before its first event is named by its cgroup id.
  assert.deepEqual(pod.volumes.find((v: any) => v.name === 'cgroup'), { name: 'cgroup', hostPath: { path: '/sys/fs/cgroup', type: 'Directory' } });
  assert.deepEqual(pod.containers[0].volumeMounts.find((v: any) => v.name === 'cgroup'), { name: 'cgroup', mountPath: '/host/sys/fs/cgroup', readOnly: true });
  assert.deepEqual(pod.containers[0].env.find((v: any) => v.name === 'SHARK_CGROUP_ROOT'), { name: 'SHARK_CGROUP_ROOT', value: '/host/sys/fs/cgroup' });
  assert.equal(plain.spec.template.spec.containers[0].env.some((v: any) => v.name === 'SHARK_CGROUP_ROOT'), false);
  // The namespace is Pod Security `privileged`: `baseline` refuses hostPID and these capabilities.
  assert.equal(m.roots[0].metadata.labels['pod-security.kubernetes.io/enforce'], 'privileged');
  for (const o of m.objects) assert.doesNotThrow(() => validators[o.kind](structuredClone(o)).validate(), `${o.kind} is schema-valid`);
  // With --service-mesh too, each capability once.
  const both = agentManifests({ runId: 'r10', tls: true, serviceMesh: true }).owned.find((o) => o.kind === 'DaemonSet')!;
  assert.deepEqual(both.spec.template.spec.containers[0].securityContext.capabilities.add, ['BPF', 'NET_RAW', 'PERFMON', 'SYS_ADMIN', 'SYS_PTRACE', 'SYS_RESOURCE']);
});

test('--dry-run --tls: the YAML shows hostPID, the eBPF capabilities and the BTF mount, and parses back schema-valid', () => {
  const docs = parseAllDocuments(dryRunYaml({ runId: 'd1', tls: true })).map((d) => d.toJS());
  const ds = docs.find((o) => o.kind === 'DaemonSet');
  assert.equal(ds.spec.template.spec.hostPID, true);
  assert.ok(ds.spec.template.spec.containers[0].securityContext.capabilities.add.includes('BPF'));
  assert.ok(ds.spec.template.spec.containers[0].volumeMounts.some((v: any) => v.mountPath === '/sys/kernel/btf' && v.readOnly));
  assert.ok(ds.spec.template.spec.containers[0].volumeMounts.some((v: any) => v.mountPath === '/host/sys/fs/cgroup' && v.readOnly));
  for (const o of docs) assert.doesNotThrow(() => validators[o.kind](structuredClone(o)).validate(), `${o.kind} is schema-valid`);
  const without = parseAllDocuments(dryRunYaml({ runId: 'd2' })).map((d) => d.toJS()).find((o) => o.kind === 'DaemonSet');
  assert.equal(without.spec.template.spec.hostPID, undefined);
});

test('a PriorityClass is referenced only when named; the run root is mounted read-only for the lease; both schema-valid', () => {
  const plain = agentManifests({ runId: 'r5' }).owned.find((o) => o.kind === 'DaemonSet')!;
  assert.equal(plain.spec.template.spec.priorityClassName, undefined);
  const m = agentManifests({ runId: 'r6', priorityClassName: 'system-node-critical', leaseSeconds: 30 });
  const ds = m.owned.find((o) => o.kind === 'DaemonSet')!;
  const pod = ds.spec.template.spec;
  assert.equal(pod.priorityClassName, 'system-node-critical');
  assert.doesNotThrow(() => new DaemonSet(structuredClone(ds)).validate());
  // The lease the agents follow without a token: the lease ConfigMap as a volume, and its data.
  const root = m.lease;
  assert.deepEqual(pod.volumes.find((v: any) => v.configMap), { name: 'run', configMap: { name: root.metadata.name, optional: true } });
  assert.deepEqual(pod.containers[0].volumeMounts.find((v: any) => v.name === 'run'), { name: 'run', mountPath: '/etc/shark/run', readOnly: true });
  assert.deepEqual(pod.containers[0].command.slice(-2), ['--lease-dir', '/etc/shark/run']);
  assert.equal(root.data['lease-seconds'], '30');
  assert.equal(root.data['renew-time'], root.metadata.annotations['shark.io/renew-time']);
  assert.doesNotThrow(() => new ConfigMap(structuredClone(root)).validate());
});

test('the keeper Job: no token, no capabilities, not root, read-only root, tiny; never finishes by a crash; deleted at once when finished; schema-valid', () => {
  const m = agentManifests({ runId: 'k1', image: 'shark:test', leaseGraceSeconds: 7, priorityClassName: 'high' });
  const job = m.root;
  assert.equal(job.kind, 'Job');
  assert.doesNotThrow(() => new Job(structuredClone(job)).validate());
  assert.equal(job.spec.ttlSecondsAfterFinished, 0);
  assert.equal(job.spec.backoffLimit, KEEPER_BACKOFF_LIMIT);
  assert.equal(job.spec.completions, 1);
  const pod = job.spec.template.spec;
  assert.equal(pod.restartPolicy, 'OnFailure');
  assert.equal(pod.automountServiceAccountToken, false);
  assert.equal(pod.serviceAccountName, undefined, 'the namespace default account, with no token mounted');
  assert.equal(pod.hostNetwork, undefined);
  assert.equal(pod.hostPID, undefined);
  assert.equal(pod.priorityClassName, 'high');
  assert.equal(pod.containers.length, 1);
  const c = pod.containers[0];
  assert.deepEqual(c.command, ['shark', 'agent', '--until-lapse', '--lease-dir', '/etc/shark/run', '--lease-grace', '7s']);
  assert.equal(c.image, 'shark:test');
  assert.deepEqual(c.securityContext.capabilities, { drop: ['ALL'] });
  assert.equal(c.securityContext.privileged, false);
  assert.equal(c.securityContext.allowPrivilegeEscalation, false);
  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.notEqual(pod.securityContext.runAsUser, 0);
  assert.ok(c.resources.requests.cpu && c.resources.limits.memory);
  // It mounts the lease it watches (read-only, not optional: it starts once the lease exists).
  assert.deepEqual(pod.volumes.find((v: any) => v.configMap), { name: 'run', configMap: { name: m.lease.metadata.name } });
  assert.deepEqual(c.volumeMounts.find((v: any) => v.name === 'run'), { name: 'run', mountPath: '/etc/shark/run', readOnly: true });
  // Wherever the agents may run, the keeper may too.
  const ds = m.owned.find((o) => o.kind === 'DaemonSet')!;
  assert.deepEqual(pod.tolerations, ds.spec.template.spec.tolerations);
  assert.deepEqual(pod.nodeSelector, ds.spec.template.spec.nodeSelector);
  // Pod Security: the keeper passes `restricted`; the agent (hostNetwork, NET_RAW) does not, so the check can fail.
  assert.deepEqual(podSecurityViolations(pod, 'restricted'), []);
  assert.ok(podSecurityViolations(ds.spec.template.spec, 'restricted').length >= 3);
  // The keeper's pods are not taken for agents (different name label), and carry the run's label for --clean.
  assert.equal(job.spec.template.metadata.labels['app.kubernetes.io/name'], 'shark-keeper');
  assert.equal(job.metadata.labels[RUN_LABEL], 'k1');
  // The validator does reject a broken Job.
  const bad = structuredClone(job);
  bad.spec.backoffLimit = 'many';
  assert.throws(() => new Job(bad).validate());
});

test('no keeper without a lease that can lapse (--dry-run: lease 0) or when asked (a user who may not create Jobs): the lease ConfigMap is the root', () => {
  const docs = parseAllDocuments(dryRunYaml({ runId: 'd3' })).map((d) => d.toJS());
  assert.deepEqual(docs.map((o) => o.kind), ['Namespace', 'ConfigMap', 'ServiceAccount', 'DaemonSet']);
  assert.equal(docs[1].data['lease-seconds'], '0');
  const m = agentManifests({ runId: 'n1', keeper: false });
  assert.equal(m.root, m.lease);
  assert.equal(m.root.kind, 'ConfigMap');
  assert.ok(!m.objects.some((o) => o.kind === 'Job'));
  const root = { ...m.root, metadata: { ...m.root.metadata, uid: 'u-1' } };
  assert.deepEqual(ownedBy(m.owned[0], root).metadata.ownerReferences[0], { apiVersion: 'v1', kind: 'ConfigMap', name: 'shark-run-n1', uid: 'u-1', blockOwnerDeletion: false });
});

// --agent-memory and --agent-cpu: the agents' limits as Kubernetes quantities, checked before
// anything is deployed (a limit below the request is refused by the API server only when the
// DaemonSet's pods are made), put in the DaemonSet schema-valid, and named by the hint of an
// agent OOM-killed before the run taps (its DaemonSet goes with the failed run).
/**
 * `shark tap -A`'s flags with their defaults (src/commands/tap.ts), and `extra`: importing the
 * command itself for its table costs ~3 s of module loading on a loaded machine.
 */
function tapFlags(extra: Record<string, unknown>): TapFlags {
  const defaults = {
    'all-namespaces': true,
    'agent-namespace': 'shark-system',
    'agent-timeout': '60s',
    'agent-lease': '30s',
    'api-outage': '5m',
    'request-timeout': '30s',
    'exec-ping': '5s,60s',
    'stream-max-pending': '8MB',
    'max-body': '16KB',
    'agent-cpu': '1',
    'agent-memory': '512Mi',
  };
  return { ...defaults, ...extra } as unknown as TapFlags;
}

test('Kubernetes quantities read as the API server reads them; what it refuses is not one', () => {
  const amounts: [string, number][] = [
    ['512Mi', 512 * 2 ** 20],
    ['1Gi', 2 ** 30],
    ['1.5Gi', 1.5 * 2 ** 30],
    ['2G', 2e9],
    ['800M', 8e8],
    ['500m', 0.5],
    ['2', 2],
    ['.5', 0.5],
    ['1e9', 1e9],
    ['1E', 1e18],
    ['+3k', 3000],
  ];
  for (const [s, n] of amounts) assert.equal(parseQuantity(s), n, s);
  for (const s of ['', 'Mi', '1.5Gib', '1 Gi', '-1Gi', '1mi', '0x10', '1..2', 'two', '1e', '12'.repeat(30)]) assert.equal(parseQuantity(s), undefined, s);
  // Twice a limit, in whatever unit it was given: never less than the limit itself.
  assert.equal(doubledMemory(parseQuantity('512Mi')!), '1Gi');
  assert.equal(doubledMemory(parseQuantity('768Mi')!), '1536Mi');
  assert.equal(doubledMemory(parseQuantity('1500M')!), '2862Mi');
  assert.equal(doubledMemory(parseQuantity('3Gi')!), '6Gi');
});

test('--agent-memory and --agent-cpu: a bad quantity or one below the request is a usage error naming the flag; good ones pass', async () => {
  const refused: [Record<string, string>, RegExp][] = [
    [{ 'agent-memory': 'lots' }, /^--agent-memory: 'lots' is not a Kubernetes quantity \(a memory amount: 512Mi, 1Gi, 2G\)$/],
    [{ 'agent-memory': '128Mi' }, /^--agent-memory: '128Mi' is below what each agent requests \(192Mi\); the limit must be at least that$/],
    [{ 'agent-memory': '512m' }, /below what each agent requests/],
    [{ 'agent-cpu': '2 cores' }, /^--agent-cpu: '2 cores' is not a Kubernetes quantity \(a CPU amount: 1, 2, 500m\)$/],
    [{ 'agent-cpu': '50m' }, /^--agent-cpu: '50m' is below what each agent requests \(100m\)/],
    [{ 'agent-cpu': '0' }, /below what each agent requests/],
  ];
  for (const [extra, message] of refused) {
    await assert.rejects(checkClusterFlags(undefined, tapFlags(extra)), (e: Error & { exitCode?: number }) => {
      assert.match(e.message, message);
      assert.equal(e.exitCode, 2, e.message);
      return true;
    });
  }
  // Accepted amounts, checked alone (the whole check loads the filter compiler: a second of loading).
  for (const [memory, cpu] of [['512Mi', '1'], ['192Mi', '100m'], ['2G', '2'], ['1.5Gi', '0.5']]) {
    checkAgentLimit('--agent-memory', memory, '192Mi', 'memory');
    checkAgentLimit('--agent-cpu', cpu, '100m', 'CPU');
  }
});

test('the limits reach the DaemonSet of --dry-run schema-valid, the requests unchanged; the defaults without the flags', () => {
  const daemonSet = (yaml: string) => parseAllDocuments(yaml).map((d) => d.toJS()).find((o) => o.kind === 'DaemonSet');
  const raised = daemonSet(dryRunYaml({ runId: 'r1', image: 'shark:test', cpuLimit: '2', memoryLimit: '1.5Gi' }));
  new DaemonSet(raised).validate();
  assert.deepEqual(raised.spec.template.spec.containers[0].resources, { requests: { cpu: '100m', memory: '192Mi' }, limits: { cpu: '2', memory: '1.5Gi' } });
  const plain = daemonSet(dryRunYaml({ runId: 'r1', image: 'shark:test' }));
  assert.deepEqual(plain.spec.template.spec.containers[0].resources.limits, { cpu: '1', memory: '512Mi' });
});

test('an agent OOM-killed before the run taps names --agent-memory at twice its limit; one killed while tapping names both ways', () => {
  const pod = {
    metadata: { name: 'agent-a', uid: 'u1' },
    spec: { nodeName: 'a', containers: [{ name: 'agent', resources: { limits: { memory: '1500M' } } }] },
    status: {
      phase: 'Running',
      containerStatuses: [{ state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 20s' } }, lastState: { terminated: { exitCode: 137, reason: 'OOMKilled' } } }],
    },
  };
  const node = { metadata: { name: 'a', labels: { 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64' } }, spec: { taints: [] }, status: { conditions: [{ type: 'Ready', status: 'True' }] } };
  const [s] = agentStates({ namespace: 'shark-system', image: 'shark:test', nodes: [node], pods: [pod], events: [] });
  assert.equal(s.hint, 'the agent ran out of its memory limit (1500M) and was killed: tap fewer pods, pass --no-bodies or a smaller --max-body, or run again with --agent-memory 2862Mi');
  assert.equal(
    lessMemory('512Mi', 'shark-system', 'shark-agent-r1'),
    'tap fewer pods, pass --no-bodies or a smaller --max-body, or raise the limit: kubectl -n shark-system set resources ds/shark-agent-r1 -c agent --limits=memory=1Gi (later runs: --agent-memory 1Gi)',
  );
});

test('the watch cache keeps an agent pod s memory limit (its OOM hint names it), and no other pod s resources', () => {
  const { objects } = agentManifests({ runId: 'r1', image: 'shark:test', memoryLimit: '768Mi' });
  const tpl = objects.find((o) => o.kind === 'DaemonSet')!.spec.template;
  const agent = trimObject('pods', { metadata: { name: 'a', ...tpl.metadata }, spec: { ...tpl.spec, nodeName: 'n1' } });
  assert.deepEqual(agent.spec.containers[0].resources, { limits: { memory: '768Mi' } });
  const other = trimObject('pods', { metadata: { name: 'web', labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'x', resources: { limits: { memory: '1Gi' } }, env: [{ name: 'K', value: 'v' }] }] } });
  assert.deepEqual(other.spec.containers, [{ name: 'c', image: 'x' }]);
});
