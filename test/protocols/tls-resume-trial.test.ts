// A TLS 1.0–1.2 session resumed (by ticket) whose full handshake this run
// did not read (another worker did, or the capture began after it) is opened
// by trying the key log's master secrets on its Finished: the last 16,384
// logged, not 2,048, so a log holding thousands of sessions logged after the
// one resumed decrypts the resumption with --workers 2 as with one worker.
// Each cipher family's one-block sieve (mayBeFinished) must let the right
// master secret through. Sessions made here by node's TLS (OpenSSL).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { runCli } from '../helpers/cli.js';
import { Wire } from '../helpers/engine-wire.js';
import { writeRawPcap } from '../helpers/pcap-wire.js';
import { testIdentity, tlsConversation } from '../helpers/tls-session.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'shark-tls-resume-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** OpenSSL names: AES-GCM, AES-CBC (TLS 1.2 and TLS 1.0, whose IV is chained), ChaCha20-Poly1305, AES-CCM_8, ARIA-GCM, NULL. */
const SUITES: Array<{ openssl: string; version: 'TLSv1' | 'TLSv1.2' }> = [
  { openssl: 'ECDHE-RSA-AES128-GCM-SHA256', version: 'TLSv1.2' },
  { openssl: 'AES256-GCM-SHA384', version: 'TLSv1.2' },
  { openssl: 'ECDHE-RSA-AES128-SHA', version: 'TLSv1.2' },
  { openssl: 'AES256-SHA', version: 'TLSv1' },
  { openssl: 'ECDHE-RSA-CHACHA20-POLY1305', version: 'TLSv1.2' },
  { openssl: 'AES128-CCM8', version: 'TLSv1.2' },
  { openssl: 'ECDHE-ARIA128-GCM-SHA256', version: 'TLSv1.2' },
  { openssl: 'NULL-SHA256', version: 'TLSv1.2' },
];

/** Other sessions' master secrets, logged after the one resumed. */
const NOISE = Array.from({ length: 3000 }, (_, i) => `CLIENT_RANDOM ${(i + 1).toString(16).padStart(64, '0')} ${(i * 7919).toString(16).padStart(96, '3')}`);

const calls = (stdout: string): string[] =>
  stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .map((e) => `${e.protocol} ${e.tls} ${e.request?.path ?? ''} ${e.response?.status ?? ''} ${e.warnings ?? ''}`.trim());

/** For each suite a full handshake, then a resumption of it (by ticket), on ports of its own: all of them in one capture, the resumptions alone in another, and a key log of the full handshakes followed by many others. */
async function record(): Promise<{ both: string; alone: string; keys: string }> {
  const wire = new Wire();
  const resumed = new Wire();
  const full: string[] = [];
  for (const [i, s] of SUITES.entries()) {
    const secureContext = tls.createSecureContext({ ...testIdentity(), ciphers: `${s.openssl}:@SECLEVEL=0`, minVersion: s.version, maxVersion: s.version });
    const client = { ciphers: `${s.openssl}:@SECLEVEL=0`, minVersion: s.version, maxVersion: s.version };
    const exchange = (path: string) => [{ request: `GET ${path} HTTP/1.1\r\nHost: web\r\n\r\n`, response: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok' }];
    const first = await tlsConversation(wire, { atMs: 1_000 + 2_000 * i, sport: 40_001 + 2 * i, dport: 443, exchanges: exchange(`/full/${s.openssl}`), client, server: { secureContext } });
    const split = wire.packets.length;
    const second = await tlsConversation(wire, { atMs: 2_000 + 2_000 * i, sport: 40_002 + 2 * i, dport: 443, exchanges: exchange(`/resumed/${s.openssl}`), client: { ...client, session: first.session }, server: { secureContext } });
    assert.equal(second.reused, true, `${s.openssl}: the second session resumed the first`);
    resumed.packets.push(...wire.packets.slice(split));
    const line = first.keylog.filter((l) => l.startsWith('CLIENT_RANDOM'));
    assert.equal(line.length, 1);
    full.push(line[0]);
  }
  const both = join(dir, 'all.pcap');
  const alone = join(dir, 'resumed-alone.pcap');
  const keys = join(dir, 'all.keys');
  writeRawPcap(both, wire.packets);
  writeRawPcap(alone, resumed.packets.map((p, i) => ({ ...p, frame: i + 1 })));
  writeFileSync(keys, [...full, ...NOISE].join('\n') + '\n');
  return { both, alone, keys };
}

// Every suite in one capture (three runs of the CLI, not three per suite: the test took 23 s).
test('a resumed session whose full handshake another worker read decrypts with --workers 2 as with one, thousands of master secrets logged after its own', async () => {
  const { both, alone, keys } = await record();
  const n = SUITES.length;
  const expected = SUITES.flatMap((s) => [`http true /full/${s.openssl} 200`, `http true /resumed/${s.openssl} 200`]);
  const one = await runCli(['dissect', '--workers', '1', '--tls-keylog', keys, both]);
  assert.equal(one.code, 0, one.stderr);
  assert.deepEqual(calls(one.stdout), expected, 'one worker');
  const two = await runCli(['dissect', '--workers', '2', '--tls-keylog', keys, both]);
  assert.equal(two.stdout, one.stdout, 'two workers');
  // Some resumptions went to the other worker than their full handshake (else the check above proves nothing).
  assert.match(two.stderr, new RegExp(`${2 * n} sessions decrypted \\(${n} resumed with the master secret of an earlier session; [1-9]\\d* of them by trying`), two.stderr);
  // The resumptions alone: each master secret, 3,000 lines up the log, is found by trial.
  const trial = await runCli(['dissect', '--tls-keylog', keys, alone]);
  assert.deepEqual(calls(trial.stdout), SUITES.map((s) => `http true /resumed/${s.openssl} 200`), 'the resumptions alone');
  assert.match(trial.stderr, new RegExp(`${n} sessions decrypted \\(${n} resumed with the master secret of an earlier session; ${n} of them by trying the key log's master secrets`));
});
