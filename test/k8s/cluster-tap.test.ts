// `shark tap` across a "cluster": the lab's network namespaces are the nodes
// and pods (real nginx/redis/dnsmasq, real traffic), the API-server fixture
// speaks the Kubernetes wire protocol, and exec runs the real `shark agent`
// inside each node's namespace. Not a real API server — see docs/kubernetes.md.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLab, type Lab } from '../helpers/lab.js';
import { cliBin, repoRoot } from '../helpers/paths.js';
import { ApiServerFixture } from '../fixtures/apiserver/server.js';
import type { Entry } from '../../src/model/entry.js';

const MANAGED = 'app.kubernetes.io/managed-by=shark';
let lab: Lab;

before(async () => {
  if (!existsSync(join(repoRoot, 'dist', 'commands', 'agent.js'))) throw new Error('build first: npx tsc -p tsconfig.json');
  // Our slice of the address plan: 198.18.16.0/20, namespaces named shk…
  const n = process.pid % 16;
  lab = await startLab({ prefix: `shk${process.pid % 10000}`, net: `198.18.${16 + n}`, nodes: 3 });
});

after(async () => {
  await lab?.stop();
});

/** The lab's pods registered as Kubernetes pods: nginx, redis and dnsmasq, plus clients. */
// Lab placement with 3 nodes: dnsmasq on node0, nginx on node1, redis on node2, a client on each.
function nodeSpec(i: number) {
  const n = lab.nodes[i];
  return { name: n.name, ip: n.ip, netns: n.ns };
}

function addNginx(f: ApiServerFixture): void {
  const web = lab.pod('web');
  f.addPod({
    namespace: 'web',
    name: 'nginx-6d4cf56db6-x7k2p',
    ip: web.ip,
    node: `node${web.node}`,
    labels: { app: 'nginx', 'pod-template-hash': '6d4cf56db6' },
    owner: { kind: 'ReplicaSet', name: 'nginx-6d4cf56db6' },
  });
}

function addRedis(f: ApiServerFixture): void {
  const redis = lab.pod('redis');
  f.addPod({ namespace: 'data', name: 'redis-0', ip: redis.ip, node: `node${redis.node}`, labels: { app: 'redis' }, owner: { kind: 'StatefulSet', name: 'redis' } });
}

/** The lab's pods registered as Kubernetes pods; `full: false` holds back nginx, redis and node2. */
async function startFixture(full = true): Promise<{ f: ApiServerFixture; kubeconfig: string }> {
  const f = new ApiServerFixture({ nodes: (full ? [0, 1, 2] : [0, 1]).map(nodeSpec), cliBin });
  const dns = lab.pod('dns');
  if (full) {
    addNginx(f);
    addRedis(f);
  }
  f.addPod({ namespace: 'infra', name: 'dnsmasq-0', ip: dns.ip, node: `node${dns.node}`, labels: { app: 'dns' } });
  for (const c of lab.pods.filter((p) => p.name.startsWith('client'))) {
    f.addPod({ namespace: 'clients', name: c.name.replace('client', 'client-'), ip: c.ip, node: `node${c.node}`, labels: { app: 'client' } });
  }
  f.addService({ namespace: 'web', name: 'nginx', clusterIP: `${lab.net}.200`, ports: [{ port: 80 }], selector: { app: 'nginx' } });
  f.addEndpointSlice({ namespace: 'data', service: 'redis', ips: [lab.pod('redis').ip], port: 6379 });
  await f.listen();
  const kubeconfig = join(mkdtempSync(join(tmpdir(), 'shk-kc-')), 'config');
  f.writeKubeconfig(kubeconfig);
  return { f, kubeconfig };
}

interface Tap {
  child: ChildProcess;
  stdout: () => string;
  raw: () => Buffer;
  stderr: () => string;
  exit: Promise<number | null>;
}

function spawnTap(args: string[]): Tap {
  const child = spawn(process.execPath, [cliBin, 'tap', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: Buffer[] = [];
  let err = '';
  child.stdout!.on('data', (d: Buffer) => chunks.push(d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exit = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  return { child, stdout: () => Buffer.concat(chunks).toString('utf8'), raw: () => Buffer.concat(chunks), stderr: () => err, exit };
}

async function until(cond: () => boolean, what: string, ms: number, tap?: Tap): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${tap ? `\nstderr:\n${tap.stderr()}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function entries(tap: Tap): Entry[] {
  return tap
    .stdout()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Entry);
}

function capturing(f: ApiServerFixture): number {
  return f.execs.filter((s) => s.child.exitCode === null && s.child.signalCode === null && s.stderr.includes('capturing on')).length;
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => (t = setTimeout(() => rej(new Error(`timed out: ${what}`)), ms)));
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(t);
  }
}

test('tap two of three pods by regex; pods and a node join live; names, agent restart, Ctrl-C cleans up', { timeout: 180_000 }, async () => {
  const { f, kubeconfig } = await startFixture(false);
  const tap = spawnTap(['nginx|redis', '-A', '--kubeconfig', kubeconfig, '--agent-interface', 'br0']);
  const web = lab.pod('web');
  const redis = lab.pod('redis');
  const dns = lab.pod('dns');
  try {
    await until(() => capturing(f) === 2, 'two agents capturing', 60_000, tap);
    assert.match(tap.stderr(), /no pods match yet/);
    // A matching pod appears: its node's running agent gets a new filter.
    addNginx(f);
    await until(() => f.execs.some((s) => s.stderr.includes(`filter host ${web.ip}`)), 'live filter update', 20_000, tap);
    // A node joins with a matching pod: an agent is scheduled there and tapped.
    f.addNode(nodeSpec(2));
    addRedis(f);
    await until(() => capturing(f) === 3, 'the new node’s agent capturing', 60_000, tap);
    await until(() => f.execs.some((s) => s.node === 'node2' && s.command.join(' ').includes(`host ${redis.ip}`) || s.stderr.includes(`filter host ${redis.ip}`)), 'redis filter', 20_000, tap);
    assert.match(tap.stderr(), /^\+web\/nginx-6d4cf56db6-x7k2p$/m);
    assert.match(tap.stderr(), /^\+data\/redis-0$/m);
    assert.doesNotMatch(tap.stderr(), /dnsmasq|client-/);
    // The run's root (its keeper Job), lease, account, DaemonSet and namespace exist while tapping, all labelled shark's.
    const kinds = f.store.findAll(MANAGED).map((o) => o.kind).sort();
    assert.deepEqual([...new Set(kinds)], ['ConfigMap', 'DaemonSet', 'Job', 'Namespace', 'Pod', 'ServiceAccount']);
    assert.ok(f.execs.every((s) => s.command.slice(0, 2).join(' ') === 'shark agent'));

    await lab.traffic({ rounds: 1 });
    await until(
      () => entries(tap).some((e) => e.dst.ip === web.ip) && entries(tap).some((e) => e.dst.ip === redis.ip),
      'entries for nginx and redis',
      15_000,
      tap,
    );
    const toWeb = entries(tap).filter((e) => e.dst.ip === web.ip);
    for (const e of toWeb) {
      assert.equal(e.dst.pod, 'nginx-6d4cf56db6-x7k2p');
      assert.equal(e.dst.namespace, 'web');
      assert.equal(e.dst.node, `node${web.node}`);
      assert.equal(e.dst.workload, 'nginx');
      assert.equal(e.dst.service, 'nginx');
      assert.equal(e.node?.name, `node${web.node}`);
      assert.equal(e.src.namespace, 'clients');
      assert.match(e.src.pod, /^client-\d$/);
    }
    const toRedis = entries(tap).filter((e) => e.dst.ip === redis.ip);
    for (const e of toRedis) {
      assert.equal(e.dst.pod, 'redis-0');
      assert.equal(e.dst.namespace, 'data');
      assert.equal(e.dst.service, 'redis');
      assert.equal(e.node?.name, `node${redis.node}`);
    }
    // dnsmasq was not tapped: its traffic is not captured.
    assert.ok(!entries(tap).some((e) => e.dst.ip === dns.ip || e.src.ip === dns.ip));
    // Merged in time order.
    const ts = entries(tap).map((e) => e.timestamp);
    assert.deepEqual(ts, [...ts].sort((a, b) => a - b));

    // Kill nginx's node agent: reported, restarted, capturing again.
    const victim = f.execs.find(
      (s) => s.node === `node${web.node}` && s.child.exitCode === null && s.child.signalCode === null && s.stderr.includes('capturing on'),
    )!;
    const before = f.execs.length;
    victim.child.kill('SIGKILL');
    await until(() => new RegExp(`agent on node node${web.node} ended \\(.*exit code: 137: killed by SIGKILL; if by the kernel at its memory limit \\(512Mi\\): .*\\); reconnecting when it is ready`).test(tap.stderr()), 'restart report', 10_000, tap);
    await until(() => f.execs.length > before && capturing(f) === 3, 'agent restarted', 60_000, tap);
    const webBefore = entries(tap).filter((e) => e.dst.ip === web.ip).length;
    await lab.traffic({ rounds: 1 });
    await until(() => entries(tap).filter((e) => e.dst.ip === web.ip).length > webBefore, 'entries after the restart', 15_000, tap);

    // A tapped pod goes away.
    f.store.delete('pods', 'data', 'redis-0');
    await until(() => /^-data\/redis-0$/m.test(tap.stderr()), '-redis line', 10_000, tap);

    tap.child.kill('SIGINT');
    assert.equal(await withTimeout(tap.exit, 20_000, 'tap exit after SIGINT'), 0, tap.stderr());
    // The namespace stays Terminating a moment, as a real one does, then it is gone with the rest.
    await until(() => f.store.findAll(MANAGED).length === 0, 'no shark object left', 5000, tap);
    assert.ok(f.execs.every((s) => s.child.exitCode !== null || s.child.signalCode !== null), 'every agent process ended');
    assert.match(tap.stderr(), /removed 5 object\(s\)/); // keeper Job, lease ConfigMap, account, DaemonSet, namespace
    // Only the agent we killed ended: none crashed on its own (e.g. after a filter change).
    assert.equal((tap.stderr().match(/ ended \(/g) ?? []).length, 1, tap.stderr());
  } finally {
    tap.child.kill('SIGKILL');
    await f.close();
  }
});

test('API server gone for longer than --api-outage: one line on stderr, exit 4', { timeout: 120_000 }, async () => {
  const { f, kubeconfig } = await startFixture();
  const tap = spawnTap(['redis', '-n', 'data', '--kubeconfig', kubeconfig, '--agent-interface', 'br0', '--api-outage', '3s']);
  try {
    await until(() => f.execs.length === 3, 'agents exec’d', 60_000, tap);
    await f.close();
    const code = await withTimeout(tap.exit, 25_000, 'tap exit after the API server stopped');
    assert.equal(code, 4, tap.stderr());
    const last = tap.stderr().trimEnd().split('\n').at(-1)!;
    assert.match(last, /^tap: http:\/\/127\.0\.0\.1:\d+: API server lost \(unreachable for 3s\): /);
    assert.doesNotMatch(tap.stderr(), /^\s+at /m);
  } finally {
    tap.child.kill('SIGKILL');
    await f.close();
  }
});

test('tap --clean removes a crashed run’s leftovers once its lease lapsed; bad kubeconfig/context are exit 4', { timeout: 120_000 }, async () => {
  const { f, kubeconfig } = await startFixture();
  try {
    const tap = spawnTap(['redis', '-n', 'data', '--kubeconfig', kubeconfig, '--agent-interface', 'br0', '--agent-lease', '1s']);
    await until(() => f.store.findAll(MANAGED).some((o) => o.kind === 'DaemonSet'), 'DaemonSet created', 20_000, tap);
    tap.child.kill('SIGKILL'); // a crash: nothing cleaned up
    await tap.exit;
    assert.ok(f.store.findAll(MANAGED).length >= 4);
    await new Promise((r) => setTimeout(r, 1200)); // the lease lapses
    const clean = spawnTap(['--clean', '--kubeconfig', kubeconfig]);
    assert.equal(await withTimeout(clean.exit, 20_000, 'clean'), 0, clean.stderr());
    await until(() => f.store.findAll(MANAGED).length === 0, 'no shark object left', 5000, clean);
    assert.match(clean.stderr(), /leftover object\(s\) removed/);
    const ctx = spawnTap(['redis', '--kubeconfig', kubeconfig, '--context', 'nope']);
    assert.equal(await ctx.exit, 4);
    assert.equal(ctx.stderr().trim(), 'tap: unknown context "nope" (known: shark-lab)');
  } finally {
    await f.close();
  }
});

test('--pcap with -l: one pcapng from all agents, of the labelled pods only, in time order, that tshark reads', { timeout: 120_000 }, async () => {
  const { f, kubeconfig } = await startFixture();
  // kubectl's label selector instead of a regex: dnsmasq (app=dns) and the clients (app=client) are left out.
  const tap = spawnTap(['-A', '-l', 'app in (nginx, redis)', '--pcap', '--kubeconfig', kubeconfig, '--agent-interface', 'br0']);
  const web = lab.pod('web');
  const redis = lab.pod('redis');
  try {
    await until(() => capturing(f) === 3, 'agents capturing', 60_000, tap);
    await lab.traffic({ rounds: 1 });
    await new Promise((r) => setTimeout(r, 1500));
    tap.child.kill('SIGINT');
    assert.equal(await withTimeout(tap.exit, 20_000, 'tap exit'), 0, tap.stderr());
    const file = join(mkdtempSync(join(tmpdir(), 'shk-pcap-')), 'tap.pcapng');
    writeFileSync(file, tap.raw());
    const ts = spawnSync('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.interface_name', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'frame.time_epoch', '-e', '_ws.col.Protocol'], {
      encoding: 'utf8',
    });
    assert.equal(ts.status, 0, ts.stderr);
    const rows = ts.stdout.trim().split('\n').map((l) => l.split('\t'));
    assert.ok(rows.length > 10, `${rows.length} packets`);
    // Only the tapped pods' traffic, each from the agent on its node.
    for (const [iface, src, dst] of rows) {
      const ip = [src, dst].find((a) => a === web.ip || a === redis.ip);
      assert.ok(ip, `${src} → ${dst} involves a tapped pod`);
      assert.equal(iface.split(':')[0], `node${ip === web.ip ? web.node : redis.node}`);
    }
    const protocols = new Set(rows.map((r) => r[4]));
    assert.ok(protocols.has('HTTP') && protocols.has('RESP'), [...protocols].join(','));
    const times = rows.map((r) => Number(r[3]));
    assert.deepEqual(times, [...times].sort((a, b) => a - b));
    await until(() => f.store.findAll(MANAGED).length === 0, 'no shark object left', 5000, tap);
  } finally {
    tap.child.kill('SIGKILL');
    await f.close();
  }
});
