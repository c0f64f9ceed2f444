// TLS 1.0–1.2 NULL-encryption suites (HMAC only): the plaintext travels as
// is. With the session's keys logged, its records' MACs are checked and the
// calls inside come out; without (no line for it, or no key log at all) they
// come out all the same, each saying its MACs were not checked, and the
// stderr line counts the session. A key that does not check is not ignored:
// the connection stays a tls entry. Sessions made here by node's TLS
// (OpenSSL) over an in-memory pipe; tshark reads the same calls.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { loadKeyLogFile } from '../../src/dissect/tls/keylog.js';
import { dissectPackets } from '../../src/dissect/dissect-packets.js';
import type { Packet } from '../../src/model/packet.js';
import { Wire } from '../helpers/engine-wire.js';
import { writeRawPcap } from '../helpers/pcap-wire.js';
import { tlsConversation } from '../helpers/tls-session.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'shark-tls-null-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const SUITES = [
  { openssl: 'NULL-SHA256', name: 'TLS_RSA_WITH_NULL_SHA256' },
  { openssl: 'ECDHE-RSA-NULL-SHA', name: 'TLS_ECDHE_RSA_WITH_NULL_SHA' },
  { openssl: 'NULL-MD5', name: 'TLS_RSA_WITH_NULL_MD5' },
];

const entriesOf = (stdout: string): any[] => stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
const calls = (stdout: string): string[] => entriesOf(stdout).map((e) => `${e.protocol} ${e.tls} ${e.request?.path ?? ''} ${e.response?.status ?? ''}`.trim());

/** Two HTTP/1.1 calls on one NULL-cipher session: the capture and the client's key log. */
async function record(suite: string): Promise<{ pcap: string; keys: string; packets: Packet[] }> {
  const wire = new Wire();
  const tlsOpts = { ciphers: `${suite}:@SECLEVEL=0`, maxVersion: 'TLSv1.2' as const };
  const { keylog, cipher } = await tlsConversation(wire, {
    atMs: 1_000,
    sport: 40_001,
    dport: 443,
    client: tlsOpts,
    server: tlsOpts,
    exchanges: ['/a', '/b'].map((path) => ({ request: `GET ${path} HTTP/1.1\r\nHost: web\r\n\r\n`, response: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok' })),
  });
  assert.ok(SUITES.some((s) => s.name === cipher), `the suite negotiated: ${cipher}`);
  const pcap = join(dir, `${suite}.pcap`);
  const keys = join(dir, `${suite}.keys`);
  writeRawPcap(pcap, wire.packets);
  writeFileSync(keys, `${keylog.join('\n')}\n`);
  return { pcap, keys, packets: wire.packets };
}

test('NULL cipher suites with their keys logged: the calls inside, MACs checked, as tshark reads them', async () => {
  for (const s of SUITES) {
    const { pcap, keys } = await record(s.openssl);
    const tshark = execFileSync('tshark', ['-r', pcap, '-o', `tls.keylog_file:${keys}`, '-Y', 'http.request', '-T', 'fields', '-e', 'http.request.uri'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    assert.deepEqual(tshark.trim().split('\n'), ['/a', '/b'], `${s.name}: tshark`);
    for (const workers of ['1', '2']) {
      const r = await runCli(['dissect', '--workers', workers, '--tls-keylog', keys, pcap]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(calls(r.stdout), ['http true /a 200', 'http true /b 200'], `${s.name}, ${workers} worker(s)`);
      assert.ok(entriesOf(r.stdout).every((e) => e.warnings === undefined), `${s.name}: checked, nothing to warn about`);
      assert.match(r.stderr, /TLS: 1 session decrypted$/m, s.name);
    }
  }
});

test('NULL cipher suites without a key: the calls are read as they are, each says its MAC was not checked, stderr counts the session', async () => {
  const { pcap, keys } = await record('NULL-SHA256');
  const otherKeys = join(dir, 'other.keys');
  writeFileSync(otherKeys, `CLIENT_RANDOM ${'11'.repeat(32)} ${'22'.repeat(48)}\n`);
  for (const args of [[], ['--tls-keylog', otherKeys], ['--workers', '2']]) {
    const r = await runCli(['dissect', ...args, pcap]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(calls(r.stdout), ['http true /a 200', 'http true /b 200'], args.join(' '));
    for (const e of entriesOf(r.stdout)) assert.deepEqual(e.warnings, ['TLS NULL cipher: plaintext read as is, MAC not checked (no key)']);
    assert.match(r.stderr, /TLS: 0 sessions decrypted; 1 session with a NULL cipher \(not encrypted\) read as it is, MACs not checked \(no key for them\)/, args.join(' '));
  }
  // A logged key its MACs do not check under: not taken as plaintext after all.
  const wrong = join(dir, 'wrong.keys');
  writeFileSync(wrong, readFileSync(keys, 'utf8').replace(/^(CLIENT_RANDOM [0-9a-f]{64} )[0-9a-f]{96}$/m, `$1${'5a'.repeat(48)}`));
  const r = await runCli(['dissect', '--tls-keylog', wrong, pcap]);
  assert.deepEqual(calls(r.stdout), ['tls undefined']);
  assert.deepEqual(entriesOf(r.stdout)[0].warnings, ['undecryptable records']);
  assert.match(r.stderr, /TLS 1\.2 TLS_RSA_WITH_NULL_SHA256: 1/);
});

test('live (a followed key log): a NULL-cipher session waits for its keys like any other, and is read unchecked when they never come', async () => {
  const { keys, packets } = await record('ECDHE-RSA-NULL-SHA');
  for (const logged of [true, false]) {
    const live = join(dir, `live-${logged}.keys`);
    writeFileSync(live, '');
    const log = loadKeyLogFile(live, () => {}, undefined, true);
    // Packets one by one; the client logs its line once the ServerHello has gone by (or never).
    async function* slowly(): AsyncGenerator<Packet[]> {
      for (const [i, p] of packets.entries()) {
        yield [p];
        if (i === 1 && logged) {
          writeFileSync(live, readFileSync(keys));
          await new Promise((r) => setTimeout(r, 60));
        }
      }
    }
    const entries = [];
    for await (const batch of dissectPackets(slowly(), { tlsKeys: log })) entries.push(...batch);
    assert.deepEqual(
      entries.map((e) => `${e.protocol} ${e.request && 'path' in e.request ? e.request.path : ''} ${e.warnings ?? ''}`.trim()),
      logged ? ['http /a', 'http /b'] : ['http /a TLS NULL cipher: plaintext read as is, MAC not checked (no key)', 'http /b TLS NULL cipher: plaintext read as is, MAC not checked (no key)'],
      logged ? 'the keys came: MACs checked' : 'the keys never came',
    );
  }
});
