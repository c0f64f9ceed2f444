// `tap --pcap` across agents: packets of all streams are written in time
// order, to the nanosecond, as tshark reads them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { ClusterPcapWriter } from '../../src/merge/agent-packets.js';
import { openCapture } from '../../src/capture/reader.js';
import { pcapEncoding } from '../../src/record/pcap-encoding.js';
import { LinkType } from '../../src/model/packet.js';

/** A nanosecond pcap (raw IPv4 link) of one 20-byte packet at `sec` s + `nsec` ns, its last byte `tag`. */
function nsecPcap(sec: number, nsec: number, tag: number): Buffer {
  const encoding = pcapEncoding({ linkType: LinkType.RAW, snaplen: 65535, tsUnitsPerSec: 1e9 });
  const data = Buffer.alloc(20);
  data[0] = 0x45;
  data[19] = tag;
  return Buffer.concat([encoding.header(), encoding.record({ tsSec: sec, tsNsec: nsec, linkType: LinkType.RAW, data, origLen: data.length, interfaceId: 0, frame: 1 })]);
}

test('two agents\' packets 150 ns apart come out in time order, whichever arrived first', async () => {
  const chunks: Buffer[] = [];
  const out = new Writable({ write: (c, _e, cb) => (chunks.push(Buffer.from(c)), cb()) });
  const writer = new ClusterPcapWriter(out, () => {}, (m) => assert.fail(m), 60_000);
  // In ms since the epoch these two times are the same double; the later one arrives first.
  const sec = 1796454779;
  const later = writer.openStream('node1');
  later.push(nsecPcap(sec, 552752227, 1));
  later.end();
  await new Promise((r) => setTimeout(r, 50));
  const earlier = writer.openStream('node2');
  earlier.push(nsecPcap(sec, 552752077, 2));
  earlier.end();
  await writer.finish();
  const reader = openCapture(Buffer.concat(chunks), (async function* () {})(), 'merged');
  const got: [number, number][] = [];
  for await (const batch of reader.batches()) for (const p of batch) got.push([p.tsNsec, p.data[19]]);
  assert.deepEqual(got, [
    [552752077, 2],
    [552752227, 1],
  ]);
});
