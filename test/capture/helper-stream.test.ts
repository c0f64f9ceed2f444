// The capture helper's stream format, cut by HelperStreamDecoder: records
// split anywhere across chunks, hostile lengths and interface numbers, its
// stats lines. And the helper itself on loopback: a bad setFilter throws and
// the old filter keeps capturing; kernel drops are known with a filter set.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { HelperStreamDecoder, HelperStreamError, parseHelperStats, STREAM_MAGIC } from '../../src/capture/helper-stream.js';
import { findHelper } from '../../src/capture/helper.js';
import { openLive } from '../../src/capture/live.js';
import type { Packet } from '../../src/model/packet.js';
import { mulberry32 } from '../helpers/random.js';

function randomBytes(seed: number, n: number): Buffer {
  const rnd = mulberry32(seed);
  return Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256)));
}

function record(data: Buffer, opts: { len?: number; sec?: number; nsec?: number; iface?: number } = {}): Buffer {
  const hdr = Buffer.alloc(20);
  hdr.writeUInt32LE(data.length, 0);
  hdr.writeUInt32LE(opts.len ?? data.length, 4);
  hdr.writeUInt32LE(opts.sec ?? 1_700_000_000, 8);
  hdr.writeUInt32LE(opts.nsec ?? 123_456_789, 12);
  hdr.writeUInt32LE(opts.iface ?? 0, 16);
  const pad = Buffer.alloc((4 - (data.length % 4)) % 4);
  return Buffer.concat([hdr, data, pad]);
}

describe('HelperStreamDecoder', () => {
  it('cuts records split at every possible byte, keeping times, lengths and interfaces', () => {
    const payloads = [Buffer.from('a'), Buffer.from('bcde'), Buffer.alloc(0), Buffer.from('0123456789')];
    const stream = Buffer.concat([
      Buffer.from(STREAM_MAGIC),
      ...payloads.map((p, i) => record(p, { len: p.length + 100 * i, sec: 1_700_000_000 + i, nsec: i * 7, iface: i % 2 })),
    ]);
    for (let cut = 0; cut <= stream.length; cut++) {
      const d = new HelperStreamDecoder([1, 113]);
      const got = [...d.push(stream.subarray(0, cut)), ...d.push(stream.subarray(cut))];
      assert.equal(d.pending, 0);
      assert.deepEqual(
        got.map((p) => [p.data.toString(), p.origLen, p.tsSec, p.tsNsec, p.interfaceId, p.linkType, p.frame]),
        payloads.map((p, i) => [p.toString(), p.length + 100 * i, 1_700_000_000 + i, i * 7, i % 2, i % 2 ? 113 : 1, i + 1]),
        `cut at ${cut}`,
      );
    }
  });

  it('refuses a stream that is not the helper, a record longer than any snaplen, an unknown interface', () => {
    assert.throws(() => new HelperStreamDecoder([1]).push(Buffer.from('GARBAGE!xxxx')), HelperStreamError);
    const huge = Buffer.concat([Buffer.from(STREAM_MAGIC), Buffer.alloc(20)]);
    huge.writeUInt32LE(0xfffffff0, 8);
    assert.throws(() => new HelperStreamDecoder([1]).push(huge), /exceeds the snaplen limit/);
    const badIface = Buffer.concat([Buffer.from(STREAM_MAGIC), record(Buffer.from('x'), { iface: 7 })]);
    assert.throws(() => new HelperStreamDecoder([1]).push(badIface), /interface 7 of 1/);
  });

  it('never throws anything but HelperStreamError on random bytes after the magic, and holds at most one record', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const d = new HelperStreamDecoder([1, 1]);
      try {
        d.push(Buffer.concat([Buffer.from(STREAM_MAGIC), randomBytes(seed, 64 + seed * 13)]));
        assert.ok(d.pending < 20 + 262144 + 4);
      } catch (err) {
        assert.ok(err instanceof HelperStreamError, String(err));
      }
    }
  });

  it('reads stats lines and ignores damaged ones', () => {
    const s = parseHelperStats(
      'shark-capture stats {"received":10,"delivered":6,"kernelDropped":1,"ifDropped":0,"dropped":1,"shedFlows":2,"shedPackets":3,' +
        '"shedByPort":{"tcp/80":2},"flowTableFull":0,"ringBytes":40,"ringSize":1048576,"spoolBytes":0,"spoolSize":0,"lagMs":12.5,"shedding":true,"final":false}',
    );
    assert.ok(s);
    assert.equal(s.received, s.delivered + s.shedPackets + s.dropped);
    assert.deepEqual(s.shedByPort, { 'tcp/80': 2 });
    assert.equal(s.shedding, true);
    assert.equal(parseHelperStats('shark-capture stats {"received":'), undefined);
    assert.equal(parseHelperStats('something else'), undefined);
  });
});

async function send(port: number, count: number): Promise<void> {
  const sock = createSocket('udp4');
  try {
    for (let i = 0; i < count; i++) {
      await new Promise<void>((resolve, reject) => sock.send(`h-${i}`, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
    }
  } finally {
    sock.close();
  }
}

describe('capture helper on loopback', { skip: findHelper() ? false : 'capture helper not built (bash native/capture/build.sh)' }, () => {
  it('a bad setFilter throws and the old filter keeps capturing; the stats know kernel drops under a filter', async () => {
    const capture = openLive({ interfaces: ['lo'], filter: 'udp dst port 47191', capturer: 'helper' });
    assert.throws(() => capture.setFilter('udp port notaport'), /bad filter 'udp port notaport'/);
    await send(47191, 12);
    const got: Packet[] = [];
    const timer = setTimeout(() => capture.close(), 10_000);
    for await (const b of capture.batches()) {
      got.push(...b);
      if (got.length >= 12) capture.close();
    }
    clearTimeout(timer);
    assert.equal(got.length, 12);
    assert.ok(got.every((p) => p.data.readUInt16BE(36) === 47191));
    const s = capture.stats();
    assert.equal(s.timestamps, 'kernel');
    assert.equal(s.kernelDropped, 0);
    assert.equal(s.received, 12);
    assert.equal(s.delivered, 12);
    assert.equal(s.shedFlows, 0);
  });

  it('names the interface that does not exist, as cap did', () => {
    assert.throws(() => openLive({ interfaces: ['s6cnope0'], capturer: 'helper' }), /no such interface 's6cnope0'/);
  });
});
