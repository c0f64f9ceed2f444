// The pcapng paths the shared corpus does not exercise, in a file built here
// block by block: two sections of opposite byte order, if_tsresol as a power
// of 2 and of 10, if_tsoffset, Simple and obsolete Packet Blocks, unknown
// blocks. tshark reads the same file and must agree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEpoch, readCapture, tsharkFields } from './helpers.js';

type Endian = 'le' | 'be';

function u32(v: number, e: Endian): Buffer {
  const b = Buffer.alloc(4);
  if (e === 'le') b.writeUInt32LE(v >>> 0);
  else b.writeUInt32BE(v >>> 0);
  return b;
}
function u16(v: number, e: Endian): Buffer {
  const b = Buffer.alloc(2);
  if (e === 'le') b.writeUInt16LE(v);
  else b.writeUInt16BE(v);
  return b;
}
function pad(b: Buffer): Buffer {
  return Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
}
function block(type: number, body: Buffer, e: Endian): Buffer {
  const padded = pad(body);
  const len = 12 + padded.length;
  return Buffer.concat([u32(type, e), u32(len, e), padded, u32(len, e)]);
}
function option(code: number, value: Buffer, e: Endian): Buffer {
  return Buffer.concat([u16(code, e), u16(value.length, e), pad(value)]);
}
function shb(e: Endian): Buffer {
  return block(0x0a0d0d0a, Buffer.concat([u32(0x1a2b3c4d, e), u16(1, e), u16(0, e), Buffer.alloc(8, 0xff)]), e);
}
function idb(linkType: number, snaplen: number, e: Endian, opts: Buffer[] = []): Buffer {
  const options = opts.length > 0 ? Buffer.concat([...opts, u32(0, e)]) : Buffer.alloc(0);
  return block(1, Buffer.concat([u16(linkType, e), u16(0, e), u32(snaplen, e), options]), e);
}
function epb(iface: number, units: bigint, data: Buffer, origLen: number, e: Endian): Buffer {
  return block(6, Buffer.concat([u32(iface, e), u32(Number(units >> 32n), e), u32(Number(units & 0xffffffffn), e), u32(data.length, e), u32(origLen, e), data]), e);
}
function pb(iface: number, units: bigint, data: Buffer, e: Endian): Buffer {
  return block(2, Buffer.concat([u16(iface, e), u16(0, e), u32(Number(units >> 32n), e), u32(Number(units & 0xffffffffn), e), u32(data.length, e), u32(data.length, e), data]), e);
}
function spb(data: Buffer, origLen: number, e: Endian): Buffer {
  return block(3, Buffer.concat([u32(origLen, e), data]), e);
}

/** A small valid Ethernet/IPv4/UDP frame (so tshark dissects it without complaint). */
function frame(n: number, size = 60): Buffer {
  const f = Buffer.alloc(size);
  f.writeUInt16BE(0x0800, 12);
  f[14] = 0x45;
  f.writeUInt16BE(size - 14, 16);
  f[22] = 64;
  f[23] = 17;
  f.writeUInt32BE(0xc6120001, 26);
  f.writeUInt32BE(0xc6120002 + n, 30);
  f.writeUInt16BE(size - 34, 38);
  return f;
}

test('hand-built pcapng: both byte orders, tsresol 2^-n and 10^-n, tsoffset, SPB, PB, unknown blocks', async () => {
  const t = 1_700_000_000n;
  const file = Buffer.concat([
    shb('le'),
    block(0x99, Buffer.from('unknown block, skipped'), 'le'),
    block(0x0bad, Buffer.concat([u32(32473, 'le'), Buffer.from('custom')]), 'le'), // tshark numbers it as a frame
    idb(1, 0, 'le', [option(2, Buffer.from('eth0'), 'le'), option(9, Buffer.from([0x80 | 20]), 'le'), option(14, Buffer.from(new BigUint64Array([100n]).buffer), 'le')]),
    epb(0, t * 2n ** 20n + 123456n, frame(1), 60, 'le'), // 2^-20 s units, +100 s offset
    spb(frame(2), 60, 'le'), // no timestamp
    pb(0, (t + 1n) * 2n ** 20n + 7n, frame(3), 'le'),
    idb(101, 65535, 'le', [option(9, Buffer.from([3]), 'le')]), // ms resolution, raw IP
    epb(1, (t + 2n) * 1000n + 999n, frame(4).subarray(14), 46, 'le'),
    block(5, Buffer.alloc(16), 'le'), // interface statistics: skipped
    shb('be'), // a new section, big-endian: interfaces start again at 0
    idb(1, 262144, 'be', [option(9, Buffer.from([9]), 'be')]),
    epb(0, (t + 3n) * 1_000_000_000n + 123_456_789n, frame(5, 100), 1500, 'be'),
  ]);
  const dir = mkdtempSync(join(tmpdir(), 'shark-pcapng-'));
  try {
    const path = join(dir, 'blocks.pcapng');
    writeFileSync(path, file);
    const ours = await readCapture(path, 13, 5);
    assert.equal(ours.error, undefined, ours.error?.message);
    const ts = await tsharkFields(path, ['frame.number', 'frame.time_epoch', 'frame.cap_len', 'frame.len', 'frame.encap_type', 'frame.interface_name']);
    assert.equal(ts.code, 0, ts.stderr);
    const packetRows = ts.rows.filter((row) => row[4] !== ''); // tshark also lists the custom block
    assert.equal(ts.rows.length, 6, JSON.stringify(ts.rows));
    assert.equal(ours.packets.length, 5);
    assert.equal(packetRows.length, ours.packets.length);
    ours.packets.forEach((p, i) => {
      const [n, epoch, cap, len] = packetRows[i];
      assert.equal(p.frame, Number(n), `#${i + 1} frame number`);
      assert.equal(p.data.length, Number(cap), `#${i + 1} caplen`);
      assert.equal(p.origLen, Number(len), `#${i + 1} len`);
      if (i === 1) return; // SPB: no timestamp in the file; shark repeats the previous one
      assert.deepEqual([p.tsSec, p.tsNsec], parseEpoch(epoch), `#${i + 1} time`);
    });
    assert.deepEqual([ours.packets[1].tsSec, ours.packets[1].tsNsec], [ours.packets[0].tsSec, ours.packets[0].tsNsec]);
    // File-wide interface numbering: section 2's interface 0 is the third interface.
    assert.deepEqual(ours.packets.map((p) => p.interfaceId), [0, 0, 0, 1, 2]);
    assert.deepEqual(ours.packets.map((p) => p.linkType), [1, 1, 1, 101, 1]);
    assert.deepEqual(ours.interfaces.map((i) => [i.name, i.tsUnitsPerSec]), [['eth0', 2 ** 20], [undefined, 1000], [undefined, 1e9]]);
    assert.equal(packetRows[0][5], 'eth0');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
