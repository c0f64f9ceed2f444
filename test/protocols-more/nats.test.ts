// NATS on the shared captures. tshark 4.0 has no NATS dissector, so the
// oracle is tshark's TCP payloads: every control line (by its frame) must be
// an operation in our entries, in the frame tshark saw it. Then request/reply
// pairing through reply subjects, verbose +OK acknowledgements, PING/PONG,
// headers, -ERR, credentials and gaps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dissectFile } from '../helpers/dissect.js';
import { sharedCapture } from '../helpers/paths.js';
import { makeContext, tshark } from './helpers.js';
import { NatsParser, probeNats } from '../../src/dissect/protocols/nats.js';
import type { CallRecord } from '../../src/dissect/api.js';
import { createRedactor } from '../../src/redact/entry.js';
import { dissectPacketList, readCapture, readPcap } from '../helpers/pcap-edit.js';

const OP_LINE = /^(INFO|CONNECT|PUB|HPUB|SUB|UNSUB|MSG|HMSG|PING|PONG|\+OK|-ERR)(?=[ \t]|$)/;

function tsharkOps(file: string): string[] {
  const rows = tshark(['-r', file, '-Y', 'tcp.len>0 && !tcp.analysis.retransmission', '-T', 'fields', '-e', 'frame.number', '-e', 'tcp.payload']);
  const ops: string[] = [];
  for (const row of rows) {
    const [frame, hex] = row.split('\t');
    for (const line of Buffer.from(hex.replace(/:/g, ''), 'hex').toString('latin1').split('\r\n')) {
      const m = OP_LINE.exec(line);
      if (m) ops.push(`${frame} ${m[1]}`);
    }
  }
  return ops.sort();
}

for (const file of ['deepflow-nats-headers.pcap', 'deepflow-nats-nrpc1.pcap', 'ndpi-nats.pcap']) {
  test(`NATS ${file}: every operation tshark's payloads hold, in its frame`, async () => {
    const path = sharedCapture(file);
    const { entries, error } = await dissectFile(path);
    assert.equal(error, undefined);
    assert.ok(entries.length > 0);
    // Was a plain tcp flow before the NATS dissector (nrpc1 is a modified-pcap file: magic a1b2cd34).
    assert.deepEqual([...new Set(entries.map((e) => e.protocol))], ['nats']);
    const ours: string[] = [];
    for (const e of entries) {
      ours.push(`${e.frames!.request} ${e.request!.op}`);
      if (e.response) ours.push(`${e.frames!.response} ${e.response.op}`);
    }
    assert.deepEqual(ours.sort(), tsharkOps(path));
    for (const e of entries) assert.ok(!e.warnings?.some((w) => w.startsWith('malformed') || w === 'gap'), e.summary);
  });
}

test('NATS nRPC: the server\'s MSG with a reply subject pairs with the client\'s PUB on it', async () => {
  const { entries } = await dissectFile(sharedCapture('deepflow-nats-nrpc1.pcap'));
  const calls = entries.filter((e) => e.request!.op === 'MSG');
  assert.equal(calls.length, 2);
  for (const c of calls) {
    assert.equal(c.request!.from, 'server');
    assert.match(c.request!.replyTo, /^_INBOX\./);
    assert.equal(c.response!.op, 'PUB');
    assert.equal(c.response!.subject, c.request!.replyTo);
    assert.equal(c.response!.bodySize, 13);
    assert.equal(c.error, false);
    assert.ok(c.elapsedTime > 0);
  }
});

test('NATS headers capture: verbose +OK acknowledgements, HPUB headers, a request never answered', async () => {
  const { entries } = await dissectFile(sharedCapture('deepflow-nats-headers.pcap'));
  const hpub = entries.find((e) => e.request!.op === 'HPUB' && e.request!.subject === 'FRONT.DOOR')!;
  assert.deepEqual(hpub.request!.headers, { BREAKFAST: 'donut', LUNCH: 'burger' });
  assert.equal(hpub.request!.body, 'Knock Knock');
  assert.equal(hpub.request!.replyTo, 'JOKE.22');
  // Acknowledged, but nobody published on JOKE.22 in the capture.
  assert.equal(hpub.response!.op, '+OK');
  assert.deepEqual(hpub.warnings, ['unanswered']);
  // Its delivery back to the (subscribed) sender is a delivery, not a second request.
  const echo = entries.find((e) => e.request!.op === 'HMSG' && e.request!.subject === 'FRONT.DOOR')!;
  assert.equal(echo.error, false);
  assert.equal(entries.filter((e) => e.request!.op === 'SUB').every((e) => e.response!.op === '+OK'), true);
});

test('NATS: credentials masked in the dissector and at the output edge; -ERR; no responders 503; gaps resync', () => {
  const records: CallRecord[] = [];
  const counters: Record<string, number> = {};
  const ctx = makeContext(records, counters, { maxBody: 4, noBodies: false });
  const p = new NatsParser(ctx);
  assert.equal(probeNats(Buffer.from('INFO {"server_id":"x"}\r\n'), false), 'response');
  assert.equal(probeNats(Buffer.from('CONNECT host:443 HTTP/1.1\r\n'), false), false);
  assert.equal(probeNats(Buffer.from('PUB a 1\r\n'), false), false);
  p.onData('s2c', Buffer.from('INFO {"server_id":"S","version":"2.9.0","auth_required":true}\r\n'));
  p.onData('c2s', Buffer.from('CONNECT {"verbose":true,"user":"bob","pass":"hunter22","auth_token":"tok-1","jwt":"eyJ.x.y","sig":"c2ln"}\r\n'));
  p.onData('s2c', Buffer.from('+OK\r\n'));
  p.onData('c2s', Buffer.from('SUB _INBOX.abc.* 9\r\n'));
  p.onData('s2c', Buffer.from('+OK\r\n'));
  p.onData('c2s', Buffer.from('PUB svc.echo _INBOX.abc.1 11\r\nhello world\r\n'));
  p.onData('s2c', Buffer.from('+OK\r\nHMSG _INBOX.abc.1 9 16 16\r\nNATS/1.0 503\r\n\r\n\r\n'));
  p.onData('c2s', Buffer.from('PUB bad..subject 0\r\n\r\n'));
  p.onData('s2c', Buffer.from("-ERR 'Invalid Publish Subject'\r\n"));
  p.onGap('c2s', 10);
  p.onData('c2s', Buffer.from('lo world\r\n')); // the rest of a lost payload: skipped
  p.onData('c2s', Buffer.from('PING\r\n'));
  p.onData('s2c', Buffer.from('PONG\r\n'));
  p.onEnd();
  assert.deepEqual(records.map((r) => `${r.summary} ${r.error}`), [
    'INFO S 2.9.0 → (no response) false',
    'CONNECT → +OK false',
    'SUB _INBOX.abc.* → +OK false',
    'PUB svc.echo → HMSG _INBOX.abc.1 503 true',
    'PUB bad..subject → -ERR Invalid Publish Subject true',
    'PING → PONG false',
  ]);
  const connect = records[1].request!.connect;
  assert.deepEqual([connect.user, connect.pass, connect.auth_token, connect.jwt, connect.sig], ['bob', '***', '***', '***', '***']);
  assert.doesNotMatch(JSON.stringify(records), /hunter22|tok-1|eyJ/);
  assert.equal(records[3].request!.body, 'hell');
  assert.equal(records[3].request!.bodyTruncated, true);
  assert.equal(records[3].response!.ack, '+OK');
  assert.equal(records[5].warnings?.includes('gap'), true);
  assert.equal(counters['nats.resync_skipped'], 10);
  // An entry from elsewhere with a clear-text password: the output edge masks it too.
  const redact = createRedactor();
  const e = redact({ protocol: 'nats', request: { op: 'CONNECT', connect: { pass: 'p4ssword-x' } }, response: null, summary: 'CONNECT' } as any);
  assert.equal(e.request!.connect.pass, '[REDACTED]');
});

test('NATS captured after its CONNECT: a verbose connection pairs each operation with its +OK, a quiet one leaves them one-way', async () => {
  // deepflow-nats-headers.pcap (verbose) from frame 13: SUB, HPUB, UNSUB … each acknowledged, the CONNECT not captured.
  const verbose = readPcap(sharedCapture('deepflow-nats-headers.pcap')).slice(12).map((p, i) => ({ ...p, frame: i + 1 }));
  const v = dissectPacketList(verbose);
  const summaries = v.entries.map((e) => e.summary);
  assert.ok(!summaries.some((s) => s.startsWith('+OK')), summaries.join(' | '));
  assert.deepEqual(summaries.slice(0, 3), ['SUB FOO → +OK', 'SUB FRONT.DOOR → +OK', 'HPUB FOO → +OK']);
  assert.equal(v.counters['nats.verbose_inferred'], 1);
  // A request (a reply subject) the server acknowledged but nobody answered: the summary says so, not only +OK.
  const request = v.entries.find((e) => e.request?.subject === 'FRONT.DOOR' && e.request?.op === 'HPUB');
  assert.equal(request?.summary, 'HPUB FRONT.DOOR → +OK, no reply');
  assert.deepEqual([request?.error, request?.warnings], [true, ['unanswered']]);
  // deepflow-nats-nrpc1.pcap (not verbose) from frame 11: the server's PING does not make the server the client,
  // and the client's operations, never acknowledged, are not reported unanswered.
  const quiet = (await readCapture(sharedCapture('deepflow-nats-nrpc1.pcap'))).slice(10).map((p, i) => ({ ...p, frame: i + 1 }));
  const q = dissectPacketList(quiet);
  assert.ok(q.entries.length >= 3, q.entries.map((e) => e.summary).join(' | '));
  for (const e of q.entries) {
    assert.equal(e.dst.port, 4222, e.summary);
    assert.equal(e.warnings, undefined, e.summary);
  }
});

test('NATS with no CONNECT read: operations wait for an +OK only until a PONG or two seconds show the server is not verbose', () => {
  const records: CallRecord[] = [];
  const ctx = makeContext(records, {});
  const p = new NatsParser(ctx);
  p.onData('c2s', Buffer.from('SUB a 1\r\nPING\r\n'));
  assert.equal(records.length, 0);
  p.onData('s2c', Buffer.from('PONG\r\n'));
  assert.deepEqual(records.map((r) => r.summary), ['SUB a → (no response)', 'PING → PONG']);
  p.onData('c2s', Buffer.from('PUB b 2\r\nhi\r\n'));
  p.onData('s2c', Buffer.from('+OK\r\n'));
  p.onEnd();
  // Quiet is known now: the +OK answers nothing waiting.
  assert.deepEqual(records.slice(2).map((r) => r.summary), ['PUB b → (no response)', '+OK → (no response)']);

  const later: CallRecord[] = [];
  const ctx2 = makeContext(later, {});
  const p2 = new NatsParser(ctx2);
  p2.onData('c2s', Buffer.from('PUB b 2\r\nhi\r\n'));
  p2.onTick(ctx2.now + 2_500, 30_000);
  assert.deepEqual(later.map((r) => `${r.summary} ${r.error}`), ['PUB b → (no response) false']);
});

test('NATS after lost bytes: reading resumes at the next operation line, and only the calls the loss touched say gap', () => {
  const records: CallRecord[] = [];
  const counters: Record<string, number> = {};
  const p = new NatsParser(makeContext(records, counters, { maxBody: 64, noBodies: false }));
  p.onData('s2c', Buffer.from('INFO {"server_id":"S"}\r\n'));
  p.onData('c2s', Buffer.from('CONNECT {}\r\nSUB a 1\r\nPUB a 5\r\nhello\r\n'));
  p.onData('c2s', Buffer.from('PING\r\n'));
  // The server's PONG and the start of a MSG are lost; the packet after them ends the MSG's payload, then a whole MSG.
  p.onGap('s2c', 17);
  p.onData('s2c', Buffer.from('llo\r\nMSG a 1 5\r\nworld\r\n'));
  p.onData('c2s', Buffer.from('PUB a 2\r\nhi\r\n'));
  p.onData('c2s', Buffer.from('PING\r\n'));
  p.onData('s2c', Buffer.from('PONG\r\nMSG a 1 2\r\nhi\r\n'));
  p.onEnd();
  const shown = records.map((r) => `${r.summary}${r.warnings?.includes('gap') ? ' [gap]' : ''}`);
  assert.deepEqual([...shown].sort(), [
    'INFO S → (no response)',
    'CONNECT → (no response)',
    'SUB a → (no response)',
    'PUB a → (no response)',
    'MSG a → (no response) [gap]', // the first operation read after the loss
    'PUB a → (no response)',
    'PING → PONG [gap]', // two PINGs, one PONG: which PING it answers is in doubt
    'MSG a → (no response)',
    'PING → unanswered [gap]', // its PONG was in the lost bytes
  ].sort(), [...shown].sort().join('\n'));
  assert.equal(records.find((r) => r.summary === 'MSG a → (no response)' && r.warnings?.includes('gap'))?.request?.body, 'world');
  assert.equal(counters['nats.resync_skipped'], 5);
});

test('NATS verbose: the +OK of an operation lost from the capture comes alone and says gap, as does the first operation read after the loss', () => {
  const records: CallRecord[] = [];
  const p = new NatsParser(makeContext(records, {}, { maxBody: 64, noBodies: false }));
  p.onData('s2c', Buffer.from('INFO {"server_id":"S"}\r\n'));
  p.onData('c2s', Buffer.from('CONNECT {"verbose":true}\r\n'));
  p.onData('s2c', Buffer.from('+OK\r\n'));
  p.onGap('c2s', 11); // SUB a 1\r\n … lost
  p.onData('s2c', Buffer.from('+OK\r\n'));
  p.onData('c2s', Buffer.from('SUB b 2\r\n'));
  p.onData('s2c', Buffer.from('+OK\r\n'));
  p.onEnd();
  assert.deepEqual(records.map((r) => `${r.summary} ${JSON.stringify(r.warnings ?? [])}`), [
    'INFO S → (no response) []',
    'CONNECT → +OK []',
    '+OK → (no response) ["gap"]',
    'SUB b → +OK ["gap"]',
  ]);
});

test('NATS: a malformed control line is said on the operation read after it, not on every later call of the connection (nats-server lab)', () => {
  const records: CallRecord[] = [];
  const counters: Record<string, number> = {};
  const ctx = makeContext(records, counters);
  const p = new NatsParser(ctx);
  p.onData('c2s', Buffer.from('CONNECT {"verbose":false}\r\nPING\r\n'));
  p.onData('s2c', Buffer.from('PONG\r\n'));
  p.onData('c2s', Buffer.from('PUB bad subject with spaces 1\r\nx\r\nSUB a 1\r\nPING\r\n'));
  p.onData('s2c', Buffer.from('PONG\r\n'));
  p.onData('c2s', Buffer.from('UNSUB 1\r\nPING\r\n'));
  p.onData('s2c', Buffer.from('PONG\r\n'));
  p.onEnd();
  const bad = 'malformed: bad control line "PUB bad subject with spaces 1"';
  assert.deepEqual(records.map((r) => [r.summary, r.warnings]), [
    ['CONNECT → (no response)', undefined],
    ['PING → PONG', undefined],
    ['SUB a → (no response)', [bad]],
    ['PING → PONG', undefined],
    ['UNSUB 1 → (no response)', undefined],
    ['PING → PONG', undefined],
  ]);
  assert.equal(counters['nats.malformed'], 1);
  // Many malformed lines in one packet: each skipped in turn (no recursion), the operation after them read.
  const more: CallRecord[] = [];
  const counted: Record<string, number> = {};
  const ctx2 = makeContext(more, counted);
  const q = new NatsParser(ctx2);
  q.onData('c2s', Buffer.from('CONNECT {"verbose":false}\r\n' + 'PUB a b c d\r\n'.repeat(10_000) + 'PING\r\n'));
  q.onData('s2c', Buffer.from('PONG\r\n'));
  assert.equal(counted['nats.malformed'], 10_000);
  assert.deepEqual(more.map((r) => [r.summary, r.warnings]), [['CONNECT → (no response)', undefined], ['PING → PONG', ['malformed: bad control line "PUB a b c d"']]]);
});
