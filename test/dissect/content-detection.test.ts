// Content detection claims what it can before falling back to `tcp`: TLS
// records seen mid-connection (no handshake captured) and DNS over TCP on any
// port — without claiming anything else (see the corpus-wide protocol check
// in test/golden/protocols-vs-tshark.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DissectionEngine } from '../../src/dissect/engine.js';
import { probeTls } from '../../src/dissect/protocols/tls.js';
import { dnsTcp } from '../../src/dissect/protocols/dns.js';
import { describeDecryption } from '../../src/dissect/tls/keylog.js';
import type { Entry } from '../../src/model/entry.js';
import type { Packet } from '../../src/model/packet.js';
import { Wire } from '../helpers/engine-wire.js';
import { dissectFile } from '../helpers/dissect.js';
import { sharedCapture } from '../helpers/paths.js';

function dissect(packets: Packet[]): Entry[] {
  const out: Entry[] = [];
  const engine = new DissectionEngine({}, (e) => out.push(e));
  for (const p of packets) engine.push(p);
  engine.finish();
  return out;
}

/** A TLS record header + `len` bytes of (pretend) ciphertext. */
function record(type: number, len: number, version = 0x0303): Buffer {
  const b = Buffer.alloc(5 + len, 0xa5);
  b[0] = type;
  b.writeUInt16BE(version, 1);
  b.writeUInt16BE(len, 3);
  return b;
}

test('TLS probe: consecutive record headers claim the stream (side unknown); anything less does not', () => {
  const two = Buffer.concat([record(23, 40), record(23, 17)]);
  assert.equal(probeTls(two, false), 'stream');
  assert.equal(probeTls(Buffer.concat([record(23, 40), record(21, 26).subarray(0, 5)]), false), 'stream');
  assert.equal(probeTls(record(23, 40), false), 'need-more', 'one record is not enough');
  assert.equal(probeTls(record(23, 40).subarray(0, 3), false), 'need-more');
  assert.equal(probeTls(Buffer.concat([record(23, 40), Buffer.from('GET / HTTP/1.1\r\n')]), false), false);
  assert.equal(probeTls(Buffer.concat([record(23, 40), record(23, 17, 0x0301)]), false), false, 'one record version per connection');
  assert.equal(probeTls(Buffer.concat([record(24, 40), record(23, 17)]), false), false, 'heartbeat is not among 20–23');
  assert.equal(probeTls(Buffer.concat([record(23, 40, 0x0300), record(23, 17, 0x0300)]), false), false, 'SSL 3.0 record layer');
  assert.equal(probeTls(Buffer.concat([record(23, 0), record(23, 17)]), false), false, 'empty record');
  assert.equal(probeTls(Buffer.from([0x17, 0x03, 0x03, 0x48, 0x01, 0, 0]), false), false, 'longer than 2^14 + 2048');
  assert.equal(probeTls(Buffer.from([0x17, 0x04]), false), false);
});

test('TLS probe on a TLS port: one application-data record ending where the bytes end is enough', () => {
  assert.equal(probeTls(record(23, 40), true), 'stream');
  assert.equal(probeTls(record(23, 40), false), 'need-more', 'not on another port');
  assert.equal(probeTls(record(23, 40).subarray(0, 30), true), 'need-more', 'the record not yet whole');
  assert.equal(probeTls(record(22, 40), true), 'need-more', 'a handshake record alone is not application data');
  assert.equal(probeTls(Buffer.concat([record(23, 40), Buffer.from('GET / HTTP/1.1')]), true), false);
});

test('TLS mid-connection on port 443, the server seen mid-record and the client in one record: tls, and the key log summary says why it was not decrypted', () => {
  const w = new Wire();
  // The capture starts inside a server record (its first bytes are ciphertext, no header); the client sends one record.
  w.send(5000, 2, 443, 41002, Buffer.alloc(1448, 0x5c));
  w.send(5001, 1, 41002, 443, record(23, 90));
  w.send(5002, 2, 443, 41002, Buffer.alloc(600, 0x5d));
  const counters: Record<string, number> = {};
  const entries: Entry[] = [];
  const engine = new DissectionEngine({}, (e) => entries.push(e));
  for (const p of w.packets) engine.push(p);
  engine.finish();
  Object.assign(counters, engine.summary());
  assert.deepEqual(entries.map((e) => [e.protocol, e.summary, e.src.port]), [['tls', 'TLS (handshake not captured)', 41002]]);
  assert.match(describeDecryption(counters), /; 1 captured without its handshake \(not decryptable\)$/);
});

test('TLS mid-connection on a port nobody registered: one tls entry, handshake not captured', () => {
  const w = new Wire();
  // No SYN seen; the client (port 52000) writes first, two records in one segment.
  w.send(5000, 1, 52000, 47443, Buffer.concat([record(23, 100), record(23, 30)]));
  w.send(5004, 2, 47443, 52000, record(23, 400));
  w.send(5005, 2, 47443, 52000, record(23, 400));
  w.send(5010, 1, 52000, 47443, record(21, 26));
  const entries = dissect(w.packets);
  assert.equal(entries.length, 1, JSON.stringify(entries));
  const [e] = entries;
  assert.equal(e.protocol, 'tls');
  assert.equal(e.summary, 'TLS (handshake not captured)');
  assert.deepEqual(e.request, { version: 'TLS 1.2', handshake: 'not captured' });
  assert.deepEqual(e.response, { version: 'TLS 1.2', handshake: 'not captured' });
  assert.deepEqual(e.warnings, ['handshake not captured']);
  assert.equal(e.error, false);
  assert.deepEqual([e.src.port, e.dst.port], [52000, 47443]);
  assert.deepEqual([e.timestamp, e.frames], [5000, { request: 1, response: 2 }]);
});

test('TLS: a real connection cut after its handshake (zeek-tls-chrome-34-google, frames 18-42) is still TLS', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'shark-tls-mid-'));
  try {
    const cut = join(dir, 'cut.pcap');
    execFileSync('editcap', ['-r', sharedCapture('zeek-tls-chrome-34-google.pcap'), cut, '18-42']);
    // tshark (port 443) says which frames carry application data each way: the first of each is our entry's.
    const rows = execFileSync('tshark', ['-r', cut, '-Y', 'tls.record.content_type == 23', '-T', 'fields', '-e', 'frame.number', '-e', 'tcp.srcport', '-e', 'frame.time_epoch'], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((l) => l.split('\t'));
    const firstFrom = (port: string) => rows.find((r) => r[1] === port)!;
    const { entries, error } = await dissectFile(cut);
    assert.equal(error, undefined);
    assert.equal(entries.length, 1);
    const [e] = entries;
    assert.equal(e.protocol, 'tls');
    assert.deepEqual([e.src.port, e.dst.port], [55881, 443]);
    assert.deepEqual(e.frames, { request: Number(firstFrom('55881')[0]), response: Number(firstFrom('443')[0]) });
    assert.equal(e.timestamp, Math.round(Number(firstFrom('55881')[2]) * 1e6) / 1e3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A DNS query (A, `name`) and its one-answer response, each with TCP's 2-byte length prefix. */
function dnsOverTcp(name: string): { query: Buffer; answer: Buffer } {
  const qname = Buffer.concat([...name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0])]);
  const question = Buffer.concat([qname, Buffer.from([0, 1, 0, 1])]);
  const q = Buffer.concat([Buffer.from([0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]), question]);
  const rr = Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 18, 7, 7]);
  const a = Buffer.concat([Buffer.from([0xbe, 0xef, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]), question, rr]);
  const prefix = (m: Buffer) => Buffer.concat([Buffer.from([m.length >> 8, m.length & 0xff]), m]);
  return { query: prefix(q), answer: prefix(a) };
}

test('DNS over TCP on any port: recognised from its length-prefixed header and question', () => {
  const { query, answer } = dnsOverTcp('db.shark.test');
  const w = new Wire();
  // Split query: the length prefix alone first, as some stub resolvers write it.
  w.send(7000, 1, 41000, 8053, query.subarray(0, 2));
  w.send(7001, 1, 41000, 8053, query.subarray(2));
  w.send(7003, 2, 8053, 41000, answer);
  const entries = dissect(w.packets);
  assert.equal(entries.length, 1, JSON.stringify(entries));
  const [e] = entries;
  assert.equal(e.protocol, 'dns');
  assert.equal(e.transport, 'tcp');
  assert.deepEqual(e.request?.questions, [{ name: 'db.shark.test', type: 'A', class: 'IN' }]);
  assert.equal(e.response?.answers[0].data, '198.18.7.7');
  assert.deepEqual([e.src.port, e.dst.port, e.timestamp, e.frames?.request], [41000, 8053, 7000, 1]);
});

test('DNS over TCP probe off port: the length must frame a whole, clean message', () => {
  const { query, answer } = dnsOverTcp('db.shark.test');
  assert.equal(dnsTcp.probe(query, false), 'request');
  assert.equal(dnsTcp.probe(answer, false), 'response');
  assert.equal(dnsTcp.probe(query.subarray(0, 20), false), 'need-more');
  const wrongLength = Buffer.from(query);
  wrongLength.writeUInt16BE(query.length - 4, 0);
  assert.equal(dnsTcp.probe(wrongLength, false), false, 'the length must end the message where the question ends');
  const badName = Buffer.from(query);
  badName[15] = 0x01; // a control byte inside the first label
  assert.equal(dnsTcp.probe(badName, false), false);
  const twoQuestions = Buffer.from(query);
  twoQuestions[7] = 2;
  assert.equal(dnsTcp.probe(twoQuestions, false), false);
  assert.equal(dnsTcp.probe(Buffer.from('\x00\x20GET / HTTP/1.1\r\nHost: x\r\n\r\n'), false), false);
  const w = new Wire();
  w.send(7000, 1, 41000, 8053, wrongLength);
  assert.deepEqual(dissect(w.packets).map((e) => e.protocol), ['tcp']);
});

test('TLS mid-connection: a TLS 1.2 encrypted Finished (handshake record, not a hello) first is not malformed', () => {
  const w = new Wire();
  const finished = record(22, 40);
  finished[5] = 0x9c; // ciphertext: not a hello's type
  w.send(6000, 1, 52001, 443, Buffer.concat([finished, record(23, 60)]));
  w.send(6003, 2, 443, 52001, Buffer.concat([record(20, 1), record(22, 40)]));
  const entries = dissect(w.packets);
  assert.deepEqual(entries.map((e) => [e.protocol, e.summary, e.warnings]), [['tls', 'TLS (handshake not captured)', ['handshake not captured']]]);
});
