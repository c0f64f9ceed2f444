// The artifact that is deployed is the artifact that is tested: the agent
// image built from the repo's Dockerfile, run by the fixture's kubelet
// (kubelet.ts) with podman exactly as the DaemonSet manifest says — the
// lab node's network namespace as host network, the manifest's capabilities,
// read-only root with a tmpfs for the emptyDir, the manifest's command — and
// `shark tap` exec'ing the agent into it through the API-server fixture.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labIdentity, startLab, type Lab } from '../helpers/lab.js';
import { agentImage, podmanMissing } from '../helpers/agent-image.js';
import { ApiServerFixture } from '../fixtures/apiserver/server.js';
import { PodmanKubelet } from '../fixtures/apiserver/kubelet.js';
import { findResource, type Obj } from '../fixtures/apiserver/store.js';
import { agentManifests } from '../../src/k8s/agent-manifests.js';
import type { Entry } from '../../src/model/entry.js';
import { until } from '../helpers/until.js';
import { spawnTap } from '../helpers/tap-process.js';

const MANAGED = 'app.kubernetes.io/managed-by=shark';
const skip = podmanMissing();
let lab: Lab;
let image: string;

// install.sh builds the image; here it is found at once unless src/ changed since (a rebuild: 1–4 min).
before(
  async () => {
    if (skip) return;
    image = agentImage();
    lab = await startLab({ ...labIdentity('shi'), nodes: 2 });
  },
  { timeout: 20 * 60_000 },
);

after(async () => {
  await lab?.stop();
});

function fixture(opts: { execProtocols?: string[] } = {}): { f: ApiServerFixture; kubelet: PodmanKubelet } {
  const nodes = lab.nodes.map((n) => ({ name: n.name, ip: n.ip, netns: n.ns }));
  const kubelet = new PodmanKubelet({ backoffMs: 500, maxBackoffMs: 4000 });
  const f = new ApiServerFixture({ nodes, kubelet, execProtocols: opts.execProtocols });
  return { f, kubelet };
}

function agentDaemonSet(patch: (container: Obj) => void = () => {}): Obj {
  const ds = structuredClone(agentManifests({ runId: 'img001', image }).objects.find((o) => o.kind === 'DaemonSet')!);
  patch(ds.spec.template.spec.containers[0]);
  return ds;
}

function createDaemonSet(f: ApiServerFixture, ds: Obj): void {
  f.ensureNamespace(ds.metadata.namespace);
  f.store.create(findResource('apps', 'daemonsets')!, ds.metadata.namespace, ds);
}

function agentPods(f: ApiServerFixture, dsName: string): Obj[] {
  return f.store.list('pods', 'shark-system').filter((p) => p.metadata.ownerReferences?.[0]?.name === dsName);
}

const stateOf = (p: Obj) => p.status?.containerStatuses?.[0]?.state ?? {};

function podmanOut(args: string[]): string {
  const r = spawnSync('podman', args, { encoding: 'utf8', timeout: 60_000 });
  return r.stdout.trim();
}

test('the DaemonSet as deployed: Ready only once its container runs, up after 5 s, capabilities and read-only root as the manifest says, exit 0 when deleted', { skip, timeout: 180_000 }, async () => {
  const { f, kubelet } = fixture();
  try {
    const ds = agentDaemonSet();
    createDaemonSet(f, ds);
    const pods = agentPods(f, ds.metadata.name);
    assert.equal(pods.length, lab.nodes.length);
    // Ready is reported only with a running container behind it.
    const ready = await until(() => {
      const ps = agentPods(f, ds.metadata.name);
      return ps.every((p) => p.status?.conditions?.some((c: Obj) => c.type === 'Ready' && c.status === 'True')) && ps;
    }, 'agent pods Ready', 60_000, () => JSON.stringify(agentPods(f, ds.metadata.name).map((p) => p.status)));
    for (const p of ready) assert.ok(stateOf(p).running, JSON.stringify(p.status));
    const container = `shk-${ready[0].metadata.name}`;

    // The container is what the manifest declares: exactly its capabilities, read-only root, a writable emptyDir.
    const sc = ds.spec.template.spec.containers[0].securityContext;
    const capBits: Record<string, number> = { NET_ADMIN: 12, NET_RAW: 13 };
    const want = sc.capabilities.add.reduce((m: bigint, c: string) => m | (1n << BigInt(capBits[c])), 0n);
    const capEff = /CapEff:\s*([0-9a-f]+)/.exec(podmanOut(['exec', container, 'cat', '/proc/1/status']))?.[1];
    assert.equal(BigInt(`0x${capEff}`), want, `CapEff ${capEff}`);
    assert.equal(sc.readOnlyRootFilesystem, true);
    assert.notEqual(spawnSync('podman', ['exec', container, 'touch', '/app/x']).status, 0, 'the root filesystem is read-only');
    const tmp = ds.spec.template.spec.containers[0].volumeMounts[0].mountPath;
    assert.equal(spawnSync('podman', ['exec', container, 'touch', `${tmp}/x`]).status, 0, 'the emptyDir is writable');
    // PID 1 is the manifest's command (`shark` runs as `node /usr/local/bin/shark …`).
    const cmdline = podmanOut(['exec', container, 'cat', '/proc/1/cmdline']).split('\0').filter(Boolean);
    const command: string[] = ds.spec.template.spec.containers[0].command;
    assert.equal(cmdline.at(-command.length)?.endsWith(`/${command[0]}`), true, cmdline.join(' '));
    assert.deepEqual(cmdline.slice(-command.length + 1), command.slice(1));
    // In the node's network namespace: the lab bridge is there.
    assert.match(podmanOut(['exec', container, 'cat', '/proc/net/dev']), /br0:/);
    // The manifest's 1-CPU limit is a CFS quota in there, as a kubelet sets it: the agent's default
    // `--workers auto` reads one core, so it dissects on one thread (this host's cgroups are v1).
    const cores = "const c = await import('/app/dist/dissect/parallel/cores.js'); console.log(c.availableCores(), c.autoWorkers())";
    assert.equal(podmanOut(['exec', container, 'node', '--input-type=module', '-e', cores]), '1 1');

    // Still running well after the ~0.7 s in which the unfixed agent exited.
    await new Promise((r) => setTimeout(r, 5000));
    for (const p of agentPods(f, ds.metadata.name)) {
      assert.ok(stateOf(p).running, JSON.stringify(p.status));
      assert.equal(p.status.containerStatuses[0].restartCount, 0);
    }
    assert.equal(kubelet.terminations.length, 0, JSON.stringify(kubelet.terminations));

    // Deleting the DaemonSet deletes its pods; the kubelet stops the container (SIGTERM): exit 0.
    f.store.delete('daemonsets', ds.metadata.namespace, ds.metadata.name);
    await until(() => kubelet.terminations.length === lab.nodes.length, 'containers stopped', 60_000, () => JSON.stringify(kubelet.terminations));
    for (const t of kubelet.terminations) assert.deepEqual({ exitCode: t.exitCode, why: t.why }, { exitCode: 0, why: 'deleted' });
  } finally {
    await f.close();
    await kubelet.close();
    assert.equal(podmanOut(['ps', '--all', '--quiet', '--filter', `label=${kubelet.label}`]), '', 'no container left');
  }
});

test('a missing image is ErrImagePull then ImagePullBackOff; a failing command is CrashLoopBackOff with its exit code; each with events', { skip, timeout: 120_000 }, async () => {
  const { f, kubelet } = fixture();
  try {
    const missing = agentDaemonSet((c) => (c.image = 'localhost/shark-agent:no-such-tag'));
    missing.metadata.name = 'shark-agent-missing';
    createDaemonSet(f, missing);
    const crashing = agentDaemonSet((c) => (c.command = ['shark', 'agent', '--no-such-flag']));
    crashing.metadata.name = 'shark-agent-crashing';
    createDaemonSet(f, crashing);

    await until(() => agentPods(f, missing.metadata.name).every((p) => stateOf(p).waiting?.reason === 'ImagePullBackOff'), 'ImagePullBackOff', 30_000);
    const pulled = agentPods(f, missing.metadata.name)[0];
    assert.match(stateOf(pulled).waiting.message, /localhost\/shark-agent:no-such-tag/);
    assert.equal(pulled.status.conditions.find((c: Obj) => c.type === 'Ready').status, 'False');

    const crash = await until(() => {
      const p = agentPods(f, crashing.metadata.name)[0];
      return p && stateOf(p).waiting?.reason === 'CrashLoopBackOff' && p.status.containerStatuses[0].restartCount >= 2 && p;
    }, 'CrashLoopBackOff after two restarts', 60_000, () => JSON.stringify(agentPods(f, crashing.metadata.name).map((p) => p.status)));
    // `shark agent` rejects an unknown flag with the usage exit code.
    assert.equal(crash.status.containerStatuses[0].lastState.terminated.exitCode, 2);
    assert.equal(crash.status.conditions.find((c: Obj) => c.type === 'Ready').status, 'False');

    const events = f.store.list('events', 'shark-system');
    const about = (pod: Obj, reason: string) => events.filter((e) => e.involvedObject.name === pod.metadata.name && e.reason === reason);
    assert.ok(about(pulled, 'Failed').some((e) => e.type === 'Warning' && /Failed to pull image/.test(e.message)));
    assert.ok(about(pulled, 'BackOff').some((e) => /Back-off pulling image/.test(e.message)));
    assert.ok(about(crash, 'BackOff').some((e) => e.type === 'Warning' && /Back-off restarting failed container/.test(e.message)));
    assert.ok(about(crash, 'Started').length >= 2);
  } finally {
    await f.close();
    await kubelet.close();
    assert.equal(podmanOut(['ps', '--all', '--quiet', '--filter', `label=${kubelet.label}`]), '', 'no container left');
  }
});

test('shark tap with the real image over v4 exec: entries from the container, secrets redacted on the node, last entries and counters arrive, everything removed', { skip, timeout: 240_000 }, async () => {
  // An API server before 1.30: v4 only, where closing stdin closes the whole stream.
  const { f, kubelet } = fixture({ execProtocols: ['v4.channel.k8s.io'] });
  const web = lab.pod('web');
  const redis = lab.pod('redis');
  f.addPod({ namespace: 'web', name: 'nginx-0', ip: web.ip, node: `node${web.node}`, labels: { app: 'nginx' } });
  f.addPod({ namespace: 'data', name: 'redis-0', ip: redis.ip, node: `node${redis.node}`, labels: { app: 'redis' } });
  for (const c of lab.pods.filter((p) => p.name.startsWith('client'))) {
    f.addPod({ namespace: 'clients', name: c.name.replace('client', 'client-'), ip: c.ip, node: `node${c.node}` });
  }
  await f.listen();
  const kubeconfig = join(mkdtempSync(join(tmpdir(), 'shi-kc-')), 'config');
  f.writeKubeconfig(kubeconfig);
  // The image named the way a user without the flag names it.
  const tap = spawnTap(['nginx|redis', '-A', '--kubeconfig', kubeconfig, '--agent-interface', 'br0'], { SHARK_AGENT_IMAGE: image });
  const capturing = () => f.execs.filter((s) => s.stderr.includes('capturing on') && s.child.exitCode === null).length;
  try {
    await until(() => capturing() === lab.nodes.length, 'agents capturing in their containers', 90_000, tap.stderr);
    // Exec went into the containers, not around them; the pods run the image from $SHARK_AGENT_IMAGE.
    for (const s of f.execs) assert.deepEqual((s.child as ChildProcess).spawnargs.slice(0, 3), ['podman', 'exec', '--interactive']);
    for (const p of f.store.list('pods', 'shark-system')) assert.equal(p.spec.containers[0].image, image);
    await lab.traffic({ rounds: 1 });
    const parsed = () => tap.stdout().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Entry);
    await until(() => parsed().some((e) => e.dst.ip === redis.ip) && parsed().some((e) => e.dst.ip === web.ip && /api\/login/.test(String(e.request?.path ?? e.request?.url ?? ''))), 'entries for nginx (the login POST) and redis', 20_000, tap.stderr);
    // While running, every agent reports its counters every few seconds (on stderr, beside the data).
    await until(() => lab.nodes.every((n) => f.execs.some((s) => s.node === n.name && /^shark-agent-stats \{.*"final":false\}$/m.test(s.stderr))), 'periodic counters from every agent', 10_000);
    // Stop at once: what the agents still hold must arrive before their streams close.
    tap.child.kill('SIGINT');
    assert.equal(await Promise.race([tap.exit, new Promise((r) => setTimeout(() => r('timeout'), 30_000))]), 0, tap.stderr());

    const entries = parsed();
    const login = entries.find((e) => /api\/login/.test(String(e.request?.path ?? e.request?.url ?? '')))!;
    assert.equal(login.dst.pod, 'nginx-0');
    assert.equal(login.node?.name, `node${web.node}`);
    assert.match(JSON.stringify(login.request), /\[REDACTED\]/);
    // The secrets in the lab's traffic never crossed the API server.
    const wire = Buffer.concat(f.execs.flatMap((s) => s.stdout)).toString('utf8');
    assert.ok(wire.includes('api/login'), 'the login call went over the exec stream');
    for (const secret of ['lab-secret-token', 'hunter2-', 'lab-session-']) {
      assert.ok(!wire.includes(secret), `${secret} on the exec stream`);
      assert.ok(!tap.stdout().includes(secret), `${secret} in the output`);
    }
    // Every agent's final counters arrived (v4: the stream stayed open until the agent had finished).
    assert.doesNotMatch(tap.stderr(), /ended without their last counters/);
    const total = /^tap: agents total: (\d+) packets, \S+ dropped by kernel, (\d+) lost in queue, (\d+) entries$/m.exec(tap.stderr());
    assert.ok(total, tap.stderr());
    assert.equal(Number(total[3]), entries.length, 'every entry the agents wrote reached the output');
    assert.equal(Number(total[2]), 0);
    for (const n of lab.nodes) assert.match(tap.stderr(), new RegExp(`^tap: agent ${n.name}: \\d+ packets`, 'm'));

    // Cleanup: the run's objects are gone, so the kubelet stopped the agent containers (exit 0).
    // (The namespace stays Terminating a moment while its content goes, as in a cluster.)
    await until(() => f.store.findAll(MANAGED).length === 0, 'no shark object left', 10_000, () => f.store.findAll(MANAGED).map((o) => `${o.kind}/${o.metadata.name}`).join(', '));
    const agents = () => kubelet.terminations.filter((t) => t.pod.startsWith('shark-agent-'));
    await until(() => agents().filter((t) => t.why === 'deleted').length === lab.nodes.length, 'agent containers stopped', 60_000, () => JSON.stringify(kubelet.terminations));
    assert.deepEqual(agents().map((t) => t.exitCode), lab.nodes.map(() => 0));
    // The run's keeper, stopped before its lease lapsed, exits 1: a Job never finishes by a signal.
    await until(() => kubelet.terminations.some((t) => t.pod.startsWith('shark-keeper-')), 'keeper container stopped', 60_000, () => JSON.stringify(kubelet.terminations));
    assert.deepEqual(kubelet.terminations.filter((t) => t.pod.startsWith('shark-keeper-')).map((t) => [t.why, t.exitCode]), [['deleted', 1]]);
  } finally {
    tap.child.kill('SIGKILL');
    await f.close();
    await kubelet.close();
    assert.equal(podmanOut(['ps', '--all', '--quiet', '--filter', `label=${kubelet.label}`]), '', 'no container left');
  }
});
