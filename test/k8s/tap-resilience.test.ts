// `shark tap` when the way to the agents is not smooth: the API server goes
// away for a while (a control-plane upgrade) and comes back, an exec stream
// goes silent (a NAT that dropped it), and the reader of stdout is slow. The
// API-server fixture refuses connections and drops every websocket during its
// outage, keeps its store, and answers again on the same address; its exec
// forwards stdout only as fast as the client reads it, as a real API server
// does. Agents are a stand-in (test/fixtures/agents/entry-agent.mjs) that
// speaks the agent's protocol and writes numbered entries, so every entry
// can be accounted for: how they are captured is not what is tested here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliBin, repoRoot } from '../helpers/paths.js';
import { ApiServerFixture } from '../fixtures/apiserver/server.js';
import type { NodeSpec } from '../fixtures/apiserver/store.js';

const MANAGED = 'app.kubernetes.io/managed-by=shark';
const AGENT = join(repoRoot, 'test', 'fixtures', 'agents', 'entry-agent.mjs');
const NODES: NodeSpec[] = [
  { name: 'node0', ip: '198.19.110.1' },
  { name: 'node1', ip: '198.19.110.2' },
];

/** Each node's stand-in agent gets its own environment (how many entries, how fast). */
async function fixture(env: Record<string, Record<string, string>>): Promise<{ f: ApiServerFixture; kubeconfig: string }> {
  const f = new ApiServerFixture({
    nodes: NODES,
    spawnExec: (command, node) =>
      spawn(process.execPath, [AGENT, ...command.slice(2)], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...(env[node?.name ?? ''] ?? {}) } }),
  });
  f.addPod({ namespace: 'data', name: 'redis-0', ip: '198.19.110.12', node: 'node0', labels: { app: 'redis' } });
  f.addPod({ namespace: 'web', name: 'nginx-0', ip: '198.19.110.13', node: 'node1', labels: { app: 'nginx' } });
  await f.listen();
  const kubeconfig = join(mkdtempSync(join(tmpdir(), 's4c-kc-')), 'config');
  f.writeKubeconfig(kubeconfig);
  return { f, kubeconfig };
}

interface Tap {
  child: ChildProcess;
  lines: () => string[];
  stderr: () => string;
  exit: Promise<number | null>;
}

/** `slow`: read stdout 16 KB at a time every 20 ms (a slow consumer, like `| slow-reader`). */
function spawnTap(args: string[], slow = false): Tap {
  const child = spawn(process.execPath, [cliBin, 'tap', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: Buffer[] = [];
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  if (!slow) child.stdout!.on('data', (d: Buffer) => chunks.push(d));
  else {
    const timer = setInterval(() => {
      const c = (child.stdout!.read(16 * 1024) ?? child.stdout!.read()) as Buffer | null;
      if (c) chunks.push(c);
    }, 20);
    child.on('close', () => {
      clearInterval(timer);
      for (let c = child.stdout!.read() as Buffer | null; c; c = child.stdout!.read() as Buffer | null) chunks.push(c);
    });
  }
  const exit = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  // Whole lines only: the last one may still be on its way.
  const lines = () => Buffer.concat(chunks).toString('utf8').split('\n').slice(0, -1).filter(Boolean);
  return { child, lines, stderr: () => err, exit };
}

async function until(cond: () => boolean, what: string, ms: number, tap?: Tap): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${tap ? `\nstderr:\n${tap.stderr()}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function exited(tap: Tap, ms = 30_000): Promise<number | null> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([tap.exit, new Promise<never>((_, rej) => (t = setTimeout(() => rej(new Error(`tap did not exit\n${tap.stderr()}`)), ms)))]);
  } finally {
    clearTimeout(t);
  }
}

interface Seen {
  node: string;
  session: string;
  seq: number;
}

function seen(tap: Tap): Seen[] {
  return tap.lines().map((l) => {
    const e = JSON.parse(l) as { node?: { name: string }; request: { seq: number; session: string } };
    return { node: e.node?.name ?? '', session: e.request.session, seq: e.request.seq };
  });
}

function running(f: ApiServerFixture): number {
  return f.execs.filter((s) => s.child.exitCode === null && s.child.signalCode === null && s.stderr.includes('capturing on')).length;
}

const every = { SHARK_FAKE_EVERY_MS: '100' };

test('an API outage pauses the tap: per-node state, streams resume with new execs, cleanup after it removes everything', { timeout: 90_000 }, async () => {
  const { f, kubeconfig } = await fixture({ node0: every, node1: every });
  const tap = spawnTap(['-A', '--kubeconfig', kubeconfig, '--api-outage', '2m']);
  try {
    await until(() => running(f) === 2 && new Set(seen(tap).map((s) => s.node)).size === 2, 'entries from both agents', 30_000, tap);
    const before = new Set(f.execs.map((e) => e.child.pid));
    await f.outage();
    await until(() => /^tap: API server unreachable \(.+\); tap paused, retrying for up to 120s$/m.test(tap.stderr()), 'the outage said', 10_000, tap);
    await until(() => ['node0', 'node1'].every((n) => new RegExp(`^tap: ${n}: paused \\(`, 'm').test(tap.stderr())), 'both nodes paused', 10_000, tap);
    // Longer than the 4 s the watch used to give up after, and than the exec restart back-off's cap.
    await new Promise((r) => setTimeout(r, 8000));
    assert.equal(tap.child.exitCode, null, `the tap is still running during the outage\n${tap.stderr()}`);
    const during = seen(tap).length;
    await f.restore();
    await until(() => /^tap: API server answers again after \d+s; resuming$/m.test(tap.stderr()), 'the return said', 20_000, tap);
    await until(() => ['node0', 'node1'].every((n) => new RegExp(`^tap: ${n}: resumed`, 'm').test(tap.stderr())), 'both nodes resumed', 20_000, tap);
    // New execs into the same agent pods, and their entries arrive.
    const fresh = () => f.execs.filter((e) => !before.has(e.child.pid) && e.stderr.includes('capturing on'));
    await until(() => new Set(fresh().map((e) => e.node)).size === 2, 'a new exec per node', 20_000, tap);
    const freshSessions = new Set(fresh().map((e) => String(e.child.pid)));
    await until(() => new Set(seen(tap).filter((s) => freshSessions.has(s.session)).map((s) => s.node)).size === 2, 'entries from the new streams', 20_000, tap);
    assert.ok(seen(tap).length > during);

    tap.child.kill('SIGINT');
    assert.equal(await exited(tap), 0, tap.stderr());
    await until(() => f.store.findAll(MANAGED).length === 0, 'no shark object left', 10_000, tap);
    assert.doesNotMatch(tap.stderr(), /could not remove/);
    assert.ok(f.execs.every((s) => s.child.exitCode !== null || s.child.signalCode !== null), 'every agent process ended');
    // Each stream's entries are complete: numbered from 0 with no hole up to the last one seen.
    const bySession = new Map<string, number[]>();
    for (const s of seen(tap)) bySession.set(s.session, [...(bySession.get(s.session) ?? []), s.seq]);
    for (const [session, seqs] of bySession) assert.deepEqual([...seqs].sort((a, b) => a - b), seqs.map((_, i) => i), `session ${session}`);
  } finally {
    tap.child.kill('SIGKILL');
    await f.close();
  }
});

test('an outage longer than --api-outage ends the run: one line, exit 4', { timeout: 60_000 }, async () => {
  const { f, kubeconfig } = await fixture({ node0: every, node1: every });
  const tap = spawnTap(['-A', '--kubeconfig', kubeconfig, '--api-outage', '3s']);
  try {
    await until(() => running(f) === 2, 'agents exec’d', 30_000, tap);
    await f.outage();
    assert.equal(await exited(tap), 4, tap.stderr());
    assert.match(tap.stderr().trimEnd().split('\n').at(-1)!, /^tap: http:\/\/127\.0\.0\.1:\d+: API server lost \(unreachable for 3s\): /);
    assert.doesNotMatch(tap.stderr(), /^\s+at /m);
  } finally {
    tap.child.kill('SIGKILL');
    await f.close();
  }
});

test('an exec stream that stops answering pings is ended and replaced by a new exec', { timeout: 60_000 }, async () => {
  const { f, kubeconfig } = await fixture({ node0: every, node1: every });
  const tap = spawnTap(['-A', '--kubeconfig', kubeconfig, '--exec-ping', '200ms,1500ms']);
  try {
    await until(() => running(f) === 2, 'agents exec’d', 30_000, tap);
    // Answered pings keep a quiet stream alive well past the give-up time.
    await new Promise((r) => setTimeout(r, 3000));
    assert.doesNotMatch(tap.stderr(), /no answer to websocket pings/);
    const before = f.execs.length;
    f.freezeExecs();
    await until(
      () => ['node0', 'node1'].every((n) => new RegExp(`^tap: agent on node ${n} ended \\(no answer to websocket pings for 2s\\); reconnecting when it is ready$`, 'm').test(tap.stderr())),
      'both silent streams ended',
      15_000,
      tap,
    );
    await until(() => f.execs.slice(before).filter((e) => e.stderr.includes('capturing on')).length === 2, 'new execs', 15_000, tap);
    const fresh = new Set(f.execs.slice(before).map((e) => String(e.child.pid)));
    await until(() => new Set(seen(tap).filter((s) => fresh.has(s.session)).map((s) => s.node)).size === 2, 'entries from the new streams', 15_000, tap);
    tap.child.kill('SIGINT');
    assert.equal(await exited(tap), 0, tap.stderr());
  } finally {
    tap.child.kill('SIGKILL');
    await f.close();
  }
});

test('a slow stdout reader pauses the agent streams: bounded, counted, nothing lost, no stream starved', { timeout: 120_000 }, async () => {
  const total0 = 6000;
  const total1 = 600;
  const maxHeld = 200;
  const { f, kubeconfig } = await fixture({
    // node0 floods as fast as its pipe takes entries; node1 writes steadily.
    node0: { SHARK_FAKE_COUNT: String(total0), SHARK_FAKE_PAD: '400' },
    node1: { SHARK_FAKE_COUNT: String(total1), SHARK_FAKE_EVERY_MS: '5', SHARK_FAKE_PAD: '400' },
  });
  const tap = spawnTap(['-A', '--kubeconfig', kubeconfig, '--stream-max-held', String(maxHeld), '--stream-max-pending', '256KB'], true);
  try {
    await until(() => seen(tap).length === total0 + total1, 'every entry read by the slow reader', 90_000, tap);
    tap.child.kill('SIGINT');
    assert.equal(await exited(tap), 0, tap.stderr());
    const all = seen(tap);
    // Nothing lost: every entry each agent wrote, once, in its order.
    for (const [node, total] of [['node0', total0], ['node1', total1]] as const) {
      const seqs = all.filter((s) => s.node === node).map((s) => s.seq);
      assert.equal(seqs.length, total, node);
      assert.deepEqual([...seqs].sort((a, b) => a - b), seqs.map((_, i) => i), node);
    }
    // The backpressure reached the flooding agent: its stdout pipe filled and it had to wait.
    const agent0 = f.execs.find((e) => e.node === 'node0')!;
    const waits = Number(/waited for drain (\d+) time/.exec(agent0.stderr)?.[1] ?? 0);
    assert.ok(waits > 0, agent0.stderr);
    // The CLI held a bounded number of entries, far fewer than it received, and said it paused.
    const m = /^tap: backpressure: stdout was behind (\d+) time\(s\), an agent stream held too many entries (\d+) time\(s\); agent streams were paused meanwhile \(at most (\d+) entries held per stream, ([\d.]+) MB waiting for stdout\)$/m.exec(
      tap.stderr(),
    );
    assert.ok(m, tap.stderr());
    assert.ok(Number(m[1]) + Number(m[2]) > 0);
    const held = Number(m[3]);
    // One websocket read (64 KB, ~150 entries here) may still arrive after a pause.
    assert.ok(held <= maxHeld + 400, `held ${held}`);
    assert.ok(held < total0 / 5, `held ${held} of ${total0}`);
    assert.ok(Number(m[4]) < 2, `pending ${m[4]} MB`);
    // Not starved: node1's entries came through while node0 flooded, spread over the output
    // (a starved stream would come in one block, after the flood).
    const deciles = new Set(all.flatMap((s, i) => (s.node === 'node1' ? [Math.floor((10 * i) / all.length)] : [])));
    const firstNode1 = all.findIndex((s) => s.node === 'node1');
    const node0Positions = all.flatMap((s, i) => (s.node === 'node0' ? [i] : []));
    assert.ok(deciles.size >= 3, `node1 only in deciles ${[...deciles].join(',')}`);
    assert.ok(firstNode1 < node0Positions[Math.floor(node0Positions.length / 2)]);
  } finally {
    tap.child.kill('SIGKILL');
    await f.close();
  }
});
