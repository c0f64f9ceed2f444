// One synthetic TCP connection with real sequence and acknowledgement
// numbers, for tests of lossy captures: bytes the capture missed still move
// the sender's sequence and are acknowledged by the receiver, as on a real
// network where only the capture point lost them.
import { LinkType, type Packet } from '../../src/model/packet.js';
import { ipv4Packet } from './pcap-wire.js';

export const CLIENT_PORT = 40000;

const FIN = 0x01;
const SYN = 0x02;
const PSH = 0x08;
const ACK = 0x10;

/** Raw IPv4 + TCP from 198.18.0.<src>; PSH|ACK unless `flags` says otherwise, no ACK when `ack` is undefined. */
export function tcpPacket(src: 1 | 2, sport: number, dport: number, seq: number, ack: number | undefined, body: Buffer, flags = PSH): Buffer {
  const b = ipv4Packet(src, 6, sport, dport, 20, body);
  b.writeUInt32BE(seq >>> 0, 24);
  b.writeUInt32BE((ack ?? 0) >>> 0, 28);
  b[32] = 0x50;
  b[33] = ack === undefined ? flags : flags | ACK;
  return b;
}

/**
 * One TCP connection (client 198.18.0.1:port → server 198.18.0.2:serverPort),
 * opened with a handshake unless the capture is to start mid-connection, whose packets carry real sequence and
 * acknowledgement numbers. `lose`
 * sends bytes that never reach the capture: the sender's sequence moves on
 * and the receiver acknowledges them, as on a real network where only the
 * capture point missed them.
 */
export class AckedConnection {
  readonly packets: Packet[] = [];
  private seq: Record<1 | 2, number> = { 1: 1000, 2: 50000 };
  constructor(
    private readonly serverPort = 8080,
    private readonly clientPort = CLIENT_PORT,
    handshake = true,
  ) {
    if (!handshake) return;
    this.packets.push(this.packet(0, 1, SYN, undefined));
    this.seq[1]++;
    this.packets.push(this.packet(0, 2, SYN, this.seq[1]));
    this.seq[2]++;
    this.packets.push(this.packet(0, 1, ACK, this.seq[2]));
  }

  private packet(atMs: number, from: 1 | 2, flags: number, ack: number | undefined, body: Buffer = Buffer.alloc(0)): Packet {
    const [sport, dport] = from === 1 ? [this.clientPort, this.serverPort] : [this.serverPort, this.clientPort];
    const data = tcpPacket(from, sport, dport, this.seq[from], ack, body, flags);
    return { tsSec: Math.floor(atMs / 1000), tsNsec: Math.round((atMs % 1000) * 1e6), linkType: LinkType.RAW, data, origLen: data.length, interfaceId: 0, frame: 0 };
  }

  send(atMs: number, from: 1 | 2, payload: string | Buffer): void {
    const body = typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload;
    const to = from === 1 ? 2 : 1;
    this.packets.push(this.packet(atMs, from, PSH, this.seq[to], body));
    this.seq[from] += body.length;
  }

  lose(from: 1 | 2, payload: string): void {
    this.seq[from] += Buffer.byteLength(payload, 'latin1');
  }

  /** A segment a snap length cut (`tcpdump -s`): the capture keeps the first `keep` bytes of its payload, the wire carried all. */
  sendCut(atMs: number, from: 1 | 2, payload: string, keep: number): void {
    const body = Buffer.from(payload, 'latin1');
    const to = from === 1 ? 2 : 1;
    const whole = this.packet(atMs, from, PSH, this.seq[to], body);
    this.packets.push({ ...whole, data: whole.data.subarray(0, whole.data.length - body.length + keep) });
    this.seq[from] += body.length;
  }

  fin(atMs: number, from: 1 | 2): void {
    const to = from === 1 ? 2 : 1;
    this.packets.push(this.packet(atMs, from, FIN, this.seq[to]));
    this.seq[from]++;
  }

  ackOnly(atMs: number, from: 1 | 2): void {
    this.packets.push(this.packet(atMs, from, 0, this.seq[from === 1 ? 2 : 1]));
  }
}

