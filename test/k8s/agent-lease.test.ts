// A `kill -9` of the CLI leaves its run behind; the agents (no API token, by
// design) must notice by themselves. The run's root ConfigMap is mounted into
// the agent pod, the fixture's kubelet keeps it current as a kubelet does
// (kubelet.ts: atomic `..data` swap on a periodic sync), the real image runs
// the DaemonSet's command, and the real `ClusterObjects.renew` renews the
// lease over HTTP. While renewed, the capture goes on; once renewals stop, the
// capturing agent stops by itself (exit 0, one line), the idle main process
// says so and stays (exiting would only restart it), and `tap --clean`
// removes the run.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLab, type Lab } from '../helpers/lab.js';
import { cliBin } from '../helpers/paths.js';
import { agentImage, podmanMissing } from '../helpers/agent-image.js';
import { ApiServerFixture } from '../fixtures/apiserver/server.js';
import { PodmanKubelet } from '../fixtures/apiserver/kubelet.js';
import { findResource, type Obj } from '../fixtures/apiserver/store.js';
import { agentManifests, ownedBy } from '../../src/k8s/agent-manifests.js';
import { ClusterObjects } from '../../src/k8s/cluster-objects.js';
import { loadKubeConfig } from '../../src/k8s/kubeconfig.js';
import { until } from '../helpers/until.js';

const MANAGED = 'app.kubernetes.io/managed-by=shark';
const skip = podmanMissing();
let lab: Lab;
let image: string;

before(
  async () => {
    if (skip) return;
    image = agentImage();
    lab = await startLab({ prefix: `s4cl${process.pid % 1000}`, net: '198.19.110', nodes: 1 });
  },
  { timeout: 20 * 60_000 },
);

after(async () => {
  await lab?.stop();
});

function podman(args: string[]): { status: number | null; out: string } {
  const r = spawnSync('podman', args, { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}`.trim() };
}

test('the agents follow the run’s lease through the mounted root ConfigMap: renewed, they capture; lapsed, they stop; --clean removes the run', { skip, timeout: 240_000 }, async () => {
  const kubelet = new PodmanKubelet({ backoffMs: 500, maxBackoffMs: 4000, configMapSyncMs: 500 });
  const f = new ApiServerFixture({ nodes: lab.nodes.map((n) => ({ name: n.name, ip: n.ip, netns: n.ns })), kubelet });
  await f.listen();
  const kubeconfig = join(mkdtempSync(join(tmpdir(), 's4c-kc-')), 'config');
  f.writeKubeconfig(kubeconfig);
  const objects = new ClusterObjects(loadKubeConfig({ kubeconfig }).kc);
  let renewer: NodeJS.Timeout | undefined;
  try {
    // The run as `shark tap` creates it: root first, the DaemonSet owned by it. A 2 s lease and
    // 1 s for the kubelet's refresh delay (defaults: 30 s and 120 s) keep the test short.
    const m = agentManifests({ runId: 'lse001', image, leaseSeconds: 2, leaseGraceSeconds: 1, keeper: false });
    f.ensureNamespace(m.namespace);
    const root = f.store.create(findResource('', 'configmaps')!, m.namespace, m.roots.find((o) => o.kind === 'ConfigMap')!);
    const ds = m.owned.find((o) => o.kind === 'DaemonSet')!;
    f.store.create(findResource('apps', 'daemonsets')!, m.namespace, ownedBy(ds, root));
    renewer = setInterval(() => void objects.renew(m.namespace, 'lse001').catch(() => {}), 500);

    const pod = await until(
      () => f.store.list('pods', m.namespace).find((p: Obj) => p.status?.containerStatuses?.[0]?.state?.running),
      'the agent pod running',
      90_000,
      () => JSON.stringify(f.store.list('pods', m.namespace).map((p: Obj) => p.status)),
    );
    const container = `shk-${pod.metadata.name}`;
    // The volume is the ConfigMap's data, kept current: the renew time moves.
    const first = podman(['exec', container, 'cat', '/etc/shark/run/renew-time']).out;
    assert.ok(!Number.isNaN(Date.parse(first)), first);
    await until(() => podman(['exec', container, 'cat', '/etc/shark/run/renew-time']).out !== first, 'the mounted lease refreshed', 10_000);
    assert.notEqual(podman(['exec', container, 'touch', '/etc/shark/run/x']).status, 0, 'the ConfigMap volume is read-only');

    // The capture, as the CLI execs it (with the lease to follow).
    const agent = kubelet.exec(pod, ['shark', 'agent', '--node', 'node0', '-i', 'lo', '-f', 'tcp port 9', '--lease-dir', '/etc/shark/run', '--lease-grace', '1s']);
    let stderr = '';
    agent.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    agent.stdout!.resume();
    const exit = new Promise<number | null>((r) => agent.on('close', (code) => r(code)));
    await until(() => stderr.includes('capturing on'), 'the agent capturing', 30_000, () => stderr);
    // Renewed: well past lease + grace, it still captures.
    await new Promise((r) => setTimeout(r, 6000));
    assert.equal(agent.exitCode, null, stderr);
    assert.doesNotMatch(stderr, /lease lapsed/);

    // The CLI is "killed -9": no more renewals. The agent stops by itself, cleanly.
    clearInterval(renewer);
    renewer = undefined;
    const code = await Promise.race([exit, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000))]);
    assert.equal(code, 0, stderr);
    assert.match(stderr, /agent node0: the run's lease lapsed \(last renewed \S+, lease 2s\): its CLI is gone; not capturing/);
    // The idle main process saw it too, and stays up (no restart loop).
    await until(() => /lease lapsed/.test(podman(['logs', container]).out), 'the idle process’s line', 15_000, () => podman(['logs', container]).out);
    const now = f.store.get('pods', m.namespace, pod.metadata.name)!;
    assert.ok(now.status.containerStatuses[0].state.running, JSON.stringify(now.status));
    assert.equal(kubelet.terminations.length, 0, JSON.stringify(kubelet.terminations));

    // --clean sees the lapsed lease and removes the run.
    // Spawned, not spawnSync: the fixture answers from this process.
    const clean = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
      const c = spawn(process.execPath, [cliBin, 'tap', '--clean', '--kubeconfig', kubeconfig], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 });
      let err = '';
      c.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
      c.on('close', (status) => resolve({ status, stderr: err }));
    });
    assert.equal(clean.status, 0, clean.stderr);
    assert.match(clean.stderr, /removed .*run lse001, lease lapsed/);
    await until(() => f.store.findAll(MANAGED).filter((o) => o.kind !== 'Namespace').length === 0, 'the run removed', 30_000);
  } finally {
    if (renewer) clearInterval(renewer);
    await f.close();
    await kubelet.close();
  }
});
