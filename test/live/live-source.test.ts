// openLive() directly, on loopback with a filter on ports nothing else uses:
// copies out of cap's reused buffer, numbering, our own clock, the bounded
// queue's `lost` count, setFilter, close. Plus the pure helpers. openLive
// uses the capture helper when it is built (the `lost` test asks for cap).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { formatInterfaceList, openLive, wireLength, type LiveCapture } from '../../src/capture/live.js';
import type { Packet } from '../../src/model/packet.js';

async function send(port: number, count: number): Promise<void> {
  const sock = createSocket('udp4');
  try {
    for (let i = 0; i < count; i++) {
      await new Promise<void>((resolve, reject) => sock.send(`payload-${i}`, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
    }
  } finally {
    sock.close();
  }
}

/** Collect packets until `count` arrived (or 10 s passed), then close. */
async function collect(capture: LiveCapture, count: number): Promise<Packet[]> {
  const got: Packet[] = [];
  const timer = setTimeout(() => capture.close(), 10_000);
  for await (const batch of capture.batches()) {
    got.push(...batch);
    if (got.length >= count) capture.close();
  }
  clearTimeout(timer);
  return got;
}

describe('openLive on loopback', () => {
  it('copies every packet out, numbers frames, stamps our clock; setFilter switches ports', async () => {
    const capture = openLive({ interfaces: ['lo'], filter: 'udp dst port 47101' });
    assert.equal(capture.interfaces.length, 1);
    assert.equal(capture.interfaces[0].linkType, 1);
    const before = Date.now();
    const collecting = collect(capture, 30);
    await send(47101, 20);
    await new Promise((r) => setTimeout(r, 200));
    capture.setFilter('udp dst port 47102');
    await send(47101, 5); // filtered out now
    await send(47102, 10);
    const packets = await collecting;
    const after = Date.now();
    assert.equal(packets.length, 30);
    assert.deepEqual(packets.map((p) => p.frame), Array.from({ length: 30 }, (_, i) => i + 1));
    const payloads = packets.map((p) => p.data.subarray(42).toString());
    assert.deepEqual(payloads.slice(0, 20), Array.from({ length: 20 }, (_, i) => `payload-${i}`));
    assert.deepEqual(payloads.slice(20), Array.from({ length: 10 }, (_, i) => `payload-${i}`));
    assert.ok(packets.slice(20).every((p) => p.data.readUInt16BE(36) === 47102));
    let last = 0;
    for (const p of packets) {
      const ms = p.tsSec * 1000 + p.tsNsec / 1e6;
      assert.ok(ms >= before - 1 && ms <= after + 1, `timestamp ${ms} outside [${before}, ${after}]`);
      assert.ok(ms >= last);
      last = ms;
      assert.equal(p.origLen, p.data.length);
    }
    const stats = capture.stats();
    assert.equal(stats.lost, 0);
    // The capture helper has pcap_stats(); cap cannot tell kernel drops once a filter is set.
    if (stats.timestamps === 'kernel') assert.equal(stats.kernelDropped, 0);
    else assert.equal(stats.kernelDropped, undefined, 'not measurable with a filter');
    assert.ok(stats.received >= 30);
  });

  it('counts what the bounded queue had no room for as lost, and still hands on what it kept', async () => {
    const capture = openLive({ interfaces: ['lo'], filter: 'udp dst port 47103', queuePackets: 5, capturer: 'cap' });
    // Nobody consumes while 40 datagrams arrive.
    await send(47103, 40);
    await new Promise((r) => setTimeout(r, 300));
    capture.close();
    const kept: Packet[] = [];
    for await (const b of capture.batches()) kept.push(...b);
    const stats = capture.stats();
    assert.equal(kept.length, 5);
    assert.equal(stats.received, 40);
    assert.equal(stats.lost, 35);
  });

  it('ends batches() when its AbortSignal fires', async () => {
    const ac = new AbortController();
    const capture = openLive({ interfaces: ['lo'], filter: 'udp dst port 47104', signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    const got: Packet[] = [];
    for await (const b of capture.batches()) got.push(...b);
    assert.equal(capture.closed, true);
    assert.equal(got.length, 0);
  });
});

describe('live helpers', () => {
  it('wireLength believes the IP header when libpcap cut a GSO frame at 65535', () => {
    const eth = Buffer.alloc(14 + 20);
    eth.writeUInt16BE(0x0800, 12);
    eth[14] = 0x45;
    eth.writeUInt16BE(64000, 16);
    assert.equal(wireLength(1, eth), 14 + 64000);
    const vlan = Buffer.alloc(18 + 40);
    vlan.writeUInt16BE(0x8100, 12);
    vlan.writeUInt16BE(0x86dd, 16);
    vlan[18] = 0x60;
    vlan.writeUInt16BE(1000, 22);
    assert.equal(wireLength(1, vlan), 18 + 40 + 1000);
    assert.equal(wireLength(1, Buffer.alloc(10)), 10);
    assert.equal(wireLength(0, Buffer.alloc(50)), 50);
  });

  it('formats interfaces like tcpdump -D', () => {
    const text = formatInterfaceList([
      { name: 'eth0', addresses: [{ addr: '10.0.0.2' }] },
      { name: 'any', description: 'Pseudo-device that captures on all interfaces', addresses: [] },
      { name: 'lo', addresses: [{ addr: '127.0.0.1' }], flags: 'PCAP_IF_LOOPBACK' },
    ]);
    assert.equal(text, '1.eth0 [10.0.0.2]\n2.any (Pseudo-device that captures on all interfaces)\n3.lo [127.0.0.1] {loopback}');
  });
});
