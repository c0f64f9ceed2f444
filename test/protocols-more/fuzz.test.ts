// Fuzzing: real conversations mutated (byte flips, truncation, junk, tiny
// pieces, gaps), seeded so failures reproduce. Nothing may throw or hang, and
// what comes out must still be JSON.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { ProtocolDissector } from '../../src/dissect/api.js';
import { http2 } from '../../src/dissect/protocols/http2.js';
import { postgresql } from '../../src/dissect/protocols/postgresql.js';
import { mysql } from '../../src/dissect/protocols/mysql.js';
import { kafka } from '../../src/dissect/protocols/kafka.js';
import { amqp } from '../../src/dissect/protocols/amqp.js';
import { mongodb } from '../../src/dissect/protocols/mongodb.js';
import { cql } from '../../src/dissect/protocols/cql.js';
import { ldap } from '../../src/dissect/protocols/ldap.js';
import { diameter } from '../../src/dissect/protocols/diameter.js';
import { radius } from '../../src/dissect/protocols/radius.js';
import { decodeBson } from '../../src/dissect/protocols/util/bson.js';
import { SnappyError, snappyDecompress, snappyFramedDecompress } from '../../src/dissect/protocols/util/snappy.js';
import { HpackDecoder, huffmanDecode } from '../../src/dissect/protocols/hpack.js';
import { decodeProtobuf } from '../../src/dissect/protocols/protobuf.js';
import { parseOperations } from '../../src/dissect/protocols/graphql.js';
import { repoRoot, sharedCapture } from '../helpers/paths.js';
import { conversations, fuzzDissector, makeContext, seededRandom, tcpSegments, tshark as tsharkLines } from './helpers.js';
import type { CallRecord } from '../../src/dissect/api.js';

const fixture = (name: string): string => join(repoRoot, 'test', 'fixtures', 'captures', name);
const SNAPPY_STREAM_ID = Buffer.from([0xff, 6, 0, 0, ...Buffer.from('sNaPpY')]);

const corpora: Array<{ dissector: ProtocolDissector; files: string[]; cases: number }> = [
  { dissector: http2, files: [fixture('lab-grpc.pcap'), fixture('lab-h2c.pcap'), sharedCapture('arkime-http2-nghttp2.pcap')], cases: 1500 },
  { dissector: postgresql, files: [fixture('lab-pgsql.pcap')], cases: 1500 },
  { dissector: mysql, files: [fixture('lab-mysql.pcap'), fixture('lab-mysql-compressed.pcap')], cases: 1500 },
  { dissector: kafka, files: [sharedCapture('ndpi-kafka.pcapng'), sharedCapture('deepflow-kafka-00-produce-v2.pcap'), fixture('lab-kafka-groups.pcap')], cases: 1500 },
  { dissector: amqp, files: [sharedCapture('deepflow-amqp1.pcap'), sharedCapture('ndpi-amqp.pcap')], cases: 1500 },
  { dissector: mongodb, files: [sharedCapture('deepflow-mongo-scram-opmsg-checksum.pcap'), sharedCapture('mongotools-op-compressed.pcap'), sharedCapture('arkime-mongo-op-query.pcap')], cases: 1500 },
  { dissector: cql, files: [sharedCapture('cqltrace-cql-v3-simple.pcap')], cases: 1500 },
  { dissector: ldap, files: [sharedCapture('zeek-ldap-who-am-i.pcap'), sharedCapture('suricata-ldap-search.pcap'), sharedCapture('zeek-ldap-simpleauth-gc-3268.pcap')], cases: 1500 },
  { dissector: diameter, files: [sharedCapture('arkime-diameter-sctp-tcp.pcap')], cases: 1500 },
];

for (const { dissector, files, cases } of corpora) {
  test(`fuzz ${dissector.name}: ${cases} mutated conversations, nothing escapes`, { timeout: 30_000 }, () => {
    const convs = files.flatMap((f) => conversations(tcpSegments(f)));
    assert.ok(convs.length > 0);
    const counters: Record<string, number> = {};
    assert.equal(fuzzDissector(dissector, convs, cases, 0x5eed + dissector.name.length, counters), cases);
    // The parsers' last-resort catch counts "<name>.internal": that would be a bug, not bad input.
    assert.equal(counters[`${dissector.name}.internal`] ?? 0, 0, JSON.stringify(counters));
  });
}

test('fuzz probes, HPACK, Huffman, protobuf and GraphQL text with random bytes', { timeout: 30_000 }, () => {
  const rnd = seededRandom(42);
  const all = [http2, postgresql, mysql, kafka, amqp, mongodb, cql, ldap, diameter, radius];
  for (let i = 0; i < 5000; i++) {
    const buf = Buffer.from(Array.from({ length: Math.floor(rnd() * 64) }, () => Math.floor(rnd() * 256)));
    for (const d of all) {
      const v = d.probe(buf, rnd() < 0.5);
      assert.ok(v === false || v === 'request' || v === 'response' || v === 'need-more');
    }
    const decoded = new HpackDecoder(rnd() < 0.5).decode(buf);
    assert.ok(Array.isArray(decoded.headers));
    huffmanDecode(buf);
    decodeProtobuf(buf);
    parseOperations(buf.toString('latin1'));
    // The bounded decoders behind MongoDB: malformed input is a thrown error of their own, never anything else.
    try {
      decodeBson(buf);
    } catch (e) {
      assert.ok(e instanceof Error && /BsonError|RangeError/.test(e.constructor.name), String(e));
    }
    for (const decode of [
      () => snappyDecompress(buf, 1 << 20),
      () => snappyDecompress(buf, 1 << 20, true),
      () => snappyFramedDecompress(Buffer.concat([SNAPPY_STREAM_ID, buf]), 1 << 20, rnd() < 0.5),
    ]) {
      try {
        decode();
      } catch (e) {
        assert.ok(e instanceof SnappyError, String(e));
      }
    }
  }
});

test('fuzz radius: 3000 mutated datagrams from the shared captures, nothing escapes, the output is JSON', { timeout: 30_000 }, () => {
  const datagrams = ['tcpdump-radius-access-challenge.pcap', 'zeek-radius-localhost.pcap'].flatMap((f) =>
    tsharkPayloads(sharedCapture(f)),
  );
  assert.ok(datagrams.length > 10);
  const rnd = seededRandom(0x4ad1);
  const records: CallRecord[] = [];
  const counters: Record<string, number> = {};
  for (let c = 0; c < 3000; c++) {
    const ctx = makeContext(records, counters);
    const parser = radius.createUdpParser!(ctx);
    for (let i = 0; i < 4; i++) {
      const d = Buffer.from(datagrams[Math.floor(rnd() * datagrams.length)]);
      for (let f = 0; f < 1 + Math.floor(rnd() * 6); f++) d[Math.floor(rnd() * d.length)] = Math.floor(rnd() * 256);
      const cut = rnd() < 0.3 ? d.subarray(0, Math.floor(rnd() * d.length)) : d;
      radius.probe(cut, rnd() < 0.5);
      parser.onDatagram(rnd() < 0.5 ? 'c2s' : 's2c', cut);
      ctx.now += 100;
      parser.onTick?.(ctx.now, 150);
    }
    parser.onEnd('eof');
  }
  JSON.stringify(records);
  assert.ok(records.length > 0);
});

/** UDP payloads of a capture, via tshark. */
function tsharkPayloads(file: string): Buffer[] {
  return tsharkLines(['-r', file, '-Y', 'udp', '-T', 'fields', '-e', 'udp.payload']).map((h) => Buffer.from(h.replace(/:/g, ''), 'hex'));
}
