// The engine over every real capture: entries valid against the schema, in
// request-time order, no exception for damaged input, and TCP conversations
// agreeing with tshark where no protocol dissector claims them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { repoRoot, sharedCaptures, sharedCapture } from '../helpers/paths.js';
import { dissectFile } from '../helpers/dissect.js';
import { ipv4Packet, udpPacket } from '../helpers/pcap-wire.js';
import { DissectionEngine } from '../../src/dissect/engine.js';
import type { Entry } from '../../src/model/entry.js';
import { LinkType } from '../../src/model/packet.js';

const schema = JSON.parse(readFileSync(join(repoRoot, 'docs', 'entry.schema.json'), 'utf8'));
const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
const captures = readdirSync(sharedCaptures).filter((f) => /\.pcap(ng)?$/.test(f)).sort();

test('every entry of every shared capture is valid and in request-time order', async () => {
  let total = 0;
  for (const name of captures) {
    const { entries } = await dissectFile(sharedCapture(name));
    let last = -Infinity;
    for (const e of entries) {
      if (!validate(e as unknown)) assert.fail(`${name}: entry ${e.id} invalid: ${JSON.stringify(validate.errors?.slice(0, 3))}`);
      assert.ok(e.timestamp >= last, `${name}: entry ${e.id} out of order`);
      last = e.timestamp;
    }
    total += entries.length;
  }
  assert.ok(total > 1000, `only ${total} entries from ${captures.length} captures`);
});

test('damaged captures: every good packet is dissected, then an error naming the byte offset', async () => {
  const { entries, error } = await dissectFile(sharedCapture('suricata-bug-1450-04-tls-DER-incomplete-header.pcap'));
  assert.ok(error, 'a damaged capture must end with an error');
  assert.match(error.message, /at byte \d+/);
  // tshark reads 6 packets before the damage; they form one TCP connection.
  assert.ok(entries.length >= 1, 'entries before the damage are kept');
});

/** tshark's TCP conversations: "a:p <-> b:p" → total frames. */
function tsharkConversations(path: string): Map<string, number> {
  const out = execFileSync('tshark', ['-r', path, '-q', '-z', 'conv,tcp'], { encoding: 'utf8' });
  const convs = new Map<string, number>();
  for (const line of out.split('\n')) {
    const m = /^(\S+):(\d+)\s+<->\s+(\S+):(\d+)\s+(\d+)\s+\S+\s+\S+\s+(\d+)/.exec(line.trim());
    if (!m) continue;
    const key = [`${m[1]}:${m[2]}`, `${m[3]}:${m[4]}`].sort().join(' ');
    convs.set(key, (convs.get(key) ?? 0) + Number(m[5]) + Number(m[6]));
  }
  return convs;
}

for (const name of ['tcpdump-geneve.pcap', 'tcpdump-mptcp-v1.pcap', 'tcpdump-tcp-handshake-nano.pcap', 'arkime-wireshark-retrans.pcap']) {
  test(`TCP conversations and their packet counts agree with tshark: ${name}`, async () => {
    const path = sharedCapture(name);
    const expected = tsharkConversations(path);
    assert.ok(expected.size > 0);
    const { entries } = await dissectFile(path);
    const seen = new Map<string, number>();
    for (const e of entries.filter((x) => x.transport === 'tcp')) {
      const key = [`${e.src.ip}:${e.src.port}`, `${e.dst.ip}:${e.dst.port}`].sort().join(' ');
      if (e.protocol === 'tcp') seen.set(key, (seen.get(key) ?? 0) + e.request!.packets + e.response!.packets);
      else if (!seen.has(key)) seen.set(key, -1); // claimed by a protocol dissector
    }
    for (const [key, frames] of expected) {
      assert.ok(seen.has(key), `${name}: conversation ${key} missing`);
      const got = seen.get(key)!;
      if (got >= 0) assert.equal(got, frames, `${name}: ${key} frames`);
    }
  });
}

test('VXLAN is decapsulated: the inner hosts appear, not the tunnel endpoints', async () => {
  const { entries } = await dissectFile(sharedCapture('zeek-vxlan-encapsulated-http.pcap'));
  const tcp = entries.filter((e) => e.transport === 'tcp');
  assert.ok(tcp.length >= 1);
  const inner = execFileSync('tshark', ['-r', sharedCapture('zeek-vxlan-encapsulated-http.pcap'), '-T', 'fields', '-e', 'ip.dst', '-Y', 'tcp'], { encoding: 'utf8' });
  // tshark lists outer,inner destination addresses; the inner one is last on each line.
  const innerDsts = new Set(inner.trim().split('\n').map((l) => l.split(',').pop()));
  for (const e of tcp) assert.ok(innerDsts.has(e.dst.ip) || innerDsts.has(e.src.ip), `unexpected endpoint ${e.dst.ip}`);
});

test('IPv6 fragments are reassembled (DNS over fragmented UDP)', async () => {
  const { entries } = await dissectFile(sharedCapture('zeek-ipv6-fragmented-dns.pcap'));
  const udp = entries.filter((e) => e.transport === 'udp');
  assert.ok(udp.length >= 1);
  const big = udp.reduce((m, e) => Math.max(m, e.responseSize), 0);
  assert.ok(big > 1280, `largest response ${big} bytes should exceed one fragment`);
});

test('unanswered requests are emitted when the capture ends', async () => {
  const { entries } = await dissectFile(sharedCapture('deepflow-kafka-00-produce-v2.pcap'));
  assert.ok(entries.length >= 1);
});

test('a DNS conversation ends at the reply that leaves nothing pending, and the socket\'s next query starts afresh', () => {
  const question = Buffer.from([1, 0x61, 7, ...Buffer.from('example'), 0, 0, 1, 0, 1]); // a.example A IN
  const query = (id: number) => Buffer.concat([Buffer.from([id >> 8, id & 255, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]), question]);
  const answer = (id: number) =>
    Buffer.concat([Buffer.from([id >> 8, id & 255, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]), question, Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 18, 0, 9])]);
  const out: Entry[] = [];
  const engine = new DissectionEngine({}, (e) => out.push(e as Entry));
  const T = 1_700_000_000_000;
  let frame = 0;
  const send = (at: number, from: 1 | 2, body: Buffer) => engine.push(udpPacket(T + at, ++frame, from, from === 1 ? 40000 : 53, from === 1 ? 53 : 40000, body));
  // A and AAAA-style: two queries in flight on one socket; the conversation lives until both are answered.
  send(0, 1, query(1));
  send(1, 1, query(2));
  send(2, 2, answer(1));
  assert.equal(engine.flowCount, 1, 'a query still waits: the conversation stays');
  send(3, 2, answer(2));
  assert.equal(engine.flowCount, 0, 'every query answered: the conversation ended at once, not at the next tick');
  // The same ports 5 ms later: a new conversation, paired as before.
  send(5, 1, query(3));
  assert.equal(engine.flowCount, 1);
  send(6, 2, answer(3));
  assert.equal(engine.flowCount, 0);
  engine.finish();
  assert.deepEqual(
    out.map((e) => [e.summary, e.elapsedTime, e.warnings ?? []]),
    [
      ['A a.example → 198.18.0.9', 2, []],
      ['A a.example → 198.18.0.9', 2, []],
      ['A a.example → 198.18.0.9', 1, []],
    ],
  );
});

test('a TCP connection whose only data the capture lost: its entry says so (gap) and how many bytes each way, from the FINs', () => {
  // As in a lossy capture of lab traffic: the handshake, ACKs and FINs seen, the 114-byte request and 339-byte answer not.
  const out: Entry[] = [];
  const engine = new DissectionEngine({}, (e) => out.push(e as Entry));
  const seq: Record<1 | 2, number> = { 1: 1000, 2: 5000 };
  let frame = 0;
  const send = (from: 1 | 2, flags: number, len = 0): void => {
    const to = from === 1 ? 2 : 1;
    const b = ipv4Packet(from, 6, from === 1 ? 40000 : 7777, from === 1 ? 7777 : 40000, 20, Buffer.alloc(0));
    b.writeUInt32BE(seq[from], 24);
    b.writeUInt32BE(seq[to], 28);
    b[32] = 0x50;
    b[33] = flags;
    engine.push({ tsSec: 1_700_000_000, tsNsec: ++frame * 1000, linkType: LinkType.RAW, data: b, origLen: b.length, interfaceId: 0, frame });
    seq[from] += len;
  };
  const [FIN, SYN, ACK] = [0x01, 0x02, 0x10];
  send(1, SYN, 1);
  send(2, SYN | ACK, 1);
  send(1, ACK);
  seq[1] += 114; // the request, lost
  send(2, ACK);
  seq[2] += 339; // the answer, lost
  send(1, ACK);
  send(2, FIN | ACK, 1);
  send(1, FIN | ACK, 1);
  send(2, ACK);
  engine.finish();
  assert.equal(out.length, 1);
  const e = out[0];
  assert.equal(e.protocol, 'tcp');
  assert.deepEqual(e.warnings, ['gap']);
  assert.equal(e.request!.lostBytes, 114);
  assert.equal(e.response!.lostBytes, 339);
  assert.equal(e.requestSize, 0);
  assert.equal(e.summary, 'TCP 0 B → 0 B (453 B lost)');
  assert.equal(engine.summary()['tcp.gap_bytes'], 453);
});
