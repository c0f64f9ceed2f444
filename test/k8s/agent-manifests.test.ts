// Every object `shark tap` creates must be accepted by a real API server:
// validate each against the Kubernetes OpenAPI schema (kubernetes-models).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { agentManifests, MANAGED_BY, RUN_LABEL } from '../../src/k8s/agent-manifests.js';

const validators: Record<string, (o: any) => { validate(): void }> = {
  Namespace: (o) => new Namespace(o),
  ServiceAccount: (o) => new ServiceAccount(o),
  ClusterRole: (o) => new ClusterRole(o),
  ClusterRoleBinding: (o) => new ClusterRoleBinding(o),
  DaemonSet: (o) => new DaemonSet(o),
};

test('every agent manifest validates against the OpenAPI schema', () => {
  const m = agentManifests({ runId: 'abc123', namespace: 'shark-system', image: 'shark:test' });
  assert.deepEqual(
    m.objects.map((o) => o.kind),
    ['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'DaemonSet'],
  );
  for (const obj of m.objects) {
    const make = validators[obj.kind];
    assert.ok(make, `validator for ${obj.kind}`);
    assert.doesNotThrow(() => make(structuredClone(obj)).validate(), `${obj.kind} is schema-valid`);
    assert.equal(obj.metadata.labels[MANAGED_BY], 'shark');
    assert.equal(obj.metadata.labels[RUN_LABEL], 'abc123');
  }
});

test('the validator really rejects a broken DaemonSet (the check above can fail)', () => {
  const ds = structuredClone(agentManifests({ runId: 'x1' }).objects.find((o) => o.kind === 'DaemonSet')!);
  ds.spec.template.spec.containers[0].securityContext.capabilities.add = 'NET_RAW';
  assert.throws(() => new DaemonSet(ds).validate());
});

test('the agent is least-privilege: capabilities not privileged, read-only RBAC, control-plane tolerations', () => {
  const m = agentManifests({ runId: 'r2', createNamespace: false });
  assert.ok(!m.objects.some((o) => o.kind === 'Namespace'));
  const ds = m.objects.find((o) => o.kind === 'DaemonSet')!;
  const pod = ds.spec.template.spec;
  const sc = pod.containers[0].securityContext;
  assert.equal(pod.hostNetwork, true);
  assert.equal(sc.privileged, false);
  assert.deepEqual(sc.capabilities.add, ['NET_RAW', 'NET_ADMIN']);
  assert.ok(pod.containers[0].resources.limits.memory);
  assert.ok(pod.tolerations.some((t: any) => t.key === 'node-role.kubernetes.io/control-plane'));
  const role = m.objects.find((o) => o.kind === 'ClusterRole')!;
  const verbs = new Set(role.rules.flatMap((r: any) => r.verbs));
  assert.deepEqual([...verbs].sort(), ['get', 'list', 'watch']);
  // The template's labels satisfy the selector (a real API server rejects otherwise).
  for (const [k, v] of Object.entries(ds.spec.selector.matchLabels)) assert.equal(ds.spec.template.metadata.labels[k], v);
});
