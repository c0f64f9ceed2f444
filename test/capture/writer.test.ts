// The writers: what they write, tshark reads back identically (timestamps to
// the nanosecond, lengths, bytes via frame.md5_hash, link types).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { PcapWriter, PcapngWriter, type PacketWriter } from '../../src/capture/writer.js';
import { unitsToTime, timeToUnits } from '../../src/capture/timestamp.js';
import type { Packet } from '../../src/model/packet.js';
import { parseEpoch, readCapture, sharedCaptureFiles, sharedPath, tsharkFields } from './helpers.js';

const ENCAP_TO_LINKTYPE: Record<string, number> = { '1': 1, '7': 101, '15': 0, '25': 113, '141': 239, '210': 276 };
const FIELDS = ['frame.time_epoch', 'frame.cap_len', 'frame.len', 'frame.encap_type', 'frame.md5_hash'];
const MD5 = ['-o', 'frame.generate_md5_hash:TRUE'];

function ourRows(packets: Packet[], usec = false): string[] {
  return packets.map((p) => {
    const nsec = usec ? Math.floor(p.tsNsec / 1000) * 1000 : p.tsNsec;
    const md5 = createHash('md5').update(p.data).digest('hex');
    return `${p.tsSec}.${String(nsec).padStart(9, '0')} ${p.data.length} ${p.origLen} ${p.linkType} ${md5}`;
  });
}

async function tsharkRows(file: string): Promise<string[]> {
  const ts = await tsharkFields(file, FIELDS, MD5);
  assert.equal(ts.code, 0, `tshark on ${file}: ${ts.stderr}`);
  assert.equal(ts.stderr.trim(), '', `tshark complains about ${file}`);
  return ts.rows.map(([epoch, cap, len, encap, md5]) => {
    const [sec, nsec] = parseEpoch(epoch);
    return `${sec}.${String(nsec).padStart(9, '0')} ${cap} ${len} ${ENCAP_TO_LINKTYPE[encap]} ${md5}`;
  });
}

async function writeAll(path: string, make: (out: NodeJS.WritableStream) => PacketWriter, packets: Packet[]): Promise<void> {
  const out = createWriteStream(path);
  const writer = make(out);
  for (const p of packets) await writer.write(p);
  await writer.end();
  out.end();
  await once(out, 'close');
}

const dir = mkdtempSync(join(tmpdir(), 'shark-writer-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('pcap writer: µs and ns files read back identically by tshark', async () => {
  const mix = await readCapture(sharedPath('lab-bookinfo-mix.pcap'));
  const usPath = join(dir, 'mix-us.pcap');
  await writeAll(usPath, (out) => new PcapWriter(out as any, { linkType: 1 }), mix.packets);
  assert.deepEqual(await tsharkRows(usPath), ourRows(mix.packets, true));
  // Byte-for-byte what the original holds (it is a µs little-endian pcap with snaplen 262144).
  assert.ok(readFileSync(usPath).subarray(24).equals(readFileSync(sharedPath('lab-bookinfo-mix.pcap')).subarray(24)));

  const nano = await readCapture(sharedPath('tcpdump-tcp-handshake-nano.pcap'));
  const nsPath = join(dir, 'nano.pcap');
  await writeAll(nsPath, (out) => new PcapWriter(out as any, { linkType: 113, nanosecond: true }), nano.packets);
  assert.deepEqual(await tsharkRows(nsPath), ourRows(nano.packets));
  assert.ok(nano.packets.some((p) => p.tsNsec % 1000 !== 0), 'the sample has sub-µs digits');

  const be = await readCapture(sharedPath('arkime-bigendian.pcap'));
  const bePath = join(dir, 'be.pcap');
  await writeAll(bePath, (out) => new PcapWriter(out as any, { linkType: 1 }), be.packets);
  assert.deepEqual(ourRows((await readCapture(bePath)).packets), ourRows(be.packets));
  assert.equal(readFileSync(bePath).readUInt32LE(0), 0xa1b2c3d4);

  const emptyPath = join(dir, 'empty.pcap');
  await writeAll(emptyPath, (out) => new PcapWriter(out as any, { linkType: 1 }), []);
  assert.equal(readFileSync(emptyPath).length, 24);
});

test('pcapng writer: the whole corpus in one file, one interface per (file, interface)', async () => {
  const files = sharedCaptureFiles();
  const path = join(dir, 'all.pcapng');
  const out = createWriteStream(path);
  const writer = new PcapngWriter(out);
  const all: Packet[] = [];
  const linkTypes = new Set<number>();
  for (const name of files) {
    const { packets, interfaces } = await readCapture(sharedPath(name)); // damaged files: their good packets
    for (const p of packets) {
      linkTypes.add(p.linkType);
      const id = writer.addInterface(interfaces[p.interfaceId], `${name}:${p.interfaceId}`);
      await writer.write(p, id);
      all.push(p);
    }
  }
  await writer.end();
  out.end();
  await once(out, 'close');
  assert.ok(linkTypes.size >= 6, `link types ${[...linkTypes]}`);
  // The fuzzed ndpi packet stores a fraction of more than a second; written as a count of units it comes back normalised.
  const expected = ourRows(all).map((row, i) => {
    const p = all[i];
    if (p.tsNsec < 1e9) return row;
    return `${p.tsSec + Math.floor(p.tsNsec / 1e9)}.${String(p.tsNsec % 1e9).padStart(9, '0')}${row.slice(row.indexOf(' '))}`;
  });
  const actual = await tsharkRows(path);
  const i = actual.findIndex((row, k) => row !== expected[k]);
  assert.equal(i, -1, `row ${i}: tshark ${actual[i]} / ours ${expected[i]}`);
  assert.equal(actual.length, expected.length);
  const info = execFileSync('capinfos', ['-c', '-M', path], { encoding: 'utf8' });
  assert.match(info, new RegExp(`Number of packets:\\s+${all.length}\\b`));
});

test('pcapng writer: ns timestamps and interfaces registered from packets', async () => {
  const multi = await readCapture(sharedPath('lab-multi-interface.pcapng'));
  const nano = await readCapture(sharedPath('tcpdump-tcp-handshake-nano.pcap'));
  const packets = [...multi.packets, ...nano.packets];
  const path = join(dir, 'auto.pcapng');
  await writeAll(path, (out) => new PcapngWriter(out as any), packets);
  assert.deepEqual(await tsharkRows(path), ourRows(packets));
  const back = await readCapture(path);
  assert.equal(back.format, 'pcapng');
  assert.deepEqual(back.packets.map((p) => [p.tsSec, p.tsNsec]), packets.map((p) => [p.tsSec, p.tsNsec]));
});

test('writers wait for a slow reader (backpressure) and lose nothing', async () => {
  const mix = await readCapture(sharedPath('lab-bookinfo-mix.pcap'));
  const out = new PassThrough({ highWaterMark: 1024 });
  const writer = new PcapngWriter(out);
  const received: Buffer[] = [];
  let waits = 0;
  const consume = (async () => {
    for await (const chunk of out) {
      received.push(chunk as Buffer);
      await new Promise((r) => setImmediate(r));
    }
  })();
  for (const p of mix.packets) {
    const pending = writer.write(p);
    if (pending) {
      waits++;
      await pending;
    }
  }
  await writer.end();
  out.end();
  await consume;
  assert.ok(waits > 0, 'the writer asked to wait at least once');
  assert.ok(out.writableLength <= 512 * 1024, 'never more than a couple of buffers queued');
  const path = join(dir, 'slow.pcapng');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(path, Buffer.concat(received));
  const back = await readCapture(path);
  assert.equal(back.packets.length, mix.packets.length);
  assert.ok(back.packets.every((p, i) => p.data.equals(mix.packets[i].data)));
});

test('timestamp units: exact against BigInt for µs, ns, 2^-n and odd resolutions', () => {
  const resolutions = [1, 10, 1e3, 1e6, 1e7, 1e9, 1e10, 1e12, 2 ** 20, 2 ** 30, 2 ** 40, 7];
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const sn = { sec: 0, nsec: 0 };
  const hl = { high: 0, low: 0 };
  for (const r of resolutions) {
    for (let k = 0; k < 2000; k++) {
      const sec = Math.floor(rand() * 2 ** 32);
      const nsec = Math.floor(rand() * 1e9);
      const units = (BigInt(sec) * BigInt(r)) + (BigInt(nsec) * BigInt(r)) / 1_000_000_000n;
      if (units >= 2n ** 64n) continue;
      timeToUnits(sec, nsec, r, hl);
      assert.equal((BigInt(hl.high) << 32n) | BigInt(hl.low), units, `timeToUnits(${sec}, ${nsec}, ${r})`);
      unitsToTime(hl.high, hl.low, r, sn);
      assert.equal(sn.sec, sec, `unitsToTime sec, r=${r}`);
      assert.equal(BigInt(sn.nsec), ((units % BigInt(r)) * 1_000_000_000n) / BigInt(r), `unitsToTime nsec, r=${r}`);
    }
  }
});
