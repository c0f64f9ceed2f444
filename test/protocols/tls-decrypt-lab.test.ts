// `dissect --tls-keylog` on the record protections the public captures do not
// cover, recorded here between OpenSSL's s_client and s_server in lab pods:
// TLS 1.0 (its own PRF and a CBC IV chained from record to record), TLS 1.1,
// TLS 1.2 AES-CCM and CCM_8, ARIA-GCM and Camellia-CBC, TLS 1.3 AES-128-CCM
// and CCM_8. tshark decrypts (all but ARIA: this one's libgcrypt lacks it)
// the same files with the same key logs; both must see the same calls. A
// TLS 1.0 stream with a record cut out must pick the chain up again after it.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { labIdentity, startLab, type Lab } from '../helpers/lab.js';

interface Case {
  name: string;
  /** s_server and s_client arguments that pin the version and the cipher suite. */
  server: string;
  client: string;
  /** The suite tshark names in the ServerHello. */
  suite: number;
  /** tshark here cannot decrypt it (its libgcrypt has no ARIA): AEAD tags that authenticate are the proof. */
  tsharkCannot?: boolean;
}

const LEGACY = 'ALL:@SECLEVEL=0';
const CASES: Case[] = [
  { name: 'tls10-aes128-cbc-sha', server: `-tls1 -cipher ${LEGACY}`, client: `-tls1 -cipher AES128-SHA:@SECLEVEL=0`, suite: 0x002f },
  { name: 'tls11-ecdhe-aes256-cbc-sha', server: `-tls1_1 -cipher ${LEGACY}`, client: `-tls1_1 -cipher ECDHE-RSA-AES256-SHA:@SECLEVEL=0`, suite: 0xc014 },
  { name: 'tls12-aes128-ccm8', server: `-tls1_2 -cipher ${LEGACY}`, client: `-tls1_2 -cipher AES128-CCM8:@SECLEVEL=0`, suite: 0xc0a0 },
  { name: 'tls12-dhe-aes256-ccm', server: `-tls1_2 -cipher ${LEGACY}`, client: `-tls1_2 -cipher DHE-RSA-AES256-CCM:@SECLEVEL=0`, suite: 0xc09f },
  { name: 'tls12-ecdhe-aria256-gcm', server: `-tls1_2 -cipher ${LEGACY}`, client: `-tls1_2 -cipher ECDHE-ARIA256-GCM-SHA384:@SECLEVEL=0`, suite: 0xc061, tsharkCannot: true },
  { name: 'tls12-camellia128-sha256', server: `-tls1_2 -cipher ${LEGACY}`, client: `-tls1_2 -cipher CAMELLIA128-SHA256:@SECLEVEL=0`, suite: 0x00ba },
  { name: 'tls13-aes128-ccm', server: '-tls1_3 -ciphersuites TLS_AES_128_CCM_SHA256', client: '-tls1_3 -ciphersuites TLS_AES_128_CCM_SHA256', suite: 0x1304 },
  { name: 'tls13-aes128-ccm8', server: '-tls1_3 -ciphersuites TLS_AES_128_CCM_8_SHA256', client: '-tls1_3 -ciphersuites TLS_AES_128_CCM_8_SHA256', suite: 0x1305 },
];

let lab: Lab;
let dir: string;
const { prefix, net } = labIdentity('shtls');

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shark-tls-lab-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '2', '-subj', '/CN=web'], { stdio: 'ignore' });
  lab = await startLab({ prefix, net, nodes: 1 });
});

after(async () => {
  await lab?.stop();
  if (dir && !process.env.KEEP_TLS_LAB) rmSync(dir, { recursive: true, force: true });
});

/**
 * Record `clients` sessions of s_client against s_server on `port` (each
 * bounded by `timeout`), capturing on the node's bridge; the key log is the
 * client's. `serverMode` `-www` answers each GET with a status page.
 */
async function record(name: string, port: number, server: string, clientArgs: string, input: string, serverMode = '-www', clients = 2): Promise<{ pcap: string; keys: string }> {
  const pcap = join(dir, `${name}.pcap`);
  const keys = join(dir, `${name}.keys`);
  const web = lab.pod('web');
  const started = await lab.exec(web.ns, `timeout 30 openssl s_server -accept ${port} -cert ${dir}/cert.pem -key ${dir}/key.pem ${serverMode} ${server} >/dev/null 2>&1 &`);
  assert.equal(started.code, 0, started.stderr);
  // Until it listens (bounded): a client that came too early would record nothing.
  const listening = await lab.exec(web.ns, `for i in $(seq 1 50); do ss -ltn | grep -q ':${port} ' && exit 0; sleep 0.1; done; exit 1`);
  assert.equal(listening.code, 0, `s_server ${name} did not listen`);
  const capture = await lab.capture(0, pcap, { filter: `tcp port ${port}` });
  try {
    writeFileSync(join(dir, `${name}.in`), input);
    for (let i = 0; i < clients; i++) {
      await lab.exec(lab.pod('client0').ns, `timeout 10 openssl s_client -connect ${web.ip}:${port} ${clientArgs} -keylogfile ${keys} -quiet -ign_eof < ${dir}/${name}.in > /dev/null 2>&1`, { timeoutMs: 15_000 });
    }
  } finally {
    await capture.stop();
    await lab.exec(web.ns, `pkill -f 'accept ${port} ' || true`);
  }
  return { pcap, keys };
}

function tshark(pcap: string, keys: string, fields: string[], filter: string): string[][] {
  const out = execFileSync('tshark', ['-r', pcap, '-o', `tls.keylog_file:${keys}`, '-Y', filter, '-T', 'fields', '-E', 'separator=|', ...fields.flatMap((f) => ['-e', f])], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return out.split('\n').filter(Boolean).map((l) => l.split('|'));
}

/** "GET /path 200": the request and status lines tshark finds in one TCP stream's decrypted bytes. */
function followTls(pcap: string, keys: string, stream: number): string {
  const text = execFileSync('tshark', ['-r', pcap, '-o', `tls.keylog_file:${keys}`, '-q', '-z', `follow,tls,ascii,${stream}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const request = /^(GET \S+) HTTP\/1\.1$/m.exec(text)?.[1] ?? '(no request)';
  const status = /^HTTP\/1\.[01] (\d{3}) /m.exec(text)?.[1] ?? '(no status)';
  return `${request} ${status}`;
}

test('TLS 1.0, 1.1, 1.2 CCM/CCM_8, ARIA-GCM, Camellia-CBC and 1.3 CCM/CCM_8 from OpenSSL decrypt to the calls tshark decrypts', async () => {
  let port = 18600;
  for (const c of CASES) {
    const { pcap, keys } = await record(c.name, ++port, c.server, c.client, 'GET /hello HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n');
    const [[suite]] = tshark(pcap, keys, ['tls.handshake.ciphersuite'], 'tls.handshake.type == 2');
    assert.equal(Number(suite), c.suite, `${c.name}: the suite negotiated`);
    // tshark's decrypted streams: a request line and a status line each (s_server's reply ends at the close).
    const theirs = [0, 1].map((stream) => followTls(pcap, keys, stream));
    if (!c.tsharkCannot) assert.deepEqual(theirs, ['GET /hello 200', 'GET /hello 200'], `${c.name}: tshark decrypts the capture`);
    const r = await runCli(['dissect', '--tls-keylog', keys, pcap]);
    assert.equal(r.code, 0, r.stderr);
    const calls = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    assert.deepEqual(calls.map((e) => `${e.protocol} ${e.tls} ${e.request?.path} ${e.response?.status}`), ['http true /hello 200', 'http true /hello 200'], c.name);
    // Once per session, also for TLS 1.0, whose first application record OpenSSL splits off empty (1/n−1).
    assert.match(r.stderr, /TLS: 2 sessions decrypted$/m, c.name);
    // OpenSSL logs an `RSA` line beside CLIENT_RANDOM for an RSA key exchange: a known label, nothing to warn about.
    if (c.name === 'tls10-aes128-cbc-sha') assert.match(readFileSync(keys, 'utf8'), /^RSA /m);
    assert.doesNotMatch(r.stderr, /not a key log line/, c.name);
    const without = await runCli(['dissect', pcap]);
    assert.deepEqual(without.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l).protocol), ['tls', 'tls'], `${c.name}: without the key log`);
  }
});

test('a NULL-encryption suite from OpenSSL: its plaintext is read, MACs checked with the key log, unchecked and said without it', async () => {
  const { pcap, keys } = await record('tls12-null-sha256', 18681, '-tls1_2 -cipher ALL:eNULL:@SECLEVEL=0', '-tls1_2 -cipher NULL-SHA256:@SECLEVEL=0', 'GET /hello HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n', '-www', 1);
  assert.equal(followTls(pcap, keys, 0), 'GET /hello 200', 'tshark reads the call');
  const r = await runCli(['dissect', '--tls-keylog', keys, pcap]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).map((e) => `${e.protocol} ${e.tls} ${e.request?.path} ${e.response?.status} ${e.warnings}`), ['http true /hello 200 undefined']);
  assert.match(r.stderr, /TLS: 1 session decrypted$/m);
  const without = await runCli(['dissect', pcap]);
  assert.deepEqual(without.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).map((e) => `${e.protocol} ${e.tls} ${e.request?.path} ${e.response?.status} ${e.warnings}`), ['http true /hello 200 TLS NULL cipher: plaintext read as is, MAC not checked (no key)']);
  assert.match(without.stderr, /1 session with a NULL cipher \(not encrypted\) read as it is/);
});

test('TLS 1.0 after a lost record: the record after the hole is lost too (its IV was in the hole), the ones after it decrypt', async () => {
  // Twelve requests on one connection, one packet each (s_server only reads: no responses).
  const lines = Array.from({ length: 12 }, (_, i) => `GET /r${i + 1} HTTP/1.1\r\nHost: web\r\n\r\n`);
  const input = join(dir, 'slow.sh');
  const pcap = join(dir, 'tls10-long.pcap');
  const keys = join(dir, 'tls10-long.keys');
  // The requests start once s_client has logged its keys (its handshake is done), apart enough that a
  // loaded machine does not read two in one go: written before the handshake ended, all twelve went
  // out in one packet and there was no packet of /r5 alone to cut.
  const handshake = `for i in $(seq 1 100); do [ -s ${keys} ] && break; sleep 0.05; done; sleep 0.2`;
  writeFileSync(input, [handshake, ...lines.map((l) => `printf '${l.replace(/\r\n/g, '\\r\\n')}'; sleep 0.15`)].join('\n') + '\nsleep 0.3\n');
  const web = lab.pod('web');
  const port = 18690;
  // Without -www, s_server ends a connection when its own stdin ends: give it one that stays open (and ends).
  await lab.exec(web.ns, `timeout 20 sh -c 'sleep 19.5 | openssl s_server -accept ${port} -cert ${dir}/cert.pem -key ${dir}/key.pem -tls1 -cipher ${LEGACY}' >/dev/null 2>&1 &`);
  const listening = await lab.exec(web.ns, `for i in $(seq 1 50); do ss -ltn | grep -q ':${port} ' && exit 0; sleep 0.1; done; exit 1`);
  assert.equal(listening.code, 0);
  const capture = await lab.capture(0, pcap, { filter: `tcp port ${port}` });
  try {
    await lab.exec(lab.pod('client0').ns, `bash ${input} | timeout 10 openssl s_client -connect ${web.ip}:${port} -tls1 -cipher AES128-SHA:@SECLEVEL=0 -keylogfile ${keys} -quiet -no_ign_eof > /dev/null 2>&1`, { timeoutMs: 15_000 });
  } finally {
    await capture.stop();
    await lab.exec(web.ns, `pkill -f 'accept ${port} ' || true; pkill -f 'sleep 19.5' || true`);
  }
  const whole = await runCli(['dissect', '--tls-keylog', keys, pcap]);
  const paths = (out: string) => out.split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((e) => e.protocol === 'http').map((e) => e.request.path);
  assert.deepEqual(paths(whole.stdout), lines.map((_, i) => `/r${i + 1}`));
  // Cut the packet tshark completes /r5 in (s_client writes what it reads, a line or a request at a time; TLS 1.0's 1/n−1 split makes each write two records).
  const frames = tshark(pcap, keys, ['frame.number', 'http.request.uri'], 'http.request');
  const cut = frames.find(([, uri]) => uri === '/r5');
  assert.ok(cut, JSON.stringify(frames));
  const holed = join(dir, 'tls10-hole.pcap');
  execFileSync('editcap', [pcap, holed, cut[0]]);
  const r = await runCli(['dissect', '--tls-keylog', keys, holed]);
  const got = paths(r.stdout);
  assert.deepEqual(got.slice(0, 4), ['/r1', '/r2', '/r3', '/r4']);
  // The record after the hole cannot be read (its IV, the hole's last block, is gone); from the one after it the chain holds again.
  for (let i = 8; i <= 12; i++) assert.ok(got.includes(`/r${i}`), `/r${i} decrypted after the hole: ${JSON.stringify(got)}`);
  assert.match(r.stderr, /TLS: 1 session decrypted; 1 gap in the ciphertext/);
});

test('TLS 1.2 CBC after a lost record: its padding is unknown, so the body is counted to at most its end and the next response is found, not read from the body', async () => {
  // s_server without -www writes its stdin to the client: two keep-alive responses, the first
  // 200,000 bytes long (OpenSSL sends 16 KiB records), after the client's two requests.
  const body = 'x'.repeat(199_999) + '\n';
  const responses = join(dir, 'cbc-responses.txt');
  writeFileSync(responses, `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\nnope\n`);
  const pcap = join(dir, 'tls12-cbc.pcap');
  const keys = join(dir, 'tls12-cbc.keys');
  const web = lab.pod('web');
  const port = 18698;
  await lab.exec(web.ns, `timeout 20 sh -c '(sleep 0.8; cat ${responses}; sleep 18) | openssl s_server -accept ${port} -cert ${dir}/cert.pem -key ${dir}/key.pem -tls1_2 -cipher ECDHE-RSA-AES128-SHA' >/dev/null 2>&1 &`);
  assert.equal((await lab.exec(web.ns, `for i in $(seq 1 50); do ss -ltn | grep -q ':${port} ' && exit 0; sleep 0.1; done; exit 1`)).code, 0);
  const capture = await lab.capture(0, pcap, { filter: `tcp port ${port}` });
  try {
    await lab.exec(
      lab.pod('client0').ns,
      `(printf 'GET /big HTTP/1.1\\r\\nHost: web\\r\\n\\r\\nGET /nope HTTP/1.1\\r\\nHost: web\\r\\n\\r\\n'; sleep 2) | timeout 8 openssl s_client -connect ${web.ip}:${port} -tls1_2 -keylogfile ${keys} -quiet -no_ign_eof > /dev/null 2>&1`,
      { timeoutMs: 12_000 },
    );
  } finally {
    await capture.stop();
    await lab.exec(web.ns, `pkill -f 'accept ${port} ' || true; pkill -f 'sleep 18' || true`);
  }
  const calls = async (file: string) => {
    const r = await runCli(['dissect', '--tls-keylog', keys, file]);
    assert.equal(r.code, 0, r.stderr);
    return { r, lines: r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).map((e) => `${e.request?.path} ${e.response?.status}`) };
  };
  assert.deepEqual((await calls(pcap)).lines, ['/big 200', '/nope 404'], 'the whole capture');
  // A server packet in the middle of the big body goes.
  const data = tshark(pcap, keys, ['frame.number'], `tcp.srcport == ${port} && tcp.len > 0`);
  assert.ok(data.length > 20, `the body took many packets: ${data.length}`);
  const holed = join(dir, 'tls12-cbc-hole.pcap');
  execFileSync('editcap', [pcap, holed, data[Math.floor(data.length / 2)][0]]);
  const { r, lines } = await calls(holed);
  assert.deepEqual(lines, ['/big 200', '/nope 404']);
  assert.match(r.stderr, /1 gap in the ciphertext/);
  assert.doesNotMatch(r.stderr, /malformed/);
});

test('TLS 1.3 0-RTT: accepted early data decrypts (CLIENT_EARLY_TRAFFIC_SECRET), EndOfEarlyData does not stop the client direction, the calls after it decrypt', async () => {
  const web = lab.pod('web');
  const client = lab.pod('client0').ns;
  const port = 18695;
  const pcap = join(dir, 'early.pcap');
  const keys = join(dir, 'early.keys');
  const sess = join(dir, 'early.sess');
  writeFileSync(join(dir, 'early.txt'), 'GET /early HTTP/1.1\r\nHost: web\r\n\r\n');
  // s_server refuses -early_data with -www: it only reads (stdin kept open so it does not hang up).
  // -no_anti_replay: the resumed session's early data is accepted (the client then sends EndOfEarlyData).
  await lab.exec(web.ns, `timeout 20 sh -c 'sleep 19.4 | openssl s_server -accept ${port} -cert ${dir}/cert.pem -key ${dir}/key.pem -tls1_3 -early_data -no_anti_replay' >/dev/null 2>&1 &`);
  const listening = await lab.exec(web.ns, `for i in $(seq 1 50); do ss -ltn | grep -q ':${port} ' && exit 0; sleep 0.1; done; exit 1`);
  assert.equal(listening.code, 0);
  const capture = await lab.capture(0, pcap, { filter: `tcp port ${port}` });
  let second = '';
  try {
    // A first session for its ticket, then one that sends early data with it, and a request after the handshake.
    await lab.exec(client, `(printf 'GET /first HTTP/1.1\\r\\nHost: web\\r\\n\\r\\n'; sleep 0.5) | timeout 5 openssl s_client -connect ${web.ip}:${port} -tls1_3 -sess_out ${sess} -keylogfile ${keys} -no_ign_eof >/dev/null 2>&1`, { timeoutMs: 10_000 });
    second = (await lab.exec(client, `(printf 'GET /after HTTP/1.1\\r\\nHost: web\\r\\n\\r\\n'; sleep 0.5) | timeout 5 openssl s_client -connect ${web.ip}:${port} -tls1_3 -sess_in ${sess} -early_data ${dir}/early.txt -keylogfile ${keys} -no_ign_eof 2>&1`, { timeoutMs: 10_000 })).stdout;
  } finally {
    await capture.stop();
    await lab.exec(web.ns, `pkill -f 'accept ${port} ' || true; pkill -f 'sleep 19.4' || true`);
  }
  assert.match(second, /Early data was accepted/, 'the lab made a 0-RTT session');
  // tshark sees application data in the ClientHello's flight (it decrypts it with the logged early secret).
  const early = tshark(pcap, keys, ['frame.number'], 'tls.handshake.type == 1 && tls.record.content_type == 23');
  assert.equal(early.length, 1, 'the capture has early data');
  const r = await runCli(['dissect', '--tls-keylog', keys, pcap]);
  assert.equal(r.code, 0, r.stderr);
  const paths = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).map((e) => `${e.protocol} ${e.request?.path ?? ''}`.trim());
  assert.deepEqual(paths, ['http /first', 'http /early', 'http /after']);
  assert.match(r.stderr, /TLS: 2 sessions decrypted$/m);
  // The early request keeps the time of its own packet (the ClientHello's flight), before the handshake's end.
  const calls = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  assert.ok(calls[1].timestamp < calls[2].timestamp);
  assert.equal(calls[1].frames.request, Number(early[0][0]));
  // Without the early secret in the log: counted, and the rest still decrypts.
  const partial = join(dir, 'early-no-early-secret.keys');
  writeFileSync(partial, readFileSync(keys, 'utf8').split('\n').filter((l) => !l.startsWith('CLIENT_EARLY_TRAFFIC_SECRET')).join('\n'));
  const without = await runCli(['dissect', '--tls-keylog', partial, pcap]);
  assert.deepEqual(without.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l).request?.path), ['/first', '/after']);
  // The early request and EndOfEarlyData: without their keys, two early records alike.
  assert.match(without.stderr, /TLS: 2 sessions decrypted; 2 records of 0-RTT early data not decrypted$/m);
  for (const out of [r.stderr, without.stderr]) assert.doesNotMatch(out, /undecryptable/);

  // A server that cannot read the ticket (another process: other ticket keys) refuses the early data.
  const other = port + 1;
  const refusedPcap = join(dir, 'early-refused.pcap');
  await lab.exec(web.ns, `timeout 20 sh -c 'sleep 19.3 | openssl s_server -accept ${other} -cert ${dir}/cert.pem -key ${dir}/key.pem -tls1_3 -early_data' >/dev/null 2>&1 &`);
  assert.equal((await lab.exec(web.ns, `for i in $(seq 1 50); do ss -ltn | grep -q ':${other} ' && exit 0; sleep 0.1; done; exit 1`)).code, 0);
  const capture2 = await lab.capture(0, refusedPcap, { filter: `tcp port ${other}` });
  let refused = '';
  try {
    refused = (await lab.exec(client, `(printf 'GET /again HTTP/1.1\\r\\nHost: web\\r\\n\\r\\n'; sleep 0.5) | timeout 5 openssl s_client -connect ${web.ip}:${other} -tls1_3 -sess_in ${sess} -early_data ${dir}/early.txt -keylogfile ${keys} -no_ign_eof 2>&1`, { timeoutMs: 10_000 })).stdout;
  } finally {
    await capture2.stop();
    await lab.exec(web.ns, `pkill -f 'accept ${other} ' || true; pkill -f 'sleep 19.3' || true`);
  }
  assert.match(refused, /Early data was rejected/);
  const r2 = await runCli(['dissect', '--tls-keylog', keys, refusedPcap]);
  assert.deepEqual(r2.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l).request?.path), ['/again'], 'the refused early request is no call');
  assert.match(r2.stderr, /TLS: 1 session decrypted; 1 record of 0-RTT early data the server refused/);
});

/**
 * Two s_client sessions against one s_server on `port` (TLS 1.2, `-www`): a
 * full handshake that saves its session, and one that resumes it (by session
 * id with `-no_ticket`, else by ticket). The key log is the client's (it
 * logs both); `first` is the first client's output (its Session-ID and
 * Master-Key).
 */
async function recordResumed(name: string, port: number, server: string, cipher: string): Promise<{ pcap: string; keys: string; first: string; second: string }> {
  const pcap = join(dir, `${name}.pcap`);
  const keys = join(dir, `${name}.keys`);
  const sess = join(dir, `${name}.sess`);
  const web = lab.pod('web');
  const client = lab.pod('client0').ns;
  await lab.exec(web.ns, `timeout 20 openssl s_server -accept ${port} -cert ${dir}/cert.pem -key ${dir}/key.pem -www -tls1_2 ${server} >/dev/null 2>&1 &`);
  assert.equal((await lab.exec(web.ns, `for i in $(seq 1 50); do ss -ltn | grep -q ':${port} ' && exit 0; sleep 0.1; done; exit 1`)).code, 0, `s_server ${name} did not listen`);
  const capture = await lab.capture(0, pcap, { filter: `tcp port ${port}` });
  const run = async (path: string, sessArg: string): Promise<string> =>
    (await lab.exec(client, `printf 'GET ${path} HTTP/1.1\\r\\nHost: web\\r\\n\\r\\n' | timeout 5 openssl s_client -connect ${web.ip}:${port} -tls1_2 -cipher ${cipher} ${sessArg} -keylogfile ${keys} -ign_eof 2>&1`, { timeoutMs: 10_000 })).stdout;
  let first = '';
  let second = '';
  try {
    first = await run('/full', `-sess_out ${sess}`);
    second = await run('/resumed', `-sess_in ${sess}`);
  } finally {
    await capture.stop();
    await lab.exec(web.ns, `pkill -f 'accept ${port} ' || true`);
  }
  assert.match(first, /^New, TLSv1\.2/m, `${name}: a full handshake first`);
  assert.match(second, /^Reused, TLSv1\.2/m, `${name}: the second session resumed the first`);
  return { pcap, keys, first, second };
}

const pathsOf = (out: string): string[] => out.split('\n').filter(Boolean).map((l) => JSON.parse(l)).map((e) => `${e.protocol} ${e.request?.path ?? ''} ${e.response?.status ?? ''}`.trim());

test('TLS 1.2 sessions resumed by session id and by ticket decrypt with the full handshake key alone, as tshark does', async () => {
  let port = 18710;
  for (const way of ['session id', 'ticket']) {
    const { pcap, keys } = await recordResumed(`resume-${way.replace(' ', '-')}`, ++port, way === 'ticket' ? '' : '-no_ticket', 'ECDHE-RSA-AES128-GCM-SHA256');
    // OpenSSL logs both sessions; a log from elsewhere (a server, another client) may hold the first alone.
    const lines = readFileSync(keys, 'utf8').split('\n').filter((l) => l.startsWith('CLIENT_RANDOM'));
    assert.equal(lines.length, 2, way);
    const firstOnly = join(dir, `resume-${way.replace(' ', '-')}-first.keys`);
    writeFileSync(firstOnly, `${lines[0]}\n`);
    assert.deepEqual(tshark(pcap, firstOnly, ['http.request.uri'], 'http.request').flat(), ['/full', '/resumed'], `${way}: tshark decrypts both`);
    const r = await runCli(['dissect', '--tls-keylog', firstOnly, pcap]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(pathsOf(r.stdout), ['http /full 200', 'http /resumed 200'], way);
    assert.match(r.stderr, /TLS: 2 sessions decrypted \(1 resumed with the master secret of an earlier session\)$/m, way);
    // The resumed session alone in the capture (the capture began after the full handshake, or
    // another worker read it): the key log's master secrets are tried on its Finished, and the right one opens it.
    const alone = join(dir, `resume-${way.replace(' ', '-')}-alone.pcap`);
    execFileSync('editcap', ['-r', pcap, alone, `${Number(tshark(pcap, firstOnly, ['frame.number'], 'tcp.stream == 1')[0][0])}-1000`]);
    assert.deepEqual(tshark(alone, firstOnly, ['http.request.uri'], 'http.request').flat(), [], `${way}: tshark cannot`);
    const noise = Array.from({ length: 50 }, (_, i) => `CLIENT_RANDOM ${i.toString(16).padStart(64, '0')} ${'5a'.repeat(48)}`);
    const many = join(dir, `resume-${way.replace(' ', '-')}-many.keys`);
    writeFileSync(many, [noise.slice(0, 25), lines[0], noise.slice(25)].flat().join('\n') + '\n');
    const r2 = await runCli(['dissect', '--tls-keylog', many, alone]);
    assert.deepEqual(pathsOf(r2.stdout), ['http /resumed 200'], way);
    assert.match(r2.stderr, /TLS: 1 session decrypted \(1 resumed with the master secret of an earlier session; 1 of them by trying the key log's master secrets/, way);
    // No master secret of the log is its own: none opens it, nothing is made up.
    const others = join(dir, `resume-${way.replace(' ', '-')}-others.keys`);
    writeFileSync(others, noise.join('\n') + '\n');
    const r3 = await runCli(['dissect', '--tls-keylog', others, alone]);
    assert.deepEqual(pathsOf(r3.stdout), ['tls'], way);
    assert.match(r3.stderr, /TLS: 0 sessions decrypted; 1 without a key in the key log/, way);
    // Whichever worker reads the full handshake, the resumed session decrypts.
    const split = await runCli(['dissect', '--workers', '2', '--tls-keylog', firstOnly, pcap]);
    assert.deepEqual(pathsOf(split.stdout), ['http /full 200', 'http /resumed 200'], `${way}: --workers 2`);
  }
});

test('NSS RSA key log lines: "RSA Session-ID:… Master-Key:…" and "RSA <encrypted premaster> <premaster>" decrypt (extended master secret too), as tshark does', async () => {
  const { pcap, keys, first } = await recordResumed('rsa-lines', 18720, '-no_ticket', 'AES128-GCM-SHA256');
  const log = readFileSync(keys, 'utf8');
  const rsa = log.split('\n').filter((l) => l.startsWith('RSA '));
  const randoms = log.split('\n').filter((l) => l.startsWith('CLIENT_RANDOM'));
  assert.equal(rsa.length, 1, 'OpenSSL logs the premaster of the one RSA key exchange');
  assert.match(first, /Extended master secret: yes/);
  const sid = /Session-ID: ([0-9A-F]{64})/.exec(first)![1];
  const master = /Master-Key: ([0-9A-F]{96})/.exec(first)![1];
  const premaster = rsa[0].split(' ')[2];
  const forms: Array<[string, string]> = [
    ['session id', `# written by hand\r\nRSA Session-ID:${sid} Master-Key:${master}\r\n`],
    ['premaster', `${rsa[0]}\n`],
    ['PMS_CLIENT_RANDOM', `PMS_CLIENT_RANDOM ${randoms[0].split(' ')[1]} ${premaster}\n`],
  ];
  for (const [form, text] of forms) {
    const file = join(dir, `rsa-${form.replace(/ /g, '-')}.keys`);
    writeFileSync(file, text);
    assert.deepEqual(tshark(pcap, file, ['http.request.uri'], 'http.request').flat(), ['/full', '/resumed'], `${form}: tshark decrypts both`);
    const r = await runCli(['dissect', '--tls-keylog', file, pcap]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(pathsOf(r.stdout), ['http /full 200', 'http /resumed 200'], form);
    assert.match(r.stderr, /TLS: 2 sessions decrypted \(1 resumed with the master secret of an earlier session\)$/m, form);
    assert.doesNotMatch(r.stderr, /not a key log line|no TLS secrets/, form);
  }
  // A premaster for another session: nothing decrypted, said once.
  const wrong = join(dir, 'rsa-wrong.keys');
  writeFileSync(wrong, `RSA 0011223344556677 ${premaster}\n`);
  const r = await runCli(['dissect', '--tls-keylog', wrong, pcap]);
  assert.deepEqual(pathsOf(r.stdout), ['tls', 'tls']);
  assert.match(r.stderr, /TLS: 0 sessions decrypted; 2 without a key in the key log$/m);
});

test('TLS 1.3 KeyUpdate both ways (ChaCha20-Poly1305): every record after it decrypts, byte for byte as tshark, and OpenSSL _N key log lines are no warning', async () => {
  const web = lab.pod('web');
  const port = 18730;
  const pcap = join(dir, 'keyupdate.pcap');
  const keys = join(dir, 'keyupdate.keys');
  // -rev: s_server answers each line reversed. s_client sends a KeyUpdate on a line "k", and one asking the server for its own on "K".
  await lab.exec(web.ns, `timeout 20 openssl s_server -accept ${port} -cert ${dir}/cert.pem -key ${dir}/key.pem -tls1_3 -ciphersuites TLS_CHACHA20_POLY1305_SHA256 -rev >/dev/null 2>&1 &`);
  assert.equal((await lab.exec(web.ns, `for i in $(seq 1 50); do ss -ltn | grep -q ':${port} ' && exit 0; sleep 0.1; done; exit 1`)).code, 0);
  const capture = await lab.capture(0, pcap, { filter: `tcp port ${port}` });
  let out = '';
  try {
    out = (await lab.exec(lab.pod('client0').ns, `(printf 'hello\\n'; sleep 0.3; printf 'k\\n'; sleep 0.3; printf 'world\\n'; sleep 0.3; printf 'K\\n'; sleep 0.3; printf 'again\\n'; sleep 0.5) | timeout 8 openssl s_client -connect ${web.ip}:${port} -tls1_3 -ciphersuites TLS_CHACHA20_POLY1305_SHA256 -keylogfile ${keys} 2>&1`, { timeoutMs: 12_000 })).stdout;
  } finally {
    await capture.stop();
    await lab.exec(web.ns, `pkill -f 'accept ${port} ' || true`);
  }
  assert.equal(out.match(/^KEYUPDATE$/gm)?.length, 2, 'the client sent two KeyUpdates');
  assert.match(readFileSync(keys, 'utf8'), /^CLIENT_TRAFFIC_SECRET_N /m, 'OpenSSL logged its key-update line');
  // tshark's decrypted bytes per node (follow raw: the second node's lines are indented; which node is which, tshark decides).
  const follow = execFileSync('tshark', ['-r', pcap, '-o', `tls.keylog_file:${keys}`, '-q', '-z', 'follow,tls,raw,0'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const bytes = [0, 0];
  for (const l of follow.split('\n')) if (/^\t?[0-9a-f]+$/.test(l)) bytes[l.startsWith('\t') ? 1 : 0] += l.trim().length / 2;
  // hello, world and again (the last after both updates), and the server's answers (it may not answer the last before the close).
  assert.ok(bytes.includes(18) && bytes[0] + bytes[1] >= 30, `tshark decrypts past both updates: ${bytes}`);
  const r = await runCli(['dissect', '--tls-keylog', keys, pcap]);
  assert.equal(r.code, 0, r.stderr);
  const [e] = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  assert.deepEqual([e.protocol, e.request.decryptedBytes, e.warnings], ['tls', 18, undefined]);
  assert.deepEqual([e.request.decryptedBytes, e.response.decryptedBytes].sort(), [...bytes].sort());
  assert.doesNotMatch(r.stderr, /not a key log line|undecryptable/);
});

test('TLS 1.2: a segment of the server certificate flight lost after the ServerHello: both directions still decrypt from ChangeCipherSpec on, as tshark does', async () => {
  // A 4096-bit RSA certificate: the server's flight (ServerHello, Certificate, ServerKeyExchange, ServerHelloDone) spans segments.
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:4096', '-nodes', '-keyout', join(dir, 'big-key.pem'), '-out', join(dir, 'big-cert.pem'), '-days', '2', '-subj', `/CN=${'w'.repeat(60)}`], { stdio: 'ignore' });
  const { pcap, keys } = await recordResumed('hs-gap', 18740, `-no_ticket -cert ${dir}/big-cert.pem -key ${dir}/big-key.pem`, 'ECDHE-RSA-AES128-GCM-SHA256');
  // The server's data segments of the first connection: the first holds the ServerHello, the second part of the certificate.
  const server = tshark(pcap, keys, ['frame.number', 'tls.handshake.type'], 'tcp.stream == 0 && tcp.srcport == 18740 && tcp.len > 0');
  assert.ok(server.length >= 3 && server[0][1].split(',').includes('2') && !server[1][1].split(',').includes('2'), JSON.stringify(server));
  const holed = join(dir, 'hs-gap-holed.pcap');
  execFileSync('editcap', [pcap, holed, server[1][0]]);
  assert.equal(followTls(holed, keys, 0), 'GET /full 200', 'tshark decrypts both directions after the hole');
  const r = await runCli(['dissect', '--tls-keylog', keys, holed]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(pathsOf(r.stdout), ['http /full 200', 'http /resumed 200']);
  assert.match(r.stderr, /1 gap in the clear handshake after the hellos \(decrypted from ChangeCipherSpec on\)/);
});

test('TLS 1.2: a ticket the server turns down (a full handshake follows) is not taken for a resumption: that session has no key, not a wrong one', async () => {
  const web = lab.pod('web');
  const client = lab.pod('client0').ns;
  const [a, b] = [18750, 18751];
  const pcap = join(dir, 'ticket-declined.pcap');
  const keys = join(dir, 'ticket-declined.keys');
  const sess = join(dir, 'ticket-declined.sess');
  // Two s_server processes: each has its own ticket keys, so the second cannot read the first one's ticket.
  for (const port of [a, b]) await lab.exec(web.ns, `timeout 20 openssl s_server -accept ${port} -cert ${dir}/cert.pem -key ${dir}/key.pem -www -tls1_2 >/dev/null 2>&1 &`);
  assert.equal((await lab.exec(web.ns, `for i in $(seq 1 50); do ss -ltn | grep -q ':${b} ' && ss -ltn | grep -q ':${a} ' && exit 0; sleep 0.1; done; exit 1`)).code, 0);
  const capture = await lab.capture(0, pcap, { filter: `tcp port ${a} or tcp port ${b}` });
  let second = '';
  try {
    const run = (port: number, path: string, sessArg: string) => lab.exec(client, `printf 'GET ${path} HTTP/1.1\\r\\nHost: web\\r\\n\\r\\n' | timeout 5 openssl s_client -connect ${web.ip}:${port} -tls1_2 ${sessArg} -keylogfile ${keys} -ign_eof 2>&1`, { timeoutMs: 10_000 });
    await run(a, '/full', `-sess_out ${sess}`);
    second = (await run(b, '/declined', `-sess_in ${sess}`)).stdout;
  } finally {
    await capture.stop();
    await lab.exec(web.ns, `pkill -f 'accept ${a} ' || true; pkill -f 'accept ${b} ' || true`);
  }
  assert.match(second, /^New, TLSv1\.2/m, 'the second server made a new session');
  const firstOnly = join(dir, 'ticket-declined-first.keys');
  writeFileSync(firstOnly, `${readFileSync(keys, 'utf8').split('\n').filter((l) => l.startsWith('CLIENT_RANDOM'))[0]}\n`);
  const r = await runCli(['dissect', '--tls-keylog', firstOnly, pcap]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(pathsOf(r.stdout), ['http /full 200', 'tls']);
  assert.match(r.stderr, /TLS: 1 session decrypted; 1 without a key in the key log$/m);
  assert.doesNotMatch(r.stderr, /undecryptable|resumed/);
});

test('TLS 1.2 renegotiation: the requests after it decrypt under the new handshake keys, as tshark sees them', async () => {
  const web = lab.pod('web');
  const port = 18760;
  const pcap = join(dir, 'renegotiation.pcap');
  const keys = join(dir, 'renegotiation.keys');
  // s_server echo mode (no answers; its stdin held open and ended); the client asks for renegotiation with "R".
  await lab.exec(web.ns, `timeout 20 sh -c 'sleep 19.5 | openssl s_server -accept ${port} -cert ${dir}/cert.pem -key ${dir}/key.pem -tls1_2 -client_renegotiation' >/dev/null 2>&1 &`);
  assert.equal((await lab.exec(web.ns, `for i in $(seq 1 50); do ss -ltn | grep -q ':${port} ' && exit 0; sleep 0.1; done; exit 1`)).code, 0);
  const capture = await lab.capture(0, pcap, { filter: `tcp port ${port}` });
  let out = '';
  try {
    const script = `printf 'GET /before HTTP/1.1\\r\\nHost: web\\r\\n\\r\\n'; sleep 1; echo R; sleep 2; printf 'GET /after HTTP/1.1\\r\\nHost: web\\r\\n\\r\\n'; sleep 1`;
    out = (await lab.exec(lab.pod('client0').ns, `(${script}) | timeout 10 openssl s_client -connect ${web.ip}:${port} -tls1_2 -keylogfile ${keys} 2>&1`, { timeoutMs: 15_000 })).stdout;
  } finally {
    await capture.stop();
    await lab.exec(web.ns, `pkill -f 'accept ${port} ' || true; pkill -f 'sleep 19.5' || true`);
  }
  assert.match(out, /RENEGOTIATING/);
  assert.equal(readFileSync(keys, 'utf8').split('\n').filter((l) => l.startsWith('CLIENT_RANDOM')).length, 2, 'the client logged both handshakes');
  assert.deepEqual(tshark(pcap, keys, ['http.request.uri'], 'http.request').flat(), ['/before', '/after'], 'tshark decrypts both');
  const r = await runCli(['dissect', '--tls-keylog', keys, pcap]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(pathsOf(r.stdout), ['http /before', 'http /after']);
  assert.match(r.stderr, /TLS: 1 session decrypted; 1 renegotiation followed/);
  assert.doesNotMatch(r.stderr, /undecryptable/);
  // The renegotiated handshake's line missing: what came before it decrypts, and the rest is said.
  const firstOnly = join(dir, 'renegotiation-first.keys');
  writeFileSync(firstOnly, `${readFileSync(keys, 'utf8').split('\n').filter((l) => l.startsWith('CLIENT_RANDOM'))[0]}\n`);
  const r2 = await runCli(['dissect', '--tls-keylog', firstOnly, pcap]);
  assert.deepEqual(pathsOf(r2.stdout), ['http /before']);
  assert.match(r2.stderr, /1 session renegotiated with a handshake whose secrets are not in the key log/);
});
