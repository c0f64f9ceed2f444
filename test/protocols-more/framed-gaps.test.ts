// The protocols whose answers pair with their requests by id (MongoDB, CQL,
// LDAP, Diameter, Kafka), or by channel and method (AMQP), after a lost segment, on the shared captures: each data
// segment in turn is replaced by a gap, as the engine reports a hole. Reading
// resumes at the first segment that starts with a message, so the calls whose
// request and answer came after that point in their directions are those of
// the whole capture, and no call is paired with another's answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mongodb } from '../../src/dissect/protocols/mongodb.js';
import { cql } from '../../src/dissect/protocols/cql.js';
import { ldap } from '../../src/dissect/protocols/ldap.js';
import { diameter } from '../../src/dissect/protocols/diameter.js';
import { kafka } from '../../src/dissect/protocols/kafka.js';
import { amqp } from '../../src/dissect/protocols/amqp.js';
import type { CallRecord, ProtocolDissector } from '../../src/dissect/api.js';
import { sharedCapture } from '../helpers/paths.js';
import { feedWithGap, makeContext, tcpSegments, type Segment } from './helpers.js';

const CASES: Array<{ dissector: ProtocolDissector; port: number; files: string[] }> = [
  { dissector: mongodb, port: 27017, files: ['deepflow-mongo-scram-opmsg-checksum.pcap', 'arkime-mongo-op-query.pcap', 'mongotools-op-compressed.pcap'] },
  { dissector: cql, port: 9042, files: ['cqltrace-cql-v3-simple.pcap'] },
  { dissector: ldap, port: 389, files: ['suricata-ldap-search.pcap', 'zeek-ldap-who-am-i.pcap'] },
  { dissector: diameter, port: 3868, files: ['arkime-diameter-sctp-tcp.pcap'] },
  { dissector: kafka, port: 9092, files: ['ndpi-kafka.pcapng', 'deepflow-kafka-00-produce-v2.pcap'] },
  { dissector: amqp, port: 5672, files: ['deepflow-amqp1.pcap', 'ndpi-amqp.pcap', 'lab-bookinfo-mix.pcap'] },
];

/** A call by its frames and its answer (a request's text may depend on a message the loss took: CQL's PREPARE). */
const call = (r: CallRecord): string => `${r.requestFrame}>${r.responseFrame ?? '-'} ${r.summary.split(' → ')[1] ?? ''}`;

for (const { dissector, port, files } of CASES) {
  test(`${dissector.name} after a lost segment: calls after the next message in each direction are as without the loss`, () => {
    let gaps = 0;
    for (const file of files) {
      const segments = tcpSegments(sharedCapture(file), { decodeAs: [`tcp.port==${port},${dissector.name === 'mongodb' ? 'mongo' : dissector.name}`] }).filter(
        (s) => s.payload.length > 0 && (s.srcPort === port || s.dstPort === port),
      );
      for (const stream of new Set(segments.map((s) => s.stream))) {
        const list = segments.filter((s) => s.stream === stream);
        const full = feedWithGap(dissector, list, port);
        const fullCalls = new Set(full.map(call));
        for (let lost = 1; lost < list.length; lost++) {
          const gone = list[lost];
          const records = feedWithGap(dissector, list, port, lost);
          // Where each direction reads again: the lost one at its next segment that the probe knows, the other at once.
          const lostDir = gone.dstPort === port ? 'c2s' : 's2c';
          const resume = list.slice(lost + 1).find((s) => (s.dstPort === port ? 'c2s' : 's2c') === lostDir && knows(dissector, s));
          const resumeAt = resume?.frame ?? Infinity;
          const unaffected = (r: CallRecord, dir: 'c2s' | 's2c', frame: number | undefined): boolean =>
            frame === undefined || frame < gone.frame || dir !== lostDir || frame >= resumeAt;
          const expected = full.filter(
            (r) =>
              r.request !== null && r.response !== null &&
              (r.requestFrame ?? 0) > gone.frame && (r.responseFrame ?? 0) > gone.frame &&
              unaffected(r, 'c2s', r.requestFrame) && unaffected(r, 's2c', r.responseFrame),
          );
          const got = new Set(records.map(call));
          for (const r of expected) assert.ok(got.has(call(r)), `${file}: lost frame ${gone.frame}: missing ${call(r)}`);
          // No call is made up: a call the whole capture does not have is one the loss damaged.
          for (const r of records) {
            if (fullCalls.has(call(r))) continue;
            assert.ok(r.request === null || r.response === null || r.warnings?.length, `${file}: lost frame ${gone.frame}: made up ${call(r)}`);
          }
          gaps++;
        }
      }
    }
    assert.ok(gaps > 0, String(gaps));
  });
}

/** Whether a segment starts with a message the dissector's probe recognises. */
function knows(dissector: ProtocolDissector, s: Segment): boolean {
  const verdict = dissector.probe(s.payload, true);
  return verdict === 'request' || verdict === 'response' || verdict === 'stream';
}

/** Every segment as a snap length keeps it: its first `keep` payload bytes, then the rest reported lost. */
function feedCut(dissector: ProtocolDissector, list: Segment[], port: number, keep: number): CallRecord[] {
  const records: CallRecord[] = [];
  const ctx = makeContext(records, {});
  const parser = dissector.createTcpParser!(ctx);
  for (const s of list) {
    ctx.now = s.time;
    ctx.frame = s.frame;
    const dir = s.dstPort === port ? 'c2s' : 's2c';
    parser.onData(dir, s.payload.subarray(0, keep));
    if (s.payload.length > keep) parser.onGap(dir, s.payload.length - keep);
  }
  parser.onEnd('eof');
  return records;
}

test('length-prefixed protocols under a snap length: a message cut keeps the framing, so every call pairs as in the whole capture, each cut one saying gap', () => {
  // tcpdump -s 96 with TCP timestamps keeps 30 bytes of payload; 60 bytes: a wider snap length.
  for (const { dissector, port, files } of CASES.filter((c) => ['diameter', 'ldap', 'mongodb', 'cql'].includes(c.dissector.name))) {
    for (const file of files) {
      const segments = tcpSegments(sharedCapture(file), { decodeAs: [`tcp.port==${port},${dissector.name === 'mongodb' ? 'mongo' : dissector.name}`] }).filter(
        (s) => s.payload.length > 0 && (s.srcPort === port || s.dstPort === port),
      );
      for (const stream of new Set(segments.map((s) => s.stream))) {
        const list = segments.filter((s) => s.stream === stream);
        // Messages that span segments lose their later segments whole: only single-segment messages are compared.
        if (list.some((s, i) => i > 0 && list[i - 1].dstPort === s.dstPort)) continue;
        const whole = feedWithGap(dissector, list, port).filter((r) => r.request !== null && r.response !== null);
        for (const keep of [30, 60]) {
          const cut = feedCut(dissector, list, port, keep);
          const frames = (r: CallRecord) => `${r.requestFrame}>${r.responseFrame}`;
          const got = new Map(cut.map((r) => [frames(r), r]));
          for (const r of whole) {
            const c = got.get(frames(r));
            assert.ok(c, `${file} -s ${keep}: call ${frames(r)} ${r.summary} missing: ${cut.map((x) => `${frames(x)} ${x.summary}`).join(' | ')}`);
            const touched = list.some((s) => (s.frame === r.requestFrame || s.frame === r.responseFrame) && s.payload.length > keep);
            if (touched) assert.ok(c.warnings?.includes('gap'), `${file} -s ${keep}: ${frames(r)} ${JSON.stringify(c.warnings)}`);
          }
        }
      }
    }
  }
});

test('requests whose answers the capture does not hold say unanswered as HTTP and DNS say it, not the one-way wording (MongoDB, CQL, LDAP)', () => {
  for (const { dissector, port, files } of CASES.slice(0, 3)) {
    const file = files[files.length - 1];
    // The client's segments alone: every request that expects an answer is left without one.
    const segments = tcpSegments(sharedCapture(file), { decodeAs: [`tcp.port==${port},${dissector.name === 'mongodb' ? 'mongo' : dissector.name}`] }).filter((s) => s.payload.length > 0 && s.dstPort === port);
    const records = [...new Set(segments.map((s) => s.stream))].flatMap((stream) => feedWithGap(dissector, segments.filter((s) => s.stream === stream), port));
    const unanswered = records.filter((r) => r.error && r.warnings?.includes('unanswered'));
    assert.ok(unanswered.length > 0, `${file}: no unanswered calls`);
    for (const r of unanswered) assert.match(r.summary, / → unanswered$/, `${file}: ${r.summary}`);
  }
});
