// The fixture's kubelet runs a pod exactly as its spec says, or refuses: the
// podman flags for shark's own DaemonSet, read from the manifest shark deploys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { podmanRunArgs } from '../fixtures/apiserver/kubelet.js';
import { agentManifests } from '../../src/k8s/agent-manifests.js';

const node = { name: 'node1', ip: '198.18.40.1', netns: 'shk-node1' };

function agentPod(): Record<string, any> {
  const ds = agentManifests({ runId: 'arg001', image: 'localhost/shark-agent:t' }).objects.find((o) => o.kind === 'DaemonSet')!;
  return { metadata: { name: 'shark-agent-arg001-x', namespace: 'shark-system' }, spec: { ...structuredClone(ds.spec.template.spec), nodeName: 'node1' } };
}

function keeperPod(): Record<string, any> {
  const job = agentManifests({ runId: 'arg002', image: 'localhost/shark-agent:t' }).root;
  return { metadata: { name: 'shark-keeper-arg002-x', namespace: 'shark-system' }, spec: { ...structuredClone(job.spec.template.spec), nodeName: 'node1' } };
}

/** The values that follow each occurrence of `flag`. */
const values = (args: string[], flag: string) => args.flatMap((a, i) => (a === flag ? [args[i + 1]] : []));

test('the agent DaemonSet becomes: node netns, its capabilities only, read-only root + emptyDir tmpfs, its env and command', () => {
  const pod = agentPod();
  const c = pod.spec.containers[0];
  const args = podmanRunArgs(pod, node, 'shk-x', {}, { run: '/var/tmp/shk-cm-x' });
  assert.deepEqual(values(args, '--network'), ['ns:/run/netns/shk-node1']);
  assert.deepEqual(values(args, '--cap-drop'), c.securityContext.capabilities.drop);
  assert.deepEqual(values(args, '--cap-add'), c.securityContext.capabilities.add);
  assert.ok(args.includes('--read-only') && args.includes('--read-only-tmpfs=false'));
  assert.deepEqual(values(args, '--tmpfs'), ['/tmp:rw,exec,mode=1777,size=64m']);
  // The run's root ConfigMap (the lease the agents follow), read-only.
  assert.deepEqual(values(args, '--volume'), ['/var/tmp/shk-cm-x:/etc/shark/run:ro']);
  assert.deepEqual(values(args, '--security-opt'), ['no-new-privileges']);
  assert.ok(values(args, '--env').includes('NODE_NAME=node1'));
  assert.deepEqual(values(args, '--runtime'), ['runc']);
  assert.deepEqual(JSON.parse(values(args, '--entrypoint')[0]), c.command);
  assert.equal(args.at(-1), 'localhost/shark-agent:t');
  assert.ok(!args.includes('--privileged'));
  // The manifest's limits, as a kubelet applies them (the CPU quota is what the agent's --workers auto reads).
  assert.deepEqual(values(args, '--cpus'), ['1']);
  assert.deepEqual(values(args, '--memory'), [String(512 * 1024 * 1024)]);
  assert.deepEqual(values(podmanRunArgs(keeperPod(), node, 'shk-k', {}, { run: '/x' }), '--cpus'), ['0.5']);
});

test('what the fixture cannot honour is refused, not run with less isolation', () => {
  const hostPath = agentPod();
  hostPath.spec.volumes = [{ name: 'tmp', hostPath: { path: '/var/run' } }];
  assert.throws(() => podmanRunArgs(hostPath, node, 'x', {}, { run: '/x' }), /not an emptyDir/);
  // A configMap volume the kubelet did not project is refused, not mounted empty.
  assert.throws(() => podmanRunArgs(agentPod(), node, 'x'), /configMap volume run has no projected directory/);
  const root = keeperPod();
  root.spec.securityContext.runAsUser = 0;
  assert.throws(() => podmanRunArgs(root, node, 'x', {}, { run: '/x' }), /runAsUser breaks non-root policy/);
  const two = agentPod();
  two.spec.containers.push({ ...two.spec.containers[0], name: 'second' });
  assert.throws(() => podmanRunArgs(two, node, 'x'), /one container/);
});

test('the keeper Job’s pod becomes: a network of its own (loopback only), uid:gid 65534, every capability dropped and none added, read-only root', () => {
  const pod = keeperPod();
  const args = podmanRunArgs(pod, node, 'shk-k', {}, { run: '/var/tmp/shk-cm-k' });
  assert.deepEqual(values(args, '--network'), ['none']);
  assert.deepEqual(values(args, '--user'), ['65534:65534']);
  assert.deepEqual(values(args, '--cap-drop'), ['ALL']);
  assert.deepEqual(values(args, '--cap-add'), []);
  assert.ok(args.includes('--read-only'));
  assert.deepEqual(values(args, '--volume'), ['/var/tmp/shk-cm-k:/etc/shark/run:ro']);
  assert.deepEqual(JSON.parse(values(args, '--entrypoint')[0]), ['shark', 'agent', '--until-lapse', '--lease-dir', '/etc/shark/run']);
});
