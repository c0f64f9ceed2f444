// Issue #14: a run whose CLI is `kill -9`ed goes away by itself. The real
// `shark tap -A` deploys its run through the API-server fixture; the fixture's
// kubelet runs the real agent image with podman for both the agents'
// DaemonSet and the run's keeper Job (as their manifests say: the keeper as
// uid 65534 with no capability at all); the fixture's Job controller,
// TTL-after-finished controller and garbage collector do what a control plane
// does (controllers.ts, store.ts). After `kill -9` nobody renews the lease;
// the keeper sees it lapse through its mounted ConfigMap, exits 0, the Job
// completes, its TTL (0) deletes it and every object of the run goes with it
// — with no `tap --clean`. A second run in the same namespace, alive, is
// untouched. Kept short: a 2 s lease and 1 s of grace (defaults 30 s / 120 s).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLab, type Lab } from '../helpers/lab.js';
import { cliBin } from '../helpers/paths.js';
import { agentImage, podmanMissing } from '../helpers/agent-image.js';
import { ApiServerFixture } from '../fixtures/apiserver/server.js';
import { PodmanKubelet } from '../fixtures/apiserver/kubelet.js';
import type { Obj } from '../fixtures/apiserver/store.js';
import { runSelector } from '../../src/k8s/agent-manifests.js';
import { until } from '../helpers/until.js';

const execFileAsync = promisify(execFile);
const skip = podmanMissing();
let lab: Lab;
let image: string;

before(
  async () => {
    if (skip) return;
    image = agentImage();
    lab = await startLab({ prefix: `s6r${process.pid % 1000}`, net: '198.19.200', nodes: 1 });
  },
  { timeout: 20 * 60_000 },
);

after(async () => {
  await lab?.stop();
});

interface Tap {
  child: ChildProcess;
  stderr: () => string;
  exit: Promise<number | null>;
}

function spawnTap(kubeconfig: string): Tap {
  const args = ['tap', '-A', '--kubeconfig', kubeconfig, '--agent-image', image, '--agent-lease', '2s', '--agent-lease-grace', '1s', '--api-outage', '2s', '--agent-timeout', '120s'];
  const child = spawn(process.execPath, [cliBin, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exit = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  return { child, stderr: () => err, exit };
}

const runIdOf = (t: Tap) => /deployed agents \(run (\w+)\)/.exec(t.stderr())?.[1];
const running = (p: Obj) => Boolean(p.status?.containerStatuses?.[0]?.state?.running);

/**
 * Never spawnSync: the API-server fixture answers from this process, and a
 * podman call that blocks it (seconds, on a loaded machine) leaves both taps'
 * renewals unanswered past their 2 s --api-outage and lease.
 */
async function podmanOut(args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync('podman', args, { encoding: 'utf8', timeout: 60_000 });
    return stdout.trim();
  } catch (err) {
    return String((err as { stdout?: string }).stdout ?? '').trim();
  }
}

test('kill -9 of `shark tap`: the keeper sees the lease lapse and every object of the run expires without --clean; a live run beside it is untouched', { skip, timeout: 300_000 }, async (t) => {
  const kubelet = new PodmanKubelet({ backoffMs: 500, maxBackoffMs: 4000, configMapSyncMs: 500 });
  const f = new ApiServerFixture({ nodes: lab.nodes.map((n) => ({ name: n.name, ip: n.ip, netns: n.ns })), kubelet });
  await f.listen();
  const kubeconfig = join(mkdtempSync(join(tmpdir(), 's6r-kc-')), 'config');
  f.writeKubeconfig(kubeconfig);
  const taps: Tap[] = [];
  try {
    const doomed = spawnTap(kubeconfig);
    taps.push(doomed);
    await until(() => /agents running on 1 node/.test(doomed.stderr()), 'the first run’s agents', 150_000, doomed.stderr);
    const dead = runIdOf(doomed)!;
    const keeperOf = (run: string) => f.store.findAll(runSelector(run)).find((o) => o.kind === 'Pod' && o.metadata.ownerReferences?.[0]?.kind === 'Job');
    const keeper = await until(() => { const k = keeperOf(dead); return k && running(k) && k; }, 'the keeper running', 60_000, () => JSON.stringify(keeperOf(dead)?.status));
    // The keeper as the kubelet runs it: nobody, no capability, read-only root.
    const container = `shk-${keeper.metadata.name}`.slice(0, 60);
    const proc = await podmanOut(['exec', container, 'cat', '/proc/1/status']);
    assert.match(proc, /^Uid:\s+65534\s/m, proc);
    assert.match(proc, /^CapEff:\s+0+$/m, proc);
    assert.match(proc, /^CapBnd:\s+0+$/m, proc);
    assert.equal(await podmanOut(['inspect', '--format', '{{.HostConfig.ReadonlyRootfs}}', container]), 'true');
    // A figure, not a check: what the keeper costs a node.
    t.diagnostic(`keeper ${/^VmRSS:.*$/m.exec(proc)?.[0] ?? 'VmRSS unknown'}`);

    const live = spawnTap(kubeconfig);
    taps.push(live);
    await until(() => /agents running on 1 node/.test(live.stderr()), 'the second run’s agents', 150_000, live.stderr);
    const alive = runIdOf(live)!;
    const liveKinds = () => f.store.findAll(runSelector(alive)).map((o) => o.kind).filter((k) => k !== 'Pod' && k !== 'Event').sort();
    assert.deepEqual(liveKinds(), ['ConfigMap', 'DaemonSet', 'Job', 'ServiceAccount']);
    const deadKinds = f.store.findAll(runSelector(dead)).map((o) => o.kind);
    assert.deepEqual([...new Set(deadKinds)].sort(), ['ConfigMap', 'DaemonSet', 'Job', 'Pod', 'ServiceAccount']);

    // kill -9: no cleanup, no more renewals.
    doomed.child.kill('SIGKILL');
    const killedAt = Date.now();
    await doomed.exit;
    await until(
      () => f.store.findAll(runSelector(dead)).length === 0,
      'every object of the killed run gone',
      90_000,
      () => JSON.stringify(f.store.findAll(runSelector(dead)).map((o) => `${o.kind}/${o.metadata.name} ${JSON.stringify(o.status?.conditions ?? o.status?.phase ?? '')}`)),
    );
    t.diagnostic(`run gone ${((Date.now() - killedAt) / 1000).toFixed(1)} s after kill -9 (lease 2 s + grace 1 s + api-outage 2 s + the keeper's 5 s look)`);
    // It went because its keeper ended (exit 0 on the lapse), not by anything else.
    assert.ok(kubelet.terminations.some((t) => t.pod === keeper.metadata.name && t.exitCode === 0 && t.why === 'exited'), JSON.stringify(kubelet.terminations));
    // And its containers are stopped and removed, as a kubelet does for deleted pods.
    const removedBy = Date.now() + 30_000;
    while ((await podmanOut(['ps', '--all', '--quiet', '--filter', `name=${container}`])) !== '') {
      if (Date.now() > removedBy) throw new Error('timed out waiting for the keeper container removed');
      await new Promise((r) => setTimeout(r, 100));
    }

    // The live run: everything still there, its keeper still running, its tap still going.
    assert.deepEqual(liveKinds(), ['ConfigMap', 'DaemonSet', 'Job', 'ServiceAccount']);
    assert.ok(running(keeperOf(alive)!), JSON.stringify(keeperOf(alive)?.status));
    assert.equal(live.child.exitCode, null, live.stderr());
    assert.doesNotMatch(live.stderr(), /could not renew|lease lapsed/);
    // Its keeper Job deleted by hand (as kubectl does, in the background): the whole run goes with
    // it, and the CLI, whose lease is gone, says so and ends (exit 4) instead of tapping nothing.
    const res = await fetch(`${f.url}/apis/batch/v1/namespaces/shark-system/jobs/shark-keeper-${alive}`, {
      method: 'DELETE',
      headers: { authorization: 'Bearer fixture-token', 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' }),
    });
    assert.equal(res.status, 200);
    assert.deepEqual(liveKinds(), []);
    assert.equal(await live.exit, 4, live.stderr());
    assert.match(live.stderr().trimEnd().split('\n').at(-1)!, /^tap: the run's objects were deleted while it ran \(lease ConfigMap shark-system\/shark-run-\w+ is gone: its keeper Job ended or was deleted\); start the tap again$/);
  } finally {
    for (const t of taps) if (t.child.exitCode === null) t.child.kill('SIGKILL');
    await f.close();
    await kubelet.close();
  }
});
