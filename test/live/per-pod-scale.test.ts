// A thousand pods on one node (namespaces are cheap; built with `ip -batch`):
// the agent resolves every pod's interface, installs one kernel filter for
// all of them (over the 4,096-instruction limit a `host …` filter would pass
// near 720 pods), and a sample of pods calling a server pod is captured once
// per call. How long resolution and the filter take is printed (a figure, not
// an assertion: see bench/per-pod.ts for the comparison with `host` filters).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cliBin } from '../helpers/paths.js';
import { finish, waitForStderr } from './netns.js';
import { makePodLab, type PodLab } from './pod-lab.js';

export const SCALE_PODS = Number(process.env.SHARK_PERPOD_PODS ?? 1000);
const SAMPLE = 10;
const CALLS = 2;
const HTTP_SERVER = `require('http').createServer((req, res) => res.end('ok')).listen(8080, process.argv[1]);`;

/**
 * 198.19.96.1 … 198.19.99.250: 250 pods per /24 of 198.19.96.0/22 — not the
 * other per-pod labs' addresses: --service-mesh finds a pod's process by its IP
 * across the host, so two labs running at once must not share pod IPs (in a
 * cluster, pod IPs are unique).
 */
export const podIp = (i: number) => `198.19.${96 + Math.floor(i / 250)}.${1 + (i % 250)}`;
const sampled = (i: number) => i % Math.floor(SCALE_PODS / SAMPLE) === 0;

let lab: PodLab;
let buildMs = 0;
before(() => {
  const t0 = performance.now();
  lab = makePodLab({
    id: 's',
    routed: Array.from({ length: SCALE_PODS }, (_, i) => ({ name: `p${i}`, ip: podIp(i) })),
    // Only the sample talks; the others exist (namespace, veth, route) and stay idle.
    configurePods: (name) => sampled(Number(name.slice(1))),
  });
  buildMs = performance.now() - t0;
});
after(() => lab?.stop());

test(`${SCALE_PODS} pods on a node: all interfaces resolved, one filter, a sample captured once per call`, { timeout: 180_000 }, async () => {
  const server = lab.pods.get('p0')!;
  lab.start(server.ns, [process.execPath, '-e', HTTP_SERVER, server.ip]);
  const clients = [...lab.pods.values()].filter((p) => p !== server && sampled(Number(p.name.slice(1))));
  const ready = await lab.sh(clients[0].ns, `for i in $(seq 50); do curl -s -m 1 -o /dev/null http://${server.ip}:8080/ && exit 0; sleep 0.2; done; exit 1`);
  assert.equal(ready.code, 0, 'server pod did not answer');

  const agent = lab.start(lab.node, [process.execPath, cliBin, 'agent', '--node', 'big', '-i', 'any'], 'pipe');
  const done = finish(agent, 150_000);
  await waitForStderr(agent, /capturing on any/);
  const pods = [...lab.pods.values()].map((p) => ({ name: p.name, namespace: 'scale', ips: [p.ip] }));
  agent.stdin!.write(JSON.stringify({ pods }) + '\n');
  const said = await waitForStderr(agent, new RegExp(`per-pod: ${SCALE_PODS} pods, \\d+ interfaces resolved[^\\n]*\\n`), 60_000);
  const line = /per-pod: (\d+) pods, (\d+) interfaces resolved in ([\d.]+) ms, kernel filter (?:listing them|leaving out \d+ shared interfaces) installed in ([\d.]+) ms/.exec(said);
  assert.ok(line, said);
  assert.equal(Number(line[2]), SCALE_PODS, 'every pod interface resolved');
  process.stderr.write(`# ${SCALE_PODS} pods: lab built in ${(buildMs / 1000).toFixed(1)} s; interfaces resolved in ${line[3]} ms; kernel filter installed in ${line[4]} ms\n`);

  let answered = 0;
  for (const c of clients) {
    const r = await lab.sh(c.ns, `ok=0; for i in $(seq ${CALLS}); do [ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' http://${server.ip}:8080/${c.name}-$i)" = 200 ] && ok=$((ok+1)); done; echo $ok`);
    answered += Number(r.stdout.trim());
  }
  assert.ok(answered > 0);
  await new Promise((r) => setTimeout(r, 1500));
  agent.stdin!.write('{"stop":true}\n');
  const r = await done;
  assert.equal(r.code, 0, r.stderr);
  const entries = r.stdout
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .filter((e) => e.protocol === 'http' && /^\/p\d+-\d+$/.test(e.request?.path ?? ''));
  assert.equal(entries.length, answered, 'one entry per answered call');
  for (const e of entries) {
    // Both ends are tapped pods of this node: kept at the client's interface.
    const client = e.request.path.slice(1).split('-')[0];
    assert.deepEqual(e.tapped, { pod: client, namespace: 'scale', side: 'client' });
  }
});
