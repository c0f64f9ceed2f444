// Decode-as (`-d tcp.port==PORT,PROTOCOL`, tshark's syntax): parsing, the
// engine honouring it before content detection (and for orientation), and the
// flag on every command that reads captures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDecodeAs, type DecodeAsRule } from '../../src/dissect/decode-as.js';
import { DissectionEngine } from '../../src/dissect/engine.js';
import { UserError } from '../../src/cli/errors.js';
import type { Entry } from '../../src/model/entry.js';
import type { Packet } from '../../src/model/packet.js';
import { Wire } from '../helpers/engine-wire.js';
import { udpPacket, writeRawPcap } from '../helpers/pcap-wire.js';
import { cliBin } from '../helpers/paths.js';

function dissect(packets: Packet[], decodeAs: DecodeAsRule[] = []): Entry[] {
  const out: Entry[] = [];
  const engine = new DissectionEngine({ decodeAs }, (e) => out.push(e));
  for (const p of packets) engine.push(p);
  engine.finish();
  return out;
}

/** Redis inline commands on port 47000: no probe claims them off the Redis port. */
function redisOnOddPort(): Packet[] {
  const w = new Wire();
  w.send(1000, 1, 40000, 47000, 'PING\r\n');
  w.send(1002, 2, 47000, 40000, '+PONG\r\n');
  w.send(1004, 1, 40000, 47000, 'GET k\r\n');
  w.send(1006, 2, 47000, 40000, '$1\r\nv\r\n');
  return w.packets;
}

/** A DNS UPDATE (opcode 5, one prerequisite) to port 5300: off port 53 the DNS probe refuses it. */
function dnsUpdateOnOddPort(): Packet[] {
  const zone = Buffer.from([7, ...Buffer.from('example'), 0, 0x00, 0x06, 0x00, 0x01]);
  const prereq = Buffer.from([0xc0, 12, 0x00, 0xff, 0x00, 0xff, 0, 0, 0, 0, 0, 0]);
  const update = Buffer.concat([Buffer.from([0x12, 0x34, 0x28, 0x00, 0, 1, 0, 1, 0, 0, 0, 0]), zone, prereq]);
  const reply = Buffer.concat([Buffer.from([0x12, 0x34, 0xa8, 0x05, 0, 1, 0, 0, 0, 0, 0, 0]), zone]);
  return [udpPacket(2000, 1, 1, 40001, 5300, update), udpPacket(2003, 2, 2, 5300, 40001, reply)];
}

test('specs: tshark syntax, ranges, tshark protocol names; the server is the named port', () => {
  assert.deepEqual(parseDecodeAs('tcp.port==8053,dns'), { transport: 'tcp', from: 8053, to: 8053, protocol: 'dns' });
  assert.deepEqual(parseDecodeAs('udp.port==5300,dns'), { transport: 'udp', from: 5300, to: 5300, protocol: 'dns' });
  assert.deepEqual(parseDecodeAs('tcp.port==7000-7002,resp'), { transport: 'tcp', from: 7000, to: 7002, protocol: 'redis' });
  assert.deepEqual(parseDecodeAs('tcp.port==5000:3,pgsql'), { transport: 'tcp', from: 5000, to: 5002, protocol: 'postgresql' });
  assert.deepEqual(parseDecodeAs('tcp.port == 50051, HTTP2'), { transport: 'tcp', from: 50051, to: 50051, protocol: 'http2' });
});

test('bad specs are usage errors (exit 2) quoting the spec; an unknown protocol lists the known ones', () => {
  const fails = (spec: string, message: RegExp) =>
    assert.throws(() => parseDecodeAs(spec), (e: unknown) => e instanceof UserError && e.exitCode === 2 && message.test(e.message) && !e.message.includes('\n'));
  fails('tcp.port=8053,dns', /^--decode-as 'tcp\.port=8053,dns': expected tcp\.port==PORT,PROTOCOL/);
  fails('tcp.port==8053', /^--decode-as 'tcp\.port==8053': expected/);
  fails('sctp.port==8053,dns', /expected/);
  fails('tcp.port==0,dns', /port 0 not within 1-65535/);
  fails('tcp.port==70000,dns', /port 70000 not within/);
  fails('tcp.port==9000-8000,dns', /ports 9000-8000 not within/);
  // The known list grows with every protocol added: checked by its shape and a few names, not whole.
  fails('tcp.port==8053,gopher', /unknown tcp protocol 'gopher' \(known: amqp, [a-z0-9, ]*\bhttp, http2, [a-z0-9, ]*\bkafka, [a-z0-9, ]*\btls(, [a-z0-9]+)*; see shark dissect --list-protocols\)/);
  fails('udp.port==8053,redis', /unknown udp protocol 'redis' \(known: dns[a-z0-9, ]*;/);
});

test('TCP: the rule claims what content detection cannot, and orients the flow by the named port', () => {
  const plain = dissect(redisOnOddPort());
  assert.deepEqual(plain.map((e) => e.protocol), ['tcp']);
  const entries = dissect(redisOnOddPort(), [parseDecodeAs('tcp.port==47000,redis')]);
  assert.deepEqual(entries.map((e) => e.summary), ['PING → PONG', 'GET k → "v"']);
  assert.deepEqual(entries.map((e) => [e.src.port, e.dst.port]), [[40000, 47000], [40000, 47000]]);
  assert.equal(entries[0].timestamp, 1000);
  assert.equal(entries[0].elapsedTime, 2);
  // A rule for another port changes nothing.
  assert.deepEqual(dissect(redisOnOddPort(), [parseDecodeAs('tcp.port==47001,redis')]).map((e) => e.protocol), ['tcp']);
});

test('UDP: the rule claims a datagram conversation the DNS probe refuses off port 53', () => {
  const plain = dissect(dnsUpdateOnOddPort());
  assert.deepEqual(plain.map((e) => e.protocol), ['udp']);
  const [e, ...rest] = dissect(dnsUpdateOnOddPort(), [parseDecodeAs('udp.port==5300,dns')]);
  assert.equal(rest.length, 0);
  assert.equal(e.protocol, 'dns');
  assert.deepEqual([e.src.port, e.dst.port], [40001, 5300]);
  assert.equal(e.response?.rcode, 5);
  assert.equal(e.error, true);
});

test('CLI: -d and --decode-as on dissect, stats, map and filter; bad specs exit 2 with one line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'shark-decode-as-'));
  try {
    const capture = join(dir, 'odd-ports.pcap');
    writeRawPcap(capture, [...redisOnOddPort(), ...dnsUpdateOnOddPort().map((p, i) => ({ ...p, frame: 5 + i }))]);
    const run = (...args: string[]) => spawnSync(process.execPath, [cliBin, ...args], { encoding: 'utf8', timeout: 60_000 });
    const protocols = (stdout: string) => stdout.trim().split('\n').map((l) => (JSON.parse(l) as Entry).protocol).sort();

    const plain = run('dissect', capture);
    assert.equal(plain.status, 0, plain.stderr);
    assert.deepEqual(protocols(plain.stdout), ['tcp', 'udp']);
    // The option before the file: the file is not taken for a second rule.
    const both = run('dissect', '-d', 'tcp.port==47000,redis', '--decode-as', 'udp.port==5300,dns', capture);
    assert.equal(both.status, 0, both.stderr);
    assert.deepEqual(protocols(both.stdout), ['dns', 'redis', 'redis']);

    const stats = run('stats', '--format', 'json', '-d', 'tcp.port==47000,redis', capture);
    assert.equal(stats.status, 0, stats.stderr);
    assert.match(stats.stdout, /"redis"/);
    const map = run('map', '--format', 'json', '-d', 'tcp.port==47000,redis', capture);
    assert.equal(map.status, 0, map.stderr);
    assert.match(map.stdout, /"redis"/);
    const filter = run('filter', '-d', 'tcp.port==47000,redis', '--no-redact', 'redis', capture);
    assert.equal(filter.status, 0, filter.stderr);
    assert.deepEqual(protocols(filter.stdout), ['redis', 'redis']);

    const bad = run('dissect', '-d', 'tcp.port=47000,redis', capture);
    assert.equal(bad.status, 2);
    assert.equal(bad.stdout, '');
    assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
    assert.match(bad.stderr, /--decode-as 'tcp\.port=47000,redis': expected tcp\.port==PORT,PROTOCOL/);
    const unknown = run('stats', '-d', 'tcp.port==47000,gopher', capture);
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /unknown tcp protocol 'gopher' \(known: amqp, [a-z0-9, ]*\bdns, [a-z0-9, ]*\bhttp/);
    // tap: checked before any capture starts; a cluster tap says where decode-as works instead.
    const tapBad = run('tap', '-i', 'lo', '-w', join(dir, 'never.pcap'), '-d', 'tcp.port==1,nope');
    assert.equal(tapBad.status, 2, tapBad.stderr);
    assert.match(tapBad.stderr, /unknown tcp protocol 'nope'/);
    const tapCluster = run('tap', '-n', 'default', '-d', 'tcp.port==8053,dns');
    assert.equal(tapCluster.status, 2, tapCluster.stderr);
    assert.match(tapCluster.stderr, /--decode-as is for local taps; .*dissect -d/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
