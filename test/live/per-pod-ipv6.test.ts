// Per-pod capture of IPv6 pods (test/live/pod-lab.ts wired as Calico wires
// IPv6: /128 routes and a link-local gateway), with ip6tables DNAT rules as
// kube-proxy writes them for an IPv6 Service. Addresses come from the IPv6
// benchmarking range (RFC 5180, 2001:2::/48), the twin of 198.18.0.0/15.
// As in per-pod.test.ts: every call the clients count as answered is exactly
// one entry, attributed to the right pod, and a Service call is kept as the
// client saw it. The agent dissects on two threads (`--workers 2`).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cliBin } from '../helpers/paths.js';
import { finish, waitForStderr } from './netns.js';
import { entriesByTag, makePodLab, runPodCalls, type PodCalls, type PodLab } from './pod-lab.js';

const HTTP_SERVER = `require('http').createServer((req, res) => res.end('ok ' + req.url)).listen(8080, process.argv[1]);`;
const CALLS = 4;
const SVC_B = '2001:2:0:64::ff01';
const SVC_DNS = '2001:2:0:64::ff53';

let lab: PodLab;
before(async () => {
  lab = makePodLab({
    id: 'v',
    ipv6: true,
    routed: [
      { name: 'a', ip: '2001:2:0:64::1' },
      { name: 'b', ip: '2001:2:0:64::2' },
      { name: 'dns', ip: '2001:2:0:64::3' },
      { name: 'e', ip: '2001:2:0:64::4' }, // not tapped
    ],
  });
  const pod = (n: string) => lab.pods.get(n)!;
  lab.start(pod('b').ns, [process.execPath, '-e', HTTP_SERVER, pod('b').ip]);
  lab.start(pod('dns').ns, [
    'dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--user=root', '--no-resolv', '--no-hosts', '--pid-file=',
    '--port=53', `--listen-address=${pod('dns').ip}`, '--bind-interfaces', '--address=/lab.test/2001:2:0:64::99',
  ]);
  lab.service(SVC_B, 80, 'tcp', pod('b'), 8080);
  lab.service(SVC_DNS, 53, 'udp', pod('dns'), 53);
  const ready = await lab.sh(
    pod('e').ns,
    `for i in $(seq 50); do curl -s -m 1 -o /dev/null http://[${pod('b').ip}]:8080/ready && curl -s -m 1 -o /dev/null http://[${SVC_B}]/ready && dig +short +time=1 +tries=1 @${SVC_DNS} AAAA ready.lab.test | grep -q 2001 && exit 0; sleep 0.2; done; exit 1`,
  );
  assert.equal(ready.code, 0, `lab servers did not come up over IPv6: ${ready.stderr}`);
});
after(() => lab?.stop());

const curlLoop = (url: string, tag: string) =>
  `ok=0; for i in $(seq ${CALLS}); do c=$(curl -s -m 2 -o /dev/null -w '%{http_code}' '${url}/${tag}-'$i); [ "$c" = 200 ] && ok=$((ok+1)); done; echo $ok`;
const digLoop = (tag: string) =>
  `ok=0; for i in $(seq ${CALLS}); do dig +short +time=2 +tries=1 @${SVC_DNS} AAAA ${tag}-$i.lab.test | grep -q 2001:2:0:64::99 && ok=$((ok+1)); done; echo $ok`;

test('per-pod capture of IPv6 pods: one entry per call, direct, through an ip6tables Service DNAT, and DNS', { timeout: 90_000 }, async () => {
  const pod = (n: string) => lab.pods.get(n)!;
  const tapped = ['a', 'b', 'dns'].map((n) => ({ name: n, namespace: 'lab', ips: [pod(n).ip] }));
  // On two dissection threads (live-workers.ts): attribution and once-per-connection still hold.
  const agent = lab.start(lab.node, [process.execPath, cliBin, 'agent', '--node', 'n1', '-i', 'any', '--stats-interval', '1s', '--workers', '2'], 'pipe');
  const done = finish(agent, 80_000);
  await waitForStderr(agent, /capturing on any/);
  agent.stdin!.write(JSON.stringify({ pods: tapped }) + '\n');
  await waitForStderr(agent, /per-pod: 3 pods, 3 interfaces resolved[^\n]*\n/);

  const calls: PodCalls = [
    ['a', 'ab', curlLoop(`http://[${pod('b').ip}]:8080`, 'ab')],
    ['a', 'asvc', curlLoop(`http://[${SVC_B}]`, 'asvc')],
    ['e', 'eb', curlLoop(`http://[${pod('b').ip}]:8080`, 'eb')],
    ['e', 'esvc', curlLoop(`http://[${SVC_B}]`, 'esvc')],
    ['a', 'qa', digLoop('qa')],
  ];
  const counts = await runPodCalls(lab, calls);
  await new Promise((r) => setTimeout(r, 1500));
  agent.stdin!.write('{"stop":true}\n');
  const r = await done;
  assert.equal(r.code, 0, r.stderr);
  const byTag = entriesByTag(r.stdout);
  for (const [, tag] of calls) assert.equal(byTag.get(tag)?.length ?? 0, counts[tag], `${tag}: entries vs the client's own count`);

  // The untapped client's call through the Service is kept at the server's veth, after the DNAT.
  const expect: Record<string, { pod: string; side: string; dst: string }> = {
    ab: { pod: 'a', side: 'client', dst: pod('b').ip },
    asvc: { pod: 'a', side: 'client', dst: SVC_B },
    eb: { pod: 'b', side: 'server', dst: pod('b').ip },
    esvc: { pod: 'b', side: 'server', dst: pod('b').ip },
    qa: { pod: 'a', side: 'client', dst: SVC_DNS },
  };
  for (const [tag, want] of Object.entries(expect)) {
    for (const e of byTag.get(tag) ?? []) {
      assert.deepEqual(e.tapped, { pod: want.pod, namespace: 'lab', side: want.side }, `${tag}: attribution`);
      assert.equal(e.dst.ip, want.dst, `${tag}: destination`);
      assert.equal(e.src.ip, pod(tag[0] === 'q' ? 'a' : tag[0]).ip, `${tag}: source`);
    }
  }
  const final = /per-pod: 3 pods, 3 interfaces, (\d+) packets kept, (\d+) duplicates dropped/.exec(r.stderr);
  assert.ok(final, r.stderr);
  assert.ok(Number(final[2]) > 0, 'no duplicate was seen: the same-node calls did not pass two tapped interfaces');
});
