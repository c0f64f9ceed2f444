// Plaintext as TCP segments: each captured chunk becomes one raw-IP packet
// (LINKTYPE_RAW) whose sequence number is the chunk's stream offset, so the
// engine's reassembly, protocol detection and entry building work on it as on
// a capture, and a chunk the kernel could not deliver is a hole the engine
// reports as a gap like a lost segment.

import { LinkType, type Packet } from '../model/packet.js';

export interface Address {
  ip: string;
  port: number;
}

export const TCP_ACK = 0x10;
export const TCP_PSH = 0x08;
export const TCP_FIN = 0x01;

/** One synthetic TCP segment from `src` to `dst`. */
export function tcpPacket(
  src: Address,
  dst: Address,
  seq: number,
  ack: number,
  flags: number,
  payload: Buffer,
  time: { tsSec: number; tsNsec: number },
  frame: number,
): Packet {
  const v6 = src.ip.includes(':');
  const ipLen = v6 ? 40 : 20;
  const data = Buffer.alloc(ipLen + 20 + payload.length);
  if (v6) {
    data.writeUInt32BE(0x60000000, 0);
    data.writeUInt16BE(20 + payload.length, 4);
    data[6] = 6;
    data[7] = 64;
    writeIpv6(data, 8, src.ip);
    writeIpv6(data, 24, dst.ip);
  } else {
    data[0] = 0x45;
    data.writeUInt16BE(ipLen + 20 + payload.length, 2);
    data.writeUInt16BE(0x4000, 6); // don't fragment
    data[8] = 64;
    data[9] = 6;
    writeIpv4(data, 12, src.ip);
    writeIpv4(data, 16, dst.ip);
    data.writeUInt16BE(ipv4Checksum(data.subarray(0, 20)), 10);
  }
  const t = ipLen;
  data.writeUInt16BE(src.port, t);
  data.writeUInt16BE(dst.port, t + 2);
  data.writeUInt32BE(seq >>> 0, t + 4);
  data.writeUInt32BE(ack >>> 0, t + 8);
  data[t + 12] = 5 << 4;
  data[t + 13] = flags;
  data.writeUInt16BE(65535, t + 14);
  payload.copy(data, t + 20);
  return { tsSec: time.tsSec, tsNsec: time.tsNsec, linkType: LinkType.RAW, data, origLen: data.length, interfaceId: 0, frame };
}

function writeIpv4(b: Buffer, off: number, ip: string): void {
  const parts = ip.split('.');
  for (let i = 0; i < 4; i++) b[off + i] = Number(parts[i]) & 0xff;
}

function writeIpv6(b: Buffer, off: number, ip: string): void {
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const h = head ? head.split(':') : [];
  const tl = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - tl.length).fill('0'), ...tl];
  for (let i = 0; i < 8; i++) b.writeUInt16BE(parseInt(groups[i] ?? '0', 16) & 0xffff, off + i * 2);
}

function ipv4Checksum(h: Buffer): number {
  let sum = 0;
  for (let i = 0; i < h.length; i += 2) sum += h.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}
