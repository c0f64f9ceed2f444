// Which worker a packet goes to: link and IP headers only (tunnels followed
// the way the engine follows them), then a symmetric hash of the 5-tuple, so
// both directions of a connection land on the same worker, which the
// balancer (balance.ts) picked when the flow's first packet came. ICMP errors
// go with the flow whose header they quote, ICMP echoes by their requester
// (echoHash). IP fragments are reassembled
// here, so the fragments of one datagram can arrive in any batch.

import { EtherType, findNetwork } from '../decode/link.js';
import type { FragmentReassembler } from '../decode/fragments.js';
import { decodeIp, IpProto, type IpPacket } from '../decode/ip.js';
import { ipTunnel, TUNNEL_UDP_PORTS, udpTunnel, type Tunnelled } from '../decode/tunnels.js';
import { LinkType } from '../../model/packet.js';
import type { FlowBalancer } from './balance.js';

export type Route =
  /** The captured frame as is, to worker `worker`. */
  | { worker: number; ip?: undefined }
  /** A datagram reassembled from fragments (its last fragment's frame and time). */
  | { worker: number; ip: IpPacket }
  /** A fragment held for reassembly: nothing to send yet. */
  | null;

const MAX_ENCAP_DEPTH = 4;

export function route(linkType: number, data: Buffer, frags: FragmentReassembler, now: number, balancer: FlowBalancer): Route {
  const v4 = plainIpv4Offset(linkType, data);
  if (v4 >= 0) {
    const h = plainIpv4Hash(data, v4);
    if (h >= 0) return workerRoute(balancer.workerFor(h, data.length, now));
  }
  const net = findNetwork(linkType, data);
  // Not IP (or not decodable): any worker counts it the same; worker 0 does.
  if (!net || (net.etherType !== EtherType.IPV4 && net.etherType !== EtherType.IPV6)) return workerRoute(balancer.unrouted(data.length));
  const before = frags.counters.reassembled;
  const ip = decodeIp(data, net.offset, net.etherType === EtherType.IPV4 ? 4 : 6, frags, now);
  if (ip === null) return null;
  if ('skip' in ip) return workerRoute(balancer.unrouted(data.length));
  const worker = balancer.workerFor(ipHash(ip, 0), data.length, now);
  return frags.counters.reassembled !== before ? { worker, ip } : workerRoute(worker);
}

/** One shared route object per worker for the common case: no allocation per packet. */
const WORKER_ROUTES: Array<{ worker: number }> = [];

function workerRoute(worker: number): { worker: number } {
  return (WORKER_ROUTES[worker] ??= { worker });
}

/**
 * Where an IPv4 header starts in a frame of the link types most captures
 * have, as findNetwork finds it, or -1 for anything else (IPv6, another link
 * type, too short), which takes findNetwork's path. A number, not
 * findNetwork's object: the dispatcher routes every packet, and an object per
 * packet was a twentieth of what its thread allocated.
 */
export function plainIpv4Offset(linkType: number, data: Buffer): number {
  switch (linkType) {
    case LinkType.ETHERNET: {
      let off = 12;
      if (data.length < off + 2) return -1;
      let type = data.readUInt16BE(off);
      off += 2;
      while (type === EtherType.VLAN || type === EtherType.QINQ || type === EtherType.VLAN_OLD) {
        if (data.length < off + 4) return -1;
        type = data.readUInt16BE(off + 2);
        off += 4;
      }
      return type === EtherType.IPV4 ? off : -1;
    }
    case LinkType.LINUX_SLL:
      return data.length >= 16 && data.readUInt16BE(14) === EtherType.IPV4 ? 16 : -1;
    case LinkType.LINUX_SLL2:
      return data.length >= 20 && data.readUInt16BE(0) === EtherType.IPV4 ? 20 : -1;
    case LinkType.RAW:
    case LinkType.IPV4:
    case LinkType.IPV6:
    case 12:
    case 14:
      return data.length > 0 && data[0] >> 4 === 4 ? 0 : -1;
    default:
      return -1;
  }
}

/**
 * The common case read straight from the bytes: an unfragmented IPv4 TCP or
 * UDP packet that is not a tunnel. Its hash is exactly what ipHash gives the
 * decoded packet (so flows land where they always did), without building an
 * IpPacket, address strings or a payload view. -1: anything else, which
 * takes the decoding path (decodeIpv4's checks, in the same order).
 */
export function plainIpv4Hash(data: Buffer, off: number): number {
  if (data.length < off + 20) return -1;
  const vihl = data[off];
  if (vihl >> 4 !== 4) return -1;
  const ihl = (vihl & 15) * 4;
  if (ihl < 20 || data.length < off + ihl) return -1;
  if ((data.readUInt16BE(off + 6) & 0x3fff) !== 0) return -1; // a fragment (more fragments, or an offset)
  const protocol = data[off + 9];
  if (protocol !== IpProto.TCP && protocol !== IpProto.UDP) return -1;
  const totalLen = data.readUInt16BE(off + 2);
  let end = off + totalLen;
  if (totalLen < ihl || end > data.length) end = data.length;
  const p = off + ihl;
  const len = end - p;
  // The addresses stay in the frame (at off + 12 and off + 16): read as 32-bit numbers they were boxed.
  if (len < (protocol === IpProto.TCP ? 4 : 8)) return pairHashV4(data, off, 0, 0, protocol);
  const sport = data.readUInt16BE(p);
  const dport = data.readUInt16BE(p + 2);
  if (protocol === IpProto.UDP && (TUNNEL_UDP_PORTS.has(dport) || TUNNEL_UDP_PORTS.has(sport))) return -1;
  return pairHashV4(data, off, sport, dport, protocol);
}

/** The pair hash of an IPv4 header's addresses (at `off` + 12 and + 16) with these ports. */
function pairHashV4(data: Buffer, off: number, sport: number, dport: number, proto: number): number {
  return mix(((endpointHashV4(data, off + 12, sport) + endpointHashV4(data, off + 16, dport)) >>> 0) ^ proto);
}

/** endpointHash of the address at `at` as dotted-decimal text (ipv4ToString's), fed digit by digit. */
function endpointHashV4(data: Buffer, at: number, port: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < 4; i++) {
    const octet = data[at + i];
    if (octet >= 100) h = Math.imul(h ^ (48 + ((octet / 100) | 0)), 0x01000193);
    if (octet >= 10) h = Math.imul(h ^ (48 + (((octet / 10) | 0) % 10)), 0x01000193);
    h = Math.imul(h ^ (48 + (octet % 10)), 0x01000193);
    if (i < 3) h = Math.imul(h ^ 46, 0x01000193); // '.'
  }
  h = Math.imul(h ^ port, 0x01000193);
  return mix(h >>> 0);
}

/** Symmetric hash of a decoded packet's flow (inner flow for VXLAN/Geneve, quoted flow for ICMP errors). */
export function ipHash(ip: IpPacket, depth: number): number {
  const p = ip.payload;
  switch (ip.protocol) {
    case IpProto.TCP:
      if (p.length < 4) return pairHash(ip.src, 0, ip.dst, 0, ip.protocol);
      return pairHash(ip.src, p.readUInt16BE(0), ip.dst, p.readUInt16BE(2), ip.protocol);
    case IpProto.UDP: {
      if (p.length < 8) return pairHash(ip.src, 0, ip.dst, 0, ip.protocol);
      const sport = p.readUInt16BE(0);
      const dport = p.readUInt16BE(2);
      if (depth < MAX_ENCAP_DEPTH) {
        const payload = udpPayload(p);
        const inner = tunnelled(udpTunnel(sport, dport, payload), payload, depth);
        if (inner !== undefined) return inner;
      }
      return pairHash(ip.src, sport, ip.dst, dport, ip.protocol);
    }
    case IpProto.ICMP:
    case IpProto.ICMPV6: {
      const quoted = icmpQuoted(ip);
      if (quoted !== undefined) return quoted;
      const echo = echoHash(ip);
      if (echo !== undefined) return echo;
      return pairHash(ip.src, 0, ip.dst, 0, ip.protocol);
    }
    default: {
      if (depth < MAX_ENCAP_DEPTH) {
        const inner = tunnelled(ipTunnel(ip.protocol, p), p, depth);
        if (inner !== undefined) return inner;
      }
      return pairHash(ip.src, 0, ip.dst, 0, ip.protocol);
    }
  }
}

/** A UDP datagram's payload as the engine cuts it (engine.ts `udpDatagram`: the length field when it fits). */
function udpPayload(d: Buffer): Buffer {
  const len = d.readUInt16BE(4);
  return d.subarray(8, len >= 8 && len <= d.length ? len : d.length);
}

/** The engine's own decapsulation (engine.ts `decapsulate`): the inner frame's hash, when tunnelled. */
function tunnelled(tunnel: Tunnelled | undefined, payload: Buffer, depth: number): number | undefined {
  if (tunnel === undefined) return undefined;
  if (tunnel.linkType === undefined) return 0;
  return innerHash(tunnel.linkType, payload.subarray(tunnel.offset), depth + 1);
}

/** Inner packets are not reassembled here (the worker's engine does it), so a fragmented inner packet hashes by its addresses. */
const NO_FRAGS = { add: () => null, counters: { reassembled: 0, dropped: 0, malformed: 0 } } as unknown as FragmentReassembler;

function innerHash(linkType: number, data: Buffer, depth: number): number {
  const net = findNetwork(linkType, data);
  if (!net || (net.etherType !== EtherType.IPV4 && net.etherType !== EtherType.IPV6)) return 0;
  const ip = decodeIp(data, net.offset, net.etherType === EtherType.IPV4 ? 4 : 6, NO_FRAGS, 0);
  if (ip === null || 'skip' in ip) return 0;
  return ipHash(ip, depth);
}

/**
 * An echo request or reply: the hash of its requester, not of the address
 * pair. A ping to a broadcast or multicast address is answered from unicast
 * addresses, and the ICMP tracker pairs such a reply with its request by
 * requester, id and sequence (protocols/icmp.ts): by the pair, request and
 * reply went to different workers and stayed unpaired there. Not by the id
 * too: a request a snap length cut before its id pairs with the next reply
 * from its target, which must find it on the same worker.
 */
function echoHash(ip: IpPacket): number | undefined {
  const p = ip.payload;
  if (p.length < 1) return undefined;
  const type = p[0];
  const v4 = ip.protocol === IpProto.ICMP;
  const request = v4 ? type === 8 : type === 128;
  const reply = v4 ? type === 0 : type === 129;
  if (!request && !reply) return undefined;
  return mix(endpointHash(request ? ip.src : ip.dst, 0) ^ IpProto.ICMP);
}

/** ICMP destination unreachable, time exceeded, parameter problem…: the hash of the flow they quote. */
function icmpQuoted(ip: IpPacket): number | undefined {
  const p = ip.payload;
  if (p.length < 8 + 20) return undefined;
  const type = p[0];
  const error = ip.protocol === IpProto.ICMP ? type === 3 || type === 4 || type === 5 || type === 11 || type === 12 : type >= 1 && type <= 4;
  if (!error) return undefined;
  const quoted = p.subarray(8);
  const version = quoted[0] >> 4;
  if (version !== 4 && version !== 6) return undefined;
  const inner = decodeIp(quoted, 0, version, NO_FRAGS, 0);
  if (inner === null || 'skip' in inner) return undefined;
  return ipHash(inner, MAX_ENCAP_DEPTH);
}

/** The same for (a, b) as for (b, a): each endpoint hashed alone, then combined by a commutative sum. */
function pairHash(a: string, pa: number, b: string, pb: number, proto: number): number {
  const sum = (endpointHash(a, pa) + endpointHash(b, pb)) >>> 0;
  return mix(sum ^ (proto === IpProto.ICMPV6 ? IpProto.ICMP : proto));
}

function endpointHash(ip: string, port: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < ip.length; i++) h = Math.imul(h ^ ip.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ port, 0x01000193);
  return mix(h >>> 0);
}

/**
 * 30 bits: a small integer to V8, so a hash handed from function to function
 * is never boxed as a heap number (a full 32-bit hash was, several times per
 * packet on the dispatcher's thread). The balancer uses the low bits only.
 */
function mix(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x45d9f3b);
  x = Math.imul(x ^ (x >>> 16), 0x45d9f3b);
  return (x ^ (x >>> 16)) & 0x3fffffff;
}
