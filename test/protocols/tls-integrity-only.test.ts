// TLS 1.3 integrity-only suites (RFC 9150: TLS_SHA256_SHA256 0xC0B4,
// TLS_SHA384_SHA384 0xC0B5): the records carry their inner plaintext as is,
// followed by an HMAC. No TLS library on this machine speaks them (OpenSSL
// 3.0 does not; 3.5 does at security level 0), so the session is written
// here from RFC 9150 §5 and RFC 8446 §5.2, §7.3: key and IV are
// HKDF-Expand-Label(secret, "key"/"iv", hash length), the tag HMAC(key,
// nonce ‖ record header ‖ inner plaintext) (as Bouncy Castle's Tls13NullCipher
// does). With the secrets logged the HMACs are checked and the HTTP inside
// comes out; without, it is read as it is and says its MACs were not checked.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { Wire } from '../helpers/engine-wire.js';
import { writeRawPcap } from '../helpers/pcap-wire.js';
import { clientHello, encryptedExtensionsH3, serverHello } from '../helpers/quic-wire.js';
import { hkdfExpandLabel } from '../../src/dissect/tls/key-schedule.js';
import { cipherName } from '../../src/dissect/protocols/tls.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'shark-tls-9150-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const SUITES = [
  { code: 0xc0b4, name: 'TLS_SHA256_SHA256', hash: 'sha256' as const, len: 32 },
  { code: 0xc0b5, name: 'TLS_SHA384_SHA384', hash: 'sha384' as const, len: 48 },
];

const record = (type: number, body: Buffer): Buffer => Buffer.concat([Buffer.from([type, 3, 3, body.length >> 8, body.length & 0xff]), body]);

/** One direction's protection under a traffic secret: each record's tag over its nonce, header and inner plaintext. */
function protector(hash: 'sha256' | 'sha384', len: number, secret: Buffer, tamper = false): (type: number, data: Buffer) => Buffer {
  const key = hkdfExpandLabel(hash, secret, 'key', len);
  const iv = hkdfExpandLabel(hash, secret, 'iv', len);
  let seq = 0n;
  return (type, data) => {
    const inner = Buffer.concat([data, Buffer.from([type])]);
    const header = Buffer.from([23, 3, 3, (inner.length + len) >> 8, (inner.length + len) & 0xff]);
    const nonce = Buffer.from(iv);
    const s = Buffer.alloc(8);
    s.writeBigUInt64BE(seq++);
    for (let i = 0; i < 8; i++) nonce[len - 8 + i] ^= s[i];
    const tag = createHmac(hash, key).update(nonce).update(header).update(inner).digest();
    if (tamper) tag[0] ^= 1;
    return Buffer.concat([header, inner, tag]);
  };
}

/** A TLS 1.3 session with `suite` carrying one HTTP/1.1 call; the capture and its key log. */
function session(suite: (typeof SUITES)[number], opts: { tamper?: boolean } = {}): { pcap: string; keys: string } {
  const secret = () => randomBytes(suite.len);
  const [chts, shts, cats, sats] = [secret(), secret(), secret(), secret()];
  const crandom = randomBytes(32);
  const wire = new Wire();
  let at = 1_000;
  const c = (data: Buffer): void => wire.send(at++, 1, 40_100, 443, data);
  const s = (data: Buffer): void => wire.send(at++, 2, 443, 40_100, data);
  const serverHs = protector(suite.hash, suite.len, shts);
  const clientHs = protector(suite.hash, suite.len, chts);
  const clientApp = protector(suite.hash, suite.len, cats, opts.tamper);
  const serverApp = protector(suite.hash, suite.len, sats);
  const finished = Buffer.concat([Buffer.from([20, 0, 0, suite.len]), randomBytes(suite.len)]);
  c(record(22, clientHello(crandom, 'web', [suite.code], 'http/1.1')));
  s(Buffer.concat([record(22, serverHello(randomBytes(32), suite.code)), record(20, Buffer.from([1])), serverHs(22, Buffer.concat([encryptedExtensionsH3(false, 'http/1.1'), finished]))]));
  c(Buffer.concat([record(20, Buffer.from([1])), clientHs(22, finished), clientApp(23, Buffer.from('GET /integrity HTTP/1.1\r\nHost: web\r\n\r\n'))]));
  s(serverApp(23, Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')));
  const pcap = join(dir, `${suite.name}${opts.tamper ? '-tampered' : ''}.pcap`);
  const keys = join(dir, `${suite.name}.keys`);
  writeRawPcap(pcap, wire.packets);
  const r = crandom.toString('hex');
  const lines = [['CLIENT_HANDSHAKE_TRAFFIC_SECRET', chts], ['SERVER_HANDSHAKE_TRAFFIC_SECRET', shts], ['CLIENT_TRAFFIC_SECRET_0', cats], ['SERVER_TRAFFIC_SECRET_0', sats]] as const;
  writeFileSync(keys, lines.map(([label, v]) => `${label} ${r} ${v.toString('hex')}\n`).join(''));
  return { pcap, keys };
}

const entriesOf = (stdout: string): any[] => stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));

test('RFC 9150 suites with their secrets logged: the HMACs are checked and the HTTP inside comes out, warning-free', async () => {
  for (const suite of SUITES) {
    const { pcap, keys } = session(suite);
    for (const workers of ['1', '2']) {
      const r = await runCli(['dissect', '--workers', workers, '--tls-keylog', keys, pcap]);
      assert.equal(r.code, 0, r.stderr);
      const list = entriesOf(r.stdout);
      assert.deepEqual(list.map((e) => `${e.protocol} ${e.tls} ${e.request?.path} ${e.response?.status}`), ['http true /integrity 200'], `${suite.name}: ${r.stdout}`);
      assert.equal(list[0].warnings, undefined);
      assert.match(r.stderr, /TLS: 1 session decrypted$/m, suite.name);
    }
  }
});

test('RFC 9150 suites without a key: named in the tls hello, and the calls read as they are with the NULL-cipher warning', async () => {
  for (const suite of SUITES) {
    const { pcap } = session(suite);
    const r = await runCli(['dissect', pcap]);
    assert.equal(r.code, 0, r.stderr);
    const list = entriesOf(r.stdout);
    assert.deepEqual(list.map((e) => `${e.protocol} ${e.tls} ${e.request?.path} ${e.response?.status}`), ['http true /integrity 200'], `${suite.name}: ${r.stdout}`);
    assert.deepEqual(list[0].warnings, ['TLS NULL cipher: plaintext read as is, MAC not checked (no key)']);
    assert.match(r.stderr, /1 session with a NULL cipher \(not encrypted\) read as it is, MACs not checked/);
  }
  for (const suite of SUITES) assert.equal(cipherName(suite.code), suite.name);
});

test('RFC 9150: a record whose HMAC does not check under the logged key is not read', async () => {
  const { pcap, keys } = session(SUITES[0], { tamper: true });
  const r = await runCli(['dissect', '--tls-keylog', keys, pcap]);
  assert.equal(r.code, 0, r.stderr);
  const list = entriesOf(r.stdout);
  assert.ok(!list.some((e) => e.request?.path === '/integrity'), `the tampered request is not read: ${r.stdout}`);
  assert.deepEqual(list.map((e) => `${e.protocol} ${e.request?.path} ${e.response?.status}`), ['http undefined 200'], 'the answer, checked, comes out alone');
  assert.match(r.stderr, /1 direction stopped at an undecryptable record/);
});
