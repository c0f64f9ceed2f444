// `shark tap --dry-run` and the agents' namespace: the Namespace object is
// printed only for shark's own (shark-system) or with --create-namespace, so
// applying the file never relabels (adopts) a namespace shark did not create
// and `kubectl delete -f` never deletes it; a live run into an existing
// namespace leaves it in place. And the cluster flags are checked before
// anything else, --dry-run included: exit 2, one line, no request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { runCli } from '../helpers/cli.js';
import { exited, spawnTap, until } from '../helpers/tap-process.js';
import { ApiServerFixture } from '../fixtures/apiserver/server.js';
import { findResource, type Obj } from '../fixtures/apiserver/store.js';
import { isImageReference } from '../../src/tap/cluster-flags.js';

function fakeAgent(command: string[]): ChildProcess {
  const script = `process.stderr.write('agent: capturing on any\\n'); process.stdin.resume(); process.stdin.on('end', () => process.exit(0));`;
  return spawn(process.execPath, ['-e', script, '--', ...command], { stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Run a command without blocking the event loop (the fixture answers from this process). */
function run(cmd: string, args: string[], input = ''): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], timeout: 20_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(input);
  });
}

const kinds = (yaml: string) => parseAllDocuments(yaml).map((d) => (d.toJS() as Obj).kind);

async function monitoringFixture(): Promise<{ f: ApiServerFixture; kubeconfig: string }> {
  const f = new ApiServerFixture({ nodes: [{ name: 'node0', ip: '198.18.50.1' }], spawnExec: fakeAgent, tls: true });
  f.addPod({ namespace: 'data', name: 'redis-0', ip: '198.18.50.12', node: 'node0' });
  // The user's own namespace, with their workload in it.
  f.store.create(findResource('', 'namespaces')!, undefined, { metadata: { name: 'monitoring', labels: { team: 'obs' } } });
  f.addPod({ namespace: 'monitoring', name: 'prometheus-0', ip: '198.18.50.20', node: 'node0' });
  await f.listen();
  const kubeconfig = join(mkdtempSync(join(tmpdir(), 'shk-kc-')), 'config');
  f.writeKubeconfig(kubeconfig);
  return { f, kubeconfig };
}

test('--dry-run prints the Namespace only for shark-system or with --create-namespace, and says what an existing one needs', async () => {
  const img = ['--agent-image', 'registry.example/shark:1'];
  const own = await runCli(['tap', '-A', '--dry-run', ...img]);
  assert.equal(own.code, 0, own.stderr);
  assert.deepEqual(kinds(own.stdout), ['Namespace', 'ConfigMap', 'ServiceAccount', 'DaemonSet']);
  assert.equal(own.stderr, '');

  const other = await runCli(['tap', '-n', 'data', '--dry-run', '--agent-namespace', 'kube-system', ...img]);
  assert.equal(other.code, 0, other.stderr);
  assert.deepEqual(kinds(other.stdout), ['ConfigMap', 'ServiceAccount', 'DaemonSet']);
  assert.equal(
    other.stderr,
    'tap: no Namespace object for kube-system (shark did not create it, so applying or deleting this file leaves it alone; --create-namespace adds one); it must exist and let privileged pods run: kubectl label namespace kube-system pod-security.kubernetes.io/enforce=privileged\n',
  );

  // --agent-memory/--agent-cpu reach the printed DaemonSet (a failed start cannot raise the next run's limit otherwise).
  const asked = await runCli(['tap', '-A', '--dry-run', '--agent-namespace', 'monitoring', '--create-namespace', '--agent-memory', '1Gi', '--agent-cpu', '2', ...img]);
  assert.equal(asked.code, 0, asked.stderr);
  const docs = parseAllDocuments(asked.stdout).map((d) => d.toJS() as Obj);
  const ns = docs[0];
  assert.equal(ns.kind, 'Namespace');
  assert.equal(ns.metadata.name, 'monitoring');
  assert.equal(ns.metadata.labels['app.kubernetes.io/managed-by'], 'shark');
  const ds = docs.find((d) => d.kind === 'DaemonSet')!;
  assert.deepEqual(ds.spec.template.spec.containers[0].resources, { requests: { cpu: '100m', memory: '192Mi' }, limits: { cpu: '2', memory: '1Gi' } });
});

test('--dry-run without --agent-image warns that the default image is not published', async () => {
  const r = await runCli(['tap', '-A', '--dry-run']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /image: ghcr\.io\/shark-cli\/shark:0\.1\.0/);
  assert.equal(r.stderr, 'tap: warning: no --agent-image: the manifests name ghcr.io/shark-cli/shark:0.1.0, which is not published; build the image (npm run image), push it where the nodes can pull and pass --agent-image\n');
});

test('bad cluster flags are exit 2 and one line before anything else, with --dry-run or live, and nothing reaches the API server', { timeout: 120_000 }, async () => {
  const { f, kubeconfig } = await monitoringFixture();
  try {
    const cases: [string[], RegExp][] = [
      [['--agent-timeout', 'abc'], /^tap: --agent-timeout: 'abc' is not a duration/],
      [['--agent-timeout', '0s'], /^tap: --agent-timeout: '0s' must be more than 0/],
      [['--sample-rate', '200%'], /^tap: --sample-rate: '200%' is not a share/],
      [['--duration', '-5s'], /^tap: --duration: '-5s' is not a duration/],
      [['--agent-namespace', 'Bad_NS'], /^tap: --agent-namespace: 'Bad_NS' is not a namespace name \(a DNS-1123 label/],
      [['-n', 'data', '-n', 'Bad_NS'], /^tap: -n: 'Bad_NS' is not a namespace name \(a DNS-1123 label/],
      [['--agent-image', 'Registry.example/Shark:1'], /^tap: --agent-image: 'Registry\.example\/Shark:1' is not an image reference/],
      [['--agent-priority-class', 'Critical!'], /^tap: --agent-priority-class: 'Critical!' is not a PriorityClass name/],
      [['--max-body', 'lots'], /^tap: --max-body: 'lots' is not a size/],
      [['-l', 'app in ('], /^tap: /],
      [['-f', 'http and ('], /^tap: /],
    ];
    for (const [flags, message] of cases) {
      // The two modes of a case run side by side: each CLI start is mostly waiting on module loading.
      const modes = [['--dry-run'], ['--kubeconfig', kubeconfig]];
      const results = await Promise.all(modes.map((mode) => runCli(['tap', '-A', ...mode, ...flags])));
      results.forEach((r, i) => {
        assert.equal(r.code, 2, `${flags.join(' ')} ${modes[i][0]}: ${r.stderr}`);
        assert.match(r.stderr, message);
        assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
        assert.equal(r.stdout, '');
      });
    }
    const clean = await runCli(['tap', '--clean', '--kubeconfig', kubeconfig, '--agent-namespace', 'Bad_NS']);
    assert.equal(clean.code, 2, clean.stderr);
    assert.deepEqual(f.requests, [], 'no request was made');
  } finally {
    await f.close();
  }
});

test('what --clean and -D cannot take is exit 2 and one line, with no request: a pod regex, -n, --dry-run', { timeout: 60_000 }, async () => {
  const { f, kubeconfig } = await monitoringFixture();
  try {
    // What --clean and -D cannot take is refused too (taken silently before: `--clean --dry-run` deleted lapsed runs).
    const refused: [string[], RegExp][] = [
      [['zzz', '--clean'], /^tap: --clean removes whole runs whose CLI is gone, in --agent-namespace: it takes no pod regex \('zzz'\)$/m],
      [['--clean', '-n', 'shark-system'], /^tap: --clean .*: it takes no pod selection \(-n, -A, -l\)$/m],
      [['--clean', '--dry-run'], /^tap: --clean deletes the objects of lapsed runs: it cannot be a --dry-run$/m],
      [['zzz', '-D'], /^tap: -D lists this machine's interfaces: it takes no pod regex \('zzz'\)$/m],
    ];
    const cleans = await Promise.all(refused.map(([flags]) => runCli(['tap', '--kubeconfig', kubeconfig, ...flags])));
    cleans.forEach((r, i) => {
      assert.equal(r.code, 2, `${refused[i][0].join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, refused[i][1]);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.equal(r.stdout, '');
    });
    assert.deepEqual(f.requests, [], 'no request was made');
  } finally {
    await f.close();
  }
});

test('kubectl apply then delete -f of a --dry-run into an existing namespace leaves the namespace, its labels and its pods; a live run leaves it too', { timeout: 90_000 }, async () => {
  const { f, kubeconfig } = await monitoringFixture();
  try {
    const dry = await runCli(['tap', '-A', '--dry-run', '--agent-namespace', 'monitoring', '--agent-image', 'registry.example/shark:1']);
    assert.equal(dry.code, 0, dry.stderr);
    const apply = await run('kubectl', ['--kubeconfig', kubeconfig, 'apply', '-f', '-'], dry.stdout);
    assert.equal(apply.status, 0, apply.stderr);
    assert.doesNotMatch(apply.stdout, /namespace\//);
    assert.deepEqual(f.store.get('namespaces', undefined, 'monitoring')?.metadata.labels, { team: 'obs' }, 'not adopted nor relabelled');
    const del = await run('kubectl', ['--kubeconfig', kubeconfig, 'delete', '-f', '-'], dry.stdout);
    assert.equal(del.status, 0, del.stderr);
    assert.ok(f.store.get('namespaces', undefined, 'monitoring'), 'the namespace is still there');
    assert.ok(f.store.get('pods', 'monitoring', 'prometheus-0'), 'and so is its pod');

    // A live run: an existing namespace is kept, relabelled Pod Security privileged only while the run
    // lasts (said, and put back as it was), a missing one created and removed.
    f.store.patch('namespaces', undefined, 'monitoring', { metadata: { labels: { 'pod-security.kubernetes.io/enforce': 'baseline' } } });
    for (const ns of ['monitoring', 'tap-scratch']) {
      // Stopped by Ctrl-C once deployed, not by a --duration: on a loaded machine a 2 s run could end before it deployed.
      const live = spawnTap(['redis', '-n', 'data', '--kubeconfig', kubeconfig, '--agent-namespace', ns, '--agent-timeout', '20s']);
      try {
        await until(() => new RegExp(`deployed agents \\(run \\w+\\) in namespace ${ns}`).test(live.stderr()), 'the agents deployed', 30_000, live);
        live.child.kill('SIGINT');
        assert.equal(await exited(live), 0, live.stderr());
      } finally {
        live.child.kill('SIGKILL');
      }
      if (ns !== 'monitoring') continue;
      assert.match(live.stderr(), /^tap: namespace monitoring was labelled pod-security\.kubernetes\.io\/enforce=baseline, which refuses the agents \(hostNetwork, NET_RAW\); relabelled it privileged for this run \(the last run to leave puts baseline back\)$/m);
      assert.match(live.stderr(), /^tap: put back namespace monitoring's label pod-security\.kubernetes\.io\/enforce=baseline$/m);
    }
    const kept = f.store.get('namespaces', undefined, 'monitoring');
    assert.ok(kept && !kept.metadata.deletionTimestamp, 'the existing namespace was not deleted');
    assert.deepEqual(kept.metadata.labels, { team: 'obs', 'pod-security.kubernetes.io/enforce': 'baseline' }, 'its labels are as they were');
    assert.equal(kept.metadata.annotations?.['shark.io/pod-security-enforce-before'], undefined);
    assert.ok(f.store.get('pods', 'monitoring', 'prometheus-0'));
    const scratch = f.store.get('namespaces', undefined, 'tap-scratch');
    assert.ok(!scratch || scratch.metadata.deletionTimestamp, 'the namespace the run created is removed');
  } finally {
    await f.close();
  }
});

test('tap --clean puts back the Pod Security label a killed run replaced, once no run is left in the namespace', { timeout: 30_000 }, async () => {
  const { f, kubeconfig } = await monitoringFixture();
  try {
    // What a run killed with kill -9 leaves on an existing namespace it relabelled (its objects went with its keeper).
    f.store.patch('namespaces', undefined, 'monitoring', {
      metadata: { labels: { 'pod-security.kubernetes.io/enforce': 'privileged' }, annotations: { 'shark.io/pod-security-enforce-before': 'restricted' } },
    });
    const clean = await runCli(['tap', '--clean', '--kubeconfig', kubeconfig, '--agent-namespace', 'monitoring']);
    assert.equal(clean.code, 0, clean.stderr);
    assert.match(clean.stderr, /^tap: put back namespace monitoring's label pod-security\.kubernetes\.io\/enforce=restricted$/m);
    const ns = f.store.get('namespaces', undefined, 'monitoring')!;
    assert.deepEqual(ns.metadata.labels, { team: 'obs', 'pod-security.kubernetes.io/enforce': 'restricted' });
    assert.equal(ns.metadata.annotations?.['shark.io/pod-security-enforce-before'], undefined);
    assert.ok(!ns.metadata.deletionTimestamp, 'a namespace shark did not create is never deleted');
  } finally {
    await f.close();
  }
});

test('image references follow the registry grammar', () => {
  for (const ok of ['shark', 'ghcr.io/shark-cli/shark:0.1.0', 'localhost:5000/shark', 'registry.example/team/shark:v1.2_3', 'Registry.Example:443/shark', `shark@sha256:${'a'.repeat(64)}`, `[fd00::1]:5000/a/b:tag`]) {
    assert.ok(isImageReference(ok), ok);
  }
  for (const bad of ['', 'Shark', 'registry.example/Shark', 'shark:', 'shark:-x', 'shark latest', 'a//b', 'shark@sha256:abc', `shark:${'x'.repeat(129)}`]) {
    assert.ok(!isImageReference(bad), bad);
  }
});

test('Ctrl-C while the run relabels an existing namespace privileged: the label is put back, not left privileged', { timeout: 60_000 }, async () => {
  const { f, kubeconfig } = await monitoringFixture();
  f.store.patch('namespaces', undefined, 'monitoring', { metadata: { labels: { 'pod-security.kubernetes.io/enforce': 'baseline' } } });
  // The relabelling PATCH answers late (a loaded API server): Ctrl-C comes while it is on its way.
  f.delayFor = (method, path) => (method === 'PATCH' && path === '/api/v1/namespaces/monitoring' ? 1500 : 0);
  const tap = spawnTap(['redis', '-n', 'data', '--kubeconfig', kubeconfig, '--agent-namespace', 'monitoring']);
  try {
    await until(() => f.requests.some((r) => r.startsWith('PATCH /api/v1/namespaces/monitoring')), 'the relabelling sent', 30_000, tap);
    tap.child.kill('SIGINT');
    assert.equal(await exited(tap), 0, tap.stderr());
    // Before: the run ended saying "the last run to leave puts baseline back" and left it privileged.
    assert.match(tap.stderr(), /^tap: put back namespace monitoring's label pod-security\.kubernetes\.io\/enforce=baseline$/m);
    const ns = f.store.get('namespaces', undefined, 'monitoring')!;
    assert.deepEqual(ns.metadata.labels, { team: 'obs', 'pod-security.kubernetes.io/enforce': 'baseline' }, tap.stderr());
    assert.equal(ns.metadata.annotations?.['shark.io/pod-security-enforce-before'], undefined);
  } finally {
    tap.child.kill('SIGKILL');
    await f.close();
  }
});
