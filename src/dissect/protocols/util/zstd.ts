// zstd decompression for the dissectors (Kafka record batches, MongoDB and
// MySQL compression, HTTP `Content-Encoding: zstd`) and the redactor: node:zlib's
// where Node.js has it (22.15 and later), else the bounded TypeScript decoder
// beside this file (Node 20 has none). Either way `maxOutputLength` bounds what
// one call may produce, and bad data throws.
import * as zlib from 'node:zlib';
import { ZstdOverflow, zstdDecompress } from './zstd-decoder.js';

type Decompress = (data: Buffer, options: { maxOutputLength: number }) => Buffer;

/** A zstd frame's first four bytes, read little-endian. */
export const ZSTD_MAGIC = 0xfd2fb528;

const native = (zlib as unknown as { zstdDecompressSync?: Decompress }).zstdDecompressSync;

export const zstdDecompressSync: Decompress = native ?? ((data, options) => zstdDecompress(data, options.maxOutputLength));

/**
 * What a zstd stream cut short decodes to, up to where it was cut (the blocks before it), at most
 * `maxOutput` bytes: for bodies cut at --max-body, as zlib's sync flush serves gzip. Bad data throws.
 * Always shark's decoder: node:zlib has no such mode for zstd.
 */
export function zstdDecompressPartial(data: Buffer, maxOutput: number): Buffer {
  return zstdDecompress(data, maxOutput, { partial: true });
}

/** Whether a decompressor threw because the output would pass its maxOutputLength (not because the data is bad). */
export function isOverflow(err: unknown): boolean {
  if (err instanceof ZstdOverflow) return true;
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ERR_BUFFER_TOO_LARGE';
}
