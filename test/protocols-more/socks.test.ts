// SOCKS 4, 4a and 5 handshakes byte by byte as RFC 1928/1929 and the SOCKS 4
// documents write them (the lab test, test/protocols/tls-connect-lab.test.ts,
// has curl through a real proxy): one call per handshake, the password never
// kept, failures are errors, and after a granted CONNECT what the tunnel
// carries is dissected. Mutations of every conversation never throw.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CallRecord, ConnectionContext, Direction } from '../../src/dissect/api.js';
import { http1 } from '../../src/dissect/protocols/http1.js';
import { probeSocks, socks } from '../../src/dissect/protocols/socks.js';
import { fuzzDissector, makeContext } from './helpers.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wire } from '../helpers/engine-wire.js';
import { writeRawPcap } from '../helpers/pcap-wire.js';
import { runCli } from '../helpers/cli.js';

type Conversation = Array<{ dir: Direction; data: Buffer }>;
const c = (hex: string): { dir: Direction; data: Buffer } => ({ dir: 'c2s', data: Buffer.from(hex.replace(/ /g, ''), 'hex') });
const s = (hex: string): { dir: Direction; data: Buffer } => ({ dir: 's2c', data: Buffer.from(hex.replace(/ /g, ''), 'hex') });
const text = (dir: Direction, t: string) => ({ dir, data: Buffer.from(t, 'latin1') });
const name = (n: string) => Buffer.from([n.length, ...Buffer.from(n)]).toString('hex');

const CONVERSATIONS: Record<string, Conversation> = {
  // v5, no authentication, CONNECT to a named host, then HTTP/1.1 through the tunnel.
  v5Named: [
    c('05 01 00'), s('05 00'),
    c(`05 01 00 03 ${name('api.example')} 0050`), s('05 00 00 01 c6120001 9c40'),
    text('c2s', 'GET /health HTTP/1.1\r\nHost: api.example\r\n\r\n'), text('s2c', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'),
  ],
  // v5 with username/password (RFC 1929), CONNECT to an IPv6 address, refused.
  v5AuthRefused: [
    c('05 02 00 02'), s('05 02'),
    c(`01 ${name('alice')} ${name('hunter2-socks')}`), s('01 00'),
    c('05 01 00 04 20010db8000000000000000000000001 01bb'), s('05 05 00 01 00000000 0000'),
  ],
  // v5, the proxy accepts no method.
  v5NoMethod: [c('05 01 02'), s('05 ff')],
  // v5, bad credentials.
  v5BadPassword: [c('05 01 02'), s('05 02'), c(`01 ${name('bob')} ${name('wrong-socks-pw')}`), s('01 01')],
  // SOCKS 4 CONNECT with a user id, granted; SOCKS 4a with a host name, rejected.
  v4: [c(`04 01 1f90 c6120002 ${Buffer.from('carol\0').toString('hex')}`), s('00 5a 0000 00000000'), text('c2s', 'PING\r\n')],
  v4a: [c(`04 01 01bb 00000001 00 ${Buffer.from('db.example\0').toString('hex')}`), s('00 5b 0000 00000000')],
};

function run(conv: Conversation, pieces = false): { calls: CallRecord[]; counters: Record<string, number> } {
  const calls: CallRecord[] = [];
  const counters: Record<string, number> = {};
  const ctx = makeContext(calls, counters);
  // What the tunnel carries: the engine's probes, as in a real run (here only HTTP/1 is needed).
  (ctx as { tunnelParser?: ConnectionContext['tunnelParser'] }).tunnelParser = (data: Buffer) => (data.toString('latin1').startsWith('GET ') ? http1Parser(ctx) : undefined);
  const parser = socks.createTcpParser!(ctx);
  for (const m of conv) {
    ctx.now += 1;
    ctx.frame += 1;
    if (pieces) for (const b of m.data) parser.onData(m.dir, Buffer.from([b]));
    else parser.onData(m.dir, m.data);
  }
  parser.onEnd('fin');
  return { calls, counters };
}

const http1Parser = (ctx: ConnectionContext) => http1.createTcpParser!(ctx);

test('one call per handshake, as the client asked and the proxy answered; byte by byte the same', () => {
  for (const pieces of [false, true]) {
    const summaries = Object.fromEntries(Object.entries(CONVERSATIONS).map(([k, conv]) => [k, run(conv, pieces).calls.map((x) => `${x.summary}${x.error ? ' (error)' : ''}`)]));
    assert.deepEqual(summaries, {
      v5Named: ['CONNECT api.example:80 → succeeded', 'GET /health → 200'],
      v5AuthRefused: ['CONNECT 2001:db8::1:443 → connection refused (error)'],
      v5NoMethod: ['SOCKS → no acceptable methods (error)'],
      v5BadPassword: ['SOCKS → authentication failed (error)'],
      v4: ['CONNECT 198.18.0.2:8080 → granted'],
      v4a: ['CONNECT db.example:443 → rejected (error)'],
    }, `pieces: ${pieces}`);
  }
});

test('the user stays, the password never leaves the dissector; versions and bound addresses are read', () => {
  const [refused] = run(CONVERSATIONS.v5AuthRefused).calls;
  assert.equal(refused.request!.user, 'alice');
  assert.equal(refused.request!.password, '***');
  assert.ok(!JSON.stringify(run(CONVERSATIONS.v5BadPassword).calls).includes('wrong-socks-pw'));
  assert.ok(!JSON.stringify(refused).includes('hunter2'));
  const [named] = run(CONVERSATIONS.v5Named).calls;
  assert.deepEqual(named.request, { version: 5, methods: ['none'], method: 'none', command: 'CONNECT', host: 'api.example', port: 80 });
  assert.deepEqual(named.response, { reply: 'succeeded', code: 0, boundHost: '198.18.0.1', boundPort: 40000 });
  assert.equal(run(CONVERSATIONS.v4).calls[0].request!.user, 'carol');
  assert.equal(run(CONVERSATIONS.v4a).calls[0].request!.version, '4a');
});

test('a request the proxy never answers is unanswered; bytes that are not SOCKS are counted', () => {
  const { calls } = run([c('05 01 00'), s('05 00'), c(`05 01 00 03 ${name('slow.example')} 0050`)]);
  assert.deepEqual(calls.map((x) => [x.summary, x.warnings]), [['CONNECT slow.example:80 → unanswered', ['unanswered']]]);
  const bad = run([c('05 01 00'), s('07 00')]);
  assert.equal(bad.counters['socks.malformed'], 1);
});

test('probe: on the SOCKS port only, a whole greeting or SOCKS 4 request', () => {
  assert.equal(probeSocks(Buffer.from('050100', 'hex'), true), 'request');
  assert.equal(probeSocks(Buffer.from('050100', 'hex'), false), false);
  assert.equal(probeSocks(Buffer.from('0502', 'hex'), true), 'need-more');
  assert.equal(probeSocks(Buffer.from('05010000', 'hex'), true), false);
  assert.equal(probeSocks(Buffer.from('GET / HTTP/1.1\r\n'), true), false);
  assert.equal(probeSocks(Buffer.from('0401005000000001', 'hex'), true), 'need-more');
});

test('mutated, cut and re-split handshakes never throw', () => {
  const counters: Record<string, number> = {};
  assert.equal(fuzzDissector(socks, Object.values(CONVERSATIONS), 3000, 0x50c5, counters), 3000);
});

test('through the engine on port 1080: the socks flag and variables select handshakes; --list-protocols names socks', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shark-socks-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const w = new Wire();
  let at = 1_700_000_000_000;
  for (const [port, conv] of [[40001, CONVERSATIONS.v5Named], [40002, CONVERSATIONS.v4a], [40003, CONVERSATIONS.v5AuthRefused]] as const) {
    for (const m of conv) w.send((at += 5), m.dir === 'c2s' ? 1 : 2, m.dir === 'c2s' ? port : 1080, m.dir === 'c2s' ? 1080 : port, m.data);
  }
  const file = join(dir, 'socks.pcap');
  writeRawPcap(file, w.packets);
  const summaries = async (expr: string) => {
    const r = await runCli(['filter', expr, file]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l).summary);
  };
  assert.deepEqual(await summaries('socks'), ['CONNECT api.example:80 → succeeded', 'CONNECT db.example:443 → rejected', 'CONNECT 2001:db8::1:443 → connection refused']);
  assert.deepEqual(await summaries('socks_host == "api.example" && socks_port == 80'), ['CONNECT api.example:80 → succeeded']);
  assert.deepEqual(await summaries('socks_reply == "rejected" || socks_reply == "connection refused"'), ['CONNECT db.example:443 → rejected', 'CONNECT 2001:db8::1:443 → connection refused']);
  // The call inside the tunnel is an http entry of its own.
  assert.deepEqual(await summaries('http'), ['GET /health → 200']);
  const list = await runCli(['dissect', '--list-protocols']);
  assert.match(list.stdout, /^socks\ttcp\t1080\thttps:\/\/www\.rfc-editor\.org\/rfc\/rfc1928/m);
});
