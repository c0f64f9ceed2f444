// A real lab capture put inside a tunnel, packet by packet, as a tunnel
// endpoint or a mirroring switch would send it: the kernel here has no GRE,
// ERSPAN, MPLS, PPPoE or GTP (no modules), so their encapsulations are
// written by this helper, and tshark checks each one decodes to the same
// inner traffic (test/dissect/tunnels.test.ts).
import { readFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';

export type TunnelKind =
  | 'gre' | 'gre-teb' | 'gre-mpls' | 'erspan1' | 'erspan2' | 'erspan3' | 'pptp'
  | 'mpls' | 'pppoe' | 'gtp' | 'gre-udp' | 'gre-in-gre' | 'vxlan-in-gre'
  | 'ipv6' | 'teredo' | 'gtp-ipv6'
  | 'fabricpath' | 'pbb' | 'vntag' | 'etag'
  | 'ppp-link' | 'chdlc-link' | 'ayiya'
  | LinkKind;

/** The same frames captured on another link, or behind a capture header (test/dissect/link-types.test.ts). */
export type LinkKind =
  | 'wifi' | 'wifi-radiotap' | 'wifi-ppi' | 'wifi-prism' | 'wifi-avs'
  | 'pktap' | 'pflog' | 'enc' | 'ipnet' | 'netanalyzer' | 'erf' | 'erf-extension' | 'erf-pos'
  | 'frame-relay' | 'frame-relay-cisco' | 'atm-rfc1483' | 'fddi' | 'token-ring' | 'llc-8023' | 'ppp-ether';

/** The pcap link type of a kind's frames: Ethernet but for the serial links' own and LINK_KINDS'. */
const LINK_TYPES: Partial<Record<TunnelKind, number>> = {
  'ppp-link': 9, 'chdlc-link': 104,
  wifi: 105, 'wifi-radiotap': 127, 'wifi-ppi': 192, 'wifi-prism': 119, 'wifi-avs': 163,
  pktap: 258, pflog: 117, enc: 109, ipnet: 226, netanalyzer: 240, erf: 197, 'erf-extension': 197, 'erf-pos': 197,
  'frame-relay': 107, 'frame-relay-cisco': 107, 'atm-rfc1483': 11, fddi: 10, 'token-ring': 6, 'llc-8023': 1, 'ppp-ether': 51,
};

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

/** A frame check sequence after `frame` (CRC-32, least significant byte first, as Ethernet and 802.11 send it). */
function withFcs(frame: Buffer): Buffer {
  const fcs = Buffer.alloc(4);
  fcs.writeUInt32LE(crc32(frame));
  return Buffer.concat([frame, fcs]);
}

/** LLC/SNAP (RFC 1042) before the Ethernet frame's payload, with its EtherType. */
function snap(frame: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0xaa, 0xaa, 0x03, 0, 0, 0]), frame.subarray(12)]);
}

/**
 * The Ethernet frame as an 802.11 data frame from a station to its access
 * point and back: plain data, QoS data (with HT control on some), and a
 * four-address (WDS) frame in turn; `pad` pads the header to 32 bits, as
 * radiotap's data-pad flag says some drivers do.
 */
function wifiFrame(frame: Buffer, i: number, pad = false): Buffer {
  const kind = i % 3;
  const forward = i % 2 === 0;
  const control = kind === 1 ? 0x88 : 0x08;
  const flags = (kind === 2 ? 0x03 : forward ? 0x01 : 0x02) | (kind === 1 && i % 4 === 1 ? 0x80 : 0);
  const ap = Buffer.from([0x02, 0, 0, 0, 0, 0x0c]);
  const header = [Buffer.from([control, flags, 0x2c, 0x00]), ap, frame.subarray(6, 12), frame.subarray(0, 6), Buffer.from([(i << 4) & 0xff, (i >> 4) & 0xff])];
  if (kind === 2) header.push(Buffer.from([0x02, 0, 0, 0, 0, 0x0d]));
  if (kind === 1) header.push(Buffer.from([0x00, 0x00]));
  if (flags & 0x80) header.push(Buffer.from([0, 0, 0, 0]));
  let h = Buffer.concat(header);
  if (pad && h.length % 4 !== 0) h = Buffer.concat([h, Buffer.alloc(4 - (h.length % 4))]);
  return Buffer.concat([h, snap(frame)]);
}

/** Radiotap: TSFT, Flags (FCS at the end on every other frame; the data pad on QoS frames) and Rate. */
function radiotap(frame: Buffer, i: number): Buffer {
  const fcs = i % 2 === 1;
  const pad = i % 3 === 1;
  const h = Buffer.alloc(18);
  h.writeUInt16LE(18, 2);
  h.writeUInt32LE(0x07, 4);
  h.writeBigUInt64LE(BigInt(i) * 1000n, 8);
  h[16] = (fcs ? 0x10 : 0) | (pad ? 0x20 : 0);
  h[17] = 0x6c;
  const wifi = wifiFrame(frame, i, pad);
  return Buffer.concat([h, fcs ? withFcs(wifi) : wifi]);
}

/** A 16-byte ERF record header (type, flags, record and wire lengths) before `body`. */
function erfRecord(type: number, body: Buffer, wire: number, i: number): Buffer {
  const h = Buffer.alloc(16);
  h.writeBigUInt64LE(BigInt(1_700_000_000 + i) << 32n, 0);
  h[8] = type;
  h[9] = 0x04; // variable-length record
  h.writeUInt16BE(16 + body.length, 10);
  h.writeUInt16BE(wire, 14);
  return Buffer.concat([h, body]);
}

/** The frame sent across the tunnel for one captured frame; `i` numbers them (sequence numbers). */
export function wrapFrame(kind: TunnelKind, frame: Buffer, i: number): Buffer {
  const forward = i % 2 === 0;
  const ip = ipOf(frame);
  switch (kind) {
    case 'wifi':
      return wifiFrame(frame, i);
    case 'wifi-radiotap':
      return radiotap(frame, i);
    case 'wifi-ppi': {
      // PPI's header alone (no fields), naming 802.11 as what follows.
      const h = Buffer.from([0, 0, 8, 0, 105, 0, 0, 0]);
      return Buffer.concat([h, wifiFrame(frame, i)]);
    }
    case 'wifi-prism': {
      // Message code and length (144, little-endian), the device's name, ten items of 12 bytes.
      const h = Buffer.alloc(144);
      h.writeUInt32LE(0x41, 0);
      h.writeUInt32LE(144, 4);
      h.write('wlan0', 8);
      return Buffer.concat([h, wifiFrame(frame, i)]);
    }
    case 'wifi-avs': {
      const h = Buffer.alloc(64);
      h.writeUInt32BE(0x80211001, 0);
      h.writeUInt32BE(64, 4);
      return Buffer.concat([h, wifiFrame(frame, i)]);
    }
    case 'pktap': {
      // macOS: header length, record type 1 (packet), the packet's link type, the interface's name; little-endian.
      const h = Buffer.alloc(156);
      h.writeUInt32LE(156, 0);
      h.writeUInt32LE(1, 4);
      h.writeUInt32LE(1, 8);
      h.write('en0', 12);
      return Buffer.concat([h, frame]);
    }
    case 'pflog': {
      // FreeBSD's pfloghdr: length 61 (padded to 64), AF_INET, pass, a reason, interface and ruleset names.
      const h = Buffer.alloc(64);
      h[0] = 61;
      h[1] = 2;
      h.write('em0', 4);
      return Buffer.concat([h, ip]);
    }
    case 'enc': {
      // OpenBSD's enchdr: address family (host order), SPI, flags.
      const h = Buffer.alloc(12);
      h.writeUInt32LE(2, 0);
      h.writeUInt32BE(0x1000 + (forward ? 1 : 2), 4);
      return Buffer.concat([h, ip]);
    }
    case 'ipnet': {
      // Solaris: version 2, AF_INET, hook 0 (inbound), the packet's length, interface and zone ids.
      const h = Buffer.alloc(24);
      h[0] = 2;
      h[1] = 2;
      h.writeUInt32BE(ip.length, 4);
      h.writeUInt32BE(2, 8);
      return Buffer.concat([h, ip]);
    }
    case 'netanalyzer':
      return Buffer.concat([Buffer.from([0x00, 0x00, 0x00, 0x00]), withFcs(frame)]);
    case 'erf': {
      const eth = withFcs(frame);
      return erfRecord(2, Buffer.concat([Buffer.alloc(2), eth]), eth.length, i);
    }
    case 'erf-extension': {
      // Two extension headers (the first says another follows) before the Ethernet frame.
      const eth = withFcs(frame);
      const ext = Buffer.from([0x84, 0, 0, 0, 0, 0, 0, 1, 0x04, 0, 0, 0, 0, 0, 0, 2]);
      return erfRecord(0x82, Buffer.concat([ext, Buffer.alloc(2), eth]), eth.length, i);
    }
    case 'erf-pos':
      // Packet over SONET: PPP in HDLC framing.
      return erfRecord(1, Buffer.concat([Buffer.from([0xff, 0x03, 0x00, 0x21]), ip]), ip.length + 4, i);
    case 'frame-relay':
      // Q.922 address (DLCI 100), UI control, then NLPID IPv4 (RFC 2427).
      return Buffer.concat([Buffer.from([0x18, 0x41, 0x03, 0xcc]), ip]);
    case 'frame-relay-cisco':
      return Buffer.concat([Buffer.from([0x18, 0x41, 0x08, 0x00]), ip]);
    case 'atm-rfc1483':
      return Buffer.concat([Buffer.from([0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00]), ip]);
    case 'fddi':
      return Buffer.concat([Buffer.from([0x50]), frame.subarray(0, 12), snap(frame)]);
    case 'token-ring': {
      // Access and frame control, the addresses; every other frame source-routed (a 2-byte routing field).
      const routed = i % 2 === 1;
      const source = Buffer.from(frame.subarray(6, 12));
      source[0] = routed ? source[0] | 0x80 : source[0] & 0x7f; // the top bit says a routing field follows
      return Buffer.concat([Buffer.from([0x10, 0x40]), frame.subarray(0, 6), source, routed ? Buffer.from([0x02, 0x30]) : Buffer.alloc(0), snap(frame)]);
    }
    case 'llc-8023': {
      // IEEE 802.3: a length, not an EtherType, then LLC/SNAP; frames too long for that stay Ethernet II.
      const payload = snap(frame);
      if (payload.length > 1500) return frame;
      const length = Buffer.alloc(2);
      length.writeUInt16BE(payload.length);
      return Buffer.concat([frame.subarray(0, 12), length, payload]);
    }
    case 'ppp-ether': {
      const h = Buffer.from([0x11, 0x00, 0x00, 0x2a, 0, 0, 0x00, 0x21]);
      h.writeUInt16BE(ip.length + 2, 4);
      return Buffer.concat([h, ip]);
    }

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
