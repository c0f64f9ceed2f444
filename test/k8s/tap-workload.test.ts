// `shark tap deploy/NAME` as an SRE runs it beside kubectl: the Deployment is
// made and scaled by real kubectl against the fixture (its Deployment and
// ReplicaSet controllers: pods owned by `<deploy>-<pod-template-hash>`), the
// tap follows the scale-up, the scale-down and a rollout (`kubectl set image`),
// and taps that Deployment's pods
// only — not a pod whose name merely looks like them. A typo (`deploy/nosuch`)
// is one line and exit 4 before anything is deployed; a TYPE kubectl knows but
// shark does not tap (`svc/x`) is exit 2 with no request. Agents are a stand-in
// that says on stderr every control line it is sent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { echoAgent, exited, spawnTap, until } from '../helpers/tap-process.js';
import { ApiServerFixture } from '../fixtures/apiserver/server.js';

const MANAGED = 'app.kubernetes.io/managed-by=shark';
/** A generated pod name: `<deploy>-<pod-template-hash>-<5>` in the alphabet of generated names (no vowels). */
const GENERATED = '[bcdfghjklmnpqrstvwxz2456789]';

async function fixture(): Promise<{ f: ApiServerFixture; kubeconfig: string }> {
  const f = new ApiServerFixture({ nodes: [{ name: 'node0', ip: '198.18.36.1' }, { name: 'node1', ip: '198.18.36.2' }], spawnExec: echoAgent, tls: true });
  f.ensureNamespace('bookinfo');
  await f.listen();
  const kubeconfig = join(mkdtempSync(join(tmpdir(), 'shk-kc-')), 'config');
  f.writeKubeconfig(kubeconfig, 'shark-lab', 'bookinfo');
  return { f, kubeconfig };
}

/** kubectl without blocking the event loop (the fixture answers from this process). */
function kubectl(kubeconfig: string, ...args: string[]): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('kubectl', ['--kubeconfig', kubeconfig, ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('close', (status) => resolve({ status, out }));
  });
}

/** The pods of one sign ('+' or '-') the tap said, in order. */
function said(stderr: string, sign: '+' | '-'): string[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith(`${sign}bookinfo/`))
    .map((l) => l.slice(sign.length + 'bookinfo/'.length));
}

test('deploy/NAME taps the pods of that Deployment only, and follows kubectl scale up and down and a rollout mid-tap', { timeout: 120_000 }, async () => {
  const { f, kubeconfig } = await fixture();
  try {
    for (const [name, n] of [['reviews', '2'], ['ratings', '1']]) {
      const made = await kubectl(kubeconfig, 'create', 'deployment', name, '--image=registry.example/bookinfo:1', `--replicas=${n}`);
      assert.equal(made.status, 0, made.out);
    }
    // Named like the Deployment's pods, but not its pod: a regex would take it, deploy/reviews must not.
    f.addPod({ namespace: 'bookinfo', name: 'reviews-debug', ip: '198.18.36.40', node: 'node0', labels: { app: 'reviews' } });
    const rolled = await kubectl(kubeconfig, 'rollout', 'status', 'deploy/reviews', '--timeout=20s');
    assert.equal(rolled.status, 0, rolled.out);
    const tap = spawnTap(['deploy/reviews', '--kubeconfig', kubeconfig, '--agent-timeout', '20s']);
    try {
      await until(() => /agents running on 2 node/.test(tap.stderr()) && said(tap.stderr(), '+').length === 2, 'the two pods tapped', 30_000, tap);
      const first = said(tap.stderr(), '+');
      const pod = new RegExp(`^reviews-${GENERATED}{6,10}-${GENERATED}{5}$`);
      for (const p of first) assert.match(p, pod);
      assert.doesNotMatch(tap.stderr(), /ratings|reviews-debug/);
      // Each agent is told the pods of its node, so the two pods are captured (one per node: the ReplicaSet spreads them).
      await until(() => first.every((p) => f.execs.some((e) => e.stderr.includes(`"name":"${p}"`))), 'the agents told the pods', 10_000, tap);
      assert.ok(f.execs.every((e) => !e.stderr.includes('reviews-debug') && !e.stderr.includes('ratings')), 'no other pod is told');

      const up = await kubectl(kubeconfig, 'scale', 'deploy/reviews', '--replicas=4');
      assert.equal(up.status, 0, up.out);
      await until(() => said(tap.stderr(), '+').length === 4, 'the two new pods tapped', 15_000, tap);
      const added = said(tap.stderr(), '+').slice(2);
      await until(() => added.every((p) => f.execs.some((e) => e.stderr.includes(`"name":"${p}"`))), 'the agents told the new pods', 10_000, tap);

      const down = await kubectl(kubeconfig, 'scale', 'deploy/reviews', '--replicas=1');
      assert.equal(down.status, 0, down.out);
      await until(() => said(tap.stderr(), '-').length === 3, 'three pods gone', 15_000, tap);
      const left = said(tap.stderr(), '+').filter((p) => !said(tap.stderr(), '-').includes(p));
      assert.equal(left.length, 1, tap.stderr());
      assert.deepEqual(
        f.store.list('pods', 'bookinfo').filter((p) => p.metadata.name.startsWith('reviews-') && p.metadata.name !== 'reviews-debug').map((p) => p.metadata.name),
        left,
      );

      // A rollout (new image: a new ReplicaSet, another pod-template-hash) is followed too.
      const image = await kubectl(kubeconfig, 'set', 'image', 'deploy/reviews', 'bookinfo=registry.example/bookinfo:2');
      assert.equal(image.status, 0, image.out);
      await until(() => said(tap.stderr(), '+').length === 5 && said(tap.stderr(), '-').length === 4, 'the rolled-out pod tapped, the old one gone', 15_000, tap);
      const rolledOut = said(tap.stderr(), '+')[4];
      assert.equal(said(tap.stderr(), '-')[3], left[0]);
      assert.notEqual(rolledOut.split('-')[1], left[0].split('-')[1], 'another template hash');
      await until(() => f.execs.some((e) => e.stderr.includes(`"name":"${rolledOut}"`)), 'the agent told the new pod', 10_000, tap);
      tap.child.kill('SIGINT');
      assert.equal(await exited(tap), 0, tap.stderr());
      // The namespace the run created goes last (Terminating a moment).
      await until(() => f.store.findAll(MANAGED).length === 0, 'nothing of the run left', 10_000, tap);
    } finally {
      tap.child.kill('SIGKILL');
    }
  } finally {
    await f.close();
  }
});

test('a deploy/NAME that does not exist is one line and exit 4 with nothing created, with -n or -A; a TYPE shark does not tap is exit 2 with no request', { timeout: 90_000 }, async () => {
  const { f, kubeconfig } = await fixture();
  try {
    const typo = spawnTap(['deploy/reveiws', '--kubeconfig', kubeconfig, '--agent-timeout', '20s']);
    assert.equal(await exited(typo), 4, typo.stderr());
    assert.equal(typo.stderr(), `tap: ${f.url}: deployments.apps "reveiws" not found in namespace bookinfo (kubectl get deploy -n bookinfo lists them; -A looks in every namespace)\n`);
    assert.ok(!f.requests.some((r) => !r.startsWith('GET ')), f.requests.join('\n'));
    assert.deepEqual(f.store.findAll(MANAGED), []);
    // With -A it is looked for in every namespace, by name: found in one, the run goes on; in none, one line.
    const anywhere = spawnTap(['-A', 'deploy/reveiws', '--kubeconfig', kubeconfig, '--agent-timeout', '20s']);
    assert.equal(await exited(anywhere), 4, anywhere.stderr());
    assert.equal(anywhere.stderr(), `tap: ${f.url}: deployments.apps "reveiws" not found in any namespace (kubectl get deploy -A lists them)\n`);
    assert.ok(f.requests.some((r) => r.startsWith('GET /apis/apps/v1/deployments?') && r.includes('fieldSelector=metadata.name%3Dreveiws')), f.requests.join('\n'));
    assert.deepEqual(f.store.findAll(MANAGED), []);
    f.ensureNamespace('elsewhere');
    assert.equal((await kubectl(kubeconfig, 'create', 'deployment', 'reviews', '--image=registry.example/bookinfo:1', '-n', 'elsewhere')).status, 0);
    const found = spawnTap(['-A', 'deploy/reviews', '--kubeconfig', kubeconfig, '--agent-timeout', '20s']);
    await until(() => /^\+elsewhere\/reviews-/m.test(found.stderr()), 'the pod in the other namespace tapped', 30_000, found);
    found.child.kill('SIGINT');
    assert.equal(await exited(found), 0, found.stderr());

    const before = f.requests.length;
    const svc = spawnTap(['svc/reviews', '--kubeconfig', kubeconfig]);
    assert.equal(await exited(svc), 2, svc.stderr());
    assert.match(svc.stderr(), /^tap: 'svc\/reviews': pod names hold no '\/', so this is read as TYPE\/NAME, and TYPE must be deploy, sts, ds, rs, job or pod .*pass its selector with -l/);
    assert.equal(svc.stderr().split('\n').length, 2, svc.stderr());
    const upper = spawnTap(['deployment/Reviews', '--kubeconfig', kubeconfig, '--dry-run']);
    assert.equal(await exited(upper), 2, upper.stderr());
    assert.equal(upper.stderr(), `tap: 'deployment/Reviews': 'Reviews' is not a Deployment name (lower-case letters, digits, '-' and '.')\n`);
    assert.equal(f.requests.length, before, 'no request for a usage error');
  } finally {
    await f.close();
  }
});

test('kubectl drain of a node mid-tap: the evicted pod is said gone, its replacement tapped, the cordoned node keeps its agent even with --agent-tolerate none', { timeout: 120_000 }, async () => {
  const { f, kubeconfig } = await fixture();
  try {
    const made = await kubectl(kubeconfig, 'create', 'deployment', 'reviews', '--image=registry.example/bookinfo:1', '--replicas=2');
    assert.equal(made.status, 0, made.out);
    assert.equal((await kubectl(kubeconfig, 'rollout', 'status', 'deploy/reviews', '--timeout=20s')).status, 0);
    const onNode1 = () => f.store.list('pods', 'bookinfo').filter((p) => p.spec.nodeName === 'node1').map((p) => p.metadata.name);
    const [evicted] = onNode1();
    assert.ok(evicted, 'the ReplicaSet spread a pod to node1');
    const tap = spawnTap(['-A', 'deploy/reviews', '--kubeconfig', kubeconfig, '--agent-timeout', '20s', '--agent-tolerate', 'none']);
    try {
      await until(() => /agents running on 2 node/.test(tap.stderr()) && said(tap.stderr(), '+').length === 2, 'the two pods tapped', 30_000, tap);
      const drained = await kubectl(kubeconfig, 'drain', 'node1', '--ignore-daemonsets', '--timeout=20s');
      assert.equal(drained.status, 0, drained.out);
      assert.match(drained.out, new RegExp(`pod/${evicted} evicted`));
      await until(() => said(tap.stderr(), '-').includes(evicted) && said(tap.stderr(), '+').length === 3, 'the evicted pod gone, its replacement tapped', 15_000, tap);
      const replacement = said(tap.stderr(), '+')[2];
      assert.equal(f.store.get('pods', 'bookinfo', replacement)!.spec.nodeName, 'node0', 'the cordoned node takes no new pod');
      await until(() => f.execs.some((e) => e.node === 'node0' && e.stderr.includes(`"name":"${replacement}"`)), 'node0 agent told the replacement', 10_000, tap);
      // The DaemonSet controller tolerates the unschedulable taint on its own: node1 keeps its agent and is no news.
      await new Promise((r) => setTimeout(r, 500));
      assert.ok(f.store.list('pods', 'shark-system').some((p) => p.spec.nodeName === 'node1' && p.metadata.name.startsWith('shark-agent-')));
      assert.doesNotMatch(tap.stderr(), /node1: no agent|not tolerated/);
      assert.equal((await kubectl(kubeconfig, 'uncordon', 'node1')).status, 0);
      tap.child.kill('SIGINT');
      assert.equal(await exited(tap), 0, tap.stderr());
      assert.doesNotMatch(tap.stderr(), /no agent on/);
    } finally {
      tap.child.kill('SIGKILL');
    }
  } finally {
    await f.close();
  }
});
