// QUIC and HTTP/3: a real capture (picoquic's h3zero, QUIC version 2, its TLS
// secrets in a pcapng Decryption Secrets Block) read as tshark reads it, and
// connections written packet by packet (test/helpers/quic-wire.ts) that
// tshark decrypts with the same key log to the same streams: version 1 and 2,
// AES-128-GCM and ChaCha20-Poly1305, QPACK's dynamic table, a key update,
// frames out of order and repeated, a stream reset, a lost packet, no key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { dissectFile } from '../helpers/dissect.js';
import { sharedCapture } from '../helpers/paths.js';
import { udpPacket, writeRawPcap } from '../helpers/pcap-wire.js';
import * as q from '../helpers/quic-wire.js';
import { QUIC_V1, QUIC_V2 } from '../../src/dissect/quic/packet-protection.js';
import { probeQuic } from '../../src/dissect/protocols/quic.js';
import type { Entry } from '../../src/model/entry.js';
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { DissectionEngine } from '../../src/dissect/engine.js';
import { TlsKeyLog } from '../../src/dissect/tls/keylog.js';
import { repoRoot } from '../helpers/paths.js';
import { mulberry32 } from '../helpers/random.js';

const parse = (stdout: string): Entry[] => stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));

test('real HTTP/3 over QUIC v2 (secrets in the pcapng): every request tshark decrypts, with 0-RTT refused and sent again', async () => {
  const path = sharedCapture('ndpi-quic-v2-dsb.pcapng');
  const run = await runCli(['dissect', path]);
  assert.equal(run.code, 0, run.stderr);
  const entries = parse(run.stdout);
  assert.deepEqual(entries.map((e) => e.summary), ['GET /index.html → 200', 'GET /test.html → 404', 'GET /1234567 → unanswered']);
  for (const e of entries) {
    assert.equal(e.protocol, 'http3');
    assert.equal(e.tls, true);
    assert.equal(e.request!.authority, 'test');
    assert.equal(e.request!.headers['user-agent'], 'H3Zero/1.0');
  }
  // tshark: the client's HEADERS frames and the server's DATA, per stream (decrypted with the same secrets).
  const rows = execFileSync('tshark', ['-r', path, '-Y', 'http3.frame_type', '-T', 'fields', '-e', 'frame.number', '-e', 'ipv6.src', '-e', 'udp.srcport', '-e', 'quic.stream.stream_id', '-e', 'http3.frame_type', '-e', 'http3.frame_length'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
    .trim().split('\n').map((l) => l.split('\t'));
  const clientPort = String(entries[0].src.port);
  const requestStreams = new Set<number>();
  for (const [, , port, streams, types] of rows) {
    if (port !== clientPort) continue;
    const ids = streams.split(',').map(Number);
    // Request streams are the client's bidirectional ones (id % 4 == 0) whose frames include HEADERS.
    if (types.split(',').includes('1')) for (const id of ids) if (id % 4 === 0) requestStreams.add(id);
  }
  assert.deepEqual(entries.map((e) => e.request!.streamId).sort(), [...requestStreams].sort());
  const dataLength = rows.find(([, , port, streams, types]) => port !== clientPort && streams === '0' && types === '1,0')![5].split(',')[1];
  assert.equal(entries[0].response!.bodySize, Number(dataLength));
  assert.match(entries[0].response!.body, /<html|<!DOCTYPE|html/i);
  // The refused 0-RTT request (frame 1) is not the call: the one the server read in 1-RTT is (frame 13, answered in frame 14).
  assert.deepEqual(entries[0].frames, { request: 13, response: 14 });
  assert.ok(entries[0].elapsedTime < 5, `${entries[0].elapsedTime} ms`);
  // The names users filter by: --protocols and KFL's protocol flag.
  const only = await runCli(['dissect', '--protocols', 'http3', path]);
  assert.equal(only.code, 0, only.stderr);
  assert.equal(parse(only.stdout).length, 3);
  const filtered = await runCli(['filter', 'http3 && status_code == 404'], { input: run.stdout });
  assert.deepEqual(parse(filtered.stdout).map((e) => e.summary), ['GET /test.html → 404']);
});

test('QUIC without the session secrets: one quic entry from the Initial packets (server name, ALPN, suite)', async () => {
  // In-process, without the pcapng's secrets block (the CLI reads it; this helper does not).
  const { entries, error } = await dissectFile(sharedCapture('ndpi-quic-v2-dsb.pcapng'));
  assert.equal(error, undefined);
  assert.equal(entries.length, 1);
  const e = entries[0];
  assert.equal(e.protocol, 'quic');
  assert.equal(e.request!.quicVersion, 'QUIC v2');
  assert.equal(e.request!.sni, 'test');
  assert.deepEqual(e.request!.alpn, ['h3']);
  assert.equal(e.response!.cipherSuite, 'TLS_AES_128_GCM_SHA256');
  assert.ok(e.warnings?.includes('encrypted: no key for this session'));
  assert.equal(e.src.port, 42086, 'the client is the side that sent the first Initial');
});

test('a handshake cut by the snap length: the client is found by the ports, the ServerHello is read', async () => {
  const run = await runCli(['dissect', sharedCapture('tcpdump-quic_handshake_truncated.pcap')]);
  assert.equal(run.code, 0, run.stderr);
  const [e] = parse(run.stdout);
  assert.equal(e.protocol, 'quic');
  assert.equal(e.dst.port, 443);
  assert.equal(e.response!.cipherSuite, 'TLS_AES_128_GCM_SHA256');
  assert.match(run.stderr, /truncated_by_snaplen=4/);
});

interface Lab {
  packets: ReturnType<typeof q.datagrams>;
  keylog: string;
}

/**
 * One connection: handshake, SETTINGS and QPACK streams, then four requests:
 * GET /a (a header from QPACK's dynamic table) → 200; POST /b with a secret in
 * its JSON body → 500; GET /c → RESET_STREAM; after a key update, GET /d whose
 * response comes in three packets out of order, one of them twice.
 * `drop` leaves out the response's middle packet.
 */
function lab(seed: string, suite = q.AES_128_GCM, version = QUIC_V1, drop = false, mutate?: (frames: Buffer) => Buffer, more = 0, gso = 0): Lab {
  const c = q.newConnection(seed, suite, version);
  let pauseBefore: number | undefined;
  // Fuzzing: the plaintext of every 1-RTT packet is mutated before it is protected (a hostile peer's bytes authenticate).
  const short = (from: 'client' | 'server', frames: Buffer[], opts?: { keys?: ReturnType<typeof q.updated>; phase?: number }) =>
    q.shortPacket(c, from, mutate ? [mutate(Buffer.concat(frames))] : frames, opts);
  const suiteCode = suite.aead === 'chacha20-poly1305' ? 0x1303 : 0x1301;
  const out: Array<{ from: 'client' | 'server'; data: Buffer }> = [];
  const client = (...packets: Buffer[]) => out.push({ from: 'client', data: Buffer.concat(packets) });
  const server = (...packets: Buffer[]) => out.push({ from: 'server', data: Buffer.concat(packets) });
  // The ClientHello as Chrome sends a large one: over two Initial packets (two datagrams), its CRYPTO
  // frames out of order with PINGs between them; the first datagram padded with zeros after its packet.
  const hello = q.clientHello(c.clientRandom, 'api.test', [0x1301, 0x1303]);
  const [h1, h2, h3] = [hello.subarray(0, 20), hello.subarray(20, 50), hello.subarray(50)];
  client(q.longPacket(c, 'initial', 'client', [q.crypto(20, h2), q.ping, q.crypto(0, h1)]), Buffer.alloc(900));
  client(q.longPacket(c, 'initial', 'client', [q.ping, q.crypto(50, h3)], { pad: 1162 }));
  server(
    q.longPacket(c, 'initial', 'server', [q.ack(0), q.crypto(0, q.serverHello(Buffer.alloc(32, 7), suiteCode))]),
    q.longPacket(c, 'handshake', 'server', [q.crypto(0, q.encryptedExtensionsH3())]),
    // 0.5-RTT: the server's control stream (QPACK table capacity 4096) and its QPACK streams.
    short('server', [q.stream(3, 0, Buffer.concat([q.varint(0), q.h3Settings([[1, 4096], [7, 16]])])), q.stream(7, 0, q.varint(2)), q.stream(11, 0, q.varint(3))]),
  );
  const get = (path: string, extra: Buffer[] = []) =>
    q.h3Headers(Buffer.concat([q.qpackPrefix(extra.length > 0 ? 2 : 0), q.qpackStatic(17), q.qpackStatic(23), q.qpackLiteral(1, path), q.qpackLiteral(0, 'api.test'), ...extra]));
  client(
    q.longPacket(c, 'handshake', 'client', [q.crypto(0, Buffer.from([20, 0, 0, 32, ...Buffer.alloc(32, 9)]))]),
    // GET /a refers to an entry of QPACK's dynamic table that the client's encoder stream inserts in the
    // next packet: its field section waits (blocked) with its FIN, then reads.
    short('client', [
      q.stream(2, 0, Buffer.concat([q.varint(0), q.h3Settings([[1, 4096]])])),
      q.stream(10, 0, q.varint(3)),
      q.stream(0, 0, get('/a', [q.qpackDynamic(0)]), true),
    ]),
  );
  client(short('client', [q.stream(6, 0, Buffer.concat([q.varint(2), q.qpackSetCapacity(4096), q.qpackInsertLiteral('x-trace', 'abc')]))]));
  server(short('server', [q.handshakeDone, q.stream(0, 0, Buffer.concat([q.h3Headers(Buffer.concat([q.qpackPrefix(0), q.qpackStatic(25), q.qpackStatic(46)])), q.h3Data('hello')]), true)]));
  const post = Buffer.concat([
    q.h3Headers(Buffer.concat([q.qpackPrefix(0), q.qpackStatic(20), q.qpackStatic(23), q.qpackLiteral(1, '/b'), q.qpackLiteral(0, 'api.test'), q.qpackStatic(46)])),
    q.h3Data('{"user":"ann","password":"Zq77secretVal"}'),
  ]);
  client(short('client', [q.stream(4, 0, post, true)]));
  server(short('server', [q.stream(4, 0, Buffer.concat([q.h3Headers(Buffer.concat([q.qpackPrefix(0), q.qpackStatic(71)])), q.h3Data('oops')]), true)]));
  client(short('client', [q.stream(8, 0, get('/c'), true)]));
  server(short('server', [q.resetStream(8, 0x10b, 0)]));
  // Key update: both sides move to the next key phase.
  const clientNext = q.updated(c.application.client);
  const serverNext = q.updated(c.application.server);
  client(short('client', [q.stream(12, 0, get('/d'), true)], { keys: clientNext, phase: 1 }));
  // A server packet of the old key phase, sent before the update, arrives after it.
  const late = short('server', [q.ping], {});
  const head = q.h3Headers(Buffer.concat([q.qpackPrefix(0), q.qpackStatic(25)]));
  const body = Buffer.concat([q.h3Data('part1'), q.h3Data('part2'), q.h3Data('part3')]);
  const first = Buffer.concat([head, body.subarray(0, 7)]);
  const second = body.subarray(7, 14);
  const third = body.subarray(14);
  // `gso`: those packets in one datagram, each padded to `gso` bytes but the last, as a UDP GSO batch is
  // captured before the kernel cuts it (1 + 8 + 2 bytes of header and 16 of tag around the frames).
  const sized = (frames: Buffer[]): Buffer[] => (gso > 0 ? [...frames, Buffer.alloc(gso - 27 - Buffer.concat(frames).length)] : frames);
  const sA = short('server', sized([q.stream(12, 0, first)]), { keys: serverNext, phase: 1 });
  const sB = short('server', [q.stream(12, first.length, second)], { keys: serverNext, phase: 1 });
  const sC = short('server', sized([q.stream(12, first.length + second.length, third, true)]), { keys: serverNext, phase: 1 });
  const sA2 = short('server', sized([q.ping, q.stream(12, 0, first)]), { keys: serverNext, phase: 1 });
  const lateSized = gso > 0 ? short('server', sized([q.ping]), {}) : late;
  if (gso > 0) server(sC, lateSized, sA, sA2, sB);
  else {
    server(sC);
    server(late);
    server(sA);
    server(sA2);
    if (!drop) server(sB);
  }
  // `more` requests after those, one after the other on streams 16, 20, …; after the first, a minute of quiet.
  for (let i = 0; i < more; i++) {
    if (i === 1) pauseBefore = out.length;
    const id = 16 + 4 * i;
    client(short('client', [q.stream(id, 0, get(`/more/${i}`), true)], { keys: clientNext, phase: 1 }));
    server(short('server', [q.stream(id, 0, Buffer.concat([head, q.h3Data('ok')]), true)], { keys: serverNext, phase: 1 }));
  }
  client(short('client', [q.ack(3), q.connectionClose(0x100, '')], { keys: clientNext, phase: 1 }));
  const packets = q.datagrams(out);
  if (pauseBefore !== undefined) {
    // The pause: every packet from there on a minute later (past the engine's 15 s UDP idle timeout),
    // and other traffic in it (a DNS query), whose packets move the capture's clock on meanwhile.
    const resume = packets[pauseBefore];
    for (const p of packets.slice(pauseBefore)) p.tsSec += 60;
    const dns = udpPacket((resume.tsSec + 30) * 1000, 0, 1, 53000, 53, Buffer.from('abcd01000001000000000000036170690474657374000001000' + '1', 'hex'));
    packets.splice(pauseBefore, 0, dns);
    packets.forEach((p, i) => (p.frame = i + 1));
  }
  return { packets, keylog: c.keylog };
}

function write(dir: string, name: string, l: Lab): { pcap: string; keys: string } {
  const pcap = join(dir, `${name}.pcap`);
  const keys = join(dir, `${name}.keys`);
  writeRawPcap(pcap, l.packets);
  writeFileSync(keys, l.keylog);
  return { pcap, keys };
}

/** tshark's view of the HTTP/3 frames: stream id and frame type of each, in order. */
function tsharkFrames(pcap: string, keys: string): string[] {
  const out = execFileSync('tshark', ['-r', pcap, '-o', `tls.keylog_file:${keys}`, '-d', 'udp.port==443,quic', '-Y', 'http3.frame_type', '-T', 'fields', '-e', 'quic.stream.stream_id', '-e', 'http3.frame_type'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return out.trim().split('\n').filter(Boolean);
}

test('written connections (v1 and v2, AES-GCM and ChaCha20): tshark decrypts them to the same frames; shark reads every call', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shark-quic-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, suite, version] of [['v1-aes', q.AES_128_GCM, QUIC_V1], ['v1-chacha', q.CHACHA20, QUIC_V1], ['v2-aes', q.AES_128_GCM, QUIC_V2]] as const) {
    const { pcap, keys } = write(dir, name, lab(name, suite, version));
    const frames = tsharkFrames(pcap, keys);
    // Request streams 0, 4, 8, 12 with HEADERS (1) and DATA (0) frames as written: tshark read the protection and framing.
    assert.ok(frames.some((f) => f.startsWith('0\t') && f.includes('1')), `${name}: tshark decrypts no HEADERS on stream 0: ${frames.join(' | ')}`);
    assert.ok(frames.some((f) => f.startsWith('12\t')), `${name}: tshark decrypts nothing after the key update: ${frames.join(' | ')}`);
    const run = await runCli(['dissect', '--tls-keylog', keys, pcap]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, 'dissect: QUIC: 1 of 1 connection decrypted\n', `${name}: nothing lost, nothing failed to decrypt`);
    const entries = parse(run.stdout);
    assert.deepEqual(entries.map((e) => e.summary), ['GET /a → 200', 'POST /b → 500', 'GET /c → RESET_STREAM H3_REQUEST_REJECTED', 'GET /d → 200'], name);
    const [a, b, c, d] = entries;
    assert.equal(a.request!.headers['x-trace'], 'abc', `${name}: a header from QPACK's dynamic table`);
    assert.equal(a.response!.body, 'hello');
    assert.equal(a.response!.contentType, 'application/json');
    assert.equal(b.error, true);
    assert.match(b.request!.body, /\[REDACTED\]/);
    assert.doesNotMatch(run.stdout, /Zq77secretVal/);
    assert.equal(c.error, true);
    assert.equal(c.response, null);
    assert.equal(d.response!.body, 'part1part2part3', `${name}: out-of-order and repeated frames, after a key update`);
    assert.equal(d.warnings, undefined);
    for (const e of entries) assert.equal(e.tls, true);
    // Two workers write what one does.
    const two = await runCli(['dissect', '--workers', '2', '--tls-keylog', keys, pcap]);
    assert.equal(two.stdout, run.stdout, name);
  }
});

test('a lost packet leaves its call marked, the others whole; without the key log one quic entry names the server', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shark-quic-loss-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const lossy = lab('lossy', q.AES_128_GCM, QUIC_V1, true);
  // The key log as early QUIC stacks wrote it: QUIC_-prefixed labels.
  lossy.keylog = lossy.keylog.replace(/^(CLIENT|SERVER)_/gm, 'QUIC_$1_');
  const { pcap, keys } = write(dir, 'lossy', lossy);
  const run = await runCli(['dissect', '--tls-keylog', keys, pcap]);
  assert.equal(run.code, 0, run.stderr);
  const entries = parse(run.stdout);
  assert.deepEqual(entries.slice(0, 3).map((e) => e.summary), ['GET /a → 200', 'POST /b → 500', 'GET /c → RESET_STREAM H3_REQUEST_REJECTED']);
  assert.equal(entries[3].request!.path, '/d');
  assert.ok(entries[3].warnings?.includes('gap'), JSON.stringify(entries[3].warnings));
  assert.match(run.stderr, /quic\.stream_gap=7/);
  assert.match(run.stderr, /QUIC: 1 of 1 connection decrypted/);
  const plain = await runCli(['dissect', pcap]);
  const [e, ...rest] = parse(plain.stdout);
  assert.equal(rest.length, 0);
  assert.equal(e.protocol, 'quic');
  assert.equal(e.request!.sni, 'api.test');
  assert.equal(e.dst.port, 443);
  // A key log without this session: counted, and the quic entry stays.
  writeFileSync(join(dir, 'other.keys'), q.newConnection('other').keylog);
  const other = await runCli(['dissect', '--tls-keylog', join(dir, 'other.keys'), pcap]);
  assert.equal(parse(other.stdout)[0].protocol, 'quic');
  assert.match(other.stderr, /QUIC: 0 of 1 connection decrypted; 1 without a key in the key log/);
});

test('a UDP GSO batch (packets in one datagram, as captured before the kernel cuts it) is cut into its packets: the calls are as sent one by one', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shark-quic-gso-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const calls = (stdout: string) => parse(stdout).map((e) => `${e.summary} ${e.response?.bodySize ?? ''} ${JSON.stringify(e.response?.body ?? null)} ${e.warnings ?? ''}`);
  const one = write(dir, 'one', lab('gso'));
  const alone = await runCli(['dissect', '--tls-keylog', one.keys, one.pcap]);
  assert.equal(alone.code, 0, alone.stderr);
  // 1,350 bytes (an Ethernet MTU's datagram), and 1,100 (ngtcp2 was seen cutting batches below QUIC's 1,200).
  for (const size of [1350, 1100]) {
    const batch = write(dir, `batch${size}`, lab('gso', q.AES_128_GCM, QUIC_V1, false, undefined, 0, size));
    const run = await runCli(['dissect', '--tls-keylog', batch.keys, batch.pcap]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(calls(run.stdout), calls(alone.stdout), `cut at ${size}`);
    assert.match(run.stderr, /QUIC: 1 of 1 connection decrypted; 1 datagram that held a UDP GSO batch/);
    assert.doesNotMatch(run.stderr, /did not authenticate/);
  }
  assert.equal(calls(alone.stdout).length, 4);
});

test('QUIC probe: which side sent a first datagram; other UDP is not QUIC', () => {
  const c = q.newConnection('probe');
  const initial = q.longPacket(c, 'initial', 'client', [q.crypto(0, q.clientHello(c.clientRandom, 'x', [0x1301]))], { pad: 1162 });
  assert.equal(probeQuic(initial, false), 'request');
  const reply = q.longPacket(c, 'initial', 'server', [q.crypto(0, q.serverHello(Buffer.alloc(32), 0x1301))], { pad: 1162 });
  assert.equal(probeQuic(reply, false), 'response', 'a server pads its Initials too: its keys, not its size, tell');
  assert.equal(probeQuic(initial.subarray(0, 600), false), 'stream', 'cut short: the ports decide');
  assert.equal(probeQuic(Buffer.from('GET / HTTP/1.1\r\n\r\n'), true), false);
  const dns = Buffer.from('12340100000100000000000003777777076578616d706c6503636f6d0000010001', 'hex');
  assert.equal(probeQuic(dns, true), false);
});

test('hostile peers: mutated HTTP/3 and QUIC frames that authenticate never crash the parsers or make invalid entries', () => {
  const schema = JSON.parse(readFileSync(join(repoRoot, 'docs', 'entry.schema.json'), 'utf8'));
  const validate = new Ajv({ strict: false }).compile(schema);
  const r = mulberry32(0x9e3779b9);
  const mutate = (b: Buffer): Buffer => {
    const out = Buffer.from(b);
    const kind = Math.floor(r() * 4);
    if (kind === 0) for (let i = 0; i < 1 + r() * 6; i++) out[Math.floor(r() * out.length)] ^= 1 << Math.floor(r() * 8);
    else if (kind === 1) return out.subarray(0, Math.floor(r() * out.length));
    else if (kind === 2 && out.length > 2) out.writeUInt16BE(r() < 0.5 ? 0 : 0xffff, Math.floor(r() * (out.length - 1)));
    else for (let i = 0; i < out.length; i++) if (r() < 0.05) out[i] = Math.floor(r() * 256);
    return out;
  };
  let entries = 0;
  let malformed = 0;
  for (let i = 0; i < 150; i++) {
    const l = lab(`fuzz${i}`, i % 2 ? q.CHACHA20 : q.AES_128_GCM, i % 3 ? QUIC_V1 : QUIC_V2, i % 5 === 0, (b) => (r() < 0.5 ? mutate(b) : b));
    const keys = new TlsKeyLog();
    keys.addText(l.keylog);
    const out: Entry[] = [];
    const engine = new DissectionEngine({ maxBody: 2048, tlsKeys: keys }, (e) => out.push(e));
    for (const p of l.packets) engine.push(p);
    engine.finish();
    assert.deepEqual(Object.entries(engine.counters).filter(([k]) => k.endsWith('_threw')), [], `case ${i}`);
    for (const e of out) if (!validate(e)) assert.fail(`case ${i}: invalid entry ${JSON.stringify(e).slice(0, 300)}: ${JSON.stringify(validate.errors?.[0])}`);
    entries += out.length;
    // A hostile offset (up to 2^62) is a malformed frame, not terabytes said to be lost.
    assert.ok((engine.counters['quic.stream_gap'] ?? 0) <= 2 ** 41, `case ${i}: ${engine.counters['quic.stream_gap']} bytes of stream gaps`);
    malformed += engine.counters['quic.frames_malformed'] ?? 0;
  }
  assert.ok(malformed > 0, 'the mutations reached the frame reader');
  assert.ok(entries > 150);
});

test('a ClientHello sent a byte a CRYPTO frame is joined once, not again at every byte', () => {
  // Held bytes were joined at every frame: a 60 KB hello so copied 1.8 GB (10 such connections, 4 MB: 32 s).
  const c = q.newConnection('byte-a-frame');
  const size = 16_000;
  const hello = q.clientHello(c.clientRandom, 'bytes.example', [0x1301]);
  const padded = Buffer.alloc(size, 0);
  hello.copy(padded);
  padded.writeUIntBE(size - 4, 1, 3); // the hello's own length, its extensions padded with zeros
  const list: Array<{ from: 'client'; data: Buffer }> = [];
  for (let off = 0; off < padded.length; off += 150) {
    const frames = [];
    for (let i = off; i < Math.min(off + 150, padded.length); i++) frames.push(q.crypto(i, padded.subarray(i, i + 1)));
    list.push({ from: 'client', data: q.longPacket(c, 'initial', 'client', frames) });
  }
  const packets = q.datagrams(list);
  const concat = Buffer.concat;
  let joined = 0;
  Buffer.concat = ((parts: readonly Uint8Array[], total?: number) => {
    const out = concat(parts, total);
    joined += out.length;
    return out;
  }) as typeof Buffer.concat;
  const out: Entry[] = [];
  const engine = new DissectionEngine({ maxBody: 2048 }, (e) => out.push(e));
  try {
    for (const p of packets) engine.push(p);
    engine.finish();
  } finally {
    Buffer.concat = concat;
  }
  assert.ok((engine.counters['quic.crypto_dropped'] ?? 0) === 0, JSON.stringify(engine.counters));
  assert.deepEqual(out.map((e) => (e.request as { sni?: string } | null)?.sni), ['bytes.example'], 'the hello is read whole');
  // The packets' own decryption joins ~2 KB each; the hello is joined a few times at most (it was 128 MB).
  assert.ok(joined < packets.length * 4096 + 8 * size, `${joined} bytes joined for a ${size}-byte hello in ${packets.length} packets`);
});

test('a long-lived connection: every one of 1,500 requests is read (finished streams let go), across a minute of quiet', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shark-quic-long-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { pcap, keys } = write(dir, 'long', lab('long', q.AES_128_GCM, QUIC_V1, false, undefined, 1500));
  const run = await runCli(['dissect', '--tls-keylog', keys, pcap]);
  assert.equal(run.code, 0, run.stderr);
  const entries = parse(run.stdout);
  assert.equal(entries.filter((e) => e.protocol === 'http3').length, 4 + 1500);
  assert.equal(entries.filter((e) => e.protocol !== 'http3' && e.protocol !== 'dns').length, 0, 'no packet of the connection read as another flow');
  assert.equal(entries.filter((e) => e.summary.startsWith('GET /more/') && e.summary.endsWith('→ 200')).length, 1500);
  assert.doesNotMatch(run.stderr, /dropped/);
});

test('DNS over QUIC (ALPN doq): each stream a query and its answer, as dns entries marked tls', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shark-doq-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const c = q.newConnection('doq');
  const out: Array<{ from: 'client' | 'server'; data: Buffer }> = [];
  const name = Buffer.from('03617069047465737400', 'hex'); // api.test
  // DoQ messages carry id 0 (RFC 9250 §4.2.1) and a 2-byte length, as over TCP.
  const framed = (m: Buffer) => Buffer.concat([Buffer.from([m.length >> 8, m.length & 0xff]), m]);
  const query = (type: number) => framed(Buffer.concat([Buffer.from('000001000001000000000000', 'hex'), name, Buffer.from([0, type, 0, 1])]));
  const answerA = framed(Buffer.concat([Buffer.from('000081800001000100000000', 'hex'), name, Buffer.from([0, 1, 0, 1]), Buffer.from('c00c000100010000003c0004c612000a', 'hex')]));
  const nxdomain = framed(Buffer.concat([Buffer.from('000081830001000000000000', 'hex'), name, Buffer.from([0, 28, 0, 1])]));
  out.push({ from: 'client', data: q.longPacket(c, 'initial', 'client', [q.crypto(0, q.clientHello(c.clientRandom, 'dns.test', [0x1301], 'doq'))], { pad: 1162 }) });
  out.push({ from: 'server', data: Buffer.concat([
    q.longPacket(c, 'initial', 'server', [q.ack(0), q.crypto(0, q.serverHello(Buffer.alloc(32, 3), 0x1301))]),
    q.longPacket(c, 'handshake', 'server', [q.crypto(0, q.encryptedExtensionsH3(false, 'doq'))]),
  ]) });
  out.push({ from: 'client', data: Buffer.concat([
    q.longPacket(c, 'handshake', 'client', [q.crypto(0, Buffer.from([20, 0, 0, 32, ...Buffer.alloc(32, 9)]))]),
    q.shortPacket(c, 'client', [q.stream(0, 0, query(1), true), q.stream(4, 0, query(28), true)]),
  ]) });
  out.push({ from: 'server', data: q.shortPacket(c, 'server', [q.stream(4, 0, nxdomain, true), q.stream(0, 0, answerA, true)]) });
  const pcap = join(dir, 'doq.pcap');
  const keys = join(dir, 'doq.keys');
  writeRawPcap(pcap, q.datagrams(out));
  writeFileSync(keys, c.keylog);
  // tshark 4.0 has no DoQ dissector, but decrypts the QUIC streams that carry it.
  const streams = execFileSync('tshark', ['-r', pcap, '-o', `tls.keylog_file:${keys}`, '-d', 'udp.port==443,quic', '-T', 'fields', '-e', 'quic.stream.stream_id'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  assert.deepEqual([...new Set(streams.split(/[\s,]+/).filter(Boolean))].sort(), ['0', '4']);
  const run = await runCli(['dissect', '--tls-keylog', keys, pcap]);
  assert.equal(run.code, 0, run.stderr);
  const entries = parse(run.stdout);
  assert.deepEqual(entries.map((e) => [e.protocol, e.summary, e.tls]).sort(), [
    ['dns', 'A api.test → 198.18.0.10', true],
    ['dns', 'AAAA api.test → NXDOMAIN', true],
  ].sort());
});

/** One engine's entries and counters over `packets`. */
function dissectPackets(packets: ReturnType<typeof q.datagrams>): { entries: Entry[]; counters: Record<string, number> } {
  const entries: Entry[] = [];
  const engine = new DissectionEngine({}, (e) => entries.push(e));
  for (const p of packets) engine.push(p);
  engine.finish();
  return { entries, counters: engine.summary() };
}

/** A connection past its handshake: 1-RTT packets only, the server's first (the capture started mid-connection). */
function midConnection(seed: string): Array<{ from: 'client' | 'server'; data: Buffer }> {
  const c = q.newConnection(seed);
  const out: Array<{ from: 'client' | 'server'; data: Buffer }> = [];
  for (let i = 0; i < 4; i++) {
    out.push({ from: 'server', data: q.shortPacket(c, 'server', [q.stream(3, i * 10, Buffer.alloc(10, 0x61)), q.ack(i)]) });
    out.push({ from: 'client', data: q.shortPacket(c, 'client', [q.ack(i), q.ping]) });
  }
  return out;
}

test('a QUIC connection caught mid-way on 443 (short headers only, the server first) is one quic entry that says its handshake was not captured', () => {
  const { entries, counters } = dissectPackets(q.datagrams(midConnection('mid443')));
  assert.equal(entries.length, 1);
  const e = entries[0];
  assert.equal(e.protocol, 'quic');
  assert.equal(e.summary, 'QUIC (handshake not captured)');
  assert.deepEqual(e.request, { handshake: 'not captured' });
  assert.ok(e.warnings?.includes('handshake not captured'), String(e.warnings));
  // Oriented by the port, though the server spoke first.
  assert.equal(e.src.port, 50000);
  assert.equal(e.dst.port, 443);
  assert.equal(counters['quic.short_header_without_handshake_dropped'], 8);
});

test('a QUIC connection caught mid-way off a QUIC port stays udp and says it looks like QUIC, with the -d that reads it as QUIC', () => {
  const off = (p: ReturnType<typeof q.datagrams>[number]) => {
    const data = Buffer.from(p.data);
    // The UDP ports (after the raw IPv4 header): 443 becomes 7443.
    for (const at of [20, 22]) if (data.readUInt16BE(at) === 443) data.writeUInt16BE(7443, at);
    return { ...p, data };
  };
  const { entries, counters } = dissectPackets(q.datagrams(midConnection('mid7443')).map(off));
  assert.equal(entries.length, 1);
  assert.equal(entries[0].protocol, 'udp');
  assert.deepEqual(entries[0].warnings, ['looks like QUIC whose handshake was not captured: -d udp.port==7443,quic reads it as QUIC']);
  assert.equal(counters['quic.mid_connection_unclaimed'], 1);
  // A protocol whose first byte is constant (NTP client requests: 0x23) has no such word.
  const ntp = Buffer.alloc(48);
  ntp[0] = 0x23;
  ntp.writeUInt32BE(0x0006e900, 1);
  const ntpPackets = [0, 1, 2, 3].map((i) => udpPacket(1_700_000_000_000 + i, i + 1, 1, 40123, 7123, ntp));
  const plain = dissectPackets(ntpPackets);
  assert.equal(plain.entries[0].warnings, undefined);
});

test('QUIC probe: a short-header datagram is QUIC on a QUIC port only, and not DTLS, WireGuard or text there', () => {
  const c = q.newConnection('probe-short');
  const packet = q.shortPacket(c, 'server', [q.ping]);
  assert.equal(probeQuic(packet, true), 'stream');
  assert.equal(probeQuic(packet, false), false);
  const greased = Buffer.from(packet);
  greased[0] &= ~0x40;
  assert.equal(probeQuic(greased, true), false, 'without the fixed bit a first datagram is not taken for QUIC (a DNS query is not): the udp entry says what it looks like');
  const dtls = Buffer.concat([Buffer.from([0x17, 0xfe, 0xfd]), Buffer.alloc(40, 7)]);
  assert.equal(probeQuic(dtls, true), false);
  const wireguard = Buffer.concat([Buffer.from([0x04, 0, 0, 0]), Buffer.alloc(40, 9)]);
  assert.equal(probeQuic(wireguard, true), false);
  assert.equal(probeQuic(Buffer.from('GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n'), true), false);
});
