// pcapng: a sequence of blocks (type, total length, body, total length again).
// A Section Header Block sets the byte order and starts a new set of
// interfaces; Interface Description Blocks describe link type, snaplen and
// timestamp resolution/offset; packets arrive in Enhanced, Simple or obsolete
// Packet Blocks. Everything else is skipped by its length.
// Interfaces are numbered across the whole file (section 2's interface 0 gets
// the next free number), so Packet.interfaceId indexes `interfaces`.

import { InputError } from '../cli/errors.js';
import type { CaptureInterface } from '../model/packet.js';
import { MAX_PACKET_BYTES, newRecordInfo, parseAll, type RecordInfo, type RecordParser } from './record-parser.js';
import type { ColumnBatch } from '../model/packet-batch.js';
import { unitsToTime, type SecNsec } from './timestamp.js';

export const BLOCK_SHB = 0x0a0d0d0a;
export const BLOCK_IDB = 0x00000001;
const BLOCK_PB = 0x00000002;
const BLOCK_SPB = 0x00000003;
export const BLOCK_EPB = 0x00000006;
const BLOCK_JOURNAL = 0x00000009;
/** Decryption Secrets Block (pcapng spec §4.7): key material carried in the capture, as `editcap --inject-secrets` writes it. */
const BLOCK_DSB = 0x0000000a;
/** DSB secrets type: TLS key log (NSS format). */
export const SECRETS_TLS_KEYLOG = 0x544c534b;
const BLOCK_CUSTOM = 0x00000bad;
const BLOCK_CUSTOM_NOCOPY = 0x40000bad;
export const BYTE_ORDER_MAGIC = 0x1a2b3c4d;

const BLOCK_HEADER = 12; // type + length + (for an SHB) the byte-order magic
/** Largest packet block accepted (Wireshark: a maximal packet plus room for options). */
const MAX_PACKET_BLOCK_BYTES = 32 + MAX_PACKET_BYTES + 131072;
/**
 * Largest other block. A Decryption Secrets Block carries a whole key log:
 * `editcap --inject-secrets` of 4,000 TLS sessions makes a 700 KB one, which
 * was refused as a corrupt block (exit 3, no packet read) while tshark reads
 * and decrypts the file. A block is held whole while it is read: still bounded.
 */
const MAX_BLOCK_BYTES = 16 * 1024 * 1024;

export const OPT_END = 0;
export const OPT_IF_NAME = 2;
export const OPT_IF_TSRESOL = 9;
export const OPT_IF_TSOFFSET = 14;

interface InterfaceState {
  /** Index into `interfaces` (file-wide). */
  id: number;
  linkType: number;
  snaplen: number;
  unitsPerSec: number;
  offsetSec: number;
}

/** Year 10000: the last second an ISO date (a manifest, an entry's time) can name. */
const MAX_EPOCH_SEC = 253_402_300_800;

export class PcapngParser implements RecordParser {
  readonly interfaces: CaptureInterface[] = [];
  need = BLOCK_HEADER;
  error: InputError | undefined;
  private littleEndian = true;
  private section: InterfaceState[] = [];
  private sawSection = false;
  private frame = 0;
  private lastSec = 0;
  private lastNsec = 0;
  private readonly ts: SecNsec = { sec: 0, nsec: 0 };
  private readonly rec = newRecordInfo();

  /** Told of each Decryption Secrets Block: its secrets type and data. */
  onSecrets: ((type: number, data: Buffer) => void) | undefined;

  constructor(private readonly source: string) {}

  parse(buf: Buffer, off: number, at: number, out: ColumnBatch): number {
    return parseAll(this, buf, off, at, out, this.rec);
  }

  next(buf: Buffer, off: number, end: number, at: number, rec: RecordInfo): number {
    const start = off;
    rec.found = false;
    for (;;) {
      if (end - off < BLOCK_HEADER) {
        this.need = BLOCK_HEADER;
        break;
      }
      const where = at + (off - start);
      let type = buf.readUInt32LE(off); // the SHB type is a palindrome
      if (type === BLOCK_SHB) {
        const bom = buf.readUInt32LE(off + 8);
        if (bom === BYTE_ORDER_MAGIC) this.littleEndian = true;
        else if (buf.readUInt32BE(off + 8) === BYTE_ORDER_MAGIC) this.littleEndian = false;
        else {
          this.fail(where, `corrupt section header (byte-order magic 0x${bom.toString(16)})`);
          break;
        }
      } else if (!this.sawSection) {
        this.fail(where, 'not a pcapng file (no section header)');
        break;
      } else if (!this.littleEndian) type = buf.readUInt32BE(off);
      const le = this.littleEndian;
      const len = le ? buf.readUInt32LE(off + 4) : buf.readUInt32BE(off + 4);
      const max = type === BLOCK_EPB || type === BLOCK_PB || type === BLOCK_SPB ? MAX_PACKET_BLOCK_BYTES : MAX_BLOCK_BYTES;
      if (len < BLOCK_HEADER || len % 4 !== 0 || len > max) {
        this.fail(where, `corrupt block (type 0x${type.toString(16)}, length ${len})`);
        break;
      }
      if (end - off < len) {
        this.need = len;
        break;
      }
      const trailer = le ? buf.readUInt32LE(off + len - 4) : buf.readUInt32BE(off + len - 4);
      if (trailer !== len) {
        this.fail(where, `corrupt block (type 0x${type.toString(16)}, lengths ${len} and ${trailer} differ)`);
        break;
      }
      if (!this.block(type, buf, off, len, where, rec)) break;
      off += len;
      if (rec.found) break;
    }
    return off - start;
  }

  endError(at: number): InputError {
    return new InputError(this.source, `at byte ${at}`, this.sawSection ? 'truncated block' : 'truncated section header');
  }

  private fail(where: number, problem: string): void {
    this.error = new InputError(this.source, `at byte ${where}`, problem);
  }

  private u32(buf: Buffer, at: number): number {
    return this.littleEndian ? buf.readUInt32LE(at) : buf.readUInt32BE(at);
  }

  private u16(buf: Buffer, at: number): number {
    return this.littleEndian ? buf.readUInt16LE(at) : buf.readUInt16BE(at);
  }

  /** Handle one complete block; false when it is damaged. */
  private block(type: number, buf: Buffer, off: number, len: number, where: number, rec: RecordInfo): boolean {
    switch (type) {
      case BLOCK_SHB: {
        if (len < 28) return this.bad(where, 'section header');
        // A new major version may change any block's layout (pcapng spec §4.1): refuse rather than guess.
        const major = this.u16(buf, off + 12);
        if (major !== 1) {
          this.fail(where + 12, `unsupported pcapng version ${major}.${this.u16(buf, off + 14)} (only 1.x is read)`);
          return false;
        }
        this.sawSection = true;
        this.section = [];
        return true;
      }
      case BLOCK_IDB:
        if (len < 20) return this.bad(where, 'interface description');
        this.interfaceBlock(buf, off, len);
        return true;
      case BLOCK_EPB: {
        if (len < 32) return this.bad(where, 'enhanced packet');
        const iface = this.section[this.u32(buf, off + 8)];
        if (!iface) return this.noInterface(where, this.u32(buf, off + 8));
        const caplen = this.u32(buf, off + 20);
        if (caplen > len - 32) return this.bad(where, 'enhanced packet');
        return this.emit(rec, iface, this.u32(buf, off + 12), this.u32(buf, off + 16), off + 28, caplen, this.u32(buf, off + 24), where);
      }
      case BLOCK_SPB: {
        if (len < 16) return this.bad(where, 'simple packet');
        const iface = this.section[0];
        if (!iface) return this.noInterface(where, 0);
        const origLen = this.u32(buf, off + 8);
        let caplen = Math.min(origLen, len - 16);
        if (iface.snaplen > 0) caplen = Math.min(caplen, iface.snaplen);
        this.packet(rec, iface, off + 12, caplen, origLen);
        rec.tsSec = this.lastSec; // an SPB has no timestamp: keep the previous one
        rec.tsNsec = this.lastNsec;
        return true;
      }
      case BLOCK_PB: {
        if (len < 32) return this.bad(where, 'packet');
        const iface = this.section[this.u16(buf, off + 8)];
        if (!iface) return this.noInterface(where, this.u16(buf, off + 8));
        const caplen = this.u32(buf, off + 20);
        if (caplen > len - 32) return this.bad(where, 'packet');
        return this.emit(rec, iface, this.u32(buf, off + 12), this.u32(buf, off + 16), off + 28, caplen, this.u32(buf, off + 24), where);
      }
      case BLOCK_DSB: {
        if (len < 20) return this.bad(where, 'decryption secrets');
        const size = this.u32(buf, off + 12);
        if (size > len - 20) return this.bad(where, 'decryption secrets');
        this.onSecrets?.(this.u32(buf, off + 8), Buffer.from(buf.subarray(off + 16, off + 16 + size)));
        return true;
      }
      case BLOCK_CUSTOM:
      case BLOCK_CUSTOM_NOCOPY:
      case BLOCK_JOURNAL:
        // Not packets, but tshark shows them as records with a frame number:
        // count them so Packet.frame stays equal to tshark's frame.number.
        this.frame++;
        return true;
      default:
        return true; // statistics, name resolution, unknown: skipped
    }
  }

  private emit(rec: RecordInfo, iface: InterfaceState, high: number, low: number, dataOff: number, caplen: number, origLen: number, where: number): boolean {
    const ts = unitsToTime(high, low, iface.unitsPerSec, this.ts);
    const sec = ts.sec + iface.offsetSec;
    // if_tsoffset is a signed 64-bit count of seconds: it can put a packet before 1970 or past
    // what a date can hold, which no entry, manifest or pcap written from it could carry.
    if (!(sec >= 0 && sec < MAX_EPOCH_SEC)) {
      this.fail(where, `packet time out of range (${sec} s since 1970${iface.offsetSec !== 0 ? `, with if_tsoffset ${iface.offsetSec} s` : ''})`);
      return false;
    }
    this.packet(rec, iface, dataOff, caplen, origLen);
    rec.tsSec = this.lastSec = sec;
    rec.tsNsec = this.lastNsec = ts.nsec;
    return true;
  }

  private packet(rec: RecordInfo, iface: InterfaceState, dataOff: number, caplen: number, origLen: number): void {
    rec.found = true;
    rec.linkType = iface.linkType;
    rec.dataOff = dataOff;
    rec.caplen = caplen;
    rec.origLen = origLen;
    rec.interfaceId = iface.id;
    rec.frame = ++this.frame;
  }

  private bad(where: number, what: string): false {
    this.fail(where, `corrupt ${what} block`);
    return false;
  }

  private noInterface(where: number, id: number): false {
    this.fail(where, `packet block names interface ${id}, which is not described`);
    return false;
  }

  private interfaceBlock(buf: Buffer, off: number, len: number): void {
    const state: InterfaceState = {
      id: this.interfaces.length,
      linkType: this.u16(buf, off + 8),
      snaplen: this.u32(buf, off + 12),
      unitsPerSec: 1e6,
      offsetSec: 0,
    };
    let name: string | undefined;
    const end = off + len - 4;
    let p = off + 16;
    while (p + 4 <= end) {
      const code = this.u16(buf, p);
      const olen = this.u16(buf, p + 2);
      const value = p + 4;
      if (code === OPT_END || value + olen > end) break;
      if (code === OPT_IF_NAME) name = buf.toString('utf8', value, value + olen).replace(/\0+$/, '');
      else if (code === OPT_IF_TSRESOL && olen >= 1) {
        const r = buf[value];
        state.unitsPerSec = r & 0x80 ? 2 ** (r & 0x7f) : 10 ** r;
      } else if (code === OPT_IF_TSOFFSET && olen >= 8) {
        state.offsetSec = Number(this.littleEndian ? buf.readBigInt64LE(value) : buf.readBigInt64BE(value));
      }
      p = value + ((olen + 3) & ~3);
    }
    this.section.push(state);
    const desc: CaptureInterface = { linkType: state.linkType, snaplen: state.snaplen, tsUnitsPerSec: state.unitsPerSec };
    if (name !== undefined) desc.name = name;
    this.interfaces.push(desc);
  }
}
