// Per-pod capture on a lab node (test/live/pod-lab.ts): routed (Calico-like)
// and bridged (flannel-like) pods call each other directly, through
// ClusterIP-like DNAT rules, and resolve names through a DNS Service. The
// agent, run in the node's namespace as the DaemonSet runs it (host network,
// `-i any`), is told the tapped pods with a {"pods": …} control line: every
// call the clients count as answered is exactly one entry, attributed to the
// right pod, and the second copies are counted as duplicates, not lost.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cliBin } from '../helpers/paths.js';
import { finish, waitForStderr } from './netns.js';
import { entriesByTag, makePodLab, runPodCalls, type PodCalls, type PodLab } from './pod-lab.js';

const HTTP_SERVER = `require('http').createServer((req, res) => res.end('ok ' + req.url)).listen(8080, process.argv[1]);`;
const CALLS = 5;
const SVC_B = '198.19.103.200';
const SVC_D = '198.19.103.201';
const SVC_DNS = '198.19.103.253';

let lab: PodLab;
before(async () => {
  lab = makePodLab({
    id: 'f',
    routed: [
      { name: 'a', ip: '198.19.100.1' },
      { name: 'b', ip: '198.19.100.2' },
      { name: 'dns', ip: '198.19.100.3' },
      { name: 'e', ip: '198.19.100.4' }, // not tapped
    ],
    bridged: [
      { name: 'c', ip: '198.19.103.130' },
      { name: 'd', ip: '198.19.103.131' },
    ],
    bridgeGw: { ip: '198.19.103.129', prefix: 26 },
  });
  const pod = (n: string) => lab.pods.get(n)!;
  lab.start(pod('b').ns, [process.execPath, '-e', HTTP_SERVER, pod('b').ip]);
  lab.start(pod('d').ns, [process.execPath, '-e', HTTP_SERVER, pod('d').ip]);
  lab.start(pod('dns').ns, [
    'dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--user=root', '--no-resolv', '--no-hosts', '--pid-file=',
    '--port=53', `--listen-address=${pod('dns').ip}`, '--bind-interfaces', '--address=/lab.test/198.19.1.1',
  ]);
  lab.service(SVC_B, 80, 'tcp', pod('b'), 8080);
  lab.service(SVC_D, 80, 'tcp', pod('d'), 8080);
  lab.service(SVC_DNS, 53, 'udp', pod('dns'), 53);
  const ready = await lab.sh(
    pod('e').ns,
    `for i in $(seq 50); do curl -s -m 1 -o /dev/null http://${pod('b').ip}:8080/ready && curl -s -m 1 -o /dev/null http://${SVC_D}/ready && dig +short +time=1 +tries=1 @${SVC_DNS} ready.lab.test | grep -q 198 && exit 0; sleep 0.2; done; exit 1`,
  );
  assert.equal(ready.code, 0, `lab servers did not come up: ${ready.stderr}`);
});
after(() => lab?.stop());

/** Bounded client loop: CALLS curl calls of `url/tag-i`; prints how many got 200. */
const curlLoop = (url: string, tag: string) =>
  `ok=0; for i in $(seq ${CALLS}); do c=$(curl -s -m 2 -o /dev/null -w '%{http_code}' ${url}/${tag}-$i); [ "$c" = 200 ] && ok=$((ok+1)); done; echo $ok`;
const digLoop = (tag: string) =>
  `ok=0; for i in $(seq ${CALLS}); do dig +short +time=2 +tries=1 @${SVC_DNS} ${tag}-$i.lab.test | grep -q 198.19.1.1 && ok=$((ok+1)); done; echo $ok`;

// Twice: with the kernel filter listing the pods' interfaces (few pods), and
// with the one a node past MAX_KERNEL_INTERFACES pods gets (only the bridge and
// lo left out; every other copy chosen in userspace).
for (const [mode, kernelMax] of [
  ['pod interfaces listed in the kernel filter', ''],
  ['shared interfaces left out (a node with many pods)', '0'],
] as const) {
test(`per-pod capture, ${mode}: one entry per call, direct, through a Service DNAT and DNS, routed and bridged pods`, { timeout: 90_000 }, async () => {
  const pod = (n: string) => lab.pods.get(n)!;
  const tapped = ['a', 'b', 'dns', 'c', 'd'].map((n) => ({ name: n, namespace: 'lab', ips: [pod(n).ip] }));
  const agent = lab.start(lab.node, ['env', `SHARK_PERPOD_KERNEL_INTERFACES=${kernelMax}`, process.execPath, cliBin, 'agent', '--node', 'n1', '-i', 'any', '--stats-interval', '1s'], 'pipe');
  const done = finish(agent, 80_000);
  await waitForStderr(agent, /capturing on any/);
  agent.stdin!.write(JSON.stringify({ pods: tapped }) + '\n');
  // Bridged pods are found through the neighbour table and the bridge's FDB.
  const said = await waitForStderr(agent, /per-pod: 5 pods, 5 interfaces resolved[^\n]*\n/);
  // Left out: the bridge and lo.
  assert.match(said, kernelMax === '0' ? /kernel filter leaving out 2 shared interfaces installed/ : /kernel filter listing them installed/);

  const calls: PodCalls = [
    ['a', 'ab', curlLoop(`http://${pod('b').ip}:8080`, 'ab')],
    ['a', 'asvc', curlLoop(`http://${SVC_B}`, 'asvc')],
    ['a', 'asvcd', curlLoop(`http://${SVC_D}`, 'asvcd')],
    ['e', 'eb', curlLoop(`http://${pod('b').ip}:8080`, 'eb')],
    ['c', 'cd', curlLoop(`http://${pod('d').ip}:8080`, 'cd')],
    ['c', 'csvc', curlLoop(`http://${SVC_B}`, 'csvc')],
    ['a', 'qa', digLoop('qa')],
    ['c', 'qc', digLoop('qc')],
  ];
  const counts = await runPodCalls(lab, calls);
  await new Promise((r) => setTimeout(r, 1500));
  agent.stdin!.write('{"stop":true}\n');
  const r = await done;
  assert.equal(r.code, 0, r.stderr);
  const byTag = entriesByTag(r.stdout);
  // Exactly one entry per call the client saw answered (DNS: one per query; HTTP: one per request).
  for (const [, tag] of calls) assert.equal(byTag.get(tag)?.length ?? 0, counts[tag], `${tag}: entries vs the client's own count`);

  // Attributed at the source: the client's pod when it is tapped, else the server's.
  const expect: Record<string, { pod: string; side: string; dst: string }> = {
    ab: { pod: 'a', side: 'client', dst: pod('b').ip },
    asvc: { pod: 'a', side: 'client', dst: SVC_B },
    asvcd: { pod: 'a', side: 'client', dst: SVC_D },
    eb: { pod: 'b', side: 'server', dst: pod('b').ip },
    cd: { pod: 'c', side: 'client', dst: pod('d').ip },
    csvc: { pod: 'c', side: 'client', dst: SVC_B },
    qa: { pod: 'a', side: 'client', dst: SVC_DNS },
    qc: { pod: 'c', side: 'client', dst: SVC_DNS },
  };
  for (const [tag, want] of Object.entries(expect)) {
    for (const e of byTag.get(tag) ?? []) {
      assert.deepEqual(e.tapped, { pod: want.pod, namespace: 'lab', side: want.side }, `${tag}: attribution`);
      // A Service call is kept as the client saw it (dst = the Service IP), never the DNAT'd copy.
      assert.equal(e.dst.ip, want.dst, `${tag}: destination`);
    }
  }
  // Same-node calls pass two pod interfaces: the second copies were counted, not kept.
  const final = /per-pod: 5 pods, 5 interfaces, (\d+) packets kept, (\d+) duplicates dropped/.exec(r.stderr);
  assert.ok(final, r.stderr);
  assert.ok(Number(final[2]) > 0, 'no duplicate was seen: the calls did not pass two tapped interfaces');
  const stats = r.stderr.split('\n').filter((l) => l.startsWith('shark-agent-stats ')).map((l) => JSON.parse(l.slice(18)));
  assert.equal(stats.at(-1).final, true);
  assert.equal(stats.at(-1).duplicates, Number(final[2]));
});
}

// --service-mesh: a "sidecar" and an "app" in pod a talk plaintext over the
// pod's loopback, visible only inside its network namespace. The agent finds
// a process of the pod, runs `shark agent -i lo` there through nsenter, and
// passes its entries on tagged `side: loopback`.
test('--service-mesh: calls over a pod\'s loopback are captured inside its namespace, one entry each', { timeout: 90_000 }, async () => {
  const pod = (n: string) => lab.pods.get(n)!;
  lab.start(pod('a').ns, [process.execPath, '-e', HTTP_SERVER.replace('8080', '15001'), '127.0.0.1']);
  const up = await lab.sh(pod('a').ns, `for i in $(seq 50); do curl -s -m 1 -o /dev/null http://127.0.0.1:15001/ready && exit 0; sleep 0.2; done; exit 1`);
  assert.equal(up.code, 0, 'loopback server did not start');
  const tapped = ['a', 'b'].map((n) => ({ name: n, namespace: 'lab', ips: [pod(n).ip] }));
  const agent = lab.start(lab.node, [process.execPath, cliBin, 'agent', '--node', 'n1', '-i', 'any', '--service-mesh'], 'pipe');
  const done = finish(agent, 80_000);
  await waitForStderr(agent, /capturing on any/);
  agent.stdin!.write(JSON.stringify({ pods: tapped }) + '\n');
  await waitForStderr(agent, /service-mesh: capturing lab\/a's loopback \(pid \d+\)/);
  await waitForStderr(agent, /service-mesh lab\/a: agent n1: capturing on lo/);
  const r1 = await lab.sh(pod('a').ns, curlLoop('http://127.0.0.1:15001', 'mesh'));
  const r2 = await lab.sh(pod('a').ns, curlLoop(`http://${pod('b').ip}:8080`, 'out'));
  const mesh = Number(r1.stdout.trim());
  const out = Number(r2.stdout.trim());
  assert.ok(mesh > 0 && out > 0);
  await new Promise((r) => setTimeout(r, 1500));
  agent.stdin!.write('{"stop":true}\n');
  const r = await done;
  assert.equal(r.code, 0, r.stderr);
  const entries = r.stdout.toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const meshEntries = entries.filter((e) => /^\/mesh-\d+$/.test(e.request?.path ?? ''));
  assert.equal(meshEntries.length, mesh, 'one entry per loopback call');
  for (const e of meshEntries) {
    assert.deepEqual(e.tapped, { pod: 'a', namespace: 'lab', side: 'loopback' });
    assert.equal(e.dst.ip, '127.0.0.1');
    assert.equal(e.node.name, 'n1');
  }
  // The pod's calls out are still captured once, at its veth.
  const outEntries = entries.filter((e) => /^\/out-\d+$/.test(e.request?.path ?? ''));
  assert.equal(outEntries.length, out);
  assert.ok(outEntries.every((e) => e.tapped.side === 'client'));
  // Pod b has processes too: its loopback agent ran and saw nothing of a's.
  assert.match(r.stderr, /service-mesh: capturing lab\/b's loopback/);
});
