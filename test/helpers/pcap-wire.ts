// Synthetic captures on disk, for tests that spawn the CLI: UDP datagrams
// beside engine-wire's TCP segments, and a classic pcap file of raw IPv4 packets.
import { writeFileSync } from 'node:fs';
import { LinkType, type Packet } from '../../src/model/packet.js';

/**
 * A raw IPv4 packet from 198.18.0.<src> to the other address (1 ↔ 2): the
 * 20-byte header for `protocol` (6 TCP, 17 UDP), the ports, then room for the
 * rest of a `transportLength`-byte transport header and `body`.
 */
export function ipv4Packet(src: 1 | 2, protocol: number, sport: number, dport: number, transportLength: number, body: Buffer): Buffer {
  const b = Buffer.alloc(20 + transportLength + body.length);
  b[0] = 0x45;
  b.writeUInt16BE(b.length, 2);
  b[8] = 64;
  b[9] = protocol;
  b.set([198, 18, 0, src], 12);
  b.set([198, 18, 0, src === 1 ? 2 : 1], 16);
  b.writeUInt16BE(sport, 20);
  b.writeUInt16BE(dport, 22);
  body.copy(b, 20 + transportLength);
  return b;
}

/** Raw IPv4 + UDP from 198.18.0.<src> to the other address (1 ↔ 2). */
export function udpPacket(atMs: number, frame: number, src: 1 | 2, sport: number, dport: number, body: Buffer): Packet {
  const b = ipv4Packet(src, 17, sport, dport, 8, body);
  b.writeUInt16BE(8 + body.length, 24);
  return { tsSec: Math.floor(atMs / 1000), tsNsec: (atMs % 1000) * 1e6, linkType: LinkType.RAW, data: b, origLen: b.length, interfaceId: 0, frame };
}

/** A little-endian µs pcap (link type RAW) of `packets`, in the order given. */
export function rawPcapBytes(packets: Packet[]): Buffer {
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
  return Buffer.concat([header, ...records]);
}

/** The same, written to `path`. */
export function writeRawPcap(path: string, packets: Packet[]): void {
  writeFileSync(path, rawPcapBytes(packets));
}
