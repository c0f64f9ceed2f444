// TLS decrypted in the lab: Debian's nginx serves HTTP/1.1 and HTTP/2 over
// TLS 1.2 and 1.3 (AES-GCM and ChaCha20-Poly1305) in one network namespace,
// curl (OpenSSL) calls it from another with SSLKEYLOGFILE set, tcpdump
// records the wire. `shark dissect --tls-keylog` must report every call curl
// made, with the status curl saw, agree with tshark decrypting the same file,
// and redact the secrets the calls carry.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTlsNginx } from '../helpers/tls-nginx.js';
import { makeVethLab, stopTcpdump, tcpdumpIn, type VethLab } from '../live/netns.js';
import { runCli } from '../helpers/cli.js';

const TOKEN = 'tls-lab-secret-bearer-7f3a9c';
let lab: VethLab;
let dir: string;
let capture: string;
let keys: string;
let nginxProcess: ChildProcess | undefined;
/** What curl itself reported for each request: "METHOD path status version". */
const curlSaw: string[] = [];

interface Call {
  path: string;
  args: string[];
}
// TLS 1.2 and 1.3, AES-GCM and ChaCha20-Poly1305, HTTP/1.1 and HTTP/2, 200/404/500.
const CALLS: Call[] = [
  { path: '/ok', args: ['--http1.1', '--tlsv1.2', '--tls-max', '1.2', '--ciphers', 'ECDHE-ECDSA-AES128-GCM-SHA256'] },
  { path: '/missing', args: ['--http1.1', '--tlsv1.2', '--tls-max', '1.2', '--ciphers', 'ECDHE-ECDSA-CHACHA20-POLY1305'] },
  { path: '/boom', args: ['--http2', '--tlsv1.3', '--tls13-ciphers', 'TLS_AES_256_GCM_SHA384'] },
  { path: '/ok?page=2', args: ['--http2', '--tlsv1.3', '--tls13-ciphers', 'TLS_CHACHA20_POLY1305_SHA256'] },
  { path: '/login', args: ['--http1.1', '--tlsv1.3', '-H', `Authorization: Bearer ${TOKEN}`, '-d', `{"user":"jason","password":"${TOKEN}"}`, '-H', 'content-type: application/json'] },
];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shark-tls-lab-'));
  chmodSync(dir, 0o755);
  capture = join(dir, 'tls.pcap');
  keys = join(dir, 'sslkeys.log');
  lab = makeVethLab(`tl${process.pid % 100}`, `198.18.${36 + (process.pid % 4)}`);
  nginxProcess = await startTlsNginx(lab, dir, TOKEN);
  const dump = await tcpdumpIn(lab, lab.nsA, lab.ifA, capture, 'tcp port 443');
  for (const c of CALLS) {
    const r = await lab.sh(
      lab.nsA,
      `SSLKEYLOGFILE=${keys} curl -sk -o /dev/null --max-time 5 -w '%{http_code} %{http_version}' ${c.args.map((a) => `'${a}'`).join(' ')} 'https://${lab.ipB}${c.path}'`,
      10_000,
    );
    assert.equal(r.code, 0, `curl ${c.path}: ${r.stderr}`);
    const method = c.args.includes('-d') ? 'POST' : 'GET';
    const [status, version] = r.stdout.trim().split(' ');
    curlSaw.push(`${method} ${c.path} ${status} ${version}`);
  }
  await new Promise((r) => setTimeout(r, 300));
  await stopTcpdump(dump);
});

after(async () => {
  // nginx's worker keeps the output pipes open after a SIGKILL of its master: stop it as nginx stops.
  if (lab) await lab.sh(lab.nsB, `kill -TERM $(cat ${dir}/nginx.pid) 2>/dev/null; for i in $(seq 50); do [ -e ${dir}/nginx.pid ] || break; sleep 0.1; done`, 10_000);
  nginxProcess?.stdout?.destroy();
  nginxProcess?.stderr?.destroy();
  lab?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('every call curl made inside TLS is an entry with the status curl saw, marked tls', async () => {
  const r = await runCli(['dissect', '--tls-keylog', keys, capture]);
  assert.equal(r.code, 0, r.stderr);
  const entries = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const calls = entries.filter((e) => e.protocol === 'http' || e.protocol === 'http2');
  const ours = calls.map((e) => `${e.request.method} ${e.request.path} ${e.response.status} ${e.protocol === 'http2' ? '2' : '1.1'}`);
  assert.deepEqual(ours, curlSaw);
  assert.ok(calls.every((e) => e.tls === true));
  assert.equal(entries.filter((e) => e.protocol === 'tls').length, 0, 'every session decrypted');
  assert.match(r.stderr, new RegExp(`TLS: ${CALLS.length} sessions decrypted`));
});

test('tshark decrypting the same file with the same key log sees the same calls', () => {
  const out = execFileSync(
    'tshark',
    ['-r', capture, '-o', `tls.keylog_file:${keys}`, '-Y', 'http.request or http2.headers.method', '-T', 'fields', '-E', 'separator=|', '-e', 'http.request.method', '-e', 'http.request.uri', '-e', 'http2.headers.method', '-e', 'http2.headers.path'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const theirs = out
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [m1, u1, m2, u2] = l.split('|');
      return `${m1 || m2} ${u1 || u2}`;
    });
  assert.deepEqual(theirs, curlSaw.map((c) => c.split(' ').slice(0, 2).join(' ')));
});

test('secrets inside decrypted traffic are redacted by default, and only then', async () => {
  const redacted = await runCli(['dissect', '--tls-keylog', keys, capture]);
  assert.ok(!redacted.stdout.includes(TOKEN), 'a secret from inside TLS reached the output');
  assert.match(redacted.stdout, /\[REDACTED\]/);
  const raw = await runCli(['dissect', '--no-redact', '--tls-keylog', keys, capture]);
  assert.ok(raw.stdout.includes(TOKEN), 'the token is in the decrypted traffic (the check above could fail)');
  // The key log itself never reaches the output.
  const secret = readFileSync(keys, 'latin1').split('\n')[0].split(' ')[2];
  assert.ok(!raw.stdout.includes(secret));
});
