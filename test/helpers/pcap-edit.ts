// Damage a real capture the way lossy capture points do, in memory, for
// property tests: one packet lost, two recorded the other way round. Classic
// little-endian microsecond pcaps (the examples and most shared captures).
import { createReadStream, readFileSync } from 'node:fs';
import { openCapture } from '../../src/capture/reader.js';
import { DissectionEngine } from '../../src/dissect/engine.js';
import type { Packet } from '../../src/model/packet.js';
import type { Entry } from '../../src/model/entry.js';

/** The packets of a little-endian µs classic pcap, numbered from 1. */
export function readPcap(path: string): Packet[] {
  const b = readFileSync(path);
  if (b.readUInt32LE(0) !== 0xa1b2c3d4) throw new Error(`${path}: not a little-endian µs pcap`);
  const linkType = b.readUInt32LE(20);
  const out: Packet[] = [];
  for (let off = 24; off + 16 <= b.length; ) {
    const incl = b.readUInt32LE(off + 8);
    const data = b.subarray(off + 16, off + 16 + incl);
    out.push({ tsSec: b.readUInt32LE(off), tsNsec: b.readUInt32LE(off + 4) * 1000, linkType, data, origLen: b.readUInt32LE(off + 12), interfaceId: 0, frame: out.length + 1 });
    off += 16 + incl;
  }
  return out;
}

/** The packets of any capture shark reads (pcapng, modified pcap …), copied out of the reader's chunks, numbered from 1. */
export async function readCapture(path: string): Promise<Packet[]> {
  const reader = openCapture(Buffer.alloc(0), createReadStream(path, { highWaterMark: 1 << 16 }), path);
  const out: Packet[] = [];
  for await (const batch of reader.batches()) for (const p of batch) out.push({ ...p, data: Buffer.from(p.data), frame: out.length + 1 });
  return out;
}

/** Frames renumbered from 1, as a capture of these packets would number them. */
const renumbered = (packets: Packet[]): Packet[] => packets.map((p, i) => ({ ...p, frame: i + 1 }));

/** Frame `frame` (1-based) lost from the capture. */
export function without(packets: Packet[], frame: number): Packet[] {
  return renumbered(packets.filter((_, i) => i !== frame - 1));
}

/** Packets i and i+1 (0-based) exchanged, each time staying where it was (the capture's order of timestamps). */
export function swapped(packets: Packet[], i: number): Packet[] {
  const out = packets.slice();
  out[i] = { ...packets[i + 1], tsSec: packets[i].tsSec, tsNsec: packets[i].tsNsec };
  out[i + 1] = { ...packets[i], tsSec: packets[i + 1].tsSec, tsNsec: packets[i + 1].tsNsec };
  return renumbered(out);
}

/** Entries and the end-of-run counters of one engine over `packets`. */
export function dissectPacketList(packets: Packet[]): { entries: Entry[]; counters: Record<string, number> } {
  const entries: Entry[] = [];
  const engine = new DissectionEngine({}, (e) => entries.push(e));
  for (const p of packets) engine.push(p);
  engine.finish();
  return { entries, counters: engine.summary() };
}
