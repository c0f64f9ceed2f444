// The contract between the chunk framer (reader.ts) and a file format's
// parser: the parser is handed bytes that start at a record boundary and
// parses every complete record it finds; the framer keeps the incomplete tail
// and calls again once `need` bytes are available from there.

import type { InputError } from '../../cli/errors.js';
import type { CaptureInterface, Packet } from '../../model/packet.js';

export interface RecordParser {
  /**
   * Parse complete records from `buf[off…]` into `out`. `at` is the absolute
   * file offset of `buf[off]` (for error messages). Returns how many bytes were
   * consumed; stops at the first incomplete record (then `need` tells how many
   * bytes that record needs) or at damage (then `error` is set).
   */
  parse(buf: Buffer, off: number, at: number, out: Packet[]): number;
  /** Bytes the record at the stop point needs before parse can make progress. */
  readonly need: number;
  /** Set when the data is damaged; no further parsing happens. */
  readonly error: InputError | undefined;
  /** The error to report when the input ends with `pending` unparsed bytes at offset `at`. */
  endError(at: number): InputError;
  readonly interfaces: CaptureInterface[];
}

/** Records longer than this are damage, not data (Wireshark's WTAP_MAX_PACKET_SIZE_STANDARD). */
export const MAX_PACKET_BYTES = 262144;
