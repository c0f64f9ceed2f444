// IPv4 and IPv6 down to the transport payload: header lengths checked against
// what was captured, IPv6 extension headers walked, fragments handed to the
// reassembler. A packet that cannot be decoded yields a reason, not an exception.

import { ipv4ToString, ipv6ToString } from './addresses.js';
import type { FragmentReassembler } from './fragments.js';

export const IpProto = { ICMP: 1, IPIP: 4, TCP: 6, UDP: 17, IPV6: 41, ICMPV6: 58, SCTP: 132 } as const;

export interface IpPacket {
  version: 4 | 6;
  src: string;
  dst: string;
  /** Transport protocol number after extension headers. */
  protocol: number;
  /** Transport header + payload (reassembled when fragmented). */
  payload: Buffer;
  ttl: number;
  /**
   * Bytes the IP header says the datagram had past what was captured (a snap
   * length cut it: `tcpdump -s 96`); absent when it was captured whole.
   */
  cut?: number;
}

export type IpResult = IpPacket | { skip: string } | null; // null: a fragment held for reassembly

export function decodeIp(buf: Buffer, off: number, version: 4 | 6, frags: FragmentReassembler, now: number): IpResult {
  return version === 4 ? decodeIpv4(buf, off, frags, now) : decodeIpv6(buf, off, frags, now);
}

function decodeIpv4(buf: Buffer, off: number, frags: FragmentReassembler, now: number): IpResult {
  if (buf.length < off + 20) return { skip: 'ipv4.truncated' };
  const vihl = buf[off];
  if (vihl >> 4 !== 4) return { skip: 'ipv4.bad-version' };
  const ihl = (vihl & 15) * 4;
  if (ihl < 20 || buf.length < off + ihl) return { skip: 'ipv4.bad-header-length' };
  const totalLen = buf.readUInt16BE(off + 2);
  // TSO/GRO captures carry total length 0 or less than the frame; trust the frame then.
  let end = off + totalLen;
  // Past the frame: the capture's snap length cut it (what it cut is said, for TCP to report as lost).
  const cut = totalLen >= ihl && end > buf.length ? end - buf.length : 0;
  if (totalLen < ihl || end > buf.length) end = buf.length;
  const flagsFrag = buf.readUInt16BE(off + 6);
  const more = (flagsFrag & 0x2000) !== 0;
  const fragOffset = (flagsFrag & 0x1fff) * 8;
  const protocol = buf[off + 9];
  const srcN = buf.readUInt32BE(off + 12);
  const dstN = buf.readUInt32BE(off + 16);
  const src = ipv4ToString(srcN);
  const dst = ipv4ToString(dstN);
  let payload = buf.subarray(off + ihl, end);
  if (more || fragOffset > 0) {
    const id = buf.readUInt16BE(off + 4);
    const whole = frags.add(`4/${srcN}/${dstN}/${id}/${protocol}`, fragOffset, more, payload, now);
    if (!whole) return null;
    payload = whole;
  }
  if (protocol === IpProto.IPIP) return decodeIpv4(payload, 0, frags, now);
  if (protocol === IpProto.IPV6) return decodeIpv6(payload, 0, frags, now);
  const ip: IpPacket = { version: 4, src, dst, protocol, payload, ttl: buf[off + 8] };
  if (cut > 0 && !more && fragOffset === 0) ip.cut = cut;
  return ip;
}

const HOP_BY_HOP = 0;
const ROUTING = 43;
const FRAGMENT = 44;
const ESP = 50;
const AH = 51;
const NO_NEXT = 59;
const DEST_OPTS = 60;
const MOBILITY = 135;
const HIP = 139;
const SHIM6 = 140;

function decodeIpv6(buf: Buffer, off: number, frags: FragmentReassembler, now: number): IpResult {
  if (buf.length < off + 40) return { skip: 'ipv6.truncated' };
  if (buf[off] >> 4 !== 6) return { skip: 'ipv6.bad-version' };
  const payloadLen = buf.readUInt16BE(off + 4);
  let next = buf[off + 6];
  const hopLimit = buf[off + 7];
  const src = ipv6ToString(buf, off + 8);
  const dst = ipv6ToString(buf, off + 24);
  let end = off + 40 + payloadLen;
  const cut = payloadLen > 0 && end > buf.length ? end - buf.length : 0;
  // Jumbograms (payloadLen 0) and TSO frames: trust what was captured.
  if (payloadLen === 0 || end > buf.length) end = buf.length;
  let p = off + 40;
  for (let guard = 0; guard < 16; guard++) {
    if (next === HOP_BY_HOP || next === ROUTING || next === DEST_OPTS || next === MOBILITY || next === HIP || next === SHIM6) {
      if (p + 8 > end) return { skip: 'ipv6.truncated-extension' };
      const hdrLen = (buf[p + 1] + 1) * 8;
      next = buf[p];
      p += hdrLen;
      continue;
    }
    if (next === AH) {
      if (p + 8 > end) return { skip: 'ipv6.truncated-extension' };
      const hdrLen = (buf[p + 1] + 2) * 4;
      next = buf[p];
      p += hdrLen;
      continue;
    }
    if (next === FRAGMENT) {
      if (p + 8 > end) return { skip: 'ipv6.truncated-extension' };
      const nextAfter = buf[p];
      const offMore = buf.readUInt16BE(p + 2);
      const fragOffset = offMore & 0xfff8;
      const more = (offMore & 1) !== 0;
      const id = buf.readUInt32BE(p + 4);
      const data = buf.subarray(p + 8, end);
      if (fragOffset === 0 && !more) {
        // Atomic fragment (RFC 6946): nothing to reassemble.
        next = nextAfter;
        p += 8;
        continue;
      }
      const whole = frags.add(`6/${src}/${dst}/${id}`, fragOffset, more, data, now);
      if (!whole) return null;
      // The reassembled payload starts at the header after the fragment header.
      return finishIpv6(nextAfter, whole, 0, whole.length, src, dst, hopLimit, frags, now);
    }
    if (next === ESP) return { skip: 'ipv6.esp' };
    if (next === NO_NEXT) return { skip: 'ipv6.no-next-header' };
    break;
  }
  if (p > end) return { skip: 'ipv6.truncated-extension' };
  const ip = finishIpv6(next, buf, p, end, src, dst, hopLimit, frags, now);
  if (cut > 0 && ip !== null && 'payload' in ip && ip.src === src && ip.dst === dst) ip.cut = cut;
  return ip;
}

function finishIpv6(
  next: number,
  buf: Buffer,
  p: number,
  end: number,
  src: string,
  dst: string,
  hopLimit: number,
  frags: FragmentReassembler,
  now: number,
): IpResult {
  // Extension headers may also follow a reassembled fragment header; walk simple ones.
  for (let guard = 0; guard < 8; guard++) {
    if (next === HOP_BY_HOP || next === ROUTING || next === DEST_OPTS) {
      if (p + 8 > end) return { skip: 'ipv6.truncated-extension' };
      const hdrLen = (buf[p + 1] + 1) * 8;
      next = buf[p];
      p += hdrLen;
    } else break;
  }
  if (p > end) return { skip: 'ipv6.truncated-extension' };
  const payload = buf.subarray(p, end);
  if (next === IpProto.IPIP) return decodeIpv4(payload, 0, frags, now);
  if (next === IpProto.IPV6) return decodeIpv6(payload, 0, frags, now);
  return { version: 6, src, dst, protocol: next, payload, ttl: hopLimit };
}
