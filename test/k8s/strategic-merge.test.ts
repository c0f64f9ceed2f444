// The fixture's strategic merge patch (test/fixtures/apiserver/strategic-merge.ts)
// against the behaviour the Kubernetes docs describe
// (https://kubernetes.io/docs/tasks/manage-kubernetes-objects/update-api-object-kubectl-patch/
// and the strategic-merge-patch design doc): containers merge by name,
// tolerations (no patchStrategy in PodSpec) are replaced, directives are
// obeyed and never stored. The patch metadata comes from the served schemas.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { strategicMerge } from '../fixtures/apiserver/strategic-merge.js';
import { definitionOf, schemaDefinitions } from '../fixtures/apiserver/openapi.js';
import { findResource, type Obj } from '../fixtures/apiserver/store.js';

const defs = schemaDefinitions();
const podSchema = defs[definitionOf(findResource('', 'pods')!)];
const merge = (cur: Obj, patch: Obj) => strategicMerge(cur, patch, podSchema, defs)!;

const pod = (): Obj => ({
  metadata: { name: 'p', finalizers: ['a'] },
  spec: {
    containers: [{ name: 'web', image: 'nginx', ports: [{ containerPort: 80 }], env: [{ name: 'A', value: '1' }] }],
    tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'a', effect: 'NoSchedule' }],
    volumes: [{ name: 'data', emptyDir: {} }],
  },
});

test('the docs example: a container patched in merges with the list by name; tolerations are replaced', () => {
  const out = merge(pod(), {
    spec: {
      containers: [{ name: 'patch-demo-ctr-2', image: 'redis' }],
      tolerations: [{ effect: 'NoSchedule', key: 'disktype', value: 'ssd' }],
    },
  });
  assert.deepEqual(out.spec.containers.map((c: Obj) => c.name), ['web', 'patch-demo-ctr-2']);
  assert.deepEqual(out.spec.tolerations, [{ effect: 'NoSchedule', key: 'disktype', value: 'ssd' }]);
});

test('a matching element merges field by field, nested merge keys too (env by name, ports by containerPort)', () => {
  const out = merge(pod(), { spec: { containers: [{ name: 'web', image: 'nginx:2', env: [{ name: 'B', value: '2' }], ports: [{ containerPort: 80, name: 'http' }] }] } });
  const web = out.spec.containers[0];
  assert.equal(web.image, 'nginx:2');
  assert.deepEqual(web.env, [{ name: 'A', value: '1' }, { name: 'B', value: '2' }]);
  assert.deepEqual(web.ports, [{ containerPort: 80, name: 'http' }]);
});

test('directives: $patch delete/replace, $setElementOrder, $retainKeys, $deleteFromPrimitiveList; none is stored', () => {
  const cur = pod();
  cur.spec.containers.push({ name: 'side', image: 'envoy' });
  const out = merge(cur, {
    metadata: { finalizers: ['b'], '$deleteFromPrimitiveList/finalizers': ['a'] },
    spec: {
      '$setElementOrder/containers': [{ name: 'side' }, { name: 'web' }],
      containers: [{ name: 'web', env: [{ $patch: 'replace' }, { name: 'C', value: '3' }] }],
      volumes: [{ name: 'data', $retainKeys: ['name', 'configMap'], configMap: { name: 'cfg' } }],
    },
  });
  assert.deepEqual(out.metadata.finalizers, ['b'], 'a primitive merge list: b added, a deleted');
  assert.deepEqual(out.spec.containers.map((c: Obj) => c.name), ['side', 'web']);
  assert.deepEqual(out.spec.containers[1].env, [{ name: 'C', value: '3' }]);
  assert.deepEqual(out.spec.volumes, [{ name: 'data', configMap: { name: 'cfg' } }], 'retainKeys dropped emptyDir');
  assert.doesNotMatch(JSON.stringify(out), /\$/);

  const gone = merge(out, { spec: { containers: [{ name: 'side', $patch: 'delete' }], tolerations: null } });
  assert.deepEqual(gone.spec.containers.map((c: Obj) => c.name), ['web']);
  assert.equal('tolerations' in gone.spec, false);
  assert.equal(merge(out, { spec: { $patch: 'replace', containers: [{ name: 'only', image: 'x' }] } }).spec.volumes, undefined);
});
