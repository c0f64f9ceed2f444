// A captured frame as the capture readers hand it on and the writers take it.
// Timestamps are kept as whole seconds plus nanoseconds so that pcap/pcapng
// round-trips are exact (a float of ms since 1970 loses sub-microsecond digits).

/** libpcap LINKTYPE_* values shark understands. */
export const LinkType = {
  NULL: 0, // BSD loopback: 4-byte host-order address family
  ETHERNET: 1,
  RAW: 101, // raw IPv4/IPv6, version nibble decides
  LOOP: 108, // OpenBSD loopback: 4-byte network-order family
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

export interface Packet {
  /** Seconds since the Unix epoch. */
  tsSec: number;
  /** Nanoseconds within the second (0..999_999_999). */
  tsNsec: number;
  /** LINKTYPE_* of the interface the frame came from. */
  linkType: number;
  /** Captured bytes (may be shorter than origLen when a snaplen cut it). */
  data: Buffer;
  /** Length of the frame on the wire. */
  origLen: number;
  /** pcapng interface id; 0 for pcap and live captures with one interface. */
  interfaceId: number;
  /** 1-based frame number within its source, as tshark counts. */
  frame: number;
}

/** Milliseconds since the epoch as a float (what entries carry). */
export function packetTimeMs(p: Pick<Packet, 'tsSec' | 'tsNsec'>): number {
  return timeMs(p.tsSec, p.tsNsec);
}

/** packetTimeMs from the two fields (the one formula, so every path gets the same bits). */
export function timeMs(tsSec: number, tsNsec: number): number {
  return tsSec * 1000 + tsNsec / 1e6;
}

/** Description of one capture interface (a pcap file has exactly one). */
export interface CaptureInterface {
  linkType: number;
  snaplen: number;
  name?: string;
  /** Timestamp resolution as units per second (1e6 for µs, 1e9 for ns). */
  tsUnitsPerSec: number;
}
