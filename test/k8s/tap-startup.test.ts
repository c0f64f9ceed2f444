// How `shark tap` starts when the cluster is not as asked: an API server that
// accepts TCP and then says nothing (a dead load balancer, a hung apiserver),
// a node that is NotReady (its agent pod is placed there and stays Pending),
// a namespace that does not exist (a typo), and how a failed start reads on
// stderr (its error last, alone when nothing was deployed). The silent
// servers are plain sockets in this test (the wire is all there is to them);
// the rest is the API-server fixture, with the kubelet's reports set in its
// store as a kubelet would (test/k8s/tap-failures.test.ts does the same).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../helpers/paths.js';
import { exited, spawnTap, until, type Tap } from '../helpers/tap-process.js';
import { ApiServerFixture } from '../fixtures/apiserver/server.js';
import type { NodeSpec, Obj } from '../fixtures/apiserver/store.js';

const MANAGED = 'app.kubernetes.io/managed-by=shark';
const AGENT = join(repoRoot, 'test', 'fixtures', 'agents', 'entry-agent.mjs');
const NODES: NodeSpec[] = [
  { name: 'node0', ip: '198.19.120.1' },
  { name: 'node1', ip: '198.19.120.2' },
];

const stderrLines = (tap: Tap) => tap.stderr().trimEnd().split('\n');

/** A server that accepts TCP connections and never sends a byte: no TLS handshake, no HTTP answer. */
async function silentServer(): Promise<{ server: Server; port: number; connections: () => number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  let count = 0;
  const server = createServer((s) => {
    count++;
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return { server, port, connections: () => count, close };
}

/** A kubeconfig for `server` (https: the TLS handshake is what stalls; http: the request is sent and never answered). */
function kubeconfigFor(server: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'shk-kc-')), 'config');
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': 'silent',
    clusters: [{ name: 'silent', cluster: { server, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'u', user: { token: 'some-token' } }],
    contexts: [{ name: 'silent', context: { cluster: 'silent', user: 'u', namespace: 'default' } }],
  };
  writeFileSync(path, JSON.stringify(config));
  return path;
}

test('an API server that accepts TCP and never completes the TLS handshake: one line naming it, exit 4', { timeout: 60_000 }, async () => {
  const silent = await silentServer();
  const server = `https://127.0.0.1:${silent.port}`;
  try {
    // Both at once: each waits out the 10 s handshake timeout.
    const taps = [['redis', '-n', 'data'], ['-A']].map((args) => spawnTap([...args, '--kubeconfig', kubeconfigFor(server)]));
    const codes = await Promise.all(taps.map((tap) => exited(tap, 40_000)));
    for (const [i, tap] of taps.entries()) {
      assert.equal(codes[i], 4, tap.stderr());
      // The only line: no summary before it, nothing after it.
      assert.equal(stderrLines(tap).length, 1, tap.stderr());
      assert.match(tap.stderr(), new RegExp(`^tap: ${server.replace(/\./g, '\\.')}: cannot (read namespace data|list pods in every namespace): TLS handshake timeout \\(no answer in 10s\\)\\n$`));
    }
  } finally {
    await silent.close();
  }
});

test('an API server that never answers a request: --request-timeout ends the run, exit 4', { timeout: 60_000 }, async () => {
  const silent = await silentServer();
  const server = `http://127.0.0.1:${silent.port}`;
  try {
    const tap = spawnTap(['-A', '--kubeconfig', kubeconfigFor(server), '--request-timeout', '1s']);
    assert.equal(await exited(tap), 4, tap.stderr());
    assert.deepEqual(stderrLines(tap), [`tap: ${server}: cannot list pods in every namespace: no answer within 1s (--request-timeout)`]);
  } finally {
    await silent.close();
  }
});

test('Ctrl-C or SIGTERM while the API server stalls the start ends the run at once, exit 0', { timeout: 60_000 }, async () => {
  const silent = await silentServer();
  try {
    for (const [signal, args] of [
      ['SIGINT', ['redis', '-n', 'data']],
      ['SIGTERM', ['-A']],
    ] as const) {
      const seen = silent.connections();
      const tap = spawnTap([...args, '--kubeconfig', kubeconfigFor(`https://127.0.0.1:${silent.port}`)]);
      // The CLI waits on the silent server (a connection is open, its handshake unanswered).
      await until(() => silent.connections() > seen, 'the CLI connected', 20_000, tap);
      tap.child.kill(signal);
      // Ignored, the signal would leave the run to its 10 s handshake timeout: exit 4 and that line.
      assert.equal(await exited(tap, 20_000), 0, tap.stderr());
      assert.doesNotMatch(tap.stderr(), /timeout/, signal);
      assert.match(stderrLines(tap).at(-1)!, /^tap: 0 entries from 0 agent\(s\); removed 0 object\(s\)$/, signal);
    }
  } finally {
    await silent.close();
  }
});

/** The fixture with agents that write entries; node1 is NotReady (its kubelet stopped reporting) and its agent pod stays Pending. */
async function notReadyCluster(): Promise<{ f: ApiServerFixture; kubeconfig: string }> {
  const f = new ApiServerFixture({
    nodes: NODES,
    spawnExec: (command) => spawn(process.execPath, [AGENT, ...command.slice(2)], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, SHARK_FAKE_EVERY_MS: '100' } }),
  });
  f.addPod({ namespace: 'data', name: 'redis-0', ip: '198.19.120.12', node: 'node0', labels: { app: 'redis' } });
  f.addPod({ namespace: 'web', name: 'nginx-0', ip: '198.19.120.13', node: 'node1', labels: { app: 'nginx' } });
  // What the node lifecycle controller does to a node whose kubelet stopped posting status.
  const node = f.store.get('nodes', undefined, 'node1')!;
  node.status.conditions = [{ type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.' }];
  node.spec = {
    ...node.spec,
    taints: [
      { key: 'node.kubernetes.io/unreachable', effect: 'NoSchedule' },
      { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' },
    ],
  };
  f.store.update('nodes', node);
  // node0's kubelet runs its agent; node1's says nothing (the pod stays Pending, as it is bound to a dead node).
  f.store.podStartMs = 3_600_000;
  f.store.on('pods', (ev: { type: string; object: Obj }) => {
    if (ev.type !== 'ADDED' || ev.object.spec?.nodeName !== 'node0') return;
    setTimeout(() => {
      const pod = f.store.get('pods', ev.object.metadata.namespace, ev.object.metadata.name);
      if (!pod) return;
      pod.status = { ...pod.status, phase: 'Running', podIP: '198.19.120.1', podIPs: [{ ip: '198.19.120.1' }], conditions: [{ type: 'PodScheduled', status: 'True' }, { type: 'Ready', status: 'True' }] };
      f.store.update('pods', pod);
    }, 20);
  });
  await f.listen();
  const kubeconfig = join(mkdtempSync(join(tmpdir(), 'shk-kc-')), 'config');
  f.writeKubeconfig(kubeconfig);
  return { f, kubeconfig };
}

test('a NotReady node is told once and not waited on: the healthy node is tapped, the summary names the node without an agent', { timeout: 90_000 }, async () => {
  const { f, kubeconfig } = await notReadyCluster();
  try {
    // -A watches the nodes; -n reads the waiting agents' nodes at the deadline.
    for (const args of [['-A'], ['-n', 'data', '-n', 'web']]) {
      const tap = spawnTap([...args, '--kubeconfig', kubeconfig, '--agent-timeout', '3s']);
      await until(() => /^tap: agents running on 1 node\(s\); no agent on 1 node\(s\): node1 \(unreachable\)$/m.test(tap.stderr()), 'the run going on without node1', 30_000, tap);
      await until(() => tap.stdout().split('\n').filter(Boolean).length >= 3, 'entries from node0', 20_000, tap);
      // Past the deadline: still running.
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(tap.child.exitCode, null, tap.stderr());
      const said = tap.stderr().match(/^tap: node1: no agent: .*$/gm) ?? [];
      assert.deepEqual(said, ['tap: node1: no agent: node unreachable (Ready=Unknown NodeStatusUnknown: Kubelet stopped posting node status.): its agent cannot start there; the other nodes are tapped'], tap.stderr());
      assert.doesNotMatch(tap.stderr(), /raise --agent-timeout|agents not running/);
      assert.ok(tap.stdout().split('\n').filter(Boolean).every((l) => (JSON.parse(l) as { node?: { name: string } }).node?.name === 'node0'));
      tap.child.kill('SIGINT');
      assert.equal(await exited(tap), 0, tap.stderr());
      assert.match(stderrLines(tap).at(-1)!, /^tap: \d+ entries from 1 agent\(s\); removed 5 object\(s\); no agent on 1 node\(s\): node1 \(unreachable\)$/);
      await until(() => f.store.findAll(MANAGED).filter((o) => o.kind !== 'Pod').length === 0, 'objects removed', 10_000, tap);
    }
  } finally {
    await f.close();
  }
});

test('-n with a namespace that does not exist: one line naming it, exit 4, nothing deployed', { timeout: 60_000 }, async () => {
  const f = new ApiServerFixture({ nodes: NODES, spawnExec: (command) => spawn(process.execPath, [AGENT, ...command.slice(2)], { stdio: ['pipe', 'pipe', 'pipe'] }) });
  f.addPod({ namespace: 'data', name: 'redis-0', ip: '198.19.120.12', node: 'node0', labels: { app: 'redis' } });
  await f.listen();
  const kubeconfig = join(mkdtempSync(join(tmpdir(), 'shk-kc-')), 'config');
  f.writeKubeconfig(kubeconfig);
  try {
    const one = spawnTap(['-n', 'nosuchns', '--kubeconfig', kubeconfig]);
    assert.equal(await exited(one), 4, one.stderr());
    assert.deepEqual(stderrLines(one), [`tap: ${f.url}: namespace nosuchns does not exist (kubectl get namespaces lists them)`]);
    const two = spawnTap(['-n', 'zz', '-n', 'data', '-n', 'nosuchns', '--kubeconfig', kubeconfig]);
    assert.equal(await exited(two), 4, two.stderr());
    assert.deepEqual(stderrLines(two), [`tap: ${f.url}: namespaces nosuchns, zz do not exist (kubectl get namespaces lists them)`]);
    assert.ok(!f.requests.some((r) => !r.startsWith('GET')), f.requests.join('\n'));
    assert.deepEqual(f.store.findAll(MANAGED), []);
  } finally {
    await f.close();
  }
});

test('a failed start ends with its error: alone when nothing was deployed, after the per-node reasons at --agent-timeout', { timeout: 60_000 }, async () => {
  const f = new ApiServerFixture({
    nodes: NODES,
    spawnExec: (command) => spawn(process.execPath, [AGENT, ...command.slice(2)], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, SHARK_FAKE_EVERY_MS: '100' } }),
    users: { 'jane-token': { name: 'jane', groups: [] } },
  });
  f.addPod({ namespace: 'data', name: 'redis-0', ip: '198.19.120.12', node: 'node0', labels: { app: 'redis' } });
  // node1's kubelet never starts its agent (a Ready node: the run waits for it, then fails).
  f.store.podStartMs = 3_600_000;
  f.store.on('pods', (ev: { type: string; object: Obj }) => {
    if (ev.type !== 'ADDED' || ev.object.spec?.nodeName !== 'node0') return;
    setTimeout(() => {
      const pod = f.store.get('pods', ev.object.metadata.namespace, ev.object.metadata.name);
      if (!pod) return;
      pod.status = { ...pod.status, phase: 'Running', podIP: '198.19.120.1', conditions: [{ type: 'Ready', status: 'True' }] };
      f.store.update('pods', pod);
    }, 20);
  });
  await f.listen();
  const dir = mkdtempSync(join(tmpdir(), 'shk-kc-'));
  const admin = join(dir, 'admin');
  const jane = join(dir, 'jane');
  f.writeKubeconfig(admin);
  f.writeKubeconfig(jane, 'shark-lab', 'default', 'jane-token');
  try {
    const refused = spawnTap(['-A', '--kubeconfig', jane]);
    assert.equal(await exited(refused), 4, refused.stderr());
    assert.equal(stderrLines(refused).length, 1, refused.stderr());
    assert.match(refused.stderr(), /^tap: http:\/\/127\.0\.0\.1:\d+: cannot list pods in every namespace: HTTP 403: /);

    const late = spawnTap(['-A', '--kubeconfig', admin, '--agent-timeout', '3s']);
    assert.equal(await exited(late), 4, late.stderr());
    const lines = stderrLines(late);
    const reasons = lines.findIndex((l) => / → /.test(l));
    assert.ok(reasons > 0, late.stderr());
    // After the first reason: only reasons, then the verdict, last (no stale progress lines from the cleanup).
    assert.deepEqual(lines.slice(reasons, -1).filter((l) => !/ → /.test(l)), [], late.stderr());
    assert.match(lines.at(-1)!, /^tap: agents not running on 1 of 2 node\(s\) after 3s \(DaemonSet shark-agent-\w+: 2 desired, 1 ready, 1 unavailable; reasons above\)$/);
    assert.match(late.stderr(), /^tap: node1: scheduled → still starting: a slow image pull or node\? raise --agent-timeout$/m);
    await until(() => f.store.findAll(MANAGED).filter((o) => o.kind !== 'Pod').length === 0, 'objects removed', 10_000, late);
  } finally {
    await f.close();
  }
});

/** An agent pod whose `shark agent` says it captures only after `delayMs`, or (delayMs < 0) fails as in an image without shark. */
function lateAgent(delayMs: number) {
  const script =
    delayMs < 0
      ? `process.stderr.write('exec: "shark": executable file not found in $PATH\\n'); process.exit(127)`
      : `setTimeout(() => process.stderr.write('agent node0: capturing on any\\n'), ${delayMs});
         process.stdin.on('data', (d) => { if (String(d).includes('"stop"')) process.exit(0); });
         process.stdin.on('end', () => process.exit(0));`;
  return () => spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
}

test('agents running is said once the agent captures, not when its pod is ready', { timeout: 60_000 }, async () => {
  const f = new ApiServerFixture({ nodes: [NODES[0]], spawnExec: lateAgent(2000) });
  f.addPod({ namespace: 'data', name: 'redis-0', ip: '198.19.120.12', node: 'node0' });
  await f.listen();
  const kubeconfig = join(mkdtempSync(join(tmpdir(), 'shk-kc-')), 'config');
  f.writeKubeconfig(kubeconfig);
  const tap = spawnTap(['-n', 'data', '--kubeconfig', kubeconfig, '--agent-timeout', '20s']);
  try {
    await until(() => /agent pod ready/.test(tap.stderr()), 'the agent pod ready', 30_000, tap);
    await until(() => /agents running on 1 node\(s\)/.test(tap.stderr()), 'agents running', 30_000, tap);
    // The fixture keeps what the exec wrote before it reaches the CLI: the agent had said it captures.
    assert.ok(f.execs.some((e) => e.stderr.includes('capturing on')), tap.stderr());
    assert.match(tap.stderr(), /^tap: node0: agent pod ready\n(?:.*\n)*tap: agents running on 1 node\(s\)$/m);
    tap.child.kill('SIGINT');
    assert.equal(await exited(tap), 0, tap.stderr());
  } finally {
    tap.child.kill('SIGKILL');
    await f.close();
  }
});

test('an agent pod whose shark agent fails at once is said once with its error, and the run ends with exit 4 at --agent-timeout', { timeout: 60_000 }, async () => {
  const f = new ApiServerFixture({ nodes: [NODES[0]], spawnExec: lateAgent(-1) });
  f.addPod({ namespace: 'data', name: 'redis-0', ip: '198.19.120.12', node: 'node0' });
  await f.listen();
  const kubeconfig = join(mkdtempSync(join(tmpdir(), 'shk-kc-')), 'config');
  f.writeKubeconfig(kubeconfig);
  const tap = spawnTap(['-n', 'data', '--kubeconfig', kubeconfig, '--agent-timeout', '3s']);
  try {
    assert.equal(await exited(tap, 45_000), 4, tap.stderr());
    const err = tap.stderr();
    assert.doesNotMatch(err, /agents running/);
    // Retried with a growing back-off, said once (the exec fails the same way each time).
    assert.ok(f.execs.length >= 2, `${f.execs.length} exec(s)`);
    assert.ok(f.execs.length < 20, `${f.execs.length} execs: no back-off`);
    const ended = err.split('\n').filter((l) => /ended before capturing/.test(l));
    assert.equal(ended.length, 1, err);
    assert.match(ended[0], /^tap: agent on node node0 \(pod shark-system\/shark-agent-\w+-\w+\) ended before capturing \(command terminated with non-zero exit code: 127: exec: "shark": executable file not found in \$PATH\); retrying$/);
    assert.match(err, /^tap: node0: agent pod shark-system\/shark-agent-\w+-\w+ is ready, but `shark agent` in it is not capturing \(it ended: .*127.*\) → kubectl exec -n shark-system shark-agent-\w+-\w+ -- shark agent --help; is --agent-image a shark image\?$/m);
    assert.equal(stderrLines(tap).at(-1), 'tap: agents not capturing on 1 of 1 node(s) after 3s (reasons above)');
    // The namespace the run made goes too, once it has finished Terminating.
    await until(() => f.store.findAll(MANAGED).length === 0, 'nothing left behind', 5000, tap);
  } finally {
    tap.child.kill('SIGKILL');
    await f.close();
  }
});
