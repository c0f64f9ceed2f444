// A UDP conversation no dissector claimed that looks like a QUIC connection
// caught mid-way: its handshake (the long-header packets that say QUIC) was
// before the capture, so only short-header packets came, and off a QUIC port
// nothing named it. Its `udp` entry says so, and how to read it as QUIC,
// rather than nothing: the ports alone cannot tell QUIC from another
// protocol, so it is not renamed.
//
// The shape (RFC 9000 §17.3): every datagram starts with the header form bit
// clear (the fixed bit may be greased, RFC 9287), then the Destination
// Connection ID the receiver chose, the same in every packet one way. A
// direction with at least MIN_REPEATS datagrams whose bytes 1–4 are all the
// same is such an id (a zero-length id, a client's under Chrome, leaves the
// other direction to show it). The first byte's low five bits are under
// header protection (§5.4 of RFC 9001), so they change from packet to
// packet: a protocol whose first byte is a constant (NTP's 0x23, OpenVPN's
// 0x48) is not QUIC. Constant memory per conversation.

import { knownVersion } from './packet-protection.js';

/** Datagrams one way whose first id bytes must agree before the conversation is taken for QUIC. */
const MIN_REPEATS = 3;
/** The least a short-header packet holds: a first byte, an id prefix, a packet number and an AEAD tag. */
const MIN_LENGTH = 1 + 4 + 16;

/** Per direction, its first id prefix and how many datagrams repeated it (-1: one did not). */
export class QuicShapeWatch {
  // Flat members, not per-side objects: every unclaimed UDP conversation has one.
  private prefix0 = -1;
  private prefix1 = -1;
  private repeats0 = 0;
  private repeats1 = 0;
  /** The first byte's protected bits of the first datagram (-1: none yet), and whether a later one differed. */
  private firstByte = -1;
  private firstByteChanged = false;
  /** A long-header packet of a known version came: that alone says QUIC. */
  private longHeader = false;
  private broken = false;

  /** One datagram of `side` (0 or 1). */
  add(side: 0 | 1, datagram: Buffer): void {
    if (this.broken) return;
    if (datagram.length >= 7 && (datagram[0] & 0x80) !== 0 && knownVersion(datagram.readUInt32BE(1))) {
      // A Handshake packet's retransmission, or a 0-RTT one, after a capture began past the Initials.
      this.longHeader = true;
      return;
    }
    if (datagram.length < MIN_LENGTH || (datagram[0] & 0x80) !== 0) {
      this.broken = true;
      return;
    }
    const masked = datagram[0] & 0x1f;
    if (this.firstByte < 0) this.firstByte = masked;
    else if (this.firstByte !== masked) this.firstByteChanged = true;
    const prefix = datagram.readUInt32BE(1);
    if (side === 0) {
      if (this.prefix0 < 0) this.prefix0 = prefix;
      // A direction whose ids differ has none of fixed length: not counted again.
      this.repeats0 = this.repeats0 >= 0 && prefix === this.prefix0 ? this.repeats0 + 1 : -1;
    } else {
      if (this.prefix1 < 0) this.prefix1 = prefix;
      this.repeats1 = this.repeats1 >= 0 && prefix === this.prefix1 ? this.repeats1 + 1 : -1;
    }
  }

  /** Whether every datagram so far had QUIC's shape: a long header of a known version, or short headers with a repeated connection id one way. */
  get looksLikeQuic(): boolean {
    if (this.broken) return false;
    return this.longHeader || (this.firstByteChanged && (this.repeats0 >= MIN_REPEATS || this.repeats1 >= MIN_REPEATS));
  }
}
