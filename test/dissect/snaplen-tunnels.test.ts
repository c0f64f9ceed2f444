// Geneve and VXLAN captures cut by a snap length (editcap -s, as `tcpdump -s`
// would have written them): the traffic still shows, and every entry the cut
// touched says `truncated`, never `malformed`, with sizes from the wire.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sharedCapture } from '../helpers/paths.js';
import { dissectPacketList, readPcap } from '../helpers/pcap-edit.js';
import type { Entry } from '../../src/model/entry.js';

/** Entries of `capture` cut at `snaplen` bytes. */
function cutAt(capture: string, snaplen: number): { entries: Entry[]; counters: Record<string, number> } {
  const dir = mkdtempSync(join(tmpdir(), 'shark-snaplen-'));
  try {
    const path = join(dir, 'cut.pcap');
    execFileSync('editcap', ['-F', 'pcap', '-s', String(snaplen), sharedCapture(capture), path], { stdio: 'ignore' });
    return dissectPacketList(readPcap(path));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const line = (e: Entry): string => `${e.protocol} ${e.src.port}>${e.dst.port} ${e.summary} ${JSON.stringify(e.warnings ?? [])}`;

test('Geneve cut inside the inner headers (-s 60): each tunnel flow is a udp entry that says truncated', () => {
  const { entries, counters } = cutAt('tcpdump-geneve.pcap', 60);
  assert.equal(counters['capture.truncated_by_snaplen'], 39);
  assert.ok(entries.length > 0, 'no entry at all');
  for (const e of entries) {
    assert.equal(e.protocol, 'udp', line(e));
    assert.equal(e.dst.port, 6081, line(e));
    assert.deepEqual(e.warnings, ['truncated'], line(e));
  }
  // Every packet of the capture is in some entry.
  const packets = entries.reduce((n, e) => n + (e.request as { packets: number }).packets + ((e.response as { packets: number } | null)?.packets ?? 0), 0);
  assert.equal(packets, 39);
});

test('Geneve cut inside the inner TCP header (-s 96): the tunnel flow shows as udp, truncated, not dropped as a bad inner segment', () => {
  const { entries, counters } = cutAt('tcpdump-geneve.pcap', 96);
  assert.equal(counters['tcp.truncated'], undefined);
  const udp = entries.filter((e) => e.protocol === 'udp');
  assert.ok(udp.length > 0);
  for (const e of udp) assert.deepEqual(e.warnings, ['truncated'], line(e));
});

test('a ping in Geneve cut before its echo header ends (-s 96) pairs with its reply and says truncated, not malformed', () => {
  const { entries } = cutAt('tcpdump-geneve.pcap', 96);
  const icmp = entries.filter((e) => e.protocol === 'icmp').map(line);
  assert.deepEqual(icmp, [
    'icmp 0>0 echo 30.0.0.2 id=10578 seq=23 → reply ["truncated"]',
    'icmp 0>0 echo 30.0.0.2 id=10578 seq=24 → reply ["truncated"]',
    'icmp 0>0 echo 30.0.0.2 id=10578 seq=25 → reply ["truncated"]',
  ]);
  // The request's size is the wire's, not what the capture kept.
  for (const e of entries.filter((x) => x.protocol === 'icmp')) assert.equal(e.requestSize, 64);
});

test('a ping in VXLAN whose data a snap length cut (-s 96): data size from the IP header, and truncated', () => {
  const whole = dissectPacketList(readPcap(sharedCapture('tcpdump-vxlan.pcap'))).entries.filter((e) => e.protocol === 'icmp');
  const { entries } = cutAt('tcpdump-vxlan.pcap', 96);
  const icmp = entries.filter((e) => e.protocol === 'icmp');
  assert.equal(icmp.length, whole.length);
  assert.equal(icmp.length, 4);
  for (const [i, e] of icmp.entries()) {
    assert.equal(e.summary, whole[i].summary);
    assert.deepEqual(e.warnings, ['truncated'], line(e));
    assert.equal((e.request as { dataSize: number }).dataSize, (whole[i].request as { dataSize: number }).dataSize);
    assert.equal(e.requestSize, whole[i].requestSize);
    assert.equal(whole[i].warnings, undefined);
  }
});
