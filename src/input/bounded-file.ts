// A file a flag names (a rules file, a .proto, a key log) read whole, but no
// further than a bound. Its size as stat tells it cannot be trusted: a FIFO
// (`--tls-keylog <(kubectl exec … cat keys)`) and a device (`/dev/zero`) say 0,
// and reading them to their end held memory until it ran out. A regular
// file's size is trusted the other way: one larger than the bound is refused
// before a byte of it is read (a 10 GB file given by mistake was read up to
// the bound, 256 MB for a key log, only to be refused).

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

const CHUNK = 64 * 1024;

/**
 * The file's bytes, or undefined when it holds more than `max` (then nothing was read of a regular
 * file, at most `max` + 64 KB of anything else).
 */
export function readFileBounded(path: string, max: number): Buffer | undefined {
  const fd = openSync(path, 'r');
  try {
    const stat = fstatSync(fd);
    if (stat.isFile() && stat.size > max) return undefined;
    const chunks: Buffer[] = [];
    let n = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(CHUNK);
      const got = readSync(fd, chunk, 0, CHUNK, null);
      if (got === 0) break;
      chunks.push(got === CHUNK ? chunk : chunk.subarray(0, got));
      n += got;
      if (n > max) return undefined;
    }
    return Buffer.concat(chunks, n);
  } finally {
    closeSync(fd);
  }
}
