// Links older than Ethernet's dominance that public captures still hold:
// Frame Relay, ATM (RFC 1483), FDDI, Token Ring and PPPoE without its
// Ethernet; with the IEEE 802.2 LLC/SNAP header most of them (and 802.3,
// and 802.11) put before an EtherType. Offsets only: never a copy, never a throw.

import { EtherType, byVersion, carried, ethernet, type NetworkStart } from './link.js';

const LINKTYPE_TOKEN_RING = 6;
const LINKTYPE_FDDI = 10;
const LINKTYPE_ATM_RFC1483 = 11;
const LINKTYPE_PPP_ETHER = 51;
const LINKTYPE_FRELAY = 107;

export const OLDER_LINK_TYPES: ReadonlySet<number> = new Set([
  LINKTYPE_TOKEN_RING, LINKTYPE_FDDI, LINKTYPE_ATM_RFC1483, LINKTYPE_PPP_ETHER, LINKTYPE_FRELAY,
]);

/** SNAP's organisation codes for an EtherType: encapsulated Ethernet (RFC 1042) and 802.1H bridge tunnelling. */
const OUI_ETHERTYPE = 0x000000;
const OUI_BRIDGE_TUNNEL = 0x0000f8;
/** SNAP's organisation code for a whole bridged 802.3 frame (RFC 2684): PIDs 1 and 7, with and without its check sequence. */
const OUI_BRIDGED_8023 = 0x0080c2;

/** Frame Relay's NLPIDs (RFC 2427): IPv4, IPv6, and SNAP. */
const NLPID_IPV4 = 0xcc;
const NLPID_IPV6 = 0x8e;
const NLPID_SNAP = 0x80;

/** Where the IP packet starts in a frame of one of OLDER_LINK_TYPES at `start`. */
export function olderLink(linkType: number, frame: Buffer, start: number): NetworkStart | null {
  switch (linkType) {
    case LINKTYPE_FRELAY:
      return frameRelay(frame, start);
    case LINKTYPE_ATM_RFC1483:
      // LLC-encapsulated (RFC 2684), or IP routed on its own VC with nothing before it.
      return frame[start] === 0xaa ? afterLlc(frame, start) : byVersion(frame, start);
    case LINKTYPE_FDDI:
      // Frame control, then destination and source addresses.
      return afterLlc(frame, start + 13);
    case LINKTYPE_TOKEN_RING: {
      // Access and frame control, the addresses, then a routing field when the source address's top bit says so.
      if (frame.length < start + 15) return null;
      const routed = (frame[start + 8] & 0x80) !== 0;
      return afterLlc(frame, start + 14 + (routed ? frame[start + 14] & 0x1f : 0));
    }
    case LINKTYPE_PPP_ETHER:
      return carried(frame, EtherType.PPPOE_SESSION, start);
    default:
      return null;
  }
}

/** An IEEE 802.2 LLC header at `off` with SNAP (AA-AA-03), and what its EtherType carries. Null for any other LLC. */
export function afterLlc(frame: Buffer, off: number): NetworkStart | null {
  if (frame.length < off + 8 || frame[off] !== 0xaa || frame[off + 1] !== 0xaa || frame[off + 2] !== 0x03) return null;
  const oui = frame.readUIntBE(off + 3, 3);
  const pid = frame.readUInt16BE(off + 6);
  if (oui === OUI_ETHERTYPE || oui === OUI_BRIDGE_TUNNEL) return carried(frame, pid, off + 8);
  // A whole Ethernet frame after a 2-byte pad.
  if (oui === OUI_BRIDGED_8023 && (pid === 0x0001 || pid === 0x0007)) return ethernet(frame, off + 10);
  return null;
}

/**
 * Frame Relay: a Q.922 address of 2 to 4 bytes (the last one's low bit set),
 * then either RFC 2427's UI control byte, an optional pad and an NLPID, or
 * (Cisco's encapsulation) an EtherType.
 */
function frameRelay(frame: Buffer, start: number): NetworkStart | null {
  let off = start;
  for (let i = 0; ; i++) {
    if (i === 4 || frame.length <= off) return null;
    const last = (frame[off++] & 0x01) !== 0;
    if (last) {
      if (i === 0) return null;
      break;
    }
  }
  if (frame.length < off + 2) return null;
  if (frame[off] !== 0x03) return carried(frame, frame.readUInt16BE(off), off + 2);
  off += 1;
  if (frame[off] === 0x00) off += 1;
  if (frame.length <= off) return null;
  switch (frame[off]) {
    case NLPID_IPV4:
    case NLPID_IPV6:
      return byVersion(frame, off + 1);
    case NLPID_SNAP:
      // The SNAP header without LLC: an organisation code and an EtherType.
      if (frame.length < off + 6 || frame.readUIntBE(off + 1, 3) !== OUI_ETHERTYPE) return null;
      return carried(frame, frame.readUInt16BE(off + 4), off + 6);
    default:
      return null;
  }
}
