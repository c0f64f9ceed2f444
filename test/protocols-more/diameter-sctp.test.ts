// Diameter over TCP and SCTP, HTTP over SCTP and SIGTRAN over SCTP against
// tshark on the shared captures, and synthetic SCTP associations through the
// engine for what the captures lack: DATA out of TSN order, a message in three
// fragments interleaved with another stream's, a retransmitted chunk, a hole
// that never fills. No Diameter server is in Debian; the captures are the proof.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeAvps, diameter, probeDiameter } from '../../src/dissect/protocols/diameter.js';
import { LinkType, type Packet } from '../../src/model/packet.js';
import type { Entry } from '../../src/model/entry.js';
import { DissectionEngine } from '../../src/dissect/engine.js';
import { sharedCapture } from '../helpers/paths.js';
import { dissectFile } from '../helpers/dissect.js';
import { ipv4Packet } from '../helpers/pcap-wire.js';
import { tsharkFields } from '../protocols/helpers.js';
import { makeContext } from './helpers.js';
import type { CallRecord } from '../../src/dissect/api.js';

test('Diameter over TCP and SCTP: command, flags, application, hop-by-hop, Result-Code, Session-Id and Origin-Host agree with tshark', async () => {
  const file = sharedCapture('arkime-diameter-sctp-tcp.pcap');
  const rows = tsharkFields(file, 'diameter', ['frame.number', 'diameter.cmd.code', 'diameter.flags.request', 'diameter.hopbyhopid', 'diameter.applicationId', 'diameter.Result-Code', 'diameter.Session-Id', 'diameter.Origin-Host', 'sctp.srcport']);
  assert.equal(rows.length, 8);
  const { entries, error } = await dissectFile(file);
  assert.equal(error, undefined);
  const ours = entries.filter((e) => e.protocol === 'diameter');
  assert.equal(ours.length, 4);
  const byFrame = new Map<number, { m: Record<string, any>; e: Entry }>();
  for (const e of ours) {
    byFrame.set(e.frames!.request, { m: e.request!, e });
    byFrame.set(e.frames!.response!, { m: e.response!, e });
    assert.equal(e.request!.hopByHop, e.response!.hopByHop);
  }
  for (const [frame, code, request, hbh, app, result, session, origin, sctpPort] of rows) {
    const got = byFrame.get(Number(frame));
    assert.ok(got, `frame ${frame}`);
    const { m, e } = got;
    assert.equal(m.commandCode, Number(code));
    assert.equal(m.command.endsWith('R'), request === '1');
    assert.equal(`0x${m.hopByHop}`, hbh);
    assert.equal(m.applicationId, Number(app));
    assert.equal(m.resultCode ?? '', result === '' ? '' : Number(result));
    assert.equal(m.sessionId ?? '', session);
    assert.equal(m.avps['Origin-Host'], origin);
    assert.equal(e.transport, sctpPort ? 'sctp' : 'tcp');
  }
  assert.deepEqual(ours.map((e) => e.summary), [
    'CER Diameter Common Messages → 2001 DIAMETER_SUCCESS',
    'CCR 3GPP Gx INITIAL_REQUEST → 2001 DIAMETER_SUCCESS',
    'ULR 3GPP S6a/S6d → 2001 DIAMETER_SUCCESS',
    'ACR Diameter Base Accounting → 2001 DIAMETER_SUCCESS',
  ]);
});

test('HTTP over SCTP: requests, statuses and body sizes agree with tshark; an unanswered INIT is an sctp flow entry', async () => {
  const file = sharedCapture('arkime-sctp-http.pcap');
  const reqs = tsharkFields(file, 'http.request', ['frame.number', 'http.request.uri']);
  const resps = tsharkFields(file, 'http.response', ['frame.number', 'http.response.code', 'http.content_length']);
  const { entries, error } = await dissectFile(file);
  assert.equal(error, undefined);
  const http = entries.filter((e) => e.protocol === 'http');
  assert.deepEqual(http.map((e) => `${e.frames!.request} ${e.request!.path}`), reqs.map(([f, uri]) => `${f} ${uri}`));
  assert.deepEqual(http.map((e) => `${e.response!.status} ${e.response!.bodySize}`), resps.map(([, code, len]) => `${code} ${len}`));
  assert.ok(http.every((e) => e.transport === 'sctp' && !e.warnings));
  // A response is complete on the last DATA chunk of its body (an E flag, the last before the
  // association's next request), as over TCP; its body comes in several fragmented messages.
  const chunks = tsharkFields(file, 'sctp.chunk_type == 0', ['frame.number', 'sctp.srcport', 'sctp.dstport', 'sctp.data_e_bit']);
  const lastOfResponse = http.map((e) => {
    const next = http.find((o) => o.src.port === e.src.port && o.frames!.request > e.frames!.request)?.frames!.request ?? Infinity;
    const ends = chunks.filter(([f, sp, dp, endBit]) => Number(sp) === e.dst.port && Number(dp) === e.src.port && endBit === '1' && Number(f) < next);
    return Number(ends.at(-1)![0]);
  });
  assert.deepEqual(http.map((e) => e.frames!.response), lastOfResponse);
  assert.ok(http.every((e) => e.frames!.response! - e.frames!.request > 5), 'each body is fragmented');
  const flows = entries.filter((e) => e.protocol === 'sctp');
  assert.equal(flows.length, 1);
  // An INIT sent again and again to a host that never answered.
  const inits = tsharkFields(file, 'sctp.chunk_type == 1', ['ip.dst']).filter(([dst]) => dst === flows[0].dst.ip);
  assert.equal(flows[0].request!.chunks.INIT, inits.length);
  assert.equal(flows[0].request!.messages, 0);
  assert.equal(flows[0].response!.packets, 0);
});

test('SCTP carrying M3UA/SCCP: no dissector claims it, one sctp entry per association with tshark\'s DATA chunk counts', async () => {
  const file = sharedCapture('suricata-sctp-m3ua-sccp.pcap');
  const rows = tsharkFields(file, 'sctp', ['sctp.srcport', 'sctp.dstport', 'sctp.chunk_type']);
  const { entries, error } = await dissectFile(file);
  assert.equal(error, undefined);
  assert.ok(entries.every((e) => e.protocol === 'sctp' && e.transport === 'sctp'));
  const perFlow = new Map<string, number>();
  for (const [sp, dp, types] of rows) {
    const key = [sp, dp].sort().join('-');
    perFlow.set(key, (perFlow.get(key) ?? 0) + types.split('|').filter((t) => t === '0').length);
  }
  const ours = new Map(entries.map((e) => [[String(e.src.port), String(e.dst.port)].sort().join('-'), e.request!.dataChunks + e.response!.dataChunks]));
  assert.deepEqual(ours, perFlow);
  assert.deepEqual(entries.map((e) => e.request!.ppids), [[3], [3]], 'M3UA payload protocol id');
});

// ---------------------------------------------------------------- synthetic associations

function crcLessSctp(src: 1 | 2, sport: number, dport: number, chunks: Buffer[]): Buffer {
  const body = Buffer.concat(chunks);
  return ipv4Packet(src, 132, sport, dport, 12, body);
}

function chunk(type: number, flags: number, value: Buffer): Buffer {
  const len = 4 + value.length;
  const b = Buffer.alloc(len + ((4 - (len % 4)) % 4));
  b[0] = type;
  b[1] = flags;
  b.writeUInt16BE(len, 2);
  value.copy(b, 4);
  return b;
}

function data(tsn: number, stream: number, flags: number, payload: Buffer, ppid = 46): Buffer {
  const v = Buffer.alloc(12 + payload.length);
  v.writeUInt32BE(tsn, 0);
  v.writeUInt16BE(stream, 4);
  v.writeUInt32BE(ppid, 8);
  payload.copy(v, 12);
  return chunk(0, flags, v);
}

function init(type: 1 | 2, tsn: number): Buffer {
  const v = Buffer.alloc(16);
  v.writeUInt32BE(0x1234, 0);
  v.writeUInt32BE(65535, 4);
  v.writeUInt16BE(4, 8);
  v.writeUInt16BE(4, 10);
  v.writeUInt32BE(tsn, 12);
  return chunk(type, 0, v);
}

/** A Diameter message of `code` with a Session-Id AVP padded to `size` bytes. */
function diameterMessage(request: boolean, code: number, hbh: number, session: string, resultCode?: number): Buffer {
  const avps: Buffer[] = [];
  const avp = (c: number, v: Buffer): void => {
    const len = 8 + v.length;
    const b = Buffer.alloc(len + ((4 - (len % 4)) % 4));
    b.writeUInt32BE(c, 0);
    b[4] = 0x40;
    b.writeUIntBE(len, 5, 3);
    v.copy(b, 8);
    avps.push(b);
  };
  avp(263, Buffer.from(session));
  if (resultCode !== undefined) {
    const v = Buffer.alloc(4);
    v.writeUInt32BE(resultCode);
    avp(268, v);
  }
  const body = Buffer.concat(avps);
  const h = Buffer.alloc(20);
  h[0] = 1;
  h.writeUIntBE(20 + body.length, 1, 3);
  h[4] = request ? 0xc0 : 0x40;
  h.writeUIntBE(code, 5, 3);
  h.writeUInt32BE(4, 8);
  h.writeUInt32BE(hbh, 12);
  h.writeUInt32BE(hbh + 1, 16);
  return Buffer.concat([h, body]);
}

/** Packets one second apart, or at the given milliseconds. */
function run(packets: Buffer[], ms?: number[]): { entries: Entry[]; counters: Record<string, number> } {
  const entries: Entry[] = [];
  const engine = new DissectionEngine({}, (e) => entries.push(e));
  packets.forEach((data, i) => {
    const at = ms ? 1_000_000 + ms[i] : (1000 + i) * 1000;
    const p: Packet = { tsSec: Math.floor(at / 1000), tsNsec: (at % 1000) * 1e6, linkType: LinkType.RAW, data, origLen: data.length, interfaceId: 0, frame: i + 1 };
    engine.push(p);
  });
  engine.finish();
  return { entries, counters: engine.summary() };
}

test('SCTP reassembly: TSN order restored, fragments joined per stream, retransmissions dropped, a lasting hole given up and counted', () => {
  const big = diameterMessage(true, 272, 100, 'session-big;' + 'x'.repeat(3000));
  const small = diameterMessage(true, 280, 200, 'dwr');
  const [f1, f2, f3] = [big.subarray(0, 1000), big.subarray(1000, 2000), big.subarray(2000)];
  const { entries, counters } = run([
    crcLessSctp(1, 40000, 3868, [init(1, 10)]),
    crcLessSctp(2, 3868, 40000, [init(2, 500)]),
    // TSN 10, 11, 13 (fragments of stream 1) around 12 (a whole message on stream 2), delivered out of order, 11 twice.
    crcLessSctp(1, 40000, 3868, [data(11, 1, 0, f2)]),
    crcLessSctp(1, 40000, 3868, [data(10, 1, 0x02, f1), data(12, 2, 0x03, small)]),
    crcLessSctp(1, 40000, 3868, [data(11, 1, 0, f2)]),
    crcLessSctp(1, 40000, 3868, [data(13, 1, 0x01, f3)]),
    crcLessSctp(2, 3868, 40000, [data(501, 2, 0x03, diameterMessage(false, 280, 200, 'dwr', 2001)), data(500, 1, 0x03, diameterMessage(false, 272, 100, 'session-big', 5030))]),
    crcLessSctp(1, 40000, 3868, [chunk(7, 0, Buffer.alloc(4))]),
  ]);
  assert.deepEqual(entries.map((e) => `${e.transport} ${e.summary} ${e.error}`), [
    'sctp CCR Diameter Credit Control → 5030 DIAMETER_USER_UNKNOWN true',
    'sctp DWR Diameter Credit Control → 2001 DIAMETER_SUCCESS false',
  ]);
  // Joined from three fragments (then cut at the 1,024 characters an AVP value keeps).
  assert.equal(entries[0].request!.sessionId, ('session-big;' + 'x'.repeat(3000)).slice(0, 1023) + '…');
  assert.equal(entries[0].requestSize, big.length);
  assert.equal(entries[0].src.port, 40000, 'the INIT sender is the client');
  assert.equal(counters['sctp.retransmitted_chunks'], 1);
  // A hole (TSN 20 never arrives) with more chunks behind it than are held: skipped, counted, dissection resumes.
  const packets = [crcLessSctp(1, 40001, 3868, [data(19, 0, 0x03, diameterMessage(true, 280, 1, 'a'))])];
  for (let t = 21; t < 21 + 600; t++) packets.push(crcLessSctp(1, 40001, 3868, [data(t, 0, 0x03, diameterMessage(true, 280, t, 'b'))]));
  const lossy = run(packets);
  assert.equal(lossy.counters['sctp.gaps'], 1);
  assert.equal(lossy.entries.length, 601);
  // Every message on either side of the hole is read (SCTP keeps message boundaries, so reading resumes after it).
  assert.deepEqual(lossy.entries.map((e) => Number.parseInt(e.request!.hopByHop, 16)), [1, ...Array.from({ length: 600 }, (_, i) => 21 + i)]);
});

test('Diameter probe and parser edges: other protocols refused, 1-byte pieces, a gap ends the direction', () => {
  const req = diameterMessage(true, 280, 7, 'dwr');
  const ans = diameterMessage(false, 280, 7, 'dwr', 2001);
  assert.equal(probeDiameter(req, false), 'request');
  assert.equal(probeDiameter(ans, false), 'response');
  assert.equal(probeDiameter(Buffer.from('GET / HTTP/1.1\r\n\r\n'), true), false);
  assert.equal(probeDiameter(Buffer.from([1, 0, 0, 20, 0x0f, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), true), false, 'reserved flag bits');
  const records: CallRecord[] = [];
  const counters: Record<string, number> = {};
  const parser = diameter.createTcpParser!(makeContext(records, counters));
  for (let i = 0; i < req.length; i++) parser.onData('c2s', req.subarray(i, i + 1));
  for (let i = 0; i < ans.length; i++) parser.onData('s2c', ans.subarray(i, i + 1));
  parser.onData('c2s', diameterMessage(true, 280, 8, 'dwr'));
  parser.onGap('s2c', 40);
  parser.onEnd('eof');
  assert.deepEqual(records.map((r) => `${r.summary} ${r.warnings ?? ''}`), ['DWR Diameter Credit Control → 2001 DIAMETER_SUCCESS ', 'DWR Diameter Credit Control → unanswered gap,unanswered']);
});

test('Diameter over SCTP: an answer recorded just before its request (-i any) pairs with it; one whose request comes too late is an answer alone', () => {
  const { entries, counters } = run([
    crcLessSctp(1, 40003, 3868, [init(1, 10)]),
    crcLessSctp(2, 3868, 40003, [init(2, 500)]),
    crcLessSctp(2, 3868, 40003, [data(500, 0, 0x03, diameterMessage(false, 272, 9, 's9', 2001))]),
    crcLessSctp(1, 40003, 3868, [data(10, 0, 0x03, diameterMessage(true, 272, 9, 's9'))]),
    // 500 ms between answer and request: past the wait, an answer alone and an unanswered request.
    crcLessSctp(2, 3868, 40003, [data(501, 0, 0x03, diameterMessage(false, 280, 10, 'dwr', 2001))]),
    crcLessSctp(1, 40003, 3868, [data(11, 0, 0x03, diameterMessage(true, 280, 10, 'dwr'))]),
  ], [0, 1, 10, 50, 100, 600]);
  assert.deepEqual(entries.map((e) => [e.summary, e.frames, e.elapsedTime, e.warnings]), [
    ['CCR Diameter Credit Control → 2001 DIAMETER_SUCCESS', { request: 4, response: 3 }, 0, undefined],
    ['DWR Diameter Credit Control → 2001 DIAMETER_SUCCESS', { request: 5, response: 5 }, 0, ['request not captured']],
    ['DWR Diameter Credit Control → unanswered', { request: 6 }, 0, ['unanswered']],
  ]);
  assert.equal(entries[0].request!.hopByHop, entries[0].response!.hopByHop);
  assert.equal(counters['diameter.answer_before_request'], 1);
});

function sack(cumTsn: number): Buffer {
  const v = Buffer.alloc(12);
  v.writeUInt32BE(cumTsn, 0);
  v.writeUInt32BE(65535, 4);
  return chunk(3, 0, v);
}

test('SCTP loss: a request chunk the server acknowledged but the capture missed makes its answer say gap, counted; later calls pair clean', () => {
  const { entries, counters } = run([
    crcLessSctp(1, 40002, 3868, [init(1, 10)]),
    crcLessSctp(2, 3868, 40002, [init(2, 500)]),
    // TSN 10 (a CCR, hop-by-hop 1) never reaches the capture; the server acknowledges it and answers.
    crcLessSctp(2, 3868, 40002, [sack(10), data(500, 0, 0x03, diameterMessage(false, 272, 1, 's1', 2001))]),
    crcLessSctp(1, 40002, 3868, [sack(500), data(11, 0, 0x03, diameterMessage(true, 280, 2, 'dwr'))]),
    crcLessSctp(2, 3868, 40002, [sack(11), data(501, 0, 0x03, diameterMessage(false, 280, 2, 'dwr', 2001))]),
  ]);
  assert.deepEqual(entries.map((e) => `${e.summary} ${JSON.stringify(e.warnings ?? [])}`), [
    'CCR Diameter Credit Control → 2001 DIAMETER_SUCCESS ["request not captured","gap"]',
    'DWR Diameter Credit Control → 2001 DIAMETER_SUCCESS []',
  ]);
  assert.equal(counters['sctp.lost_chunks'], 1);
  assert.equal(counters['sctp.gaps'], 1);
});

test('SCTP loss on an association no dissector reads: chunks held behind a hole are counted at the end, and the entry says what was lost', () => {
  const m3ua = (n: number) => data(n, 0, 0x03, Buffer.alloc(16, n), 3);
  const { entries, counters } = run([
    crcLessSctp(1, 2906, 6303, [init(1, 100)]),
    crcLessSctp(2, 6303, 2906, [init(2, 900)]),
    crcLessSctp(1, 2906, 6303, [m3ua(100)]),
    // TSN 101 is lost from the capture; 102 and 103 wait behind the hole, nothing acknowledges past it.
    crcLessSctp(1, 2906, 6303, [m3ua(102)]),
    crcLessSctp(1, 2906, 6303, [m3ua(103)]),
    crcLessSctp(2, 6303, 2906, [data(900, 0, 0x03, Buffer.alloc(16, 1), 3)]),
  ]);
  assert.equal(entries.length, 1);
  const e = entries[0];
  assert.equal(e.request!.messages, 3, 'the chunks after the hole are messages too');
  assert.equal(e.request!.lostChunks, 1);
  assert.deepEqual(e.warnings, ['gap']);
  assert.match(e.summary, /\(1 chunk lost\)$/);
  assert.equal(counters['sctp.lost_chunks'], 1);
});

test('SCTP under a snap length: a DATA chunk cut short is a lost chunk, said on the call its message belonged to and counted', () => {
  const request = crcLessSctp(1, 40003, 3868, [data(10, 0, 0x03, diameterMessage(true, 272, 1, 'session;' + 'x'.repeat(200)))]);
  const { entries, counters } = run([
    crcLessSctp(1, 40003, 3868, [init(1, 10)]),
    crcLessSctp(2, 3868, 40003, [init(2, 500)]),
    request.subarray(0, 20 + 12 + 16 + 30), // IP, SCTP common header, DATA chunk header, 30 bytes of the message
    crcLessSctp(2, 3868, 40003, [sack(10), data(500, 0, 0x03, diameterMessage(false, 272, 1, 's', 2001))]),
    crcLessSctp(1, 40003, 3868, [sack(500), data(11, 0, 0x03, diameterMessage(true, 280, 2, 'dwr'))]),
    crcLessSctp(2, 3868, 40003, [sack(11), data(501, 0, 0x03, diameterMessage(false, 280, 2, 'dwr', 2001))]),
  ]);
  assert.deepEqual(entries.map((e) => `${e.summary} ${JSON.stringify(e.warnings ?? [])}`), [
    'CCR Diameter Credit Control → 2001 DIAMETER_SUCCESS ["request not captured","gap"]',
    'DWR Diameter Credit Control → 2001 DIAMETER_SUCCESS []',
  ]);
  assert.equal(counters['sctp.truncated_chunks'], 1);
  assert.equal(counters['sctp.lost_chunks'], 1);
  // Cut on an association no dissector reads: its entry says truncated.
  const m3ua = crcLessSctp(1, 2906, 6303, [data(100, 0, 0x03, Buffer.alloc(64, 1), 3)]);
  const flow = run([crcLessSctp(1, 2906, 6303, [init(1, 100)]), crcLessSctp(2, 6303, 2906, [init(2, 900)]), m3ua.subarray(0, m3ua.length - 20)]);
  assert.deepEqual(flow.entries.map((e) => e.warnings), [['gap', 'truncated']]);
});

test('Diameter: 3GPP authentication vectors, Cx keys, the EAP master session key and EAP password answers are not kept; other AVPs stay', () => {
  const avp = (code: number, value: Buffer, vendor = 0) => {
    const hdr = vendor ? 12 : 8;
    const b = Buffer.alloc(hdr + value.length + ((4 - (value.length % 4)) % 4));
    b.writeUInt32BE(code, 0);
    b[4] = vendor ? 0xc0 : 0x40;
    b.writeUIntBE(hdr + value.length, 5, 3);
    if (vendor) b.writeUInt32BE(vendor, 8);
    value.copy(b, hdr);
    return b;
  };
  const tgpp = 10415;
  const vector = avp(1414, Buffer.concat([avp(1447, Buffer.from('visible-rand-16b'), tgpp), avp(1448, Buffer.from('xresSECRET1'), tgpp), avp(1450, Buffer.from('kasmeSECRET2-32-bytes-of-key-xx'), tgpp)]), tgpp);
  const body = Buffer.concat([
    avp(1, Buffer.from('visible-user')),
    avp(1413, vector, tgpp),
    avp(625, Buffer.from('ckSECRET3'), tgpp),
    avp(464, Buffer.from('mskSECRET4')),
    avp(462, Buffer.from([2, 9, 0, 15, 6, ...Buffer.from('gtcSECRET5')])),
    avp(462, Buffer.from([2, 8, 0, 17, 1, ...Buffer.from('visible-ident')])),
  ]);
  const out = decodeAvps(body, 0, body.length);
  const text = JSON.stringify(out);
  for (const s of ['xresSECRET1', 'kasmeSECRET2', 'ckSECRET3', 'mskSECRET4', 'gtcSECRET5']) {
    assert.ok(!text.includes(s) && !text.includes(Buffer.from(s).toString('hex').slice(0, 12)), `${s} kept`);
  }
  assert.equal(out['User-Name'], 'visible-user');
  assert.equal(out['AVP-10415-1413'], '[REDACTED]');
  assert.equal(out['AVP-464'], '[REDACTED]');
  assert.deepEqual(out['AVP-462'], ['[REDACTED]', Buffer.from([2, 8, 0, 17, 1, ...Buffer.from('visible-ident')]).toString('hex')]);
});

test('SCTP: a chunk whose hole was given up, recorded late, is counted late, not as a retransmission; a second copy of it is one', () => {
  const ccr = data(10, 0, 0x03, diameterMessage(true, 272, 1, 's1'));
  const { entries, counters } = run([
    crcLessSctp(1, 40003, 3868, [init(1, 10)]),
    crcLessSctp(2, 3868, 40003, [init(2, 500)]),
    // The server acknowledges TSN 10 and answers before the capture shows it: its hole is given up.
    crcLessSctp(2, 3868, 40003, [sack(10), data(500, 0, 0x03, diameterMessage(false, 272, 1, 's1', 2001))]),
    // TSN 10 recorded after all (another interface's copy, merged late), then once more.
    crcLessSctp(1, 40003, 3868, [ccr]),
    crcLessSctp(1, 40003, 3868, [ccr]),
  ]);
  assert.deepEqual(entries.map((e) => `${e.summary} ${JSON.stringify(e.warnings ?? [])}`), ['CCR Diameter Credit Control → 2001 DIAMETER_SUCCESS ["request not captured","gap"]']);
  assert.equal(counters['sctp.lost_chunks'], 1);
  assert.equal(counters['sctp.late_chunks'], 1);
  assert.equal(counters['sctp.retransmitted_chunks'], 1);
});
