// The same datagram captured more than once is one datagram: `tcpdump -i any`
// on a node sees a pod's DNS query on its veth, on the bridge and on the
// server's veth. Recorded for real in a one-node lab (dig against dnsmasq),
// and made by mergecap from a shared capture; a sender's own retransmission,
// a timeout later, stays a retransmission.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { sharedCapture } from '../helpers/paths.js';
import { labIdentity, startLab, type Lab } from '../helpers/lab.js';

let lab: Lab;
let dir: string;
const { prefix, net } = labIdentity('shdup');

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shark-udp-dup-'));
  lab = await startLab({ prefix, net, nodes: 1 });
});

after(async () => {
  await lab?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Calls without their ids (frame numbers differ between a capture and its doubled copy). */
function calls(stdout: string): string[] {
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const { id: _id, frames: _frames, ...rest } = JSON.parse(l);
      return JSON.stringify(rest);
    });
}

test('a capture on any: every dig lookup is one DNS call, however many interfaces showed its packets', async () => {
  const node = lab.nodes[0];
  const pcap = join(dir, 'any.pcap');
  const dns = lab.pod('dns').ip;
  const started = await lab.exec(node.ns, `timeout 20 tcpdump --immediate-mode -Z root -i any -w ${pcap} -U 'udp port 53' >/dev/null 2>&1 & echo $!`);
  const pid = Number(started.stdout.trim());
  // Until tcpdump listens (bounded).
  await lab.exec(node.ns, `for i in $(seq 1 30); do [ -s ${pcap} ] && exit 0; sleep 0.1; done; exit 1`);
  const names = ['reviews.bookinfo.svc.cluster.local', 'ratings.bookinfo.svc.cluster.local', 'nowhere.invalid'];
  try {
    for (const name of names) await lab.exec(lab.pod('client0').ns, ['timeout', '5', 'dig', '+tries=1', '+time=2', `@${dns}`, name, 'A'], { timeoutMs: 8000 });
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    await lab.exec(node.ns, `kill -INT ${pid} 2>/dev/null; sleep 0.3`);
  }
  // tshark sees each packet on several interfaces.
  const packets = execFileSync('tshark', ['-r', pcap, '-Y', 'dns'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n').filter(Boolean).length;
  assert.ok(packets >= 2 * 2 * names.length, `the capture shows copies (${packets} DNS packets for ${names.length} lookups)`);
  for (const workers of ['1', '2']) {
    const r = await runCli(['dissect', '--workers', workers, pcap]);
    assert.equal(r.code, 0, r.stderr);
    const entries = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    assert.deepEqual(
      entries.map((e) => `${e.request?.questions?.[0]?.name} ${e.response?.rcodeName}`),
      // The lab's dnsmasq knows the bookinfo names and has no upstream for the rest.
      names.map((n) => `${n} ${n.endsWith('.invalid') ? 'REFUSED' : 'NOERROR'}`),
      `--workers ${workers}`,
    );
    assert.match(r.stderr, new RegExp(`dissect: ${packets - 2 * names.length} UDP datagrams captured more than once \\(as on 'any'\\) read once`));
  }
});

test('mergecap doubling a capture gives its calls once; a retransmission a timeout later is still one', async () => {
  const original = sharedCapture('tcpdump-dnssec.pcap');
  const doubled = join(dir, 'doubled.pcap');
  execFileSync('mergecap', ['-w', doubled, original, original]);
  const [one, two] = await Promise.all([runCli(['dissect', original]), runCli(['dissect', doubled])]);
  assert.deepEqual(calls(two.stdout), calls(one.stdout));
  assert.match(two.stderr, /6 UDP datagrams captured more than once/);
  // The same query 1 s later (editcap -t shifts the copy): a retransmission, which DNS reports as one.
  const later = join(dir, 'later.pcap');
  const shifted = join(dir, 'shifted.pcap');
  execFileSync('editcap', ['-r', original, join(dir, 'first.pcap'), '1']);
  execFileSync('editcap', ['-t', '1', join(dir, 'first.pcap'), shifted]);
  execFileSync('mergecap', ['-w', later, join(dir, 'first.pcap'), shifted]);
  const r = await runCli(['dissect', later]);
  assert.doesNotMatch(r.stderr, /captured more than once/);
  assert.deepEqual(r.stdout.split('\n').filter(Boolean).map((l) => [JSON.parse(l).warnings, JSON.parse(l).request.retransmissions]), [[['unanswered', 'retransmitted'], 1]]);
});

test('what a datagram is a copy of depends on its own flow and the releases alone: one remembered before a step back in time is forgotten as if alone', async () => {
  const { UdpDuplicates } = await import('../../src/dissect/udp-duplicates.js');
  const answer = Buffer.from('answer');
  const late = Buffer.from('late');
  // One thread's table: flow b after the step back, then flow a's datagram before it, remembered later.
  const both = new UdpDuplicates();
  both.remember('b', true, late, 3000);
  both.remember('a', false, answer, 100);
  // A worker's table that had flow a alone.
  const alone = new UdpDuplicates();
  alone.remember('a', false, answer, 100);
  for (const t of [both, alone]) assert.equal(t.isCopy('a', false, answer, 101), true, 'a copy a moment later, before any release');
  // A release at the newest time: flow a's datagram is 2.9 s behind it in both.
  both.forget(3000);
  alone.forget(3000);
  for (const t of [both, alone]) {
    assert.equal(t.isCopy('a', false, answer, 101), false, 'forgotten at the release, held behind a newer one or not');
    assert.equal(t.isCopy('b', true, late, 3001), t === both, 'what the release keeps is still known');
  }
});
