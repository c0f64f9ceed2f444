// kubectl's TYPE/NAME as `shark tap`'s argument: which arguments are workloads,
// which stay pod regexes, which are refused; and which pods a workload controls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseWorkloadRef, workloadOwns } from '../../src/k8s/workload-ref.js';
import { compilePodTarget, selectTargets } from '../../src/k8s/targets.js';

function pod(name: string, owner?: { kind: string; name: string }, labels: Record<string, string> = {}) {
  return {
    metadata: { name, namespace: 'shop', labels, ...(owner ? { ownerReferences: [{ ...owner, controller: true }] } : {}) },
    spec: { nodeName: 'node0' },
    status: { phase: 'Running', podIP: `198.18.37.${name.length}` },
  };
}

test('TYPE/NAME in the names kubectl accepts; a regex stays a regex', () => {
  for (const [arg, kind] of [
    ['deploy/web', 'Deployment'],
    ['deployment/web', 'Deployment'],
    ['deployments.apps/web', 'Deployment'],
    ['Deploy/web', 'Deployment'],
    ['sts/db', 'StatefulSet'],
    ['ds/agent', 'DaemonSet'],
    ['rs/web-7d4b9c8f6d', 'ReplicaSet'],
    ['job/migrate', 'Job'],
    ['pod/web-0', 'Pod'],
  ]) {
    assert.equal(parseWorkloadRef(arg)?.kind, kind, arg);
  }
  for (const arg of ['web', 'reviews|ratings', '[^/]+-v1', '^api-.*', '.*/x']) assert.equal(parseWorkloadRef(arg), undefined, arg);
  assert.ok(compilePodTarget('[^/]+-v1').regex);
  assert.throws(() => parseWorkloadRef('svc/web'), /TYPE must be deploy, sts, ds, rs, job or pod .*-l/);
  assert.throws(() => parseWorkloadRef('cronjob/nightly'), /TYPE must be/);
  assert.throws(() => parseWorkloadRef('deploy/'), /'' is not a Deployment name/);
  assert.throws(() => parseWorkloadRef('deploy/web.*'), /not a Deployment name/);
});

test('a Deployment controls the pods of its ReplicaSets only, not those of a Deployment whose name starts alike', () => {
  const ref = parseWorkloadRef('deploy/reviews')!;
  const mine = pod('reviews-7d4b9c8f6d-x2kzq', { kind: 'ReplicaSet', name: 'reviews-7d4b9c8f6d' }, { 'pod-template-hash': '7d4b9c8f6d' });
  const v1 = pod('reviews-v1-5b6f7d8c9b-qq2xb', { kind: 'ReplicaSet', name: 'reviews-v1-5b6f7d8c9b' }, { 'pod-template-hash': '5b6f7d8c9b' });
  const bare = pod('reviews-debug');
  const rsOnly = pod('reviews-zzz-abcde', { kind: 'ReplicaSet', name: 'reviews-zzz' });
  assert.equal(workloadOwns(ref, mine), true);
  assert.equal(workloadOwns(ref, v1), false);
  assert.equal(workloadOwns(ref, bare), false);
  assert.equal(workloadOwns(ref, rsOnly), false, 'a ReplicaSet of no Deployment (no pod-template-hash)');
  assert.equal(workloadOwns(parseWorkloadRef('rs/reviews-7d4b9c8f6d')!, mine), true);
  assert.equal(workloadOwns(parseWorkloadRef('sts/db')!, pod('db-0', { kind: 'StatefulSet', name: 'db' })), true);
  assert.equal(workloadOwns(parseWorkloadRef('sts/db')!, pod('db-0', { kind: 'StatefulSet', name: 'db2' })), false);
  assert.equal(workloadOwns(parseWorkloadRef('pod/reviews-debug')!, bare), true);
  const targets = selectTargets([mine, v1, bare, rsOnly], { ...compilePodTarget('deploy/reviews'), namespaces: ['shop'] });
  assert.deepEqual([...targets.keys()], ['shop/reviews-7d4b9c8f6d-x2kzq']);
});
