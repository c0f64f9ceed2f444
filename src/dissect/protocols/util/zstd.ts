// zstd from node:zlib where Node.js has it (22.15 and later). Node 20 has none:
// callers then say that what is zstd-compressed is not shown.
import * as zlib from 'node:zlib';

type Decompress = (data: Buffer, options: { maxOutputLength: number }) => Buffer;

export const zstdDecompressSync: Decompress | undefined = (zlib as unknown as { zstdDecompressSync?: Decompress }).zstdDecompressSync;
