// Capture headers: what an operating system or a capture card writes in front
// of each packet (the interface, the process, a rule, a timestamp), as link
// types of their own: macOS's PKTAP, BSD's pflog and enc, Solaris's ipnet,
// Endace's ERF, Hilscher's netANALYZER. Each is skipped to the packet it
// describes. Offsets only: never a copy, never a throw.

import { afterPpp, byVersion, carried, ethernet, findNetworkAt, type NetworkStart } from './link.js';

const LINKTYPE_ENC = 109;
const LINKTYPE_PFLOG = 117;
const LINKTYPE_ERF = 197;
const LINKTYPE_IPNET = 226;
const LINKTYPE_NETANALYZER = 240;
const LINKTYPE_PKTAP = 258;

export const CAPTURE_HEADER_LINK_TYPES: ReadonlySet<number> = new Set([
  LINKTYPE_ENC, LINKTYPE_PFLOG, LINKTYPE_ERF, LINKTYPE_IPNET, LINKTYPE_NETANALYZER, LINKTYPE_PKTAP,
]);

/** PKTAP's record type for a packet (others are metadata). */
const PKTAP_PACKET = 1;
/** ERF extension headers read past at most (each 8 bytes; real records have a few). */
const MAX_ERF_EXTENSIONS = 16;

/** Where the IP packet starts after the capture header of `linkType` at `start`. */
export function afterCaptureHeader(linkType: number, frame: Buffer, start: number, depth: number): NetworkStart | null {
  switch (linkType) {
    case LINKTYPE_PKTAP: {
      // Host byte order (little-endian: macOS): the header's length, the record type, then the packet's own link type.
      if (frame.length < start + 12) return null;
      const length = frame.readUInt32LE(start);
      if (frame.readUInt32LE(start + 4) !== PKTAP_PACKET || length < 12 || length > frame.length - start) return null;
      return findNetworkAt(frame.readUInt32LE(start + 8), frame, start + length, depth + 1);
    }
    case LINKTYPE_PFLOG:
      // The header's length in its first byte, rounded up to 32 bits as BPF aligns it; the address family varies by system.
      if (frame.length <= start) return null;
      return byVersion(frame, start + ((frame[start] + 3) & ~3));
    case LINKTYPE_ENC:
      // Address family, SPI and flags, 32 bits each.
      return byVersion(frame, start + 12);
    case LINKTYPE_IPNET:
      // Version, family, hook type, length, interface and zone ids: 24 bytes.
      return byVersion(frame, start + 24);
    case LINKTYPE_NETANALYZER:
      // A 4-byte status header, then the Ethernet frame (with its check sequence).
      return ethernet(frame, start + 4);
    case LINKTYPE_ERF:
      return erf(frame, start);
    default:
      return null;
  }
}

/**
 * An ERF record: a 16-byte header (timestamp, type, flags, lengths), extension
 * headers when the type's top bit says so, then what the type names: Ethernet
 * after a 2-byte pad, bare IPv4 or IPv6, or PoS HDLC (PPP or Cisco HDLC).
 */
function erf(frame: Buffer, start: number): NetworkStart | null {
  if (frame.length < start + 16) return null;
  const type = frame[start + 8];
  let off = start + 16;
  if (type & 0x80) {
    for (let i = 0; ; i++) {
      if (i === MAX_ERF_EXTENSIONS || frame.length < off + 8) return null;
      const more = frame[off] & 0x80;
      off += 8;
      if (!more) break;
    }
  }
  switch (type & 0x7f) {
    case 2: // ETH
    case 10: // COLOR_ETH
    case 16: // DSM_COLOR_ETH
    case 20: // COLOR_HASH_ETH
      return ethernet(frame, off + 2);
    case 22: // IPV4
    case 23: // IPV6
      return byVersion(frame, off);
    case 1: // HDLC_POS
    case 11: // COLOR_HDLC_POS
    case 17: // DSM_COLOR_HDLC_POS
    case 19: // COLOR_HASH_POS
      if (frame.length < off + 4) return null;
      if (frame[off] === 0xff && frame[off + 1] === 0x03) return afterPpp(frame, off);
      return carried(frame, frame.readUInt16BE(off + 2), off + 4);
    default:
      return null;
  }
}
