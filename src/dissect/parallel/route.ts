// Which worker a packet goes to: link and IP headers only (tunnels followed
// the way the engine follows them), then a symmetric hash of the 5-tuple, so
// both directions of a connection land on the same worker. ICMP errors go
// with the flow whose header they quote. IP fragments are reassembled here,
// so the fragments of one datagram can arrive in any batch.

import { EtherType, findNetwork } from '../decode/link.js';
import type { FragmentReassembler } from '../decode/fragments.js';
import { decodeIp, IpProto, type IpPacket } from '../decode/ip.js';
import { LinkType } from '../../model/packet.js';

export type Route =
  /** The captured frame as is, to worker `worker`. */
  | { worker: number; ip?: undefined }
  /** A datagram reassembled from fragments (its last fragment's frame and time). */
  | { worker: number; ip: IpPacket }
  /** A fragment held for reassembly: nothing to send yet. */
  | null;

const VXLAN_PORTS = new Set([4789, 8472]);
const GENEVE_PORT = 6081;
const MAX_ENCAP_DEPTH = 4;

export function route(linkType: number, data: Buffer, frags: FragmentReassembler, now: number, workers: number): Route {
  const net = findNetwork(linkType, data);
  // Not IP (or not decodable): any worker counts it the same; worker 0 does.
  if (!net || (net.etherType !== EtherType.IPV4 && net.etherType !== EtherType.IPV6)) return { worker: 0 };
  const before = frags.counters.reassembled;
  const ip = decodeIp(data, net.offset, net.etherType === EtherType.IPV4 ? 4 : 6, frags, now);
  if (ip === null) return null;
  if ('skip' in ip) return { worker: 0 };
  const h = ipHash(ip, 0);
  const worker = h % workers;
  return frags.counters.reassembled !== before ? { worker, ip } : { worker };
}

/** Symmetric hash of a decoded packet's flow (inner flow for VXLAN/Geneve, quoted flow for ICMP errors). */
function ipHash(ip: IpPacket, depth: number): number {
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
        const inner = tunnelled(dport, p.subarray(8), depth);
        if (inner !== undefined) return inner;
      }
      return pairHash(ip.src, sport, ip.dst, dport, ip.protocol);
    }
    case IpProto.ICMP:
    case IpProto.ICMPV6: {
      const quoted = icmpQuoted(ip);
      if (quoted !== undefined) return quoted;
      return pairHash(ip.src, 0, ip.dst, 0, ip.protocol);
    }
    default:
      return pairHash(ip.src, 0, ip.dst, 0, ip.protocol);
  }
}

/** The engine's own decapsulation rules (engine.ts `decapsulate`): the inner frame's hash, when tunnelled. */
function tunnelled(dport: number, payload: Buffer, depth: number): number | undefined {
  if (VXLAN_PORTS.has(dport) && payload.length >= 8 + 14 && (payload[0] & 0x08) !== 0) return innerHash(LinkType.ETHERNET, payload.subarray(8), depth + 1);
  if (dport === GENEVE_PORT && payload.length >= 8) {
    const start = 8 + (payload[0] & 0x3f) * 4;
    if (payload.length < start) return undefined;
    const proto = payload.readUInt16BE(2);
    if (proto === 0x6558) return innerHash(LinkType.ETHERNET, payload.subarray(start), depth + 1);
    if (proto === EtherType.IPV4 || proto === EtherType.IPV6) return innerHash(LinkType.RAW, payload.subarray(start), depth + 1);
    return 0;
  }
  return undefined;
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

function mix(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x45d9f3b);
  x = Math.imul(x ^ (x >>> 16), 0x45d9f3b);
  return (x ^ (x >>> 16)) >>> 0;
}
