// Each connection kept exactly once, at one tapped pod's interface.
//
// Captured on the node's `any`, a call between two pods of the node passes two
// pod interfaces (in at the client's veth, out at the server's), and a call to
// a ClusterIP passes them before and after kube-proxy's DNAT (client → service
// IP at the client's veth, client → pod IP at the server's). The kernel filter
// already keeps only packets of tapped pods' interfaces (`ifindex N or …`);
// this picks, per connection, the copy at:
//   - the client's interface when the client is a tapped pod of this node (so
//     a Service call is kept as the client saw it: dst = the Service IP), else
//   - the server's interface.
// The client is the SYN's sender; for UDP and connections seen mid-stream,
// the side with the ephemeral port. Which interface a copy passed is told by
// its direction: a packet *from* a pod arrives on its veth (incoming), a
// packet *to* a pod leaves through it (outgoing). With SLL2 (ifindex in the
// header) the interface is also checked directly. The connection table is
// bounded (oldest forgotten first, counted).

import { LinkType, type Packet } from '../../model/packet.js';
import { canonicalIp } from './interfaces.js';

/** The tapped pod a kept connection is attributed to. */
export interface TappedPod {
  name: string;
  namespace: string;
}

export interface KeptFlow {
  pod: TappedPod;
  /** Whether the pod is the connection's client or its server. */
  side: 'client' | 'server';
}

export interface OnceCounters {
  /** Packets passed on. */
  kept: number;
  /** The second copy of a packet already kept at another pod interface. */
  duplicates: number;
  /** Packets of no tapped pod of this node (the kernel filter was not in place yet). */
  untapped: number;
  /** Not IPv4/IPv6 over a cooked header: passed on as they are. */
  other: number;
  /** Connections forgotten because the table was full. */
  evicted: number;
}

interface Flow {
  /** "ip|port" of the client. */
  client: string;
  kept: KeptFlow | undefined;
}

const PACKET_OUTGOING = 4;

interface View {
  outgoing: boolean;
  ifindex: number | undefined;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  proto: number;
  /** TCP flags (0 for other protocols). */
  flags: number;
}

function ipv4(d: Buffer, off: number): string {
  return `${d[off]}.${d[off + 1]}.${d[off + 2]}.${d[off + 3]}`;
}

function ipv6(d: Buffer, off: number): string {
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push(d.readUInt16BE(off + i).toString(16));
  return canonicalIp(g.join(':'));
}

/** Direction, interface and 5-tuple of a cooked (SLL/SLL2) packet; undefined for anything else. */
export function viewPacket(p: Packet): View | undefined {
  const d = p.data;
  let proto: number;
  let off: number;
  let outgoing: boolean;
  let ifindex: number | undefined;
  if (p.linkType === LinkType.LINUX_SLL) {
    if (d.length < 16) return undefined;
    outgoing = d.readUInt16BE(0) === PACKET_OUTGOING;
    proto = d.readUInt16BE(14);
    off = 16;
  } else if (p.linkType === LinkType.LINUX_SLL2) {
    if (d.length < 20) return undefined;
    proto = d.readUInt16BE(0);
    ifindex = d.readUInt32BE(4);
    outgoing = d[10] === PACKET_OUTGOING;
    off = 20;
  } else return undefined;
  let src: string;
  let dst: string;
  let l4: number;
  let next: number;
  if (proto === 0x0800 && d.length >= off + 20) {
    const ihl = (d[off] & 15) * 4;
    next = d[off + 9];
    src = ipv4(d, off + 12);
    dst = ipv4(d, off + 16);
    // A non-first fragment has no ports: treat it as port-less.
    l4 = (d.readUInt16BE(off + 6) & 0x1fff) === 0 ? off + ihl : -1;
  } else if (proto === 0x86dd && d.length >= off + 40) {
    next = d[off + 6];
    src = ipv6(d, off + 8);
    dst = ipv6(d, off + 24);
    l4 = off + 40;
  } else return undefined;
  let srcPort = 0;
  let dstPort = 0;
  let flags = 0;
  if ((next === 6 || next === 17 || next === 132) && l4 >= 0 && d.length >= l4 + 4) {
    srcPort = d.readUInt16BE(l4);
    dstPort = d.readUInt16BE(l4 + 2);
    if (next === 6 && d.length >= l4 + 14) flags = d[l4 + 13];
  }
  return { outgoing, ifindex, src, dst, srcPort, dstPort, proto: next, flags };
}

const podKey = (p: TappedPod) => `${p.namespace}/${p.name}`;

/** Ports at or above this are taken for ephemeral ones (Linux's default range starts at 32768). */
const EPHEMERAL = 32768;

/** Which end started the connection, from the first packet seen of it. */
function clientOf(v: View): 'src' | 'dst' {
  if (v.proto === 6 && v.flags & 0x02) return v.flags & 0x10 ? 'dst' : 'src'; // SYN / SYN-ACK
  const srcEph = v.srcPort >= EPHEMERAL;
  const dstEph = v.dstPort >= EPHEMERAL;
  if (srcEph !== dstEph) return srcEph ? 'src' : 'dst';
  if (v.srcPort !== v.dstPort) return v.srcPort > v.dstPort ? 'src' : 'dst';
  return 'src';
}

export interface OnceOptions {
  /** Most connections remembered (each ~200 bytes). */
  maxFlows?: number;
}

export class ConnectionOnce {
  private pods = new Map<string, TappedPod>();
  /** ifindex → pod, when the link type tells the interface (SLL2). */
  private byIfindex = new Map<number, TappedPod>();
  private readonly flows = new Map<string, Flow>();
  private readonly maxFlows: number;
  readonly counters: OnceCounters = { kept: 0, duplicates: 0, untapped: 0, other: 0, evicted: 0 };
  /** The attribution of the packet `keep` last passed on (undefined: not IP, kept as it is). */
  lastKept: KeptFlow | undefined;

  constructor(opts: OnceOptions = {}) {
    this.maxFlows = opts.maxFlows ?? 65536;
  }

  /** The tapped pods of this node: each IP → its pod; `ifindexes` → the pod behind each interface. */
  setPods(byIp: Map<string, TappedPod>, ifindexes = new Map<number, TappedPod>()): void {
    this.pods = new Map([...byIp].map(([ip, pod]) => [canonicalIp(ip), pod]));
    this.byIfindex = ifindexes;
    // Connections of pods that left, and those no tapped pod had, are decided
    // again on their next packet (a new pod may own the address now).
    const alive = new Set([...this.pods.values()].map(podKey));
    for (const [key, f] of this.flows) if (!f.kept || !alive.has(podKey(f.kept.pod))) this.flows.delete(key);
  }

  /** True when `p` is the copy to keep. */
  keep(p: Packet): boolean {
    const v = viewPacket(p);
    this.lastKept = undefined;
    if (!v) {
      this.counters.other++;
      return true;
    }
    const a = `${v.src}|${v.srcPort}`;
    const b = `${v.dst}|${v.dstPort}`;
    const key = a < b ? `${v.proto}|${a}|${b}` : `${v.proto}|${b}|${a}`;
    let flow = this.flows.get(key);
    if (!flow) {
      const clientIsSrc = clientOf(v) === 'src';
      const [clientIp, serverIp] = clientIsSrc ? [v.src, v.dst] : [v.dst, v.src];
      const clientPod = this.pods.get(clientIp);
      const serverPod = this.pods.get(serverIp);
      const kept: KeptFlow | undefined = clientPod
        ? { pod: clientPod, side: 'client' }
        : serverPod
          ? { pod: serverPod, side: 'server' }
          : undefined;
      flow = { client: clientIsSrc ? a : b, kept };
      if (this.flows.size >= this.maxFlows) {
        // Maps iterate in insertion order: the first key is the oldest connection.
        this.flows.delete(this.flows.keys().next().value!);
        this.counters.evicted++;
      }
      this.flows.set(key, flow);
    }
    if (!flow.kept) {
      this.counters.untapped++;
      return false;
    }
    // The tapped end's interface: packets from it arrive there, packets to it leave there.
    const fromClient = flow.client === a;
    const fromTapped = (flow.kept.side === 'client') === fromClient;
    let atTapped = fromTapped ? !v.outgoing : v.outgoing;
    if (atTapped && v.ifindex !== undefined && this.byIfindex.size > 0) {
      const at = this.byIfindex.get(v.ifindex);
      atTapped = at !== undefined && podKey(at) === podKey(flow.kept.pod);
    }
    if (atTapped) {
      this.counters.kept++;
      this.lastKept = flow.kept;
    } else this.counters.duplicates++;
    return atTapped;
  }

  /** The pod a connection (either direction of its endpoints) was attributed to. */
  attribution(srcIp: string, srcPort: number, dstIp: string, dstPort: number, transport: string): KeptFlow | undefined {
    const proto = transport === 'tcp' ? 6 : transport === 'udp' ? 17 : transport === 'sctp' ? 132 : -1;
    if (proto < 0) return undefined;
    const a = `${canonicalIp(srcIp)}|${srcPort}`;
    const b = `${canonicalIp(dstIp)}|${dstPort}`;
    return this.flows.get(a < b ? `${proto}|${a}|${b}` : `${proto}|${b}|${a}`)?.kept;
  }

  get size(): number {
    return this.flows.size;
  }
}
