// `shark dissect --packets`: one line per frame (like `tshark -T fields`),
// for when you want the packets rather than the API calls.

import type { Packet } from '../model/packet.js';
import { EtherType, findNetwork } from './decode/link.js';
import { FragmentReassembler } from './decode/fragments.js';
import { decodeIp, IpProto } from './decode/ip.js';

export interface PacketLine {
  frame: number;
  timestamp: number;
  length: number;
  capturedLength: number;
  linkType: number;
  interfaceId: number;
  network: string;
  src?: string;
  dst?: string;
  transport?: string;
  srcPort?: number;
  dstPort?: number;
  tcpFlags?: string;
  payloadLength?: number;
  icmpType?: number;
  icmpCode?: number;
}

const FLAG_NAMES = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR'];

export class PacketSummarizer {
  private readonly frags = new FragmentReassembler();

  summarize(p: Packet): PacketLine {
    const now = p.tsSec * 1000 + p.tsNsec / 1e6;
    const line: PacketLine = {
      frame: p.frame,
      timestamp: now,
      length: p.origLen,
      capturedLength: p.data.length,
      linkType: p.linkType,
      interfaceId: p.interfaceId,
      network: 'other',
    };
    const net = findNetwork(p.linkType, p.data);
    if (!net) return line;
    if (net.etherType === EtherType.ARP) line.network = 'arp';
    if (net.etherType !== EtherType.IPV4 && net.etherType !== EtherType.IPV6) return line;
    line.network = net.etherType === EtherType.IPV4 ? 'ipv4' : 'ipv6';
    const ip = decodeIp(p.data, net.offset, net.etherType === EtherType.IPV4 ? 4 : 6, this.frags, now);
    if (ip === null) {
      line.transport = 'fragment';
      return line;
    }
    if ('skip' in ip) {
      line.transport = `malformed (${ip.skip})`;
      return line;
    }
    line.src = ip.src;
    line.dst = ip.dst;
    const l4 = ip.payload;
    if (ip.protocol === IpProto.TCP && l4.length >= 20) {
      line.transport = 'tcp';
      line.srcPort = l4.readUInt16BE(0);
      line.dstPort = l4.readUInt16BE(2);
      const flags = l4[13];
      line.tcpFlags = FLAG_NAMES.filter((_, i) => flags & (1 << i)).join(',');
      line.payloadLength = Math.max(0, l4.length - (l4[12] >> 4) * 4);
    } else if (ip.protocol === IpProto.UDP && l4.length >= 8) {
      line.transport = 'udp';
      line.srcPort = l4.readUInt16BE(0);
      line.dstPort = l4.readUInt16BE(2);
      line.payloadLength = l4.length - 8;
    } else if ((ip.protocol === IpProto.ICMP || ip.protocol === IpProto.ICMPV6) && l4.length >= 2) {
      line.transport = ip.protocol === IpProto.ICMP ? 'icmp' : 'icmpv6';
      line.icmpType = l4[0];
      line.icmpCode = l4[1];
    } else line.transport = `ip-proto-${ip.protocol}`;
    return line;
  }
}
