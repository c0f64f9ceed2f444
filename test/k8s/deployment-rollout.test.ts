// The fixture's Deployment controller as each kubectl release 1.27–1.33 sees
// a rollout (test/fixtures/apiserver/deployments.ts): RollingUpdate keeps
// the pods within replicas + maxSurge and at least replicas - maxUnavailable
// of them ready, step by step; `rollout history` lists the revisions and
// `rollout undo` (a JSON patch) brings the old ReplicaSet back as the newest
// revision; Recreate never runs old and new pods together.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kubectls } from '../helpers/kubectls.js';
import { ApiServerFixture } from '../fixtures/apiserver/server.js';
import type { Obj } from '../fixtures/apiserver/store.js';

function kubectl(bin: string, kubeconfig: string, args: string[]): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(bin, ['--kubeconfig', kubeconfig, ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('close', (status) => resolve({ status, out }));
  });
}

const ready = (p: Obj) => (p.status?.conditions ?? []).some((c: Obj) => c.type === 'Ready' && c.status === 'True');

test('each kubectl 1.27 to 1.33: a rolling update stays within maxSurge and maxUnavailable, rollout undo reuses the old ReplicaSet, Recreate never mixes', { timeout: 300_000 }, async (t) => {
  const releases = kubectls();
  if (releases.length === 0) return t.skip('no kubectl on PATH');
  for (const { version, bin } of releases) {
    const f = new ApiServerFixture({ nodes: [{ name: 'node0', ip: '198.18.38.1' }, { name: 'node1', ip: '198.18.38.2' }], tls: true });
    f.ensureNamespace('shop');
    await f.listen();
    const kubeconfig = join(mkdtempSync(join(tmpdir(), 'shk-kc-')), 'config');
    f.writeKubeconfig(kubeconfig, 'shark-lab', 'shop');
    const run = async (...args: string[]) => {
      const r = await kubectl(bin, kubeconfig, args);
      assert.equal(r.status, 0, `kubectl ${version} ${args.join(' ')}: ${r.out}`);
      return r.out;
    };
    // Every pod change, as the API server stores it: how many pods there are, how many ready, of which ReplicaSets.
    const seen: { pods: number; ready: number; sets: number }[] = [];
    const look = () => {
      const pods = f.store.list('pods', 'shop');
      seen.push({ pods: pods.length, ready: pods.filter(ready).length, sets: new Set(pods.map((p) => p.metadata.labels?.['pod-template-hash'])).size });
    };
    f.store.on('pods', look);
    try {
      await run('create', 'deployment', 'web', '--image=registry.example/web:1', '--replicas=4');
      assert.match(await run('rollout', 'status', 'deploy/web', '--timeout=30s'), /deployment "web" successfully rolled out/);
      const firstSet = f.store.list('replicasets', 'shop')[0].metadata.name;
      seen.length = 0;
      await run('set', 'image', 'deploy/web', 'web=registry.example/web:2');
      assert.match(await run('rollout', 'status', 'deploy/web', '--timeout=30s'), /deployment "web" successfully rolled out/);
      // 25% of 4: at most one pod over, at most one short of ready (once the rollout began from 4 ready).
      assert.ok(seen.length > 0);
      assert.ok(Math.max(...seen.map((s) => s.pods)) <= 5, `kubectl ${version}: ${JSON.stringify(seen)}`);
      assert.ok(Math.min(...seen.map((s) => s.ready)) >= 3, `kubectl ${version}: ${JSON.stringify(seen)}`);
      assert.ok(seen.some((s) => s.sets === 2), 'old and new pods ran side by side');
      assert.match(await run('rollout', 'history', 'deploy/web'), /REVISION\s+CHANGE-CAUSE\n1\s+<none>\n2\s+<none>\n/);
      assert.match(await run('rollout', 'undo', 'deploy/web'), /deployment\.apps\/web rolled back/);
      assert.match(await run('rollout', 'status', 'deploy/web', '--timeout=30s'), /deployment "web" successfully rolled out/);
      assert.deepEqual(f.store.list('replicasets', 'shop').map((rs) => rs.metadata.name).sort(), [firstSet, f.store.list('replicasets', 'shop').find((rs) => rs.metadata.name !== firstSet)!.metadata.name].sort());
      assert.equal(f.store.get('replicasets', 'shop', firstSet)!.spec.replicas, 4, 'the first ReplicaSet is back');
      assert.match(await run('rollout', 'history', 'deploy/web'), /REVISION\s+CHANGE-CAUSE\n2\s+<none>\n3\s+<none>\n/);
      assert.ok(f.store.list('pods', 'shop').every((p) => p.spec.containers[0].image === 'registry.example/web:1'));

      await run('patch', 'deploy/web', '-p', '{"spec":{"strategy":{"type":"Recreate","rollingUpdate":null}}}');
      seen.length = 0;
      await run('set', 'image', 'deploy/web', 'web=registry.example/web:3');
      assert.match(await run('rollout', 'status', 'deploy/web', '--timeout=30s'), /deployment "web" successfully rolled out/);
      assert.ok(seen.every((s) => s.sets <= 1), `kubectl ${version}: Recreate mixed old and new pods: ${JSON.stringify(seen)}`);
      assert.ok(f.store.list('pods', 'shop').every((p) => p.spec.containers[0].image === 'registry.example/web:3'));
    } finally {
      f.store.off('pods', look);
      await f.close();
    }
  }
});

test('a DaemonSet rolls node by node: kubectl set image, then rollout status, never more than one node without a ready pod', { timeout: 120_000 }, async () => {
  const nodes = ['d0', 'd1', 'd2'].map((name, i) => ({ name, ip: `198.18.38.${10 + i}` }));
  const f = new ApiServerFixture({ nodes, tls: true });
  f.ensureNamespace('ops');
  await f.listen();
  const kubeconfig = join(mkdtempSync(join(tmpdir(), 'shk-kc-')), 'config');
  f.writeKubeconfig(kubeconfig, 'shark-lab', 'ops');
  const unready: number[] = [];
  const look = () => {
    const pods = f.store.list('pods', 'ops');
    unready.push(nodes.filter((n) => !pods.some((p) => p.spec.nodeName === n.name && ready(p))).length);
  };
  try {
    const ds = {
      metadata: { name: 'logs' },
      spec: {
        selector: { matchLabels: { app: 'logs' } },
        updateStrategy: { type: 'RollingUpdate' },
        template: { metadata: { labels: { app: 'logs' } }, spec: { containers: [{ name: 'logs', image: 'registry.example/logs:1' }] } },
      },
    };
    const applied = await new Promise<{ status: number | null; out: string }>((resolve) => {
      const child = spawn('kubectl', ['--kubeconfig', kubeconfig, 'apply', '-f', '-'], { stdio: ['pipe', 'pipe', 'pipe'], timeout: 30_000 });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stdin.end(JSON.stringify({ apiVersion: 'apps/v1', kind: 'DaemonSet', ...ds }));
      child.on('close', (status) => resolve({ status, out }));
    });
    assert.equal(applied.status, 0, applied.out);
    assert.equal((await kubectl('kubectl', kubeconfig, ['rollout', 'status', 'ds/logs', '--timeout=20s'])).status, 0);
    f.store.on('pods', look);
    assert.equal((await kubectl('kubectl', kubeconfig, ['set', 'image', 'ds/logs', 'logs=registry.example/logs:2'])).status, 0);
    const rolled = await kubectl('kubectl', kubeconfig, ['rollout', 'status', 'ds/logs', '--timeout=20s']);
    assert.equal(rolled.status, 0, rolled.out);
    assert.match(rolled.out, /daemon set "logs" successfully rolled out/);
    assert.deepEqual(f.store.list('pods', 'ops').map((p) => p.spec.containers[0].image), Array(3).fill('registry.example/logs:2'));
    assert.ok(unready.length > 0 && Math.max(...unready) <= 1, `nodes without a ready pod, at each change: ${unready.join(',')}`);
  } finally {
    f.store.off('pods', look);
    await f.close();
  }
});
