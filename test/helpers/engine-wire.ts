// Synthetic TCP traffic for engine tests: raw IPv4 packets between
// 198.18.0.1 (client) and 198.18.0.2 (server) with per-direction sequence
// numbers, and a run that records at what capture time each entry came out.
import { DissectionEngine } from '../../src/dissect/engine.js';
import { LinkType, packetTimeMs, type Packet } from '../../src/model/packet.js';
import type { Entry } from '../../src/model/entry.js';
import { ipv4Packet } from './pcap-wire.js';

/** Raw IPv4 + TCP (PSH|ACK) from 198.18.0.<src> to the other address. */
function tcp(src: 1 | 2, sport: number, dport: number, seq: number, body: Buffer): Buffer {
  const b = ipv4Packet(src, 6, sport, dport, 20, body);
  b.writeUInt32BE(seq, 24);
  b[32] = 0x50;
  b[33] = 0x18;
  return b;
}

export class Wire {
  readonly packets: Packet[] = [];
  private seq = new Map<string, number>();
  /** `from` 1 is the client (198.18.0.1), 2 the server. */
  send(atMs: number, from: 1 | 2, sport: number, dport: number, payload: Buffer | string): void {
    const body = typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload;
    // Sequence numbers are per connection and direction (one server port serves many connections).
    const key = `${from}:${sport}:${dport}`;
    const seq = this.seq.get(key) ?? 1000;
    this.seq.set(key, seq + body.length);
    const data = tcp(from, sport, dport, seq, body);
    this.packets.push({ tsSec: Math.floor(atMs / 1000), tsNsec: (atMs % 1000) * 1e6, linkType: LinkType.RAW, data, origLen: data.length, interfaceId: 0, frame: this.packets.length + 1 });
  }
}

/** Feeds packets; records each entry with the capture time at which it came out (Infinity: at the end). */
export function runEngine(packets: Packet[]): { entry: Entry; outAt: number }[] {
  const out: { entry: Entry; outAt: number }[] = [];
  let now = 0;
  const engine = new DissectionEngine({}, (entry) => out.push({ entry, outAt: now }));
  for (const p of packets) {
    now = packetTimeMs(p);
    engine.push(p);
  }
  now = Infinity;
  engine.finish();
  return out;
}

export const httpRequest = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: svc\r\n\r\n`;
export const httpResponse = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
