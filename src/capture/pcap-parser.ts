// Classic libpcap files: a 24-byte file header (magic tells µs or ns and the
// byte order), then 16-byte record headers each followed by the captured bytes.
// Files older than format 2.2 store the two lengths the other way round
// (original first); 2.2 files may do either, told apart by which is smaller —
// Wireshark's rule, which the fuzzed ndpi capture in the corpus needs.
// Timestamps are passed on as stored (Wireshark does the same: a fuzzed file
// may hold a fraction ≥ 1 s and tshark prints it unnormalised).
// The "modified" pcap of Alexey Kuznetzov's patched libpcap (magic a1b2cd34,
// µs) adds 8 bytes to every record header — ifindex(4), protocol(2),
// pkt_type(1), pad(1) — which libpcap and Wireshark read and skip; so do we.

import { InputError } from '../cli/errors.js';
import type { CaptureInterface } from '../model/packet.js';
import { MAX_PACKET_BYTES, newRecordInfo, parseAll, type RecordInfo, type RecordParser } from './record-parser.js';
import type { ColumnBatch } from '../model/packet-batch.js';

const FILE_HEADER = 24;
const RECORD_HEADER = 16;
const MODIFIED_RECORD_HEADER = 24;
/** LinkType sits in the low bits; the top bits may carry FCS information. */
const LINKTYPE_MASK = 0x03ffffff;
/** Above this, a file header's snaplen is not believed when judging record lengths. */
const SNAPLEN_CEILING = 64 * 1024 * 1024;

export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;
export const PCAP_MAGIC_MODIFIED = 0xa1b2cd34;
const PCAP_MAGICS = [PCAP_MAGIC_US, PCAP_MAGIC_NS, PCAP_MAGIC_MODIFIED];

/** True when the 4 bytes at `off` are a classic pcap magic (any variant, either byte order). */
export function isPcapMagic(buf: Buffer, off = 0): boolean {
  if (buf.length - off < 4) return false;
  return PCAP_MAGICS.includes(buf.readUInt32LE(off)) || PCAP_MAGICS.includes(buf.readUInt32BE(off));
}

export class PcapParser implements RecordParser {
  readonly interfaces: CaptureInterface[] = [];
  need = FILE_HEADER;
  error: InputError | undefined;
  nanosecond = false;
  private headerDone = false;
  private littleEndian = true;
  private linkType = 0;
  private maxCaplen = MAX_PACKET_BYTES;
  private frame = 0;
  private lengths: 'normal' | 'swapped' | 'maybe-swapped' = 'normal';
  private recordHeader = RECORD_HEADER;

  constructor(private readonly source: string) {}

  private readonly rec = newRecordInfo();

  parse(buf: Buffer, off: number, at: number, out: ColumnBatch): number {
    return parseAll(this, buf, off, at, out, this.rec);
  }

  next(buf: Buffer, off: number, end: number, at: number, rec: RecordInfo): number {
    const start = off;
    rec.found = false;
    if (!this.headerDone) {
      if (end - off < FILE_HEADER) return 0;
      if (!this.readHeader(buf, off)) return 0;
      off += FILE_HEADER;
    }
    const header = this.recordHeader;
    if (end - off < header) {
      this.need = header;
      return off - start;
    }
    const le = this.littleEndian;
    let caplen = le ? buf.readUInt32LE(off + 8) : buf.readUInt32BE(off + 8);
    let origLen = le ? buf.readUInt32LE(off + 12) : buf.readUInt32BE(off + 12);
    if (this.lengths !== 'normal' && (this.lengths === 'swapped' || caplen > origLen)) {
      [caplen, origLen] = [origLen, caplen];
    }
    if (caplen > this.maxCaplen) {
      this.error = new InputError(
        this.source,
        `at byte ${at + (off - start)}`,
        `corrupt packet record (claims ${caplen} bytes, more than ${this.maxCaplen})`,
      );
      return off - start;
    }
    const recordLen = header + caplen;
    if (end - off < recordLen) {
      this.need = recordLen;
      return off - start;
    }
    rec.found = true;
    rec.tsSec = le ? buf.readUInt32LE(off) : buf.readUInt32BE(off);
    rec.tsNsec = (le ? buf.readUInt32LE(off + 4) : buf.readUInt32BE(off + 4)) * (this.nanosecond ? 1 : 1000);
    rec.linkType = this.linkType;
    rec.dataOff = off + header;
    rec.caplen = caplen;
    rec.origLen = origLen;
    rec.interfaceId = 0;
    rec.frame = ++this.frame;
    return off + recordLen - start;
  }

  endError(at: number): InputError {
    if (!this.headerDone) return new InputError(this.source, `at byte ${at}`, 'truncated file header');
    return new InputError(this.source, `at byte ${at}`, 'truncated packet record');
  }

  private readHeader(buf: Buffer, off: number): boolean {
    const magic = buf.readUInt32LE(off);
    if (PCAP_MAGICS.includes(magic)) this.littleEndian = true;
    else if (PCAP_MAGICS.includes(buf.readUInt32BE(off))) this.littleEndian = false;
    else {
      this.error = new InputError(this.source, 'at byte 0', `not a pcap or pcapng file (magic 0x${magic.toString(16)})`);
      return false;
    }
    const le = this.littleEndian;
    const own = le ? magic : buf.readUInt32BE(off);
    this.nanosecond = own === PCAP_MAGIC_NS;
    if (own === PCAP_MAGIC_MODIFIED) this.recordHeader = MODIFIED_RECORD_HEADER;
    const major = le ? buf.readUInt16LE(off + 4) : buf.readUInt16BE(off + 4);
    const minor = le ? buf.readUInt16LE(off + 6) : buf.readUInt16BE(off + 6);
    // libpcap reads version 2 only (2.0–2.2 with swapped lengths, fixed below); anything else is not a pcap we know.
    if (major !== 2) {
      this.error = new InputError(this.source, 'at byte 4', `unsupported pcap version ${major}.${minor} (only 2.x is read)`);
      return false;
    }
    if (major < 2 || (major === 2 && minor < 2)) this.lengths = 'swapped';
    else if (major === 2 && minor === 2) this.lengths = 'maybe-swapped';
    const snaplen = le ? buf.readUInt32LE(off + 16) : buf.readUInt32BE(off + 16);
    this.linkType = (le ? buf.readUInt32LE(off + 20) : buf.readUInt32BE(off + 20)) & LINKTYPE_MASK;
    this.maxCaplen = Math.max(MAX_PACKET_BYTES, Math.min(snaplen, SNAPLEN_CEILING));
    this.interfaces.push({ linkType: this.linkType, snaplen, tsUnitsPerSec: this.nanosecond ? 1e9 : 1e6 });
    this.headerDone = true;
    this.need = this.recordHeader;
    return true;
  }
}
