// A capture made with a snap length (`tcpdump -s 96`) keeps only the start of
// each packet. shark reads what is there and says why the rest is missing:
// the packets cut short are counted and one line explains them, with one
// thread and with workers alike; a whole capture has no such line. And
// `-s 0`, tcpdump's "whole packets", is taken by tap and record.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliBin, repoRoot } from '../helpers/paths.js';
import { snaplenFrom } from '../../src/cli/snaplen-flag.js';

const capture = join(repoRoot, 'examples', 'bookinfo-mix.pcap');
const SNAPLEN = 100;
let dir = '';
let cut = '';
let cutCount = 0;

function shark(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cliBin, ...args], { cwd: repoRoot, maxBuffer: 1 << 26 });
  return { code: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** The capture as `tcpdump -s n` would have written it: each record's bytes cut to n, its wire length kept. */
function withSnaplen(pcap: Buffer, n: number): { bytes: Buffer; cut: number } {
  assert.equal(pcap.readUInt32LE(0), 0xa1b2c3d4, 'expects a little-endian microsecond pcap');
  const parts: Buffer[] = [Buffer.from(pcap.subarray(0, 24))];
  parts[0].writeUInt32LE(n, 16);
  let cutHere = 0;
  for (let off = 24; off + 16 <= pcap.length; ) {
    const caplen = pcap.readUInt32LE(off + 8);
    const keep = Math.min(caplen, n);
    if (keep < caplen) cutHere++;
    const header = Buffer.from(pcap.subarray(off, off + 16));
    header.writeUInt32LE(keep, 8);
    parts.push(header, pcap.subarray(off + 16, off + 16 + keep));
    off += 16 + caplen;
  }
  return { bytes: Buffer.concat(parts), cut: cutHere };
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'shark-snaplen-'));
  cut = join(dir, 'cut.pcap');
  const made = withSnaplen(readFileSync(capture), SNAPLEN);
  cutCount = made.cut;
  writeFileSync(cut, made.bytes);
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('packets cut by a snap length are counted and explained, with one thread and with workers', () => {
  assert.ok(cutCount > 50, `too few packets longer than ${SNAPLEN} bytes: ${cutCount}`);
  const one = shark(['dissect', '--workers', '1', cut]);
  const two = shark(['dissect', '--workers', '2', cut]);
  for (const r of [one, two]) {
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`capture\\.truncated_by_snaplen=${cutCount}\\b`));
    assert.match(r.stderr, new RegExp(`^dissect: ${cutCount} packets were cut short by the capture's snap length \\(tcpdump -s\\).*-s 0 for whole packets$`, 'm'));
  }
  // What the heads held is still read, the same way by both.
  assert.ok(one.stdout.split('\n').filter(Boolean).length > 0);
  assert.equal(two.stdout, one.stdout);
  // Commands that dissect on the fly say it too, naming the file.
  const stats = shark(['stats', cut]);
  assert.equal(stats.code, 0, stats.stderr);
  assert.ok(stats.stderr.includes(`stats: ${cut}: ${cutCount} packets were cut short`), stats.stderr);
});

test('a whole capture has no snap-length line', () => {
  const r = shark(['dissect', capture]);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /snap length|truncated_by_snaplen/);
});

test('-s 0 means whole packets, as in tcpdump; 1–63 is refused in one line', () => {
  assert.equal(snaplenFrom(undefined), undefined);
  assert.equal(snaplenFrom(0), undefined);
  assert.equal(snaplenFrom(96), 96);
  // Parsed and taken: the run gets as far as the interface.
  const zero = shark(['tap', '-i', 'nosuch0', '-s', '0', '-c', '1']);
  assert.equal(zero.code, 4, zero.stderr);
  assert.match(zero.stderr, /^tap: no such interface 'nosuch0'/);
  const out = join(dir, 'rec');
  for (const [cmd, ...rest] of [['tap'], ['record', '--name', 'x', '-o', out]]) {
    const small = shark([cmd, ...rest, '-i', 'nosuch0', '-s', '10']);
    assert.equal(small.code, 2, small.stderr);
    assert.equal(small.stderr, `${cmd}: --snaplen 10: at least 64 bytes (or 0 for whole packets)\n`);
  }
});

test('the last packet of a direction cut by the snap length says what it lost (the IP header tells)', async () => {
  // arkime-mongo-op-query.pcap: the connection to port 30000 carries one OP_QUERY (73 bytes) and no reply;
  // with 96 bytes a packet, 26 bytes of it are captured and nothing after it shows the rest was sent.
  const { readPcap, dissectPacketList } = await import('../helpers/pcap-edit.js');
  const { sharedCapture } = await import('../helpers/paths.js');
  const packets = readPcap(sharedCapture('arkime-mongo-op-query.pcap')).map((p) => ({ ...p, data: p.data.subarray(0, Math.min(p.data.length, 96)) }));
  const { entries, counters } = dissectPacketList(packets);
  const off = entries.find((e) => e.dst.port === 30000);
  assert.ok(off, entries.map((e) => e.summary).join(' | '));
  assert.equal(off.request?.lostBytes, 47, off.summary);
  assert.ok(off.warnings?.includes('gap'), JSON.stringify(off.warnings));
  assert.ok(counters['tcp.gap_bytes'] >= 47);
});
