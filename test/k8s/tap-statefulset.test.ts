// `shark tap sts/NAME` beside the kubectl an SRE runs on a StatefulSet: the
// fixture's StatefulSet controller (test/fixtures/apiserver/statefulsets.ts)
// makes the ordered pods (`redis-0`, `redis-1`, … behind a headless
// Service), a deleted pod comes back with its name and a new IP, a scale-down
// removes the highest ordinal, and each kubectl release 1.27–1.33 applies
// one (with --validate=strict), waits for it (`rollout status`), rolls it
// out, lists its revisions (`rollout history`), rolls back (`rollout undo`),
// scales it and deletes it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { echoAgent, exited, spawnTap, until } from '../helpers/tap-process.js';
import { kubectls } from '../helpers/kubectls.js';
import { ApiServerFixture } from '../fixtures/apiserver/server.js';

async function fixture(): Promise<{ f: ApiServerFixture; kubeconfig: string }> {
  const f = new ApiServerFixture({ nodes: [{ name: 'node0', ip: '198.18.37.1' }, { name: 'node1', ip: '198.18.37.2' }], spawnExec: echoAgent, tls: true });
  f.ensureNamespace('data');
  await f.listen();
  const kubeconfig = join(mkdtempSync(join(tmpdir(), 'shk-kc-')), 'config');
  f.writeKubeconfig(kubeconfig, 'shark-lab', 'data');
  return { f, kubeconfig };
}

/** kubectl (`bin`) without blocking the event loop (the fixture answers from this process); `input` on its stdin. */
function kubectl(bin: string, kubeconfig: string, args: string[], input = ''): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(bin, ['--kubeconfig', kubeconfig, ...args], { stdio: ['pipe', 'pipe', 'pipe'], timeout: 30_000 });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stdin.end(input);
    child.on('close', (status) => resolve({ status, out }));
  });
}

/** A headless Service and the StatefulSet it governs. */
function redis(image: string, replicas: number): string {
  return `apiVersion: v1
kind: Service
metadata: {name: redis}
spec:
  clusterIP: None
  selector: {app: redis}
  ports: [{port: 6379}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: redis}
spec:
  serviceName: redis
  replicas: ${replicas}
  selector: {matchLabels: {app: redis}}
  template:
    metadata: {labels: {app: redis}}
    spec:
      containers: [{name: redis, image: '${image}', ports: [{containerPort: 6379}]}]
`;
}

/** The pods of one sign ('+' or '-') the tap said, in order. */
function said(stderr: string, sign: '+' | '-'): string[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith(`${sign}data/`))
    .map((l) => l.slice(sign.length + 'data/'.length));
}

test('sts/NAME taps the ordered pods of that StatefulSet, a deleted pod again under its name, and a scale-down', { timeout: 120_000 }, async () => {
  const { f, kubeconfig } = await fixture();
  try {
    const applied = await kubectl('kubectl', kubeconfig, ['apply', '-f', '-'], redis('registry.example/redis:7', 2));
    assert.equal(applied.status, 0, applied.out);
    const rolled = await kubectl('kubectl', kubeconfig, ['rollout', 'status', 'sts/redis', '--timeout=20s']);
    assert.equal(rolled.status, 0, rolled.out);
    // OrderedReady: redis-1 was made only once redis-0 was ready.
    const pods = f.store.list('pods', 'data');
    const [zero, one] = ['redis-0', 'redis-1'].map((n) => pods.find((p) => p.metadata.name === n)!);
    assert.ok(zero && one, JSON.stringify(pods.map((p) => p.metadata.name)));
    assert.ok(Date.parse(one.metadata.creationTimestamp) >= Date.parse(zero.status.startTime), 'redis-1 after redis-0 ran');
    assert.equal(zero.spec.hostname, 'redis-0');
    assert.equal(zero.spec.subdomain, 'redis');
    assert.equal(zero.metadata.labels['statefulset.kubernetes.io/pod-name'], 'redis-0');
    // Named like its pods, owned by nothing: sts/redis must not take it.
    f.addPod({ namespace: 'data', name: 'redis-2-debug', ip: '198.18.37.40', node: 'node0', labels: { app: 'redis' } });

    const tap = spawnTap(['sts/redis', '--kubeconfig', kubeconfig, '--agent-timeout', '20s']);
    try {
      await until(() => /agents running on 2 node/.test(tap.stderr()) && said(tap.stderr(), '+').length === 2, 'the two pods tapped', 30_000, tap);
      assert.deepEqual(said(tap.stderr(), '+').sort(), ['redis-0', 'redis-1']);
      assert.doesNotMatch(tap.stderr(), /redis-2-debug/);
      await until(() => ['redis-0', 'redis-1'].every((p) => f.execs.some((e) => e.stderr.includes(`"name":"${p}"`))), 'the agents told the pods', 10_000, tap);

      // A StatefulSet pod deleted by hand comes back with its name and a new IP: tapped again, the agent told the new IP.
      const oldIp: string = f.store.get('pods', 'data', 'redis-0')!.status.podIP;
      const del = await kubectl('kubectl', kubeconfig, ['delete', 'pod', 'redis-0', '--wait=false']);
      assert.equal(del.status, 0, del.out);
      await until(() => said(tap.stderr(), '-').includes('redis-0') && said(tap.stderr(), '+').filter((p) => p === 'redis-0').length === 2, 'redis-0 gone and back', 15_000, tap);
      const newIp: string = f.store.get('pods', 'data', 'redis-0')!.status.podIP;
      assert.notEqual(newIp, oldIp);
      await until(() => f.execs.some((e) => e.stderr.includes(`"name":"redis-0","namespace":"data","ips":["${newIp}"]`)), 'the agent told the new IP', 10_000, tap);

      // Scale down: the highest ordinal goes.
      const down = await kubectl('kubectl', kubeconfig, ['scale', 'sts/redis', '--replicas=1']);
      assert.equal(down.status, 0, down.out);
      await until(() => said(tap.stderr(), '-').includes('redis-1'), 'redis-1 gone', 15_000, tap);
      assert.ok(f.store.get('pods', 'data', 'redis-0'), 'redis-0 stays');
      tap.child.kill('SIGINT');
      assert.equal(await exited(tap), 0, tap.stderr());
    } finally {
      tap.child.kill('SIGKILL');
    }
    // A misspelt StatefulSet: one line, exit 4, before anything is deployed.
    const typo = spawnTap(['sts/rdis', '--kubeconfig', kubeconfig]);
    assert.equal(await exited(typo), 4, typo.stderr());
    assert.equal(typo.stderr(), `tap: ${f.url}: statefulsets.apps "rdis" not found in namespace data (kubectl get sts -n data lists them; -A looks in every namespace)\n`);
  } finally {
    await f.close();
  }
});

test('each kubectl 1.27 to 1.33 applies a StatefulSet and follows it: rollout status, history and undo, scale, delete', { timeout: 300_000 }, async (t) => {
  const releases = kubectls();
  if (releases.length === 0) return t.skip('no kubectl on PATH');
  for (const { version, bin } of releases) {
    const { f, kubeconfig } = await fixture();
    const run = async (args: string[], input?: string) => {
      const r = await kubectl(bin, kubeconfig, args, input);
      assert.equal(r.status, 0, `kubectl ${version} ${args.join(' ')}: ${r.out}`);
      return r.out;
    };
    try {
      assert.match(await run(['apply', '--validate=strict', '-f', '-'], redis('registry.example/redis:7', 3)), /statefulset\.apps\/redis created/);
      assert.match(await run(['rollout', 'status', 'sts/redis', '--timeout=20s']), /partitioned roll out complete: 3 new pods have been updated/);
      assert.match(await run(['get', 'sts', 'redis']), /^redis\s+3\/3\s/m);
      // A new image: rolled pod by pod from the highest ordinal, a second revision.
      await run(['set', 'image', 'sts/redis', 'redis=registry.example/redis:7.2']);
      assert.match(await run(['rollout', 'status', 'sts/redis', '--timeout=20s']), /partitioned roll out complete: 3 new pods have been updated/);
      const images = () => f.store.list('pods', 'data').map((p) => `${p.metadata.name}=${p.spec.containers[0].image}`).sort();
      assert.deepEqual(images(), ['redis-0=registry.example/redis:7.2', 'redis-1=registry.example/redis:7.2', 'redis-2=registry.example/redis:7.2']);
      assert.match(await run(['rollout', 'history', 'sts/redis']), /REVISION\s+CHANGE-CAUSE\n1\s+<none>\n2\s+<none>/);
      assert.match(await run(['rollout', 'undo', 'sts/redis']), /statefulset\.apps\/redis rolled back/);
      assert.match(await run(['rollout', 'status', 'sts/redis', '--timeout=20s']), /partitioned roll out complete: 3 new pods have been updated/);
      assert.deepEqual(images(), ['redis-0=registry.example/redis:7', 'redis-1=registry.example/redis:7', 'redis-2=registry.example/redis:7']);
      // The old template is the newest revision again (renumbered 3), as the controller keeps history.
      assert.match(await run(['rollout', 'history', 'sts/redis']), /REVISION\s+CHANGE-CAUSE\n2\s+<none>\n3\s+<none>/);
      assert.match(await run(['scale', 'sts/redis', '--replicas=1']), /statefulset\.apps\/redis scaled/);
      await run(['rollout', 'status', 'sts/redis', '--timeout=20s']);
      await until(() => f.store.list('pods', 'data').length === 1, `kubectl ${version}: scaled to 1`, 10_000);
      assert.equal(f.store.list('pods', 'data')[0].metadata.name, 'redis-0');
      await run(['delete', 'sts', 'redis']);
      await until(() => f.store.list('pods', 'data').length === 0 && f.store.list('controllerrevisions', 'data').length === 0, `kubectl ${version}: pods and revisions collected`, 10_000);
    } finally {
      await f.close();
    }
  }
});
