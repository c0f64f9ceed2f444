// TLS records split across many TCP segments, with segments lost inside
// records: decryption finds the next record after each loss, and the HTTP
// call the lost bytes belonged to says so (`gap`), also when the lost record
// was the last of its direction (no record after it to resync on), where the
// call used to end as if the server had stopped sending (`truncated`).
// Sessions made here by node's TLS (OpenSSL), TLS 1.2 and 1.3.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DissectionEngine } from '../../src/dissect/engine.js';
import { TlsKeyLog } from '../../src/dissect/tls/keylog.js';
import type { Entry } from '../../src/model/entry.js';
import type { Packet } from '../../src/model/packet.js';
import { Wire } from '../helpers/engine-wire.js';
import { tlsConversation } from '../helpers/tls-session.js';

const BODY = 40_000;
/** Each TCP segment of the conversation cut into pieces of this size. */
const PIECE = 1000;

/** The server's records (type and stream offset) in the bytes it sent. */
function records(stream: Buffer): Array<{ type: number; at: number; length: number }> {
  const out = [];
  for (let at = 0; at + 5 <= stream.length; at += 5 + stream.readUInt16BE(at + 3)) out.push({ type: stream[at], at, length: 5 + stream.readUInt16BE(at + 3) });
  return out;
}

for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
  test(`${version}: records split over many segments, one lost inside a middle record and one inside the last record: each call that lost bytes says gap`, async () => {
    const wire = new Wire();
    const exchanges = [1, 2, 3].map((i) => ({ request: `GET /r${i} HTTP/1.1\r\nHost: svc\r\n\r\n`, response: `HTTP/1.1 200 OK\r\nContent-Length: ${BODY}\r\n\r\n${String(i).repeat(BODY)}` }));
    const { keylog } = await tlsConversation(wire, { atMs: 1000, sport: 40_001, dport: 443, exchanges, client: { minVersion: version, maxVersion: version }, server: { minVersion: version, maxVersion: version } });
    const fromServer = (p: Packet): boolean => p.data[15] === 2;
    const serverStream = Buffer.concat(wire.packets.filter(fromServer).map((p) => p.data.subarray(40)));
    // Each response is three records (16 KiB, 16 KiB, the rest): the last nine application records.
    const app = records(serverStream).filter((r) => r.type === 23);
    assert.ok(app.length >= 9, `${app.length} application records`);
    const middleOfR2 = app[app.length - 5];
    const lastOfR3 = app[app.length - 1];
    const lose = [middleOfR2.at + (middleOfR2.length >> 1), lastOfR3.at + (lastOfR3.length >> 1)];
    const packets: Packet[] = [];
    let serverAt = 0;
    let lost = 0;
    for (const p of wire.packets) {
      const payload = p.data.subarray(40);
      const seq = p.data.readUInt32BE(24);
      for (let o = 0; o < payload.length; o += PIECE) {
        const part = payload.subarray(o, o + PIECE);
        if (fromServer(p) && lose.some((x) => serverAt + o <= x && x < serverAt + o + part.length)) {
          lost++;
          continue;
        }
        const head = Buffer.from(p.data.subarray(0, 40));
        head.writeUInt16BE(40 + part.length, 2);
        head.writeUInt32BE(seq + o, 24);
        const data = Buffer.concat([head, part]);
        packets.push({ ...p, data, origLen: data.length, frame: packets.length + 1 });
      }
      if (fromServer(p)) serverAt += payload.length;
    }
    assert.equal(lost, 2);
    const log = new TlsKeyLog();
    log.addText(keylog.join('\n'), (line, why) => assert.fail(`${line}: ${why}`));
    const entries: Entry[] = [];
    const engine = new DissectionEngine({ tlsKeys: log }, (e) => entries.push(e));
    for (const p of packets) engine.push(p);
    engine.finish();
    const c = engine.summary();
    const calls = entries.map((e) => `${e.protocol} ${e.request?.path} ${e.response?.status} ${e.response?.bodySize} ${(e.warnings ?? []).join(',')}`);
    assert.deepEqual(calls, [`http /r1 200 ${BODY} `, `http /r2 200 ${BODY} gap`, `http /r3 200 ${BODY} gap`]);
    assert.ok(entries.every((e) => e.tls === true));
    // Both losses counted: each a gap in the ciphertext, one record lost in each.
    assert.equal(c['tcp.gaps'], 2, JSON.stringify(c));
    assert.equal(c['tls.decrypt-gap'], 2, JSON.stringify(c));
    assert.equal(c['tls.records-lost-in-gap'], 2, JSON.stringify(c));
    assert.equal(c['http.gap'], 2, JSON.stringify(c));
    assert.equal(c['tls.undecryptable'], undefined);
  });
}
