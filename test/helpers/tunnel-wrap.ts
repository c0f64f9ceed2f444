// A real lab capture put inside a tunnel, packet by packet, as a tunnel
// endpoint or a mirroring switch would send it: the kernel here has no GRE,
// ERSPAN, MPLS, PPPoE or GTP (no modules), so their encapsulations are
// written by this helper, and tshark checks each one decodes to the same
// inner traffic (test/dissect/tunnels.test.ts).
import { readFileSync } from 'node:fs';

export type TunnelKind =
  | 'gre' | 'gre-teb' | 'gre-mpls' | 'erspan1' | 'erspan2' | 'erspan3' | 'pptp'
  | 'mpls' | 'pppoe' | 'gtp' | 'gre-udp' | 'gre-in-gre' | 'vxlan-in-gre'
  | 'ipv6' | 'teredo' | 'gtp-ipv6'
  | 'fabricpath' | 'pbb' | 'vntag' | 'etag'
  | 'ppp-link' | 'chdlc-link' | 'ayiya';

/** The pcap link type of a kind's frames: Ethernet but for the serial links' own. */
const LINK_TYPES: Partial<Record<TunnelKind, number>> = { 'ppp-link': 9, 'chdlc-link': 104 };

interface CapturedFrame { sec: number; usec: number; frame: Buffer }

/** A classic little-endian µs pcap of Ethernet frames: its records. */
export function readEthernetPcap(path: string): CapturedFrame[] {
  const b = readFileSync(path);
  if (b.readUInt32LE(0) !== 0xa1b2c3d4 || b.readUInt32LE(20) !== 1) throw new Error(`${path}: not a little-endian µs Ethernet pcap`);
  const out: CapturedFrame[] = [];
  for (let off = 24; off + 16 <= b.length;) {
    const caplen = b.readUInt32LE(off + 8);
    out.push({ sec: b.readUInt32LE(off), usec: b.readUInt32LE(off + 4), frame: b.subarray(off + 16, off + 16 + caplen) });
    off += 16 + caplen;
  }
  return out;
}

const MAC_A = Buffer.from([0x02, 0, 0, 0, 0, 0x0a]);
const MAC_B = Buffer.from([0x02, 0, 0, 0, 0, 0x0b]);

function ethernet(type: number, payload: Buffer, tags: number[] = []): Buffer {
  const vlans = tags.map((vid) => Buffer.from([0x81, 0x00, vid >> 8, vid & 0xff]));
  const t = Buffer.alloc(2);
  t.writeUInt16BE(type);
  return Buffer.concat([MAC_B, MAC_A, ...vlans, t, payload]);
}

/** An outer IPv4 header (tunnel endpoints 198.18.200.1 and .2) around `payload`. */
function ipv4(protocol: number, payload: Buffer, forward: boolean): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + payload.length, 2);
  h[8] = 64;
  h[9] = protocol;
  h.set([198, 18, 200, forward ? 1 : 2], 12);
  h.set([198, 18, 200, forward ? 2 : 1], 16);
  return Buffer.concat([h, payload]);
}

function udp(sport: number, dport: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt16BE(8 + payload.length, 4);
  return Buffer.concat([h, payload]);
}

/** A GRE header: `flags` (C 0x80, K 0x20, S 0x10), version 0, then the optional fields present. */
function gre(protocol: number, payload: Buffer, flags: number, seq: number): Buffer {
  const parts = [Buffer.from([flags, 0, protocol >> 8, protocol & 0xff])];
  if (flags & 0x80) parts.push(Buffer.alloc(4)); // checksum (0: not checked by a reader) and reserved
  if (flags & 0x20) parts.push(Buffer.from([0, 0, 0x01, 0x2c])); // key 300
  if (flags & 0x10) {
    const s = Buffer.alloc(4);
    s.writeUInt32BE(seq);
    parts.push(s);
  }
  return Buffer.concat([...parts, payload]);
}

function mplsLabels(labels: number[], payload: Buffer): Buffer {
  const stack = labels.map((label, i) => {
    const l = Buffer.alloc(4);
    l.writeUInt32BE(((label << 12) | (i === labels.length - 1 ? 0x100 : 0) | 64) >>> 0);
    return l;
  });
  return Buffer.concat([...stack, payload]);
}

/** The inner frame's IP packet (the lab capture is untagged Ethernet). */
function ipOf(frame: Buffer): Buffer {
  return frame.subarray(14);
}

/**
 * The same packet as IPv6 (198.18.a.b becomes 2001:db8::c612:ab): the
 * transport header and payload unchanged, so checksums are wrong, which
 * neither tshark (by default) nor shark checks. The lab captures have no
 * IPv6, and Teredo carries nothing else.
 */
export function asIpv6(ip: Buffer): Buffer {
  const ihl = (ip[0] & 15) * 4;
  const payload = ip.subarray(ihl, ip.readUInt16BE(2));
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  h.writeUInt16BE(payload.length, 4);
  h[6] = ip[9];
  h[7] = ip[8];
  const address = (at: number, from: number) => {
    h.set([0x20, 0x01, 0x0d, 0xb8], at);
    ip.copy(h, at + 12, from, from + 4);
  };
  address(8, 12);
  address(24, 16);
  return Buffer.concat([h, payload]);
}

function gtpU(ip: Buffer, teid: number): Buffer {
  // Version 1, GTP, E flag: a PDU session container extension header (type 0x85, one 4-byte unit).
  const h = Buffer.from([0x34, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x85, 1, 0x10, 0x09, 0x00]);
  h.writeUInt16BE(ip.length + 8, 2);
  h.writeUInt32BE(teid, 4);
  return Buffer.concat([h, ip]);
}

/** The frame sent across the tunnel for one captured frame; `i` numbers them (sequence numbers). */
export function wrapFrame(kind: TunnelKind, frame: Buffer, i: number): Buffer {
  const forward = i % 2 === 0;
  const ip = ipOf(frame);
  switch (kind) {
    case 'gre':
      return ethernet(0x0800, ipv4(47, gre(0x0800, ip, 0x30, i), forward));
    case 'gre-teb':
      return ethernet(0x0800, ipv4(47, gre(0x6558, frame, 0x80, i), forward));
    case 'gre-mpls':
      return ethernet(0x0800, ipv4(47, gre(0x8847, mplsLabels([16, 17], ip), 0, i), forward));
    case 'erspan1':
      return ethernet(0x0800, ipv4(47, gre(0x88be, frame, 0, i), forward));
    case 'erspan2': {
      const h = Buffer.from([0x10, 0x05, 0x00, 0x07, 0, 0, 0, 0]); // version 1 (type II), VLAN 5, session 7
      return ethernet(0x0800, ipv4(47, gre(0x88be, Buffer.concat([h, frame]), 0x10, i), forward));
    }
    case 'erspan3': {
      // Version 2 (type III), VLAN 0, session 9, a timestamp, frame type 0 (Ethernet), O set: an 8-byte subheader.
      const h = Buffer.from([0x20, 0x00, 0x00, 0x09, 0, 0, 0x12, 0x34, 0, 0, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0]);
      const tagged = Buffer.concat([frame.subarray(0, 12), Buffer.from([0x81, 0x00, 0x00, 0x2a]), frame.subarray(12)]);
      return ethernet(0x0800, ipv4(47, gre(0x22eb, Buffer.concat([h, tagged]), 0x10, i), forward), [100]);
    }
    case 'pptp': {
      // Enhanced GRE: K and S set, version 1, PPP; key = payload length and call id.
      const ppp = Buffer.concat([Buffer.from([0xff, 0x03, 0x00, 0x21]), ip]);
      const h = Buffer.from([0x30, 0x01, 0x88, 0x0b, 0, 0, 0, 0x07, 0, 0, 0, 0]);
      h.writeUInt16BE(ppp.length, 4);
      h.writeUInt32BE(i, 8);
      return ethernet(0x0800, ipv4(47, Buffer.concat([h, ppp]), forward));
    }
    case 'mpls':
      return ethernet(0x8847, mplsLabels([1000, 2000, 3000], ip));
    case 'pppoe': {
      const h = Buffer.from([0x11, 0x00, 0x00, 0x2a, 0, 0, 0x00, 0x21]);
      h.writeUInt16BE(ip.length + 2, 4);
      return ethernet(0x8864, Buffer.concat([h, ip]));
    }
    case 'gtp':
      return ethernet(0x0800, ipv4(17, udp(2152, 2152, gtpU(ip, forward ? 0x1001 : 0x2002)), forward));
    case 'gre-udp':
      return ethernet(0x0800, ipv4(17, udp(40000 + (i % 8), 4754, gre(0x0800, ip, 0, i)), forward));
    case 'gre-in-gre':
      return ethernet(0x0800, ipv4(47, gre(0x0800, ipv4(47, gre(0x6558, frame, 0x20, i), forward), 0x20, i), forward));
    case 'ipv6':
      return ethernet(0x86dd, asIpv6(ip));
    case 'ppp-link':
      return Buffer.concat([Buffer.from([0xff, 0x03, 0x00, 0x21]), ip]);
    case 'chdlc-link':
      return Buffer.concat([Buffer.from([0x0f, 0x00, 0x08, 0x00]), ip]);
    case 'fabricpath':
      // Outer addresses, 0x8903, FTag and TTL, then the frame as it was and a frame check sequence (tshark expects one).
      return Buffer.concat([MAC_B, MAC_A, Buffer.from([0x89, 0x03, 0x00, 0x3f]), frame, Buffer.from([0xde, 0xad, 0xbe, 0xef])]);
    case 'pbb':
      // Backbone addresses, a B-TAG (802.1ad), 0x88e7 and the I-TAG (flags, I-SID 0x010203), then the customer's frame.
      return Buffer.concat([MAC_B, MAC_A, Buffer.from([0x88, 0xa8, 0x00, 0x0a, 0x88, 0xe7, 0x00, 0x01, 0x02, 0x03]), frame]);
    case 'vntag':
      return Buffer.concat([frame.subarray(0, 12), Buffer.from([0x89, 0x26, 0x80, 0x05, 0x00, 0x00]), frame.subarray(12)]);
    case 'etag':
      return Buffer.concat([frame.subarray(0, 12), Buffer.from([0x89, 0x3f, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00]), frame.subarray(12)]);
    case 'teredo':
      // An origin indication (port and address obfuscated) before the IPv6 packet, as a relay sends it.
      return ethernet(0x0800, ipv4(17, udp(3544, 50123, Buffer.concat([Buffer.from([0, 0, 0x3c, 0x6b, 0x39, 0xed, 0xff, 0x37]), asIpv6(ip)])), forward));
    case 'ayiya': {
      // 16-byte identity (2^4), a 20-byte SHA-1 signature (5 × 4), opcode 1 (forward), IPv6 next, a timestamp.
      const h = Buffer.concat([Buffer.from([0x41, 0x52, 0x11, 41, 0x65, 0x70, 0x00, 0x00]), Buffer.alloc(16, 0x20), Buffer.alloc(20, 0x5a)]);
      return ethernet(0x0800, ipv4(17, udp(5072, 5072, Buffer.concat([h, asIpv6(ip)])), forward));
    }
    case 'gtp-ipv6':
      return ethernet(0x0800, ipv4(17, udp(2152, 2152, gtpU(asIpv6(ip), 0x3003)), forward));
    case 'vxlan-in-gre': {
      const vxlan = Buffer.from([0x08, 0, 0, 0, 0, 0x10, 0x01, 0]);
      return ethernet(0x0800, ipv4(47, gre(0x0800, ipv4(17, udp(50000, 4789, Buffer.concat([vxlan, frame])), forward), 0, i), forward));
    }
  }
}

/** The lab capture `path` with every frame put inside the tunnel `kind`, as a classic Ethernet pcap. */
export function wrappedPcap(path: string, kind: TunnelKind): Buffer {
  const records = readEthernetPcap(path);
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(262144, 16);
  header.writeUInt32LE(LINK_TYPES[kind] ?? 1, 20);
  const parts: Buffer[] = [header];
  records.forEach((r, i) => {
    const frame = wrapFrame(kind, r.frame, i);
    const h = Buffer.alloc(16);
    h.writeUInt32LE(r.sec, 0);
    h.writeUInt32LE(r.usec, 4);
    h.writeUInt32LE(frame.length, 8);
    h.writeUInt32LE(frame.length, 12);
    parts.push(h, frame);
  });
  return Buffer.concat(parts);
}
