// Bytes of pcap (nanosecond) and pcapng files, one record at a time, so the
// recorder can cut files at record boundaries, hash what it writes and write
// whole units it can fsync. (The stream writers in capture/writer.ts
// buffer for a Writable and cannot say where a record ends.)
// Several interfaces (or link types) need pcapng: one IDB per interface.

import type { CaptureInterface, Packet } from '../model/packet.js';

export interface CaptureEncoding {
  /** File extension without the dot. */
  extension: 'pcap' | 'pcapng';
  /** Bytes that start every file. */
  header(): Buffer;
  /** Bytes of one packet record. */
  record(p: Packet): Buffer;
}

const PCAP_MAGIC_NS = 0xa1b23c4d;

export function pcapEncoding(iface: CaptureInterface): CaptureEncoding {
  return {
    extension: 'pcap',
    header() {
      const h = Buffer.alloc(24);
      h.writeUInt32LE(PCAP_MAGIC_NS, 0);
      h.writeUInt16LE(2, 4);
      h.writeUInt16LE(4, 6);
      h.writeUInt32LE(Math.max(iface.snaplen, 1), 16);
      h.writeUInt32LE(iface.linkType, 20);
      return h;
    },
    record(p) {
      const r = Buffer.allocUnsafe(16 + p.data.length);
      r.writeUInt32LE(p.tsSec >>> 0, 0);
      r.writeUInt32LE(p.tsNsec, 4);
      r.writeUInt32LE(p.data.length, 8);
      r.writeUInt32LE(Math.max(p.origLen, p.data.length), 12);
      p.data.copy(r, 16);
      return r;
    },
  };
}

function pad4(n: number): number {
  return (n + 3) & ~3;
}

export function pcapngEncoding(interfaces: CaptureInterface[]): CaptureEncoding {
  return {
    extension: 'pcapng',
    header() {
      const shb = Buffer.alloc(28);
      shb.writeUInt32LE(0x0a0d0d0a, 0);
      shb.writeUInt32LE(28, 4);
      shb.writeUInt32LE(0x1a2b3c4d, 8);
      shb.writeUInt16LE(1, 12);
      shb.writeUInt16LE(0, 14);
      shb.writeInt32LE(-1, 16);
      shb.writeInt32LE(-1, 20);
      shb.writeUInt32LE(28, 24);
      const idbs = interfaces.map((iface) => idb(iface));
      return Buffer.concat([shb, ...idbs]);
    },
    record(p) {
      const len = 28 + pad4(p.data.length) + 4;
      const b = Buffer.alloc(len);
      b.writeUInt32LE(6, 0);
      b.writeUInt32LE(len, 4);
      b.writeUInt32LE(p.interfaceId, 8);
      // if_tsresol 9: timestamps in ns as one 64-bit count.
      const units = BigInt(p.tsSec) * 1_000_000_000n + BigInt(p.tsNsec);
      b.writeUInt32LE(Number(units >> 32n), 12);
      b.writeUInt32LE(Number(units & 0xffffffffn), 16);
      b.writeUInt32LE(p.data.length, 20);
      b.writeUInt32LE(Math.max(p.origLen, p.data.length), 24);
      p.data.copy(b, 28);
      b.writeUInt32LE(len, len - 4);
      return b;
    },
  };
}

function idb(iface: CaptureInterface): Buffer {
  const name = Buffer.from(iface.name ?? '');
  const nameOpt = name.length > 0 ? 4 + pad4(name.length) : 0;
  const len = 16 + nameOpt + 8 /* if_tsresol */ + 4 /* opt_endofopt */ + 4;
  const b = Buffer.alloc(len);
  b.writeUInt32LE(1, 0);
  b.writeUInt32LE(len, 4);
  b.writeUInt16LE(iface.linkType, 8);
  b.writeUInt32LE(Math.max(iface.snaplen, 1), 12);
  let off = 16;
  if (name.length > 0) {
    b.writeUInt16LE(2, off); // if_name
    b.writeUInt16LE(name.length, off + 2);
    name.copy(b, off + 4);
    off += nameOpt;
  }
  b.writeUInt16LE(9, off); // if_tsresol
  b.writeUInt16LE(1, off + 2);
  b.writeUInt8(9, off + 4);
  off += 8;
  off += 4; // opt_endofopt (zeros)
  b.writeUInt32LE(len, off);
  return b;
}

/** pcap for one interface, pcapng when there are several. */
export function encodingFor(interfaces: CaptureInterface[]): CaptureEncoding {
  return interfaces.length === 1 ? pcapEncoding(interfaces[0]) : pcapngEncoding(interfaces);
}
