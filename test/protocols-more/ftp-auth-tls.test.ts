// FTP's control connection with AUTH TLS (RFC 4217): the clear commands paired
// with their replies (a multi-line greeting and FEAT), then the TLS session
// the server's 234 starts: its tls entry, or with the client's key log the FTP
// calls inside (PBSZ, PROT, USER, PASS, a RETR with its preliminary 150). The
// TLS is a real session (node's OpenSSL) written as segments of a synthetic
// capture; tshark, given the same key log, is the oracle for the commands;
// the password never reaches the output.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wire } from '../helpers/engine-wire.js';
import { writeRawPcap } from '../helpers/pcap-wire.js';
import { tlsConversation } from '../helpers/tls-session.js';
import { dissectFile } from '../helpers/dissect.js';
import { tsharkFields } from '../protocols/helpers.js';
import { ftp } from '../../src/dissect/protocols/ftp.js';
import { TlsKeyLog } from '../../src/dissect/tls/keylog.js';
import { fuzzDissector } from './helpers.js';

const SECRET = 'hunter2-ftp-secret';

const CLEAR: Array<[1 | 2, string]> = [
  [2, '220-Welcome to the archive\r\n220 ProFTPD Server ready.\r\n'],
  [1, 'FEAT\r\n'],
  [2, '211-Features:\r\n AUTH TLS\r\n PBSZ\r\n PROT\r\n MDTM\r\n211 End\r\n'],
  [1, 'AUTH TLS\r\n'],
  [2, '234 AUTH TLS successful\r\n'],
];
const INSIDE = [
  { request: 'PBSZ 0\r\n', response: '200 PBSZ 0 successful\r\n' },
  { request: 'PROT P\r\n', response: '200 Protection set to Private\r\n' },
  { request: 'USER bob\r\n', response: '331 Password required for bob\r\n' },
  { request: `PASS ${SECRET}\r\n`, response: '230 User bob logged in\r\n' },
  { request: 'RETR notes.txt\r\n', response: '150 Opening BINARY mode data connection for notes.txt (42 bytes)\r\n226 Transfer complete\r\n' },
  { request: 'RETR missing.txt\r\n', response: '550 missing.txt: No such file or directory\r\n' },
  { request: 'QUIT\r\n', response: '221 Goodbye.\r\n' },
];

let dir: string;
let pcap: string;
let keys: TlsKeyLog;
let keyFile: string;
const segments: Array<{ dir: 'c2s' | 's2c'; data: Buffer }> = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shark-ftp-'));
  const wire = new Wire();
  // Each segment's payload, for the fuzzer (no tshark run to read them back).
  const send = wire.send.bind(wire);
  wire.send = (atMs, from, sport, dport, payload) => {
    segments.push({ dir: from === 1 ? 'c2s' : 's2c', data: Buffer.from(payload) });
    send(atMs, from, sport, dport, payload);
  };
  let at = 1000;
  for (const [from, text] of CLEAR) wire.send(at++, from, from === 1 ? 41000 : 21, from === 1 ? 21 : 41000, text);
  const r = await tlsConversation(wire, { atMs: at + 10, sport: 41000, dport: 21, exchanges: INSIDE, client: { servername: 'ftp.example' } });
  pcap = join(dir, 'ftp.pcap');
  writeRawPcap(pcap, wire.packets);
  keys = new TlsKeyLog();
  keys.addText(r.keylog.join('\n') + '\n');
  keyFile = join(dir, 'ftp.keys');
  writeFileSync(keyFile, r.keylog.join('\n') + '\n');
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('ftp: AUTH TLS is followed: the clear calls, then the tls entry; with the key log the calls inside as tshark reads them, the password never shown', async () => {
  const clear = (await dissectFile(pcap)).entries as any[];
  assert.deepEqual(clear.map((e) => [e.protocol, e.request?.command ?? null, e.response?.code ?? null]), [
    ['ftp', null, 220], ['ftp', 'FEAT', 211], ['ftp', 'AUTH', 234], ['tls', null, null],
  ]);
  assert.deepEqual(clear[0].response.lines, ['ProFTPD Server ready.']);
  assert.deepEqual(clear[1].response.lines, ['AUTH TLS', 'PBSZ', 'PROT', 'MDTM', 'End']);
  assert.equal(clear[3].request.sni, 'ftp.example');

  const { entries } = await dissectFile(pcap, { tlsKeys: keys });
  const list = entries as any[];
  assert.equal(list.filter((e) => e.protocol === 'tls').length, 0, 'the session is decrypted, not kept as a tls entry');
  const inside = list.filter((e) => e.tls === true);
  assert.ok(inside.every((e) => e.protocol === 'ftp'));
  assert.deepEqual(inside.map((e) => [e.request.command, e.response.code, e.error]), [
    ['PBSZ', 200, false], ['PROT', 200, false], ['USER', 331, false], ['PASS', 230, false], ['RETR', 226, false], ['RETR', 550, true], ['QUIT', 221, false],
  ]);
  // tshark, decrypting with the same key log, reads the same commands inside TLS.
  const theirs = tsharkFields(pcap, 'tls && ftp.request', ['ftp.request.command'], ['-o', `tls.keylog_file:${keyFile}`]).flatMap((r) => r[0].split('|'));
  assert.deepEqual(inside.map((e) => e.request.command), theirs);
  const retr = inside[4];
  assert.deepEqual(retr.response.interim, ['150 Opening BINARY mode data connection for notes.txt (42 bytes)']);
  assert.equal(retr.summary, 'FTP RETR notes.txt → 226 Transfer complete');
  assert.equal(inside[3].request.args, '***');
  assert.ok(!JSON.stringify(entries).includes(SECRET), 'the password never shows');
});

test('ftp probe: a greeting on port 21 or naming FTP, its first commands on port 21; not an SMTP greeting', () => {
  const b = (s: string): Buffer => Buffer.from(s);
  assert.equal(ftp.probe!(b('220 ProFTPD Server ready.\r\n'), false), 'response');
  assert.equal(ftp.probe!(b('220 mx.example ESMTP ftp-free\r\n'), false), false);
  assert.equal(ftp.probe!(b('220 ready\r\n'), true), 'response');
  assert.equal(ftp.probe!(b('220 ready\r\n'), false), false);
  assert.equal(ftp.probe!(b('AUTH TLS\r\n'), true), 'request');
  assert.equal(ftp.probe!(b('AUTH TLS\r\n'), false), false);
  assert.equal(ftp.probe!(b('22'), true), 'need-more');
});

test('fuzz ftp: its conversation (clear, then TLS) mutated, nothing escapes', () => {
  const counters: Record<string, number> = {};
  assert.equal(fuzzDissector(ftp, [segments], 200, 0x5eed21, counters), 200);
});
