// `shark agent --pcap` with per-pod capture: each kept packet goes out on its
// tapped pod's own pcapng interface (named "namespace/pod"), so the packets of
// `tap -A --pcap` say whose they are (Wireshark: frame.interface_name). Read
// back by tshark: every packet of a call between two tapped pods of the node
// is on the client pod's interface, once; a call from an untapped pod is on
// the server pod's.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliBin } from '../helpers/paths.js';
import { finish, waitForStderr } from './netns.js';
import { makePodLab, type PodLab } from './pod-lab.js';

const HTTP_SERVER = `require('http').createServer((req, res) => res.end('ok')).listen(8080, process.argv[1]);`;
const CALLS = 3;
let lab: PodLab;

before(async () => {
  lab = makePodLab({
    id: 'k',
    routed: [
      { name: 'a', ip: '198.19.105.1' },
      { name: 'b', ip: '198.19.105.2' },
      { name: 'c', ip: '198.19.105.3' }, // not tapped
    ],
  });
  const b = lab.pods.get('b')!;
  lab.start(b.ns, [process.execPath, '-e', HTTP_SERVER, b.ip]);
  const up = await lab.sh(lab.pods.get('c')!.ns, `for i in $(seq 50); do curl -s -m 1 -o /dev/null http://${b.ip}:8080/up && exit 0; sleep 0.2; done; exit 1`);
  assert.equal(up.code, 0, 'lab server did not start');
});
after(() => lab?.stop());

test('agent --pcap per pod: each packet on its tapped pod\'s pcapng interface, once', { timeout: 90_000 }, async () => {
  const pod = (n: string) => lab.pods.get(n)!;
  const agent = lab.start(lab.node, [process.execPath, cliBin, 'agent', '--node', 'n1', '-i', 'any', '--pcap'], 'pipe');
  const done = finish(agent, 80_000);
  await waitForStderr(agent, /capturing on any/);
  agent.stdin!.write(JSON.stringify({ pods: ['a', 'b'].map((n) => ({ name: n, namespace: 'lab', ips: [pod(n).ip] })) }) + '\n');
  await waitForStderr(agent, /per-pod: 2 pods, 2 interfaces resolved/);
  const loop = `for i in $(seq ${CALLS}); do curl -s -m 2 -o /dev/null http://${pod('b').ip}:8080/x; done`;
  assert.equal((await lab.sh(pod('a').ns, loop)).code, 0);
  assert.equal((await lab.sh(pod('c').ns, loop)).code, 0);
  await new Promise((r) => setTimeout(r, 1000));
  agent.stdin!.write('{"stop":true}\n');
  const r = await done;
  assert.equal(r.code, 0, r.stderr);
  const file = join(mkdtempSync(join(tmpdir(), 'shark-pcap-pod-')), 'agent.pcapng');
  writeFileSync(file, r.stdout);

  const t = spawnSync('tshark', ['-r', file, '-Y', 'tcp', '-T', 'fields', '-e', 'frame.interface_name', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'tcp.flags.syn', '-e', 'tcp.flags.ack'], { encoding: 'utf8' });
  assert.equal(t.status, 0, t.stderr);
  const rows = t.stdout.trim().split('\n').map((l) => l.split('\t'));
  const between = (x: string, y: string) => rows.filter((f) => (f[1] === pod(x).ip && f[2] === pod(y).ip) || (f[1] === pod(y).ip && f[2] === pod(x).ip));
  const ab = between('a', 'b');
  const cb = between('c', 'b');
  assert.ok(ab.length >= CALLS * 6 && cb.length >= CALLS * 6, `too few packets: a↔b ${ab.length}, c↔b ${cb.length}`);
  assert.deepEqual([...new Set(ab.map((f) => f[0]))], ['lab/a'], 'a → b is kept at the client pod a');
  assert.deepEqual([...new Set(cb.map((f) => f[0]))], ['lab/b'], 'untapped c → b is kept at the server pod b');
  // Once: one SYN per call from each client (the second copy at the other veth was dropped).
  const syns = (rs: string[][], from: string) => rs.filter((f) => f[1] === pod(from).ip && f[3] === '1' && f[4] === '0').length;
  assert.equal(syns(ab, 'a'), CALLS);
  assert.equal(syns(cb, 'c'), CALLS);
});
