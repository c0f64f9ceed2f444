// Link layer: find where the network-layer packet starts and which protocol it
// is, for every link type shark reads: Ethernet and the links captures mostly
// have here; Wi-Fi in wifi.ts, capture headers (PKTAP, pflog, ERF…) in
// capture-headers.ts, Frame Relay, ATM, FDDI and Token Ring in older-links.ts.
// Returns offsets into the frame; never copies and never throws (a short frame
// yields `null`).

import { LinkType } from '../../model/packet.js';
import { CAPTURE_HEADER_LINK_TYPES, afterCaptureHeader } from './capture-headers.js';
import { OLDER_LINK_TYPES, afterLlc, olderLink } from './older-links.js';
import { WIFI_LINK_TYPES, wifi } from './wifi.js';

export const EtherType = {
  IPV4: 0x0800, IPV6: 0x86dd, ARP: 0x0806, VLAN: 0x8100, QINQ: 0x88a8, VLAN_OLD: 0x9100,
  MPLS: 0x8847, MPLS_MULTICAST: 0x8848, PPPOE_SESSION: 0x8864,
} as const;

/** Tags before the EtherType they precede: 802.1Q and 802.1ad (2 bytes of TCI), VN-Tag (4), E-Tag (6). */
const TAG_BYTES: ReadonlyMap<number, number> = new Map([
  [EtherType.VLAN, 2], [EtherType.QINQ, 2], [EtherType.VLAN_OLD, 2], [0x8926, 4], [0x893f, 6],
]);
/** Headers a whole inner Ethernet frame follows: FabricPath's FTag and TTL (2 bytes), 802.1ah's I-TAG (4). */
const INNER_FRAME_AFTER: ReadonlyMap<number, number> = new Map([[0x8903, 2], [0x88e7, 4]]);
/** Tags and inner frames followed before a frame is given up on as not IP. */
const MAX_LINK_HEADERS = 32;

/** An Ethernet type/length field up to this is an IEEE 802.3 length, not an EtherType. */
const MAX_8023_LENGTH = 1500;

/** Labels walked before giving up on an MPLS stack (real stacks have a few). */
const MAX_MPLS_LABELS = 16;

export interface NetworkStart {
  /** EtherType of the payload (IPv4/IPv6 for anything shark decodes further). */
  etherType: number;
  offset: number;
}

const LINKTYPE_NFLOG = 239;
const LINKTYPE_PPP = 9;
const LINKTYPE_PPP_HDLC = 50;
const LINKTYPE_C_HDLC = 104;
const NFULA_PAYLOAD = 9;

/** The link types findNetwork reads; packets of any other are not dissected (and reported as such). */
const DISSECTED_LINK_TYPES: ReadonlySet<number> = new Set([
  LinkType.ETHERNET, LinkType.LINUX_SLL, LinkType.LINUX_SLL2, LinkType.RAW, LinkType.IPV4, LinkType.IPV6,
  12, 14, LinkType.NULL, LinkType.LOOP, LINKTYPE_NFLOG, LINKTYPE_PPP, LINKTYPE_PPP_HDLC, LINKTYPE_C_HDLC,
]);

export function dissectsLinkType(linkType: number): boolean {
  // The other modules' sets are read when asked, not merged at load: they import this module too.
  return DISSECTED_LINK_TYPES.has(linkType) || WIFI_LINK_TYPES.has(linkType) || CAPTURE_HEADER_LINK_TYPES.has(linkType) || OLDER_LINK_TYPES.has(linkType);
}

/**
 * How deep link headers that name the link type of what follows (PKTAP,
 * PPI) are followed: real captures have one; a crafted one could nest them.
 */
const MAX_NAMED_LINKS = 4;

/** Where the IP packet starts in `frame`, or null when it is not IP or too short. */
export function findNetwork(linkType: number, frame: Buffer): NetworkStart | null {
  return findNetworkAt(linkType, frame, 0, 0);
}

/**
 * The same for a frame of `linkType` starting at `start` (inside a header
 * that names its link type); `depth` counts such headers already crossed.
 */
export function findNetworkAt(linkType: number, frame: Buffer, start: number, depth: number): NetworkStart | null {
  if (depth > MAX_NAMED_LINKS) return null;
  switch (linkType) {
    case LinkType.ETHERNET:
      return ethernet(frame, start);
    case LinkType.LINUX_SLL:
      if (frame.length < start + 16) return null;
      return carried(frame, frame.readUInt16BE(start + 14), start + 16);
    case LinkType.LINUX_SLL2:
      if (frame.length < start + 20) return null;
      return carried(frame, frame.readUInt16BE(start), start + 20);
    case LinkType.RAW:
    case LinkType.IPV4:
    case LinkType.IPV6:
    case 12: // LINKTYPE_RAW on some OpenBSD-derived writers
    case 14:
      return byVersion(frame, start);
    case LinkType.NULL:
    case LinkType.LOOP: {
      if (frame.length < start + 4) return null;
      // Host byte order for NULL (either endianness in practice), network order for LOOP.
      const le = frame.readUInt32LE(start);
      const be = frame.readUInt32BE(start);
      const family = linkType === LinkType.LOOP ? be : le < 256 ? le : be;
      if (family === 2) return { etherType: EtherType.IPV4, offset: start + 4 };
      if (family === 24 || family === 28 || family === 30 || family === 10) return { etherType: EtherType.IPV6, offset: start + 4 };
      return null;
    }
    case LINKTYPE_NFLOG:
      return nflog(frame, start);
    case LINKTYPE_PPP:
    case LINKTYPE_PPP_HDLC:
      return afterPpp(frame, start);
    case LINKTYPE_C_HDLC:
      // Address, control, then an EtherType.
      if (frame.length < start + 4) return null;
      return carried(frame, frame.readUInt16BE(start + 2), start + 4);
    default:
      if (WIFI_LINK_TYPES.has(linkType)) return wifi(linkType, frame, start, depth);
      if (CAPTURE_HEADER_LINK_TYPES.has(linkType)) return afterCaptureHeader(linkType, frame, start, depth);
      if (OLDER_LINK_TYPES.has(linkType)) return olderLink(linkType, frame, start);
      return null;
  }
}

/**
 * Ethernet II with any number of 802.1Q/802.1ad tags, and the headers data
 * centre switches put between a frame's addresses and its EtherType: Cisco
 * VN-Tag and 802.1BR E-Tag (a tag, then the EtherType), and frames carried
 * whole inside another (Cisco FabricPath, 802.1ah provider backbone
 * bridging). Iterative and bounded: a crafted frame of nested headers costs
 * MAX_LINK_HEADERS steps at most.
 */
export function ethernet(frame: Buffer, start: number): NetworkStart | null {
  let off = start + 12;
  if (frame.length < off + 2) return null;
  let type = frame.readUInt16BE(off);
  off += 2;
  for (let i = 0; i < MAX_LINK_HEADERS; i++) {
    const tag = TAG_BYTES.get(type);
    if (tag !== undefined) {
      // The tag, then the EtherType of what follows.
      if (frame.length < off + tag + 2) return null;
      type = frame.readUInt16BE(off + tag);
      off += tag + 2;
      continue;
    }
    const before = INNER_FRAME_AFTER.get(type);
    if (before !== undefined) {
      // A whole Ethernet frame (addresses, then its EtherType) after a header of `before` bytes.
      off += before + 12;
      if (frame.length < off + 2) return null;
      type = frame.readUInt16BE(off);
      off += 2;
      continue;
    }
    // An IEEE 802.3 length instead of an EtherType: LLC (with SNAP) says what follows.
    if (type <= MAX_8023_LENGTH) return afterLlc(frame, off);
    return carried(frame, type, off);
  }
  return null;
}

/**
 * What an EtherType at `off` carries: itself, or for an MPLS label stack or
 * a PPPoE session the IP packet inside (as tshark and tcpdump decode them);
 * null when that is not IP.
 */
export function carried(frame: Buffer, type: number, off: number): NetworkStart | null {
  if (type === EtherType.MPLS || type === EtherType.MPLS_MULTICAST) return afterMpls(frame, off);
  if (type === EtherType.PPPOE_SESSION) {
    // Version/type, code 0 (session data), session id, length; then PPP's protocol: 0x0021 IPv4, 0x0057 IPv6.
    if (frame.length < off + 8 || frame[off + 1] !== 0) return null;
    const ppp = frame.readUInt16BE(off + 6);
    if (ppp === 0x0021) return { etherType: EtherType.IPV4, offset: off + 8 };
    if (ppp === 0x0057) return { etherType: EtherType.IPV6, offset: off + 8 };
    return null;
  }
  return { etherType: type, offset: off };
}

/**
 * The IP packet after an MPLS label stack starting at `off`: labels up to
 * the one marked bottom of stack, then IPv4 or IPv6 by the version nibble
 * (MPLS does not say what it carries). Null for anything else, such as a
 * pseudowire's control word.
 */
export function afterMpls(frame: Buffer, off: number): NetworkStart | null {
  for (let i = 0; i < MAX_MPLS_LABELS; i++) {
    if (frame.length < off + 4) return null;
    const bottom = (frame[off + 2] & 0x01) !== 0;
    off += 4;
    if (bottom) return byVersion(frame, off);
  }
  return null;
}

export function byVersion(frame: Buffer, off: number): NetworkStart | null {
  if (frame.length <= off) return null;
  const v = frame[off] >> 4;
  if (v === 4) return { etherType: EtherType.IPV4, offset: off };
  if (v === 6) return { etherType: EtherType.IPV6, offset: off };
  return null;
}

/** The IP packet in PPP at `off` (serial links, PPTP): address and control bytes if present, a protocol field of 1 or 2 bytes. */
export function afterPpp(frame: Buffer, off: number): NetworkStart | null {
  if (frame.length >= off + 2 && frame[off] === 0xff && frame[off + 1] === 0x03) off += 2;
  if (frame.length < off + 1) return null;
  let proto: number;
  if (frame[off] & 0x01) proto = frame[off++];
  else {
    if (frame.length < off + 2) return null;
    proto = frame.readUInt16BE(off);
    off += 2;
  }
  if (proto === 0x21) return { etherType: EtherType.IPV4, offset: off };
  if (proto === 0x57) return { etherType: EtherType.IPV6, offset: off };
  return null;
}

/** NFLOG: 4-byte header, then TLVs (host-order lengths, 4-byte aligned); the payload TLV holds the IP packet. */
function nflog(frame: Buffer, start: number): NetworkStart | null {
  if (frame.length < start + 4) return null;
  const family = frame[start];
  let off = start + 4;
  while (off + 4 <= frame.length) {
    const len = frame.readUInt16LE(off);
    const type = frame.readUInt16LE(off + 2) & 0x7fff;
    if (len < 4) return null;
    if (type === NFULA_PAYLOAD) {
      const start = off + 4;
      if (family === 2) return { etherType: EtherType.IPV4, offset: start };
      if (family === 10) return { etherType: EtherType.IPV6, offset: start };
      return byVersion(frame, start);
    }
    off += (len + 3) & ~3;
  }
  return null;
}
