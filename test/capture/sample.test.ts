// --sample-rate (src/capture/sample.ts): whole connections kept or skipped,
// the same decision in both directions and before/after a Service DNAT (the
// client end decides), about the asked share over many connections.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clientEndHash, connectionSampler } from '../../src/capture/sample.js';
import { LinkType, type Packet } from '../../src/model/packet.js';

/** A raw IPv4 TCP packet (no checksums needed: only headers are read). */
function tcp(src: number[], sport: number, dst: number[], dport: number, fragOffset = 0): Packet {
  const d = Buffer.alloc(40);
  d[0] = 0x45;
  d.writeUInt16BE(40, 2);
  d.writeUInt16BE(fragOffset, 6);
  d[8] = 64;
  d[9] = 6;
  Buffer.from(src).copy(d, 12);
  Buffer.from(dst).copy(d, 16);
  d.writeUInt16BE(sport, 20);
  d.writeUInt16BE(dport, 22);
  return { linkType: LinkType.RAW, data: d, tsSec: 0, tsNsec: 0, origLen: 40, interfaceId: 0, frame: 1 } as Packet;
}

const client = [198, 18, 60, 10];
const service = [198, 18, 200, 5];
const backend = [198, 18, 60, 43];

test('one decision per connection: both directions, and the pre-DNAT and post-DNAT copies, hash alike', () => {
  for (let port = 40000; port < 40200; port++) {
    const out = clientEndHash(LinkType.RAW, tcp(client, port, service, 80).data);
    assert.equal(clientEndHash(LinkType.RAW, tcp(service, 80, client, port).data), out, 'reply direction');
    assert.equal(clientEndHash(LinkType.RAW, tcp(client, port, backend, 8080).data), out, 'after the DNAT');
    assert.equal(clientEndHash(LinkType.RAW, tcp(backend, 8080, client, port).data), out);
  }
});

test('about the asked share of connections is kept; packets that name no connection are kept', () => {
  const s = connectionSampler(0.25);
  let kept = 0;
  const N = 20_000;
  for (let i = 0; i < N; i++) if (s.keep(tcp([198, 18, 61, i % 250], 32768 + (i % 20000), backend, 8080))) kept++;
  assert.ok(Math.abs(kept / N - 0.25) < 0.03, `kept ${kept} of ${N}`);
  assert.equal(s.skipped, N - kept);
  const fragment = tcp(client, 40000, backend, 8080, 100);
  assert.equal(connectionSampler(0.0001).keep(fragment), true, 'a later fragment carries no ports: kept');
  assert.equal(connectionSampler(1).skipped, 0);
});
