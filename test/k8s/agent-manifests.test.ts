// Every object `shark tap` creates must be accepted by a real API server:
// validate each against the Kubernetes OpenAPI schema (kubernetes-models).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { parseAllDocuments } from 'yaml';
import { agentManifests, ownedBy, MANAGED_BY, RUN_LABEL } from '../../src/k8s/agent-manifests.js';
import { dryRunYaml } from '../../src/k8s/dry-run.js';

const validators: Record<string, (o: any) => { validate(): void }> = {
  Namespace: (o) => new Namespace(o),
  ConfigMap: (o) => new ConfigMap(o),
  ServiceAccount: (o) => new ServiceAccount(o),
  DaemonSet: (o) => new DaemonSet(o),
};

test('every agent manifest validates against the OpenAPI schema, owned by the run root as created', () => {
  const m = agentManifests({ runId: 'abc123', namespace: 'shark-system', image: 'shark:test' });
  assert.deepEqual(
    m.objects.map((o) => o.kind),
    ['Namespace', 'ConfigMap', 'ServiceAccount', 'DaemonSet'],
  );
  const root = { ...m.roots[1], metadata: { ...m.roots[1].metadata, uid: '0b9f6c1e-1111-4a4a-9a9a-123456789abc' } };
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
  // The lease the agents follow without a token: the root ConfigMap as a volume, and its data.
  const root = m.roots.find((o) => o.kind === 'ConfigMap')!;
  assert.deepEqual(pod.volumes.find((v: any) => v.configMap), { name: 'run', configMap: { name: root.metadata.name, optional: true } });
  assert.deepEqual(pod.containers[0].volumeMounts.find((v: any) => v.name === 'run'), { name: 'run', mountPath: '/etc/shark/run', readOnly: true });
  assert.deepEqual(pod.containers[0].command.slice(-2), ['--lease-dir', '/etc/shark/run']);
  assert.equal(root.data['lease-seconds'], '30');
  assert.equal(root.data['renew-time'], root.metadata.annotations['shark.io/renew-time']);
  assert.doesNotThrow(() => new ConfigMap(structuredClone(root)).validate());
});
