// Wi-Fi: 802.11 data frames, and the radio headers that capture tools put in
// front of them (radiotap, PPI, Prism, AVS): what `tcpdump -I` or an adapter
// in monitor mode records. Only unencrypted data frames carry IP that can be
// read, as in tshark without the network's keys; management and control
// frames, frames without data and protected frames are not IP. Offsets
// only: never a copy, never a throw.

import { findNetworkAt, type NetworkStart } from './link.js';
import { afterLlc } from './older-links.js';

const LINKTYPE_IEEE802_11 = 105;
const LINKTYPE_PRISM = 119;
const LINKTYPE_RADIOTAP = 127;
const LINKTYPE_AVS = 163;
const LINKTYPE_PPI = 192;

export const WIFI_LINK_TYPES: ReadonlySet<number> = new Set([LINKTYPE_IEEE802_11, LINKTYPE_PRISM, LINKTYPE_RADIOTAP, LINKTYPE_AVS, LINKTYPE_PPI]);

/** AVS capture headers start with this version word (big-endian), 1 or 2 in its last byte; Prism's link type may hold them too. */
const AVS_MAGIC = 0x802110;

/** Where the IP packet starts in a frame of one of WIFI_LINK_TYPES at `start`. */
export function wifi(linkType: number, frame: Buffer, start: number, depth: number): NetworkStart | null {
  switch (linkType) {
    case LINKTYPE_IEEE802_11:
      return ieee80211(frame, start, false);
    case LINKTYPE_RADIOTAP:
      return radiotap(frame, start);
    case LINKTYPE_PPI: {
      // Version, flags, the header's length (little-endian), then the link type of what follows.
      if (frame.length < start + 8 || frame[start] !== 0) return null;
      const length = frame.readUInt16LE(start + 2);
      if (length < 8) return null;
      return findNetworkAt(frame.readUInt32LE(start + 4), frame, start + length, depth + 1);
    }
    case LINKTYPE_PRISM:
    case LINKTYPE_AVS: {
      if (frame.length < start + 8) return null;
      if (frame.readUIntBE(start, 3) === AVS_MAGIC) {
        // AVS: version, then the header's length, both big-endian.
        const length = frame.readUInt32BE(start + 4);
        return length >= 8 && length < frame.length ? ieee80211(frame, start + length, false) : null;
      }
      if (linkType === LINKTYPE_AVS) return null;
      // Prism: a message code, then the header's length, in the capturing host's byte order (144 in practice).
      const le = frame.readUInt32LE(start + 4);
      const length = le < 0x10000 ? le : frame.readUInt32BE(start + 4);
      return length >= 8 && length < frame.length ? ieee80211(frame, start + length, false) : null;
    }
    default:
      return null;
  }
}

/** Radiotap's Flags field: the frame pads its 802.11 header to 32 bits. */
const RADIOTAP_DATA_PAD = 0x20;

/**
 * Radiotap: version 0, a pad byte, the header's length (little-endian), then
 * one or more "present" words. The only field read is Flags, for the data
 * pad; it is the second field, after the 8-byte TSF (aligned to 8 from the
 * header's start) when that is present.
 */
function radiotap(frame: Buffer, start: number): NetworkStart | null {
  if (frame.length < start + 8 || frame[start] !== 0) return null;
  const length = frame.readUInt16LE(start + 2);
  if (length < 8 || frame.length < start + length) return null;
  const present = frame.readUInt32LE(start + 4);
  let field = start + 8;
  // Further present words while bit 31 says so, within the header's length.
  for (let word = present; word & 0x80000000; field += 4) {
    if (field + 4 > start + length) return null;
    word = frame.readUInt32LE(field);
  }
  let flags = 0;
  if (present & 0x02) {
    if (present & 0x01) field = start + (((field - start + 7) & ~7) + 8);
    if (field < start + length) flags = frame[field];
  }
  return ieee80211(frame, start + length, (flags & RADIOTAP_DATA_PAD) !== 0);
}

/**
 * An 802.11 frame at `off`: a data frame's header (24 bytes, 30 with a fourth
 * address, QoS control and HT control when present; padded to 32 bits when
 * radiotap says so), then LLC/SNAP and the EtherType. An aggregate (A-MSDU)
 * holds several packets behind one header and is not read.
 */
function ieee80211(frame: Buffer, off: number, padded: boolean): NetworkStart | null {
  if (frame.length < off + 24) return null;
  const control = frame[off];
  const flags = frame[off + 1];
  // Protocol version 0, type 2 (data); subtypes with bit 2 set carry no data (Null, QoS Null, CF-Ack, CF-Poll).
  if ((control & 0x03) !== 0 || ((control >> 2) & 0x03) !== 2) return null;
  const subtype = control >> 4;
  if (subtype & 0x04) return null;
  if (flags & 0x40) return null; // protected: encrypted without the keys
  let length = 24;
  if ((flags & 0x03) === 0x03) length += 6; // to and from the distribution system: four addresses
  if (subtype & 0x08) {
    if (frame.length < off + length + 2) return null;
    if (frame[off + length] & 0x80) return null; // A-MSDU
    length += 2;
    if (flags & 0x80) length += 4; // the Order bit on a QoS frame: HT control follows
  }
  if (padded) length = (length + 3) & ~3;
  return afterLlc(frame, off + length);
}
