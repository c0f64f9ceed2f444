// Gzip-compressed inputs (`capture.pcap.gz`, `entries.ndjson.gz`), read as
// tshark and Wireshark read them: decompressed as a stream, so memory stays
// flat however far the data expands. Byte offsets in later messages count
// the decompressed stream. Damage in the compressed data (a file cut short,
// a bad checksum) is bad input, said once with the file's name, after every
// entry decoded before it.

import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { InputError } from '../cli/errors.js';

/** Whether `head` opens a gzip member (RFC 1952: 1f 8b, then deflate). */
export function isGzip(head: Buffer): boolean {
  return head.length >= 3 && head[0] === 0x1f && head[1] === 0x8b && head[2] === 8;
}

/** The decompressed bytes of `head` followed by `rest`, as a stream (concatenated members too). */
export function gunzipped(head: Buffer, rest: AsyncIterator<Buffer>, name: string): Readable {
  return Readable.from(decompress(head, rest, name), { objectMode: false });
}

async function* decompress(head: Buffer, rest: AsyncIterator<Buffer>, name: string): AsyncGenerator<Buffer> {
  const gunzip = createGunzip();
  const compressed = Readable.from(chain(head, rest), { objectMode: false });
  compressed.on('error', (err) => gunzip.destroy(err));
  compressed.pipe(gunzip);
  try {
    for await (const chunk of gunzip) yield chunk as Buffer;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    // zlib's own codes (Z_DATA_ERROR, Z_BUF_ERROR…): the data, not shark, is at fault.
    if (typeof e.code === 'string' && e.code.startsWith('Z_')) throw new InputError(name, '', `damaged gzip data (${e.message})`);
    throw err;
  } finally {
    compressed.destroy();
    gunzip.destroy();
  }
}

async function* chain(head: Buffer, rest: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  yield head;
  for (;;) {
    const r = await rest.next();
    if (r.done) return;
    yield r.value;
  }
}
