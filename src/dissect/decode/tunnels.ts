// Tunnels: where the inner frame of an encapsulated packet starts, for the
// tunnels overlay networks, mirroring sessions and mobile cores put around
// pod traffic. One set of rules, read by the engine (which dissects the inner
// traffic instead of the tunnel) and by the parallel dispatcher (which must
// send a tunnelled flow to the worker its inner packets hash to).
//
// - UDP: VXLAN (4789, 8472: flannel), Geneve (6081: Antrea, OVN, AWS GWLB),
//   GTP-U (2152), Teredo (3544), GRE in UDP (4754, RFC 8086), AYIYA (5072).
// - IP protocol 47, GRE (RFC 2784/2890): IPv4, IPv6, transparent Ethernet
//   bridging, MPLS, ERSPAN types I, II and III (switch and cloud mirroring),
//   and PPTP's enhanced GRE carrying PPP.
// Never throws and never copies: a short or unknown header is `undefined`
// (not this tunnel: dissect the packet as it is) or a tunnel with no frame
// (recognised, but what it carries is not IP: counted, not dissected).

import { LinkType } from '../../model/packet.js';
import { EtherType, afterMpls, afterPpp, findNetwork } from './link.js';

export interface Tunnelled {
  /** Counter name, `encap.<kind>`. */
  kind: string;
  /** The inner frame's link type (Ethernet or raw IP), or undefined when it carries something else. */
  linkType?: number;
  /** Where the inner frame starts in the payload given. */
  offset: number;
}

const VXLAN_PORTS = new Set([4789, 8472]);
export const GENEVE_PORT = 6081;
const GTP_U_PORT = 2152;
const TEREDO_PORT = 3544;
const GRE_IN_UDP_PORT = 4754;
const AYIYA_PORT = 5072;
/** Every UDP port a tunnel is looked for on (the dispatcher's fast path skips them). */
export const TUNNEL_UDP_PORTS: ReadonlySet<number> = new Set([...VXLAN_PORTS, GENEVE_PORT, GTP_U_PORT, TEREDO_PORT, GRE_IN_UDP_PORT, AYIYA_PORT]);

const TRANSPARENT_ETHERNET = 0x6558;
const ERSPAN_II = 0x88be;
const ERSPAN_III = 0x22eb;
const PPP = 0x880b;

/**
 * The tunnel a UDP datagram's payload (after the UDP header) carries, if any:
 * not when the inner headers are cut short (a snap length cut into them,
 * `tcpdump -s 60` on a Geneve link), as the inner packet could not be a flow
 * of its own; the datagram is then dissected as the UDP it is (`truncated`).
 */
export function udpTunnel(sport: number, dport: number, payload: Buffer): Tunnelled | undefined {
  return withWholeInner(udpTunnelHeader(sport, dport, payload), payload);
}

function udpTunnelHeader(sport: number, dport: number, payload: Buffer): Tunnelled | undefined {
  if (VXLAN_PORTS.has(dport) && payload.length >= 8 + 14 && (payload[0] & 0x08) !== 0) {
    return { kind: 'vxlan', linkType: LinkType.ETHERNET, offset: 8 };
  }
  if (dport === GENEVE_PORT && payload.length >= 8) {
    const start = 8 + (payload[0] & 0x3f) * 4;
    if (payload.length < start) return undefined;
    const proto = payload.readUInt16BE(2);
    if (proto === TRANSPARENT_ETHERNET) return { kind: 'geneve', linkType: LinkType.ETHERNET, offset: start };
    if (proto === EtherType.IPV4 || proto === EtherType.IPV6) return { kind: 'geneve', linkType: LinkType.RAW, offset: start };
    return { kind: 'geneve', offset: start };
  }
  if (sport === GTP_U_PORT || dport === GTP_U_PORT) {
    const inner = gtpU(payload);
    if (inner !== undefined) return inner;
  }
  if (sport === TEREDO_PORT || dport === TEREDO_PORT) {
    const inner = teredo(payload);
    if (inner !== undefined) return inner;
  }
  if (dport === GRE_IN_UDP_PORT) return gre(payload, 'gre-udp');
  if (sport === AYIYA_PORT || dport === AYIYA_PORT) return ayiya(payload);
  return undefined;
}

/** The tunnel an IP packet of `protocol` carries in `payload`, if any (IP-in-IP is decoded with IP itself); as udpTunnel, not when its inner headers are cut short. */
export function ipTunnel(protocol: number, payload: Buffer): Tunnelled | undefined {
  return protocol === 47 ? withWholeInner(gre(payload, 'gre'), payload) : undefined;
}

/** `tunnel`, unless the inner frame it points at lacks its headers. */
function withWholeInner(tunnel: Tunnelled | undefined, payload: Buffer): Tunnelled | undefined {
  if (tunnel?.linkType === undefined) return tunnel;
  return innerHeadersWhole(tunnel.linkType, payload.subarray(tunnel.offset)) ? tunnel : undefined;
}

/** A GRE header (version 0, or PPTP's version 1) and what follows it. */
function gre(b: Buffer, kind: string): Tunnelled | undefined {
  if (b.length < 4) return undefined;
  const flags = b[0];
  const version = b[1] & 0x07;
  const proto = b.readUInt16BE(2);
  if (version === 1) return pptp(b, flags, proto);
  if (version !== 0) return undefined;
  // Checksum present (C) or routing present (R, RFC 1701): 4 bytes of checksum and offset.
  let off = 4;
  if (flags & 0xc0) off += 4;
  if (flags & 0x20) off += 4; // key
  if (flags & 0x10) off += 4; // sequence number
  // RFC 1701 source routes follow when R is set: rare, and their length is in the entries; not decoded.
  if (flags & 0x40) return { kind, offset: off };
  if (b.length < off) return undefined;
  switch (proto) {
    case EtherType.IPV4:
    case EtherType.IPV6:
      return { kind, linkType: LinkType.RAW, offset: off };
    case TRANSPARENT_ETHERNET:
      return { kind, linkType: LinkType.ETHERNET, offset: off };
    case ERSPAN_II:
      // Type I has no sequence number and no ERSPAN header: the mirrored frame follows GRE at once.
      if ((flags & 0x10) === 0) return { kind: 'erspan', linkType: LinkType.ETHERNET, offset: off };
      return b.length >= off + 8 ? { kind: 'erspan', linkType: LinkType.ETHERNET, offset: off + 8 } : undefined;
    case ERSPAN_III: {
      if (b.length < off + 12) return undefined;
      // The O flag (last bit of the 12-byte header): an 8-byte platform-specific subheader follows.
      const start = off + 12 + ((b[off + 11] & 0x01) !== 0 ? 8 : 0);
      // Frame type (bits 1–5 of byte 10): 0 is Ethernet, 2 is an IP packet.
      const frameType = (b[off + 10] >> 1) & 0x1f;
      if (frameType === 0) return { kind: 'erspan', linkType: LinkType.ETHERNET, offset: start };
      if (frameType === 2) return { kind: 'erspan', linkType: LinkType.RAW, offset: start };
      return { kind: 'erspan', offset: start };
    }
    case EtherType.MPLS:
    case EtherType.MPLS_MULTICAST: {
      const inner = afterMpls(b, off);
      return inner ? { kind, linkType: LinkType.RAW, offset: inner.offset } : { kind, offset: off };
    }
    default:
      return { kind, offset: off };
  }
}

/** PPTP's enhanced GRE (RFC 2637): a key (payload length and call id), optional sequence and acknowledgement numbers, then PPP. */
function pptp(b: Buffer, flags: number, proto: number): Tunnelled | undefined {
  if (proto !== PPP || (flags & 0x20) === 0) return undefined;
  let off = 8;
  if (flags & 0x10) off += 4;
  if (b[1] & 0x80) off += 4;
  if (b.length < off) return undefined;
  // An empty packet only acknowledges.
  if (b.length === off) return { kind: 'pptp', offset: off };
  const inner = afterPpp(b, off);
  return inner ? { kind: 'pptp', linkType: LinkType.RAW, offset: inner.offset } : { kind: 'pptp', offset: off };
}

/** GTP-U (3GPP TS 29.281): version 1, a G-PDU, optional fields and extension headers, then the user's IP packet. */
function gtpU(b: Buffer): Tunnelled | undefined {
  if (b.length < 8) return undefined;
  const flags = b[0];
  if (flags >> 5 !== 1 || (flags & 0x10) === 0) return undefined; // version 1, protocol type GTP (not GTP')
  if (b[1] !== 0xff) return undefined; // signalling (echo, error indication, end marker): left as UDP
  let off = 8;
  if (flags & 0x07) {
    if (b.length < 12) return undefined;
    let next = b[11];
    off = 12;
    // Extension headers: length in 4-byte units, the last byte names the next one.
    for (let guard = 0; next !== 0 && guard < 16; guard++) {
      if (b.length < off + 1) return undefined;
      const len = b[off] * 4;
      if (len === 0 || b.length < off + len) return undefined;
      next = b[off + len - 1];
      off += len;
    }
    if (next !== 0) return undefined;
  }
  if (b.length <= off) return { kind: 'gtp', offset: off };
  const v = b[off] >> 4;
  return v === 4 || v === 6 ? { kind: 'gtp', linkType: LinkType.RAW, offset: off } : { kind: 'gtp', offset: off };
}

/**
 * AYIYA ("anything in anything", SixXS tunnels): identity and signature
 * lengths in the first two bytes, an opcode, the next header (IPv4 or
 * IPv6), a timestamp, the identity, the signature, then the packet. Only
 * "forward" (opcode 1) carries one.
 */
function ayiya(b: Buffer): Tunnelled | undefined {
  if (b.length < 8) return undefined;
  const start = 8 + (1 << (b[0] >> 4)) + (b[1] >> 4) * 4;
  if ((b[2] & 0x0f) !== 1 || b.length < start) return undefined;
  const next = b[3];
  if (next === 4 || next === 41) return { kind: 'ayiya', linkType: LinkType.RAW, offset: start };
  return { kind: 'ayiya', offset: start };
}

/**
 * Teredo (RFC 4380): IPv6 in UDP, after optional authentication and origin
 * indication headers. Nothing marks a datagram as Teredo but the port, so
 * the IPv6 header must be whole and its length must fit, or the datagram is
 * left as it is (other traffic uses 3544 too).
 */
function teredo(b: Buffer): Tunnelled | undefined {
  let off = 0;
  if (b.length >= off + 4 && b[off] === 0 && b[off + 1] === 1) {
    // Authentication: client id and auth value lengths, then an 8-byte nonce and a confirmation byte.
    off += 4 + b[off + 2] + b[off + 3] + 9;
  }
  if (b.length >= off + 8 && b[off] === 0 && b[off + 1] === 0) off += 8; // origin indication
  if (b.length < off + 40 || b[off] >> 4 !== 6) return undefined;
  const payloadLength = b.readUInt16BE(off + 4);
  if (off + 40 + payloadLength !== b.length) return undefined;
  return { kind: 'teredo', linkType: LinkType.RAW, offset: off };
}

/** The least of a transport header a flow is keyed and read from: TCP's and UDP's fixed parts. */
const TRANSPORT_HEADER: Record<number, number> = { 6: 20, 17: 8 };

/**
 * Whether an inner frame holds its link, IP and TCP/UDP headers whole: what
 * a packet cut by a snap length must keep to be dissected as a flow. (ICMP
 * is read as far as it goes, and says `truncated` itself.)
 */
function innerHeadersWhole(linkType: number, frame: Buffer): boolean {
  const net = findNetwork(linkType, frame);
  if (!net) return false;
  const off = net.offset;
  if (net.etherType === EtherType.IPV4) {
    if (frame.length < off + 20) return false;
    const ihl = (frame[off] & 0x0f) * 4;
    // A later fragment carries no transport header.
    if ((frame.readUInt16BE(off + 6) & 0x1fff) !== 0) return frame.length >= off + ihl;
    return frame.length >= off + ihl + (TRANSPORT_HEADER[frame[off + 9]] ?? 0);
  }
  if (net.etherType === EtherType.IPV6) {
    // Extension headers are walked by the IP decoder; the fixed header and a transport header right after it are checked here.
    if (frame.length < off + 40) return false;
    return frame.length >= off + 40 + (TRANSPORT_HEADER[frame[off + 6]] ?? 0);
  }
  return true;
}
