// `dissect --tls-keylog`: TLS decrypted with NSS key logs, on real captures
// that come with their key logs, compared with tshark decrypting the same
// files (-o tls.keylog_file). TLS 1.2 (AES-GCM, ChaCha20-Poly1305, AES-CBC
// with HMAC, encrypt-then-MAC) and TLS 1.3 (AES-GCM, ChaCha20-Poly1305);
// HTTP/1 and HTTP/2 inside.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, closeSync, createReadStream, createWriteStream, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { runCli } from '../helpers/cli.js';
import { repoRoot, sharedCapture } from '../helpers/paths.js';
import { describeDecryption, loadKeyLogFile, MAX_RESUMABLE, MAX_TRIALS, MAX_TRIED_MASTERS, TlsKeyLog } from '../../src/dissect/tls/keylog.js';
import { openCapture } from '../../src/capture/reader.js';
import { dissectPackets } from '../../src/dissect/dissect-packets.js';
import type { DissectionEngine } from '../../src/dissect/engine.js';

const schema = JSON.parse(readFileSync(join(repoRoot, 'docs', 'entry.schema.json'), 'utf8'));
const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'shark-tls-decrypt-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

interface Case {
  capture: string;
  keys: string;
}
const HTTP_CASES: Case[] = [
  { capture: 'scapy-tls12-tls13-aes256gcm-http.pcap', keys: 'scapy-tls12-tls13-aes256gcm-http.keys' },
  { capture: 'hotplace-tls12-chacha20-http1.pcapng', keys: 'hotplace-tls12-chacha20-http1.keys' },
  { capture: 'hotplace-tls13-aes128gcm-http2.pcapng', keys: 'hotplace-tls13-aes128gcm-http2.keys' },
];

async function dissect(capture: string, keys?: string): Promise<{ entries: any[]; stderr: string; code: number | null }> {
  const args = ['dissect', sharedCapture(capture)];
  if (keys) args.push('--tls-keylog', keys);
  const r = await runCli(args);
  const entries = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  for (const e of entries) assert.ok(validate(e), `${capture}: ${JSON.stringify(validate.errors)}`);
  return { entries, stderr: r.stderr, code: r.code };
}

/** tshark's decrypted HTTP/1 and HTTP/2 requests and responses, in order: "GET /path" and "200". */
function tsharkCalls(capture: string, keys: string): { requests: string[]; statuses: string[] } {
  const out = execFileSync(
    'tshark',
    ['-r', sharedCapture(capture), '-o', `tls.keylog_file:${sharedCapture(keys)}`, '-Y', 'http.request or http.response or http2.type == 1', '-T', 'fields', '-E', 'separator=|',
      '-e', 'http.request.method', '-e', 'http.request.uri', '-e', 'http.response.code', '-e', 'http2.headers.method', '-e', 'http2.headers.path', '-e', 'http2.headers.status'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const requests: string[] = [];
  const statuses: string[] = [];
  for (const line of out.split('\n').filter(Boolean)) {
    const [m1, u1, s1, m2, u2, s2] = line.split('|');
    if (m1 || m2) requests.push(`${m1 || m2} ${u1 || u2}`);
    if (s1 || s2) statuses.push(s1 || s2);
  }
  return { requests, statuses };
}

/** Status codes of HTTP/1 status lines in tshark's decrypted streams. */
function tsharkStatusLines(c: Case): string[] {
  const out: string[] = [];
  for (let stream = 0; stream < 4; stream++) {
    const text = execFileSync('tshark', ['-r', sharedCapture(c.capture), '-o', `tls.keylog_file:${sharedCapture(c.keys)}`, '-q', '-z', `follow,tls,ascii,${stream}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    for (const m of text.matchAll(/HTTP\/1\.[01] (\d{3}) /g)) out.push(m[1]);
  }
  return out;
}

test('HTTP/1 and HTTP/2 inside TLS 1.2 and 1.3: the same calls as tshark decrypting with the same key logs', async () => {
  for (const c of HTTP_CASES) {
    const { entries, stderr, code } = await dissect(c.capture, sharedCapture(c.keys));
    assert.equal(code, 0, stderr);
    const calls = entries.filter((e) => e.protocol === 'http' || e.protocol === 'http2');
    const want = tsharkCalls(c.capture, c.keys);
    assert.ok(want.requests.length > 0, `${c.capture}: tshark decrypted nothing`);
    assert.deepEqual(calls.map((e) => `${e.request.method} ${e.request.path}`), want.requests, c.capture);
    if (want.statuses.length === want.requests.length) {
      assert.deepEqual(calls.map((e) => String(e.response.status)), want.statuses, c.capture);
    } else {
      // tshark leaves a close-delimited HTTP/1.0 response inside TLS undissected; its decrypted stream still shows the status line.
      assert.deepEqual(calls.map((e) => String(e.response.status)), tsharkStatusLines(c), c.capture);
    }
    for (const e of calls) {
      assert.equal(e.tls, true, `${c.capture}: ${e.summary} not marked tls`);
      assert.ok(e.elapsedTime > 0, `${c.capture}: ${e.summary} has no duration`);
    }
    assert.match(stderr, /TLS: [1-9]\d* sessions? decrypted/);
  }
});

test('without --tls-keylog the same captures are tls entries, as before', async () => {
  for (const c of HTTP_CASES) {
    const { entries } = await dissect(c.capture);
    assert.equal(entries.filter((e) => e.protocol === 'http' || e.protocol === 'http2').length, 0, c.capture);
    assert.ok(entries.some((e) => e.protocol === 'tls'), c.capture);
    assert.ok(entries.every((e) => e.tls === undefined));
  }
});

test('every cipher family decrypts: plaintext of unknown protocols is counted on the tls entry, byte for byte as tshark', async () => {
  const cases = [
    { capture: 'illustrated-tls12-ecdhe-rsa-aes128-cbc-sha.pcap', keys: 'illustrated-tls12-ecdhe-rsa-aes128-cbc-sha.keys' }, // AES-CBC + HMAC-SHA1
    { capture: 'hotplace-tls12-etm-aes128-cbc-sha256.pcapng', keys: 'hotplace-tls12-etm-aes128-cbc-sha256.keys' }, // encrypt-then-MAC
    { capture: 'snet-tls12-ecdhe-rsa-aes128-gcm.pcap', keys: 'snet-tls12-ecdhe-rsa-aes128-gcm.keys' }, // TLS 1.2 AES-GCM
    { capture: 'snet-tls13-chacha20-poly1305.pcap', keys: 'snet-tls13-chacha20-poly1305.keys' }, // TLS 1.3 ChaCha20-Poly1305
  ];
  for (const c of cases) {
    const { entries, stderr } = await dissect(c.capture, sharedCapture(c.keys));
    const tls = entries.filter((e) => e.protocol === 'tls');
    assert.equal(tls.length, 1, c.capture);
    const ours = (tls[0].request?.decryptedBytes ?? 0) + (tls[0].response?.decryptedBytes ?? 0);
    // tshark's decrypted stream, both directions, as hex lines.
    const follow = execFileSync('tshark', ['-r', sharedCapture(c.capture), '-o', `tls.keylog_file:${sharedCapture(c.keys)}`, '-q', '-z', 'follow,tls,raw,0'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const theirs = follow
      .split('\n')
      .filter((l) => /^\t?[0-9a-f]+$/.test(l))
      .reduce((n, l) => n + l.trim().length / 2, 0);
    assert.ok(theirs > 0, `${c.capture}: tshark decrypted nothing`);
    assert.equal(ours, theirs, c.capture);
    assert.match(stderr, /TLS: 1 session decrypted; 1 carrying a protocol shark does not know/);
  }
});

test('a wrong key: records that do not authenticate are counted, the connection stays a tls entry with a warning', async () => {
  const good = readFileSync(sharedCapture('hotplace-tls12-chacha20-http1.keys'), 'latin1');
  // Flip one hex digit of every secret.
  const bad = good.replace(/^(\S+ \S+ )([0-9a-f])/gim, (_m, head: string, d: string) => head + (d === '0' ? '1' : '0'));
  const keys = join(dir, 'wrong.keys');
  writeFileSync(keys, bad);
  const { entries, stderr } = await dissect('hotplace-tls12-chacha20-http1.pcapng', keys);
  assert.equal(entries.filter((e) => e.protocol === 'http').length, 0);
  const tls = entries.filter((e) => e.protocol === 'tls');
  assert.ok(tls.some((e) => e.warnings?.includes('undecryptable records')), JSON.stringify(tls.map((e) => e.warnings)));
  assert.match(stderr, /0 sessions decrypted; .*stopped at an undecryptable record/);
});

test('a key log of another capture says so: no ClientHello random of the capture is in it', async () => {
  const { stderr } = await dissect('hotplace-tls12-chacha20-http1.pcapng', sharedCapture('snet-tls12-ecdhe-rsa-aes128-gcm.keys'));
  assert.match(stderr, /TLS: 0 sessions decrypted; 1 without a key in the key log: no ClientHello random of this capture is in the key log/);
});

test('a session named in the key log without the secrets its version needs is said apart from one not named at all', async () => {
  // The log has no CLIENT_TRAFFIC_SECRET_0 for the three connections whose client (Chrome) refused the
  // certificate: their handshakes are read with the handshake secrets, and the encrypted alert named, as tshark does.
  const capture = 'hotplace-tls13-aes128gcm-http2.pcapng';
  const keys = sharedCapture('hotplace-tls13-aes128gcm-http2.keys');
  const { stderr, entries } = await dissect(capture, keys);
  assert.match(stderr, /TLS: 2 sessions decrypted; 3 handshakes refused by an encrypted alert \(decrypted: on the tls entry\)/);
  assert.doesNotMatch(stderr, /without a key/);
  const out = execFileSync('tshark', ['-r', sharedCapture(capture), '-o', `tls.keylog_file:${keys}`, '-Y', 'tls.alert_message', '-T', 'fields', '-e', 'tcp.srcport', '-e', 'tls.alert_message.desc'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const theirs = out.split('\n').filter(Boolean).map((l) => l.split('\t')).map(([port, desc]) => `${port} ${desc === '46' ? 'certificate_unknown' : desc} client`);
  assert.equal(theirs.length, 3, out);
  const ours = entries.filter((e) => e.response?.alert).map((e) => `${e.src.port} ${e.response.alert.description} ${e.response.alert.from}`);
  assert.deepEqual(ours, theirs);
  assert.ok(entries.filter((e) => e.response?.alert).every((e) => e.error && e.response.alert.level === 'fatal'));
  const partial = join(dir, 'no-client-traffic.keys');
  // Neither traffic secret (with one of them, its direction decrypts: the next test).
  writeFileSync(partial, readFileSync(sharedCapture('snet-tls13-chacha20-poly1305.keys'), 'latin1').replace(/^(CLIENT|SERVER)_TRAFFIC_SECRET_0 .*$/gm, ''));
  const one = await dissect('snet-tls13-chacha20-poly1305.pcap', partial);
  assert.match(one.stderr, /1 without a key in the key log \(named in the key log without the secrets its version needs/);
  assert.doesNotMatch(one.stderr, /another capture/);
});

test('TLS 1.3 with one direction traffic secret logged: that direction decrypts as tshark decrypts it, the other is counted and said on the calls', async () => {
  const capture = sharedCapture('hotplace-tls13-aes128gcm-http2.pcapng');
  const full = readFileSync(sharedCapture('hotplace-tls13-aes128gcm-http2.keys'), 'latin1');
  for (const missing of ['CLIENT', 'SERVER'] as const) {
    const keys = join(dir, `no-${missing}-traffic.keys`);
    writeFileSync(keys, full.replace(new RegExp(`^${missing}_TRAFFIC_SECRET_0 .*$`, 'gm'), ''));
    const log = loadKeyLogFile(keys, (m) => assert.fail(m));
    let engine: DissectionEngine | undefined;
    const entries: any[] = [];
    const reader = openCapture(Buffer.alloc(0), createReadStream(capture), capture);
    for await (const batch of dissectPackets(reader.batches(), { tlsKeys: log, engineRef: (e) => (engine = e) })) entries.push(...batch);
    const c = engine!.summary();
    // tshark, with the same log, decrypts the direction whose secret is there.
    const out = execFileSync('tshark', ['-r', capture, '-o', `tls.keylog_file:${keys}`, '-Y', 'http2.type == 1', '-T', 'fields', '-E', 'separator=|', '-e', 'http2.headers.path', '-e', 'http2.headers.status'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const theirs = out.split('\n').filter(Boolean).flatMap((l) => l.split('|')[missing === 'CLIENT' ? 1 : 0].split(',')).filter(Boolean).sort();
    const calls = entries.filter((e) => e.protocol === 'http2');
    const ours = calls.map((e) => String(missing === 'CLIENT' ? e.response?.status : e.request?.path)).sort();
    assert.ok(theirs.length >= 5, out);
    assert.deepEqual(ours, theirs);
    // Nothing of the missing direction is made up, and every call says why its other half is not there.
    const why = `TLS: the ${missing.toLowerCase()}'s records not decrypted (no ${missing}_TRAFFIC_SECRET_0 in the key log)`;
    for (const e of calls) {
      assert.equal(missing === 'CLIENT' ? e.request?.path : e.response?.status, undefined, JSON.stringify(e));
      assert.ok(e.warnings?.includes(why), JSON.stringify(e.warnings));
    }
    const counter = `tls.no-key-${missing.toLowerCase()}-direction`;
    assert.ok(c[counter] >= 2, JSON.stringify(c));
    assert.equal(c['tls.undecryptable'], undefined);
    assert.equal(c['tls.no-key'], undefined);
    assert.match(describeDecryption(c), new RegExp(`; ${c[counter]} TLS 1\\.3 sessions whose key log lacks one direction's traffic secret: that direction not decrypted, the other one is \\(no ${missing}_TRAFFIC_SECRET_0: ${c[counter]}\\)`));
  }
});

test('secrets logged for a session that do not open its first record are said with the version and suite', async () => {
  const bad = join(dir, 'damaged.keys');
  // One hex digit of the master secret changed: the client random still matches.
  writeFileSync(bad, readFileSync(sharedCapture('snet-tls12-ecdhe-rsa-aes128-gcm.keys'), 'latin1').replace(/^(CLIENT_RANDOM \S+ )(.)/m, (_m, head: string, d: string) => head + (d === '0' ? '1' : '0')));
  const { entries, stderr } = await dissect('snet-tls12-ecdhe-rsa-aes128-gcm.pcap', bad);
  assert.equal(entries.filter((e) => e.protocol === 'tls').length, 1);
  assert.match(stderr, /1 session in the key log whose first encrypted record did not decrypt with the logged secrets \(TLS 1\.2 TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 1\)/);
  assert.doesNotMatch(stderr, /without a key/);
});

test('a key log saved with a byte order mark (UTF-8, or UTF-16 as PowerShell writes it) is read as its text', async () => {
  const text = readFileSync(sharedCapture('snet-tls12-ecdhe-rsa-aes128-gcm.keys'), 'latin1').replace(/^#.*\n/m, '').replace(/\n/g, '\r\n');
  const be = Buffer.from(text, 'utf16le').swap16();
  const files = {
    'utf8-bom.keys': Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text, 'latin1')]),
    'utf16le.keys': Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]),
    'utf16be.keys': Buffer.concat([Buffer.from([0xfe, 0xff]), be]),
  };
  for (const [name, bytes] of Object.entries(files)) {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    const { stderr } = await dissect('snet-tls12-ecdhe-rsa-aes128-gcm.pcap', path);
    assert.doesNotMatch(stderr, /not a key log line/, name);
    assert.match(stderr, /TLS: 1 session decrypted/, name);
  }
});

test('key log problems: a missing file is a usage error; bad lines are reported with their line number and skipped', async () => {
  const missing = await runCli(['dissect', '--tls-keylog', join(dir, 'nope.keys'), sharedCapture('snet-tls12-ecdhe-rsa-aes128-gcm.pcap')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--tls-keylog .*nope\.keys: no such file/);
  const mixed = join(dir, 'mixed.keys');
  writeFileSync(mixed, `# comment\nGARBAGE LINE\n${readFileSync(sharedCapture('snet-tls12-ecdhe-rsa-aes128-gcm.keys'), 'latin1')}CLIENT_RANDOM zz 00\n`);
  const r = await runCli(['dissect', '--tls-keylog', mixed, sharedCapture('snet-tls12-ecdhe-rsa-aes128-gcm.pcap')]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /mixed\.keys:2: not a key log line/);
  assert.match(r.stderr, /mixed\.keys:\d+: not a key log line \(client random is not 32 bytes of hex\)/);
  assert.match(r.stderr, /TLS: 1 session decrypted/);
});

test('the key log parser keeps sessions by client random and refuses malformed secrets', () => {
  const log = new TlsKeyLog();
  const random = 'ab'.repeat(32);
  const bad: number[] = [];
  log.addText(`CLIENT_RANDOM ${random} ${'11'.repeat(48)}\nSERVER_TRAFFIC_SECRET_0 ${random} ${'22'.repeat(32)}\nCLIENT_RANDOM ${random} xyz\nNOT_A_LABEL ${random} ${'33'.repeat(32)}\n`, (n) => bad.push(n));
  const s = log.lookup(Buffer.from(random, 'hex'));
  assert.equal(s?.get('CLIENT_RANDOM')?.length, 48);
  assert.equal(s?.get('SERVER_TRAFFIC_SECRET_0')?.length, 32);
  assert.deepEqual(bad, [3, 4]);
  assert.equal(log.lookup(Buffer.alloc(32)), undefined);
});

test('a followed key log (live tap) is read as it grows: a line half written waits for its end; a file replaced is read afresh', () => {
  const path = join(dir, 'growing.keys');
  const r1 = 'a1'.repeat(32);
  const r2 = 'b2'.repeat(32);
  const r3 = 'c3'.repeat(32);
  const warnings: string[] = [];
  const log = loadKeyLogFile(path, (m) => warnings.push(m), undefined, true);
  assert.match(warnings[0], /growing\.keys: not there yet; read as it appears/);
  assert.equal(log.follows, true);
  const line = (r: string) => `CLIENT_RANDOM ${r} ${'11'.repeat(48)}\n`;
  writeFileSync(path, line(r1) + line(r2).slice(0, 40));
  log.refresh(true);
  assert.ok(log.lookup(Buffer.from(r1, 'hex')));
  assert.equal(log.lookup(Buffer.from(r2, 'hex')), undefined, 'half a line is not a line');
  writeFileSync(path, line(r1) + line(r2) + 'garbage\n');
  log.refresh(true);
  assert.ok(log.lookup(Buffer.from(r2, 'hex')), 'the rest of the line came');
  // Bad lines are reported with their line number in the file.
  assert.ok(warnings.some((w) => /growing\.keys:3: not a key log line/.test(w)), JSON.stringify(warnings));
  writeFileSync(path, line(r3));
  log.refresh(true);
  assert.ok(log.lookup(Buffer.from(r3, 'hex')), 'a shorter file (replaced) is read from its start');
  // Read once (dissect): no following.
  assert.equal(loadKeyLogFile(path, () => {}).follows, false);
  // A "line" that never ends is not kept growing: reported, and the lines after it still read.
  const endless = join(dir, 'endless.keys');
  const seen: string[] = [];
  writeFileSync(endless, 'x'.repeat(10_000));
  const followed = loadKeyLogFile(endless, (m) => seen.push(m), undefined, true);
  assert.ok(seen.some((w) => /endless\.keys:\d+: not a key log line/.test(w)), `said before its end: ${JSON.stringify(seen)}`);
  writeFileSync(endless, 'x'.repeat(10_000) + '\n' + line(r1));
  followed.refresh(true);
  assert.ok(followed.lookup(Buffer.from(r1, 'hex')));
  assert.ok(seen.some((w) => /endless\.keys:\d+: not a key log line/.test(w)), JSON.stringify(seen));
  // A directory is a usage error, followed or not.
  assert.throws(() => loadKeyLogFile(dir, () => {}, undefined, true), /is a directory/);
});

test('a followed key log in UTF-16 (PowerShell) is read as it grows, every chunk after the first too, a character split between writes included', () => {
  const line = (r: string) => `CLIENT_RANDOM ${r} ${'11'.repeat(48)}\r\n`;
  const randoms = ['d1', 'd2', 'd3'].map((b) => b.repeat(32));
  for (const [name, bom, encode] of [
    ['le', [0xff, 0xfe], (t: string) => Buffer.from(t, 'utf16le')],
    ['be', [0xfe, 0xff], (t: string) => Buffer.from(t, 'utf16le').swap16()],
  ] as const) {
    const path = join(dir, `growing-utf16${name}.keys`);
    writeFileSync(path, Buffer.concat([Buffer.from(bom), encode(line(randoms[0]))]));
    const warnings: string[] = [];
    const log = loadKeyLogFile(path, (m) => warnings.push(m), undefined, true);
    assert.ok(log.lookup(Buffer.from(randoms[0], 'hex')), `${name}: the first chunk`);
    appendFileSync(path, encode(line(randoms[1])));
    log.refresh(true);
    assert.ok(log.lookup(Buffer.from(randoms[1], 'hex')), `${name}: a line appended later, with no byte order mark of its own`);
    // The writer flushed in the middle of a character: its first byte waits for its second.
    const third = encode(line(randoms[2]));
    appendFileSync(path, third.subarray(0, 51));
    log.refresh(true);
    appendFileSync(path, third.subarray(51));
    log.refresh(true);
    assert.ok(log.lookup(Buffer.from(randoms[2], 'hex')), `${name}: a character split between two writes`);
    assert.deepEqual(warnings, [], name);
  }
});

test('secrets carried in the capture (pcapng Decryption Secrets Block, editcap --inject-secrets) decrypt without --tls-keylog', async () => {
  const withSecrets = join(dir, 'dsb.pcapng');
  execFileSync('editcap', ['--inject-secrets', `tls,${sharedCapture('hotplace-tls12-chacha20-http1.keys')}`, sharedCapture('hotplace-tls12-chacha20-http1.pcapng'), withSecrets], { stdio: 'ignore' });
  const r = await runCli(['dissect', withSecrets]);
  assert.equal(r.code, 0, r.stderr);
  const entries = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const http = entries.filter((e) => e.protocol === 'http');
  assert.deepEqual(http.map((e) => `${e.request.method} ${e.request.path} ${e.response.status}`), ['GET / 200']);
  // Frame numbers as tshark gives them for the same file (the secrets block is not a frame).
  const tshark = execFileSync('tshark', ['-r', withSecrets, '-Y', 'http', '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n').map(Number);
  assert.deepEqual([http[0].frames.request, http[0].frames.response], tshark);
  assert.match(r.stderr, /TLS: 1 session decrypted/);
});

test('a Decryption Secrets Block larger than a packet block (the key log of 4,000 sessions, 700 KB) is read, as tshark reads it', async () => {
  // Before: any block over 400 KB was "corrupt" (exit 3, nothing read).
  const keys = join(dir, 'many-sessions.keys');
  const hex = (i: number, bytes: number) => (i.toString(16).padStart(8, '0') + 'ab').repeat(bytes).slice(0, bytes * 2);
  const others = Array.from({ length: 4000 }, (_, i) => `CLIENT_RANDOM ${hex(i, 32)} ${hex(i, 48)}\n`).join('');
  writeFileSync(keys, others + readFileSync(sharedCapture('hotplace-tls12-chacha20-http1.keys'), 'utf8'));
  const withSecrets = join(dir, 'dsb-large.pcapng');
  execFileSync('editcap', ['--inject-secrets', `tls,${keys}`, sharedCapture('hotplace-tls12-chacha20-http1.pcapng'), withSecrets], { stdio: 'ignore' });
  assert.ok(readFileSync(withSecrets).length > 700_000);
  const r = await runCli(['dissect', withSecrets]);
  assert.equal(r.code, 0, r.stderr);
  const http = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((e) => e.protocol === 'http');
  assert.deepEqual(http.map((e) => `${e.request.method} ${e.request.path} ${e.response.status}`), ['GET / 200']);
  const tshark = execFileSync('tshark', ['-r', withSecrets, '-Y', 'http', '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n').map(Number);
  assert.deepEqual([http[0].frames.request, http[0].frames.response], tshark);
});

test('a gap in the ciphertext: decryption finds the next record and goes on; the protocol inside hears of the plaintext it lost', async () => {
  // Frame 123 is the client's encrypted SETTINGS ack (one 26-byte TLS 1.3 record: 9 bytes of HTTP/2).
  const lossy = join(dir, 'gap.pcapng');
  execFileSync('editcap', [sharedCapture('hotplace-tls13-aes128gcm-http2.pcapng'), lossy, '123'], { stdio: 'ignore' });
  const r = await runCli(['dissect', '--tls-keylog', sharedCapture('hotplace-tls13-aes128gcm-http2.keys'), lossy]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /1 gap in the ciphertext \(1 record lost in it\)/);
  // The HTTP/2 parser is told of exactly the 9 plaintext bytes that record carried, not the 31 bytes of ciphertext.
  assert.match(r.stderr, /http2\.gap=9 /);
  const entries = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  // Every response after the gap still decrypts.
  assert.deepEqual(entries.filter((e) => e.protocol === 'http2').map((e) => e.response?.status), [200, 404, 200, 200, 200]);
});

test('TLS 1.3: the protocol the server chose (its encrypted EncryptedExtensions) is the tls entry ALPN once decrypted', async () => {
  const capture = 'hotplace-tls13-aes128gcm-http2.pcapng';
  const keys = sharedCapture('hotplace-tls13-aes128gcm-http2.keys');
  // tshark: the client port of every session whose EncryptedExtensions it decrypted, with the ALPN in them.
  const out = execFileSync('tshark', ['-r', sharedCapture(capture), '-o', `tls.keylog_file:${keys}`, '-Y', 'tls.handshake.type == 8', '-T', 'fields', '-e', 'tcp.dstport', '-e', 'tls.handshake.extensions_alpn_str'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const theirs = new Map(out.split('\n').filter(Boolean).map((l) => l.split('\t') as [string, string]));
  const { entries } = await dissect(capture, keys);
  const chosen = entries.filter((e) => e.protocol === 'tls' && e.response?.alpn);
  assert.ok(chosen.length >= 2, JSON.stringify(entries.map((e) => [e.protocol, e.src.port, e.response?.alpn])));
  for (const e of chosen) assert.equal(e.response.alpn, theirs.get(String(e.src.port)), `port ${e.src.port}`);
  // Without the key log the server choice stays hidden (TLS 1.3 sends it encrypted): the summary names the client first offer.
  const plain = await dissect(capture);
  assert.deepEqual(plain.entries.filter((e) => e.protocol === 'tls' && e.response?.alpn).length, 0);
});

test('stats, map and filter read TLS captures with --tls-keylog as dissect does (and see only tls without it)', async () => {
  const capture = sharedCapture('hotplace-tls13-aes128gcm-http2.pcapng');
  const keys = sharedCapture('hotplace-tls13-aes128gcm-http2.keys');
  const filtered = await runCli(['filter', '--tls-keylog', keys, 'http2 && status_code == 404', capture]);
  assert.equal(filtered.code, 0, filtered.stderr);
  assert.deepEqual(filtered.stdout.trim().split('\n').map((l) => JSON.parse(l).request.path), ['/favicon.ico']);
  const stats = await runCli(['stats', '--format', 'json', '--tls-keylog', keys, capture]);
  assert.equal(stats.code, 0, stats.stderr);
  const rows = JSON.parse(stats.stdout).rows as { name: string; entries: number }[];
  assert.equal(rows.find((r) => r.name === 'http2')?.entries, 5, stats.stdout);
  const map = await runCli(['map', '--format', 'json', '--tls-keylog', keys, capture]);
  assert.equal(map.code, 0, map.stderr);
  assert.match(map.stdout, /"http2"/);
  // Without the key log the same commands see no HTTP/2 (the check above could fail).
  const plain = await runCli(['stats', '--format', 'json', capture]);
  assert.equal((JSON.parse(plain.stdout).rows as { name: string }[]).some((r) => r.name === 'http2'), false);
});

test('a followed key log holding an RSA premaster line of another session still waits for this session CLIENT_RANDOM line (live)', async () => {
  const keys = join(dir, 'live-rsa.keys');
  writeFileSync(keys, 'RSA 0011223344556677 ' + '03'.repeat(48) + '\n');
  const log = loadKeyLogFile(keys, () => {}, undefined, true);
  const capture = sharedCapture('snet-tls12-ecdhe-rsa-aes128-gcm.pcap');
  const reader = openCapture(Buffer.alloc(0), createReadStream(capture), capture);
  // Packets one by one; the client logs its line only once the ServerHello has gone by.
  async function* slowly() {
    let n = 0;
    for await (const batch of reader.batches()) {
      for (const p of batch) {
        yield [p];
        if (++n === 6) {
          appendFileSync(keys, readFileSync(sharedCapture('snet-tls12-ecdhe-rsa-aes128-gcm.keys'), 'utf8'));
          await new Promise((r) => setTimeout(r, 60));
        }
      }
    }
  }
  let engine: DissectionEngine | undefined;
  for await (const batch of dissectPackets(slowly(), { tlsKeys: log, engineRef: (e) => (engine = e) })) void batch;
  const c = engine!.summary();
  assert.equal(c['tls.decrypted-sessions'], 1, JSON.stringify(c));
  assert.equal(c['tls.no-key'], undefined);
});

test('master secrets remembered for resumption are bounded, and one forgotten is counted and said', () => {
  const log = new TlsKeyLog();
  const master = Buffer.alloc(48, 1);
  const id = (i: number): Buffer => Buffer.from(i.toString(16).padStart(8, '0'), 'hex');
  let forgotten = 0;
  for (let i = 0; i <= MAX_RESUMABLE; i++) if (log.rememberMaster('id', id(i), master)) forgotten++;
  assert.equal(forgotten, 1);
  assert.equal(log.recallMaster('id', id(0)), undefined, 'the oldest went first');
  assert.deepEqual(log.recallMaster('id', id(MAX_RESUMABLE)), master);
  assert.match(describeDecryption({ 'tls.resumable-forgotten': 1 }), new RegExp(`1 earlier master secrets forgotten \\(more than ${MAX_RESUMABLE} kept for resumption\\)`));
});

test('master secrets tried on a resumed session: the last MAX_TRIED_MASTERS logged, newest first, at most MAX_TRIALS a run, each bound said', () => {
  const log = new TlsKeyLog();
  const lines = Array.from({ length: MAX_TRIED_MASTERS + 5 }, (_, i) => `CLIENT_RANDOM ${i.toString(16).padStart(64, '0')} ${i.toString(16).padStart(96, '0')}`);
  log.addText(`${lines.join('\n')}\nRSA Session-ID:${'ab'.repeat(32)} Master-Key:${'ff'.repeat(48)}\n`);
  assert.equal(log.masterCount, MAX_TRIED_MASTERS + 6);
  const masters = [...log.mastersNewestFirst(MAX_TRIED_MASTERS)];
  assert.equal(masters.length, MAX_TRIED_MASTERS);
  assert.ok(MAX_TRIED_MASTERS > 2048 * 4, 'far more than the 2,048 of before');
  assert.deepEqual(masters[0], Buffer.alloc(48, 0xff), 'the last logged first');
  assert.equal(masters[1].readUInt16BE(46), MAX_TRIED_MASTERS + 4);
  let taken = 0;
  while (log.takeTrials(50_000) === 50_000) taken += 50_000;
  assert.equal(taken, MAX_TRIALS);
  assert.equal(log.takeTrials(1), 0, 'the run budget is spent');
  const said = describeDecryption({ 'tls.decrypted-sessions': 1, 'tls.resumed-sessions': 1, 'tls.resumed-by-trial': 1, 'tls.resume-trial-limited': 1, 'tls.resume-trial-budget': 2 });
  assert.match(said, /1 resumed with the master secret of an earlier session; 1 of them by trying the key log's master secrets/);
  assert.match(said, new RegExp(`1 resumed session tried against the last ${MAX_TRIED_MASTERS} master secrets of the key log only`));
  assert.match(said, new RegExp(`2 resumed sessions not tried against all of the key log \\(${MAX_TRIALS} master secrets tried in this run already\\)`));
});

test('a key log given as a FIFO: read once, its secrets reach every worker; followed live, its lines are read as they are written', async () => {
  const keys = readFileSync(sharedCapture('hotplace-tls12-chacha20-http1.keys'), 'latin1');
  const fifo = join(dir, 'keys.fifo');
  execFileSync('mkfifo', [fifo]);
  // The writer opens once shark opens its end (as `<(cat keys)` does).
  const writer = createWriteStream(fifo);
  writer.end(keys);
  const r = await runCli(['dissect', '--workers', '2', '--tls-keylog', fifo, sharedCapture('hotplace-tls12-chacha20-http1.pcapng')]);
  assert.equal(r.code, 0, r.stderr);
  const entries = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  assert.deepEqual(entries.map((e) => `${e.protocol} ${e.tls} ${e.summary}`), ['http true GET / → 200']);
  assert.match(r.stderr, /TLS: 1 session decrypted/);

  // Live (`tap --tls-keylog <(kubectl exec … tail -f keys)`): a FIFO has no size to watch; it is read as written.
  const live = join(dir, 'live.fifo');
  execFileSync('mkfifo', [live]);
  const warnings: string[] = [];
  const log = loadKeyLogFile(live, (m) => warnings.push(m), undefined, true);
  const fd = openSync(live, 'w');
  try {
    const line = keys.split('\n').find((l) => l.startsWith('CLIENT_RANDOM '))!;
    const random = Buffer.from(line.split(' ')[1], 'hex');
    assert.equal(log.lookup(random), undefined);
    // A line written in two pieces is read once whole.
    writeSync(fd, line.slice(0, 40));
    log.refresh(true);
    assert.equal(log.lookup(random), undefined);
    writeSync(fd, line.slice(40) + '\nnot a key log line\n');
    log.refresh(true);
    assert.equal(log.lookup(random)?.get('CLIENT_RANDOM')?.toString('hex'), line.split(' ')[2]);
    assert.deepEqual(warnings, [`${live}:2: not a key log line (not "LABEL CLIENT_RANDOM SECRET"); skipped`]);
  } finally {
    closeSync(fd);
  }
});
