// The capture readers against tshark, on every shared capture: packet count,
// timestamps to the nanosecond, lengths, link type; damaged files yield their
// good packets then name the byte offset of the damage.
import { test } from 'node:test';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../../src/cli/errors.js';
import { openCapture } from '../../src/capture/reader.js';
import type { Packet } from '../../src/model/packet.js';
import { chunked, parseEpoch, readCapture, sharedCaptureFiles, sharedPath, tsharkFields } from './helpers.js';

/** Wireshark's WTAP_ENCAP_* (frame.encap_type) → LINKTYPE_*, for the encapsulations in the corpus. */
const ENCAP_TO_LINKTYPE: Record<string, number> = { '1': 1, '7': 101, '15': 0, '25': 113, '141': 239, '210': 276 };

const FIELDS_MD5 = ['frame.number', 'frame.time_epoch', 'frame.cap_len', 'frame.len', 'frame.encap_type', 'frame.md5_hash'];
const MD5 = ['-o', 'frame.generate_md5_hash:TRUE'];

function rowsOf(packets: Packet[]): string[] {
  return packets.map(
    (p) =>
      `${p.frame} ${p.tsSec}.${String(p.tsNsec).padStart(9, '0')} ${p.data.length} ${p.origLen} ${p.linkType} ${createHash('md5').update(p.data).digest('hex')}`,
  );
}

function tsharkRowsOf(rows: string[][]): string[] {
  return rows.map(([n, epoch, cap, len, encap, md5]) => {
    const [sec, nsec] = parseEpoch(epoch);
    const linkType = ENCAP_TO_LINKTYPE[encap];
    assert.notEqual(linkType, undefined, `encap ${encap} missing from the test's table`);
    return `${n} ${sec}.${String(nsec).padStart(9, '0')} ${cap} ${len} ${linkType} ${md5}`;
  });
}

const files = sharedCaptureFiles();

/** The corpus's damaged files (tshark exits 2 on them), from the manifest. */
function damagedFiles(): Set<string> {
  const manifest = readFileSync(sharedPath('MANIFEST.tsv'), 'utf8').split('\n');
  return new Set(manifest.filter((l) => /rc=2/.test(l)).map((l) => l.split('\t')[0]));
}

test('every shared capture reads like tshark reads it', async () => {
  assert.ok(files.length >= 50, `expected the shared corpus, found ${files.length} captures`);
  const damaged = damagedFiles();
  assert.ok(damaged.size >= 2, 'the corpus holds at least two damaged captures');
  const whole = files.filter((n) => !damaged.has(n));
  // tshark's start-up dominates on a loaded 2-core machine, so the undamaged
  // files are concatenated (mergecap -a keeps every record as it is) and read
  // by one tshark; the damaged ones each get their own run.
  const dir = mkdtempSync(join(tmpdir(), 'shark-capture-'));
  try {
    const all = join(dir, 'all.pcapng');
    execFileSync('mergecap', ['-a', '-w', all, ...whole.map(sharedPath)]);
    const ts = await tsharkFields(all, FIELDS_MD5, MD5);
    assert.equal(ts.code, 0, ts.stderr);
    const expected = tsharkRowsOf(ts.rows);
    const actual: string[] = [];
    for (const name of whole) {
      const ours = await readCapture(sharedPath(name));
      assert.equal(ours.error, undefined, `${name}: ${ours.error?.message}`);
      assert.deepEqual(ours.packets.map((p) => p.frame), ours.packets.map((_, i) => i + 1), `${name}: frame numbers`);
      actual.push(...rowsOf(ours.packets).map((row, i) => `${actual.length + i + 1}${row.slice(row.indexOf(' '))}`));
    }
    const i = actual.findIndex((row, k) => row !== expected[k]);
    assert.equal(i, -1, `first difference at row ${i}: ours ${actual[i]} / tshark ${expected[i]}`);
    assert.equal(actual.length, expected.length);
    assert.ok(actual.length > 15000, `compared ${actual.length} packets`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  for (const name of damaged) {
    const path = sharedPath(name);
    const [ts, ours] = await Promise.all([tsharkFields(path, FIELDS_MD5, MD5), readCapture(path)]);
    assert.match(ts.stderr, /damaged|corrupt|cut short/, name);
    assert.deepEqual(rowsOf(ours.packets), tsharkRowsOf(ts.rows), name);
    assert.ok(ours.error instanceof InputError, `${name}: tshark reports damage, so must we`);
    // The damage starts right after the last good record.
    const at = 24 + ours.packets.reduce((n, p) => n + 16 + p.data.length, 0);
    assert.match(ours.error.message, new RegExp(` at byte ${at}$`), name);
  }
});

test('the damaged captures: messages as users see them', async () => {
  const cut = await readCapture(sharedPath('ndpi-fuzz-2021-10-13.pcap'));
  assert.equal(cut.packets.length, 1);
  assert.equal(cut.error?.message, 'ndpi-fuzz-2021-10-13.pcap: truncated packet record at byte 237');
  assert.equal((cut.error as InputError).exitCode, 3);
  const huge = await readCapture(sharedPath('suricata-bug-1450-04-tls-DER-incomplete-header.pcap'));
  assert.equal(huge.packets.length, 6);
  assert.match(huge.error?.message ?? '', /^suricata-bug-1450-04-tls-DER-incomplete-header\.pcap: corrupt packet record \(claims 4325376 bytes.*\) at byte \d+$/);
});

/** A little-endian "modified" pcap (magic a1b2cd34, 24-byte record headers) rewritten big-endian. */
function modifiedPcapToBigEndian(le: Buffer): Buffer {
  const be = Buffer.from(le);
  be.writeUInt32BE(le.readUInt32LE(0), 0);
  be.writeUInt16BE(le.readUInt16LE(4), 4);
  be.writeUInt16BE(le.readUInt16LE(6), 6);
  for (const at of [8, 12, 16, 20]) be.writeUInt32BE(le.readUInt32LE(at), at);
  for (let off = 24; off + 24 <= le.length; ) {
    for (const at of [0, 4, 8, 12, 16]) be.writeUInt32BE(le.readUInt32LE(off + at), off + at);
    be.writeUInt16BE(le.readUInt16LE(off + 20), off + 20);
    off += 24 + le.readUInt32LE(off + 8);
  }
  return be;
}

test('the modified pcap format (magic a1b2cd34) reads like tshark reads it, in both byte orders', async () => {
  const lePath = sharedPath('deepflow-nats-nrpc1.pcap');
  const le = readFileSync(lePath);
  assert.equal(le.readUInt32LE(0), 0xa1b2cd34);
  const dir = mkdtempSync(join(tmpdir(), 'shark-modpcap-'));
  try {
    const bePath = join(dir, 'nats-be.pcap');
    writeFileSync(bePath, modifiedPcapToBigEndian(le));
    for (const path of [lePath, bePath]) {
      const [ts, ours] = await Promise.all([tsharkFields(path, FIELDS_MD5, MD5), readCapture(path)]);
      assert.equal(ts.code, 0, ts.stderr);
      assert.equal(ours.error, undefined, ours.error?.message);
      assert.equal(ours.packets.length, 22);
      assert.deepEqual(rowsOf(ours.packets), tsharkRowsOf(ts.rows), path);
    }
    // Read in 5-byte chunks: a 24-byte record header split anywhere still parses.
    const chunkedRead = openCapture(Buffer.alloc(0), chunked(le, 5), 'nats');
    let n = 0;
    for await (const batch of chunkedRead.batches()) n += batch.length;
    assert.equal(n, 22);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('formats, byte orders and interfaces are recognised', async () => {
  const be = await readCapture(sharedPath('arkime-bigendian.pcap'));
  assert.equal(be.format, 'pcap');
  const nano = await readCapture(sharedPath('tcpdump-tcp-handshake-nano.pcap'));
  assert.equal(nano.format, 'pcap-nsec');
  const empty = await readCapture(sharedPath('lab-http-nano.pcap'));
  assert.deepEqual([empty.packets.length, empty.error, empty.format], [0, undefined, 'pcap-nsec']);

  const buf = readFileSync(sharedPath('lab-multi-interface.pcapng'));
  const reader = openCapture(buf.subarray(0, 4), chunked(buf.subarray(4), 4096), 'multi');
  for await (const _ of reader.batches());
  assert.equal(reader.format, 'pcapng');
  const ts = await tsharkFields(sharedPath('lab-multi-interface.pcapng'), ['frame.interface_id', 'frame.interface_name']);
  const named = new Set(ts.rows.map(([id, ifName]) => `${id}:${ifName}`));
  for (const entry of named) {
    const [id, ifName] = entry.split(':');
    assert.equal(reader.interfaces[Number(id)]?.name ?? 'unknown', ifName);
  }
  assert.ok(reader.interfaces.length >= 2, `interfaces: ${JSON.stringify(reader.interfaces)}`);
  assert.ok(new Set(reader.interfaces.map((i) => i.linkType)).size >= 2, 'interfaces of different link types');
});

test('1-byte and 7-byte chunks give the same packets as whole-file reads', async () => {
  const small = files.filter((n) => readFileSync(sharedPath(n)).length < 20_000);
  const medium = ['lab-multi-interface.pcapng', 'packt-grpc-server-streaming.pcapng', 'zeek-http-pipelined-requests.pcap', 'ndpi-fuzz-2021-10-13.pcap', 'suricata-bug-1450-04-tls-DER-incomplete-header.pcap'];
  assert.ok(small.length >= 20);
  const check = async (name: string, size: number, head: number) => {
    const whole = await readCapture(sharedPath(name));
    const bits = await readCapture(sharedPath(name), size, head);
    assert.deepEqual(rowsOf(bits.packets), rowsOf(whole.packets), `${name} in ${size}-byte chunks`);
    assert.ok(
      bits.packets.every((p, i) => p.data.equals(whole.packets[i].data)),
      `${name} in ${size}-byte chunks: packet bytes`,
    );
    assert.equal(bits.error?.message, whole.error?.message, `${name} in ${size}-byte chunks: error`);
  };
  for (const name of small) await check(name, 1, 0);
  for (const name of medium) await check(name, 7, 3);
});

test('damaged pcapng: truncated block and bad block length', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'shark-capture-'));
  try {
    const buf = readFileSync(sharedPath('ndpi-kafka.pcapng'));
    const whole = await readCapture(sharedPath('ndpi-kafka.pcapng'));
    // Every block ends with its length: the last block starts that many bytes before the end.
    const lastBlock = buf.length - buf.readUInt32LE(buf.length - 4);
    const cutPath = join(dir, 'cut.pcapng');
    writeFileSync(cutPath, buf.subarray(0, buf.length - 10));
    const cut = await readCapture(cutPath, 100, 100);
    assert.equal(cut.error?.message, `cut.pcapng: truncated block at byte ${lastBlock}`);
    assert.equal(cut.packets.length, whole.packets.length - 1);

    const bad = Buffer.from(buf);
    bad.writeUInt32LE(0xfffffff0, lastBlock + 4);
    const badPath = join(dir, 'bad.pcapng');
    writeFileSync(badPath, bad);
    const corrupt = await readCapture(badPath);
    assert.match(corrupt.error?.message ?? '', new RegExp(`^bad\\.pcapng: corrupt block .* at byte ${lastBlock}$`));
    assert.equal(corrupt.packets.length, whole.packets.length - 1);
    const ts = await tsharkFields(badPath, ['frame.number']);
    assert.equal(ts.rows.length, corrupt.packets.length, 'tshark stops at the same block');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('not a capture, and shorter than a header', async () => {
  const text = openCapture(Buffer.from('{"a":1}\n'), chunked(Buffer.alloc(0), 1), 'x.json');
  await assert.rejects(async () => {
    for await (const _ of text.batches());
  }, { message: 'x.json: not a pcap or pcapng file (starts with 0x7b226122) at byte 0' });
  const head = readFileSync(sharedPath('arkime-bigendian.pcap')).subarray(0, 10);
  const short = openCapture(head, chunked(Buffer.alloc(0), 1), 'short.pcap');
  await assert.rejects(async () => {
    for await (const _ of short.batches());
  }, { message: 'short.pcap: truncated file header at byte 0' });
});
