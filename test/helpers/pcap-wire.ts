// Synthetic captures on disk, for tests that spawn the CLI: UDP datagrams
// beside engine-wire's TCP segments, and a classic pcap file of raw IPv4 packets.
import { writeFileSync } from 'node:fs';
import { LinkType, type Packet } from '../../src/model/packet.js';

/** Raw IPv4 + UDP from 198.18.0.<src> to the other address (1 ↔ 2). */
export function udpPacket(atMs: number, frame: number, src: 1 | 2, sport: number, dport: number, body: Buffer): Packet {
  const b = Buffer.alloc(28 + body.length);
  b[0] = 0x45;
  b.writeUInt16BE(b.length, 2);
  b[8] = 64;
  b[9] = 17;
  b.set([198, 18, 0, src], 12);
  b.set([198, 18, 0, src === 1 ? 2 : 1], 16);
  b.writeUInt16BE(sport, 20);
  b.writeUInt16BE(dport, 22);
  b.writeUInt16BE(8 + body.length, 24);
  body.copy(b, 28);
  return { tsSec: Math.floor(atMs / 1000), tsNsec: (atMs % 1000) * 1e6, linkType: LinkType.RAW, data: b, origLen: b.length, interfaceId: 0, frame };
}

/** A little-endian µs pcap (link type RAW) of `packets`, in the order given. */
export function writeRawPcap(path: string, packets: Packet[]): void {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(65535, 16);
  header.writeUInt32LE(LinkType.RAW, 20);
  const records = packets.map((p) => {
    const r = Buffer.alloc(16);
    r.writeUInt32LE(p.tsSec, 0);
    r.writeUInt32LE(Math.floor(p.tsNsec / 1000), 4);
    r.writeUInt32LE(p.data.length, 8);
    r.writeUInt32LE(p.origLen, 12);
    return Buffer.concat([r, p.data]);
  });
  writeFileSync(path, Buffer.concat([header, ...records]));
}
