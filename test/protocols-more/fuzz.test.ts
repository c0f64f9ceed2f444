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
import { HpackDecoder, huffmanDecode } from '../../src/dissect/protocols/hpack.js';
import { decodeProtobuf } from '../../src/dissect/protocols/protobuf.js';
import { parseOperations } from '../../src/dissect/protocols/graphql.js';
import { repoRoot, sharedCapture } from '../helpers/paths.js';
import { conversations, fuzzDissector, seededRandom, tcpSegments } from './helpers.js';

const fixture = (name: string): string => join(repoRoot, 'test', 'fixtures', 'captures', name);

const corpora: Array<{ dissector: ProtocolDissector; files: string[]; cases: number }> = [
  { dissector: http2, files: [fixture('lab-grpc.pcap'), fixture('lab-h2c.pcap'), sharedCapture('arkime-http2-nghttp2.pcap')], cases: 1500 },
  { dissector: postgresql, files: [fixture('lab-pgsql.pcap')], cases: 1500 },
  { dissector: mysql, files: [fixture('lab-mysql.pcap')], cases: 1500 },
  { dissector: kafka, files: [sharedCapture('ndpi-kafka.pcapng'), sharedCapture('deepflow-kafka-00-produce-v2.pcap')], cases: 1500 },
  { dissector: amqp, files: [sharedCapture('deepflow-amqp1.pcap'), sharedCapture('ndpi-amqp.pcap')], cases: 1500 },
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
  const all = [http2, postgresql, mysql, kafka, amqp];
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
  }
});
