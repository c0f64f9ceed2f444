// Damaged and hostile inputs given to every command that reads captures or
// entries: everything before the damage is used and printed, then one line
// names the file and the byte, and the exit code is 3; garbage, a 1–3 byte
// file, an unknown pcap/pcapng version or link type is exit 3 with a message,
// never a quiet exit 0; a CI gate (`stats --check`) never passes on them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, runShell } from '../helpers/cli.js';
import { cliBin } from '../helpers/paths.js';
import { Wire, httpRequest, httpResponse } from '../helpers/engine-wire.js';
import { LinkType, type Packet } from '../../src/model/packet.js';

let dir: string;
const path = (name: string): string => join(dir, name);

/** A classic pcap (µs, little-endian) of `packets`, with the given version and link type. */
function pcap(packets: Packet[], opts: { major?: number; linkType?: number } = {}): Buffer {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(opts.major ?? 2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(65535, 16);
  header.writeUInt32LE(opts.linkType ?? LinkType.RAW, 20);
  const records = packets.map((p) => {
    const r = Buffer.alloc(16 + p.data.length);
    r.writeUInt32LE(p.tsSec, 0);
    r.writeUInt32LE(Math.floor(p.tsNsec / 1000), 4);
    r.writeUInt32LE(p.data.length, 8);
    r.writeUInt32LE(p.origLen, 12);
    p.data.copy(r, 16);
    return r;
  });
  return Buffer.concat([header, ...records]);
}

/** A pcapng section header of the given major version, then nothing. */
function pcapngHeader(major: number): Buffer {
  const b = Buffer.alloc(28);
  b.writeUInt32LE(0x0a0d0d0a, 0);
  b.writeUInt32LE(28, 4);
  b.writeUInt32LE(0x1a2b3c4d, 8);
  b.writeUInt16LE(major, 12);
  b.writeBigInt64LE(-1n, 16);
  b.writeUInt32LE(28, 24);
  return b;
}

/** 40 answered HTTP calls on one connection, one every 10 ms. */
function traffic(): Packet[] {
  const w = new Wire();
  for (let i = 0; i < 40; i++) {
    w.send(1_700_000_000_000 + i * 10, 1, 40000, 80, httpRequest(`/item/${i}`));
    w.send(1_700_000_000_000 + i * 10 + 2, 2, 80, 40000, httpResponse);
  }
  return w.packets;
}

let cutAt = 0;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'shark-damaged-'));
  const packets = traffic();
  const whole = pcap(packets);
  // Cut 20 bytes into the 43rd packet record: 21 calls are whole before it.
  cutAt = 24 + packets.slice(0, 42).reduce((n, p) => n + 16 + p.data.length, 0) + 20;
  writeFileSync(path('cut.pcap'), whole.subarray(0, cutAt));
  // Bytes that are neither a capture nor NDJSON, from a fixed seed (not '{' first).
  const garbage = Buffer.alloc(3000);
  let x = 12345;
  for (let i = 0; i < garbage.length; i++) garbage[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  garbage[0] = 0xed;
  writeFileSync(path('random.bin'), garbage);
  writeFileSync(path('one.bin'), 'a');
  writeFileSync(path('three.bin'), Buffer.from([0xd4, 0xc3, 0xb2]));
  writeFileSync(path('v3.pcap'), pcap(traffic(), { major: 3 }));
  writeFileSync(path('v2.pcapng'), pcapngHeader(2));
  writeFileSync(path('user0.pcap'), pcap(traffic(), { linkType: 147 }));
  writeFileSync(path('rules.yaml'), 'rules:\n  - {name: some-http, type: expect, filter: http, min: 1}\n');
});

after(() => rmSync(dir, { recursive: true, force: true }));

const READERS: string[][] = [['stats'], ['map'], ['filter', 'http'], ['dissect']];

test('a capture cut short: stats, map and filter print what came before the damage (as dissect | …), then name file and byte, exit 3', async () => {
  const cut = path('cut.pcap');
  for (const cmd of [['stats'], ['stats', '--by', 'endpoint', '--format', 'json'], ['map', '--format', 'json'], ['filter', 'http']]) {
    const r = await runCli([...cmd, cut]);
    assert.equal(r.code, 3, `${cmd.join(' ')}: ${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.equal(lines[0], `${cmd[0]}: ${cut}: truncated packet record at byte ${cutAt - 20}`);
    // The same result as dissecting first (dissect exits 3 too; its entries are whole).
    const piped = await runShell(`node ${cliBin} dissect ${cut} 2>/dev/null | node ${cliBin} ${cmd.map((a) => `'${a}'`).join(' ')}`);
    assert.equal(piped.code, 0, piped.stderr);
    assert.ok(piped.stdout.length > 0);
    assert.equal(r.stdout, piped.stdout, cmd.join(' '));
  }
  const json = JSON.parse((await runCli(['stats', '--format', 'json', cut])).stdout) as { total: { entries: number } };
  assert.equal(json.total.entries, 21);
});

test('stats --check: exit 3 when an input could not be read, even when every rule passed (results still printed)', async () => {
  const rules = path('rules.yaml');
  const cut = await runCli(['stats', '--check', rules, path('cut.pcap')]);
  assert.equal(cut.code, 3, cut.stderr);
  assert.match(cut.stdout, /some-http/);
  assert.match(cut.stderr, /truncated packet record at byte/);
  const garbage = await runCli(['stats', '--check', rules, path('random.bin')]);
  assert.equal(garbage.code, 3, garbage.stderr);
  // A skipped bad line also means the check did not see all the traffic.
  writeFileSync(path('some-bad.ndjson'), '{"protocol":"http","timestamp":1}\n{"protocol":5}\nnot json\n');
  const bad = await runCli(['stats', '--check', rules, path('some-bad.ndjson')]);
  assert.equal(bad.code, 3, bad.stderr);
  assert.match(bad.stderr, /line 2: field protocol is a number, expected a string; skipped/);
  assert.match(bad.stderr, /2 input line\(s\) were bad and skipped/);
  // Readable input with a passing rule still passes.
  writeFileSync(path('good.ndjson'), '{"protocol":"http","timestamp":1}\n');
  assert.equal((await runCli(['stats', '--check', rules, path('good.ndjson')])).code, 0);
});

test('input that is neither a capture nor NDJSON, or only 1–3 bytes: one line naming it and exit 3, for every command', async () => {
  for (const name of ['random.bin', 'one.bin', 'three.bin']) {
    for (const cmd of [...READERS, ['merge']]) {
      const r = await runCli([...cmd, path(name)]);
      assert.equal(r.code, 3, `${cmd.join(' ')} ${name}: ${r.stderr}`);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], new RegExp(`^${cmd[0]}: ${path(name)}: not a pcap/pcapng capture or NDJSON entries`));
    }
  }
});

test('an unknown pcap or pcapng version, or a link type shark cannot dissect: exit 3 with a message', async () => {
  for (const cmd of READERS) {
    const v3 = await runCli([...cmd, path('v3.pcap')]);
    assert.equal(v3.code, 3, v3.stderr);
    assert.match(v3.stderr, /v3\.pcap: unsupported pcap version 3\.4 \(only 2\.x is read\) at byte 4/);
    const ng = await runCli([...cmd, path('v2.pcapng')]);
    assert.equal(ng.code, 3, ng.stderr);
    assert.match(ng.stderr, /v2\.pcapng: unsupported pcapng version 2\.0 \(only 1\.x is read\) at byte 12/);
    const user0 = await runCli([...cmd, path('user0.pcap')]);
    assert.equal(user0.code, 3, user0.stderr);
    assert.match(user0.stderr, /user0\.pcap: 80 packet\(s\) of link type 147, which shark cannot dissect, \(first at frame 1\)/);
  }
});

test('a directory as input is named in the error (not "undefined")', async () => {
  for (const cmd of [...READERS, ['merge']]) {
    const r = await runCli([...cmd, dir]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr, `${cmd[0]}: ${dir}: is a directory\n`);
  }
});

test('dissect --meta with a snapshot of the wrong shape: one line naming the field, exit 3 (never 70)', async () => {
  const cases: [string, string][] = [
    ['{"pods":[5,null]}', 'pods[0] is a number, expected an object'],
    ['{"pods":[{"name":"a","namespace":"b","ip":"198.18.0.1","hostNetwork":null}]}', 'pods[0].hostNetwork is null, expected true or false'],
    ['{"cluster":{"pods":[],"services":[{"name":"s","namespace":"n","clusterIPs":[1]}]}}', 'services[0].clusterIPs is a list, expected a list of strings'],
    ['{"pods":[],"nodes":[{"name":"n","addresses":"198.18.0.1"}]}', 'nodes[0].addresses is a string, expected a list of strings'],
  ];
  const meta = path('meta.json');
  for (const [text, problem] of cases) {
    writeFileSync(meta, text);
    const r = await runCli(['dissect', '--meta', meta, path('cut.pcap')]);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stderr, `dissect: ${meta}: bad cluster snapshot: ${problem}\n`);
  }
});
