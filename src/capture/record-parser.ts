// The contract between the chunk framer (reader.ts, record-cursor.ts) and a
// file format's parser: the parser is handed bytes that start at a record
// boundary and parses complete records; the framer keeps the incomplete tail
// and calls again once `need` bytes are available from there.
// `next` is the allocation-free primitive (one reusable RecordInfo, offsets
// into the caller's buffer) that `merge` walks; `parse` fills a ColumnBatch
// (packet-batch.ts) on top of it for everything else.

import type { InputError } from '../cli/errors.js';
import type { CaptureInterface } from '../model/packet.js';
import type { ColumnBatch } from '../model/packet-batch.js';

/** The packet record `next` found: where its bytes are and what they are. Reused for every record. */
export interface RecordInfo {
  /** False when `next` stopped without a packet (needs more bytes, or damage: see `error`). */
  found: boolean;
  tsSec: number;
  tsNsec: number;
  /** Offset of the captured bytes in the buffer given to `next`. */
  dataOff: number;
  caplen: number;
  origLen: number;
  linkType: number;
  interfaceId: number;
  frame: number;
}

export function newRecordInfo(): RecordInfo {
  return { found: false, tsSec: 0, tsNsec: 0, dataOff: 0, caplen: 0, origLen: 0, linkType: 0, interfaceId: 0, frame: 0 };
}

export interface RecordParser {
  /**
   * Parse blocks from `buf[off…end)` up to and including the next packet
   * record, filling `rec` (`rec.found`). `at` is the absolute file offset of
   * `buf[off]` (for error messages). Returns how many bytes were consumed;
   * without a packet it stopped at an incomplete record (then `need` tells how
   * many bytes that record needs) or at damage (then `error` is set).
   */
  next(buf: Buffer, off: number, end: number, at: number, rec: RecordInfo): number;
  /** Every complete packet record from `buf[off…]` into `out`; bytes consumed (stop rules as `next`). */
  parse(buf: Buffer, off: number, at: number, out: ColumnBatch): number;
  /** Bytes the record at the stop point needs before parsing can make progress. */
  readonly need: number;
  /** Set when the data is damaged; no further parsing happens. */
  readonly error: InputError | undefined;
  /** The error to report when the input ends with unparsed bytes at offset `at`. */
  endError(at: number): InputError;
  readonly interfaces: CaptureInterface[];
}

/** `parse` in terms of `next`: one row of `out` per record, its bytes left in `buf`. */
export function parseAll(parser: RecordParser, buf: Buffer, off: number, at: number, out: ColumnBatch, rec: RecordInfo): number {
  const start = off;
  const end = buf.length;
  for (;;) {
    off += parser.next(buf, off, end, at + (off - start), rec);
    if (!rec.found) break;
    out.add(buf, rec.tsSec, rec.tsNsec, rec.linkType, rec.dataOff, rec.caplen, rec.origLen, rec.interfaceId, rec.frame);
  }
  return off - start;
}

/** Records longer than this are damage, not data (Wireshark's WTAP_MAX_PACKET_SIZE_STANDARD). */
export const MAX_PACKET_BYTES = 262144;
