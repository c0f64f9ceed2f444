// A file that is either complete under its final name or not there at all:
// bytes go to "<name>.partial", and finish() fsyncs, renames and fsyncs the
// folder. The sha256 is computed while writing, so the manifest never needs
// to read a file back. After a failed write (disk full) the file is cut back
// to the last whole record written, so what is kept is still well formed.

import { createHash, type Hash } from 'node:crypto';
import { closeSync, fsyncSync, ftruncateSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname } from 'node:path';

export const PARTIAL_SUFFIX = '.partial';

export interface FinishedFile {
  /** File name within its folder. */
  name: string;
  bytes: number;
  sha256: string;
}

export class SafeFile {
  readonly tempPath: string;
  private fd: number;
  private hash: Hash = createHash('sha256');
  /** Bytes known to be written whole. */
  bytes = 0;

  constructor(readonly path: string) {
    this.tempPath = path + PARTIAL_SUFFIX;
    this.fd = openSync(this.tempPath, 'w', 0o644);
  }

  /**
   * Write one unit (a header, a run of whole records) fully or not at all:
   * on failure the file is truncated back and the error rethrown.
   */
  write(data: Buffer): void {
    let done = 0;
    try {
      while (done < data.length) done += writeSync(this.fd, data, done, data.length - done);
    } catch (err) {
      try {
        ftruncateSync(this.fd, this.bytes);
      } catch {
        // the write error is the one to report
      }
      throw err;
    }
    this.hash.update(data);
    this.bytes += data.length;
  }

  /** fsync, close, rename to the final name, fsync the folder. */
  finish(): FinishedFile {
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = -1;
    renameSync(this.tempPath, this.path);
    syncDir(dirname(this.path));
    return { name: basename(this.path), bytes: this.bytes, sha256: this.hash.digest('hex') };
  }

  /** Throw the partial file away. */
  discard(): void {
    if (this.fd >= 0) {
      try {
        closeSync(this.fd);
      } catch {
        // closing is best effort here
      }
      this.fd = -1;
    }
    try {
      unlinkSync(this.tempPath);
    } catch {
      // already gone
    }
  }
}

/** Make a rename in `dir` durable. */
export function syncDir(dir: string): void {
  let fd = -1;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // some filesystems refuse fsync on a directory; the rename still happened
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/** Write a whole small file atomically (manifest, marker). */
export function writeFileAtomic(path: string, content: string | Buffer): FinishedFile {
  const f = new SafeFile(path);
  try {
    f.write(typeof content === 'string' ? Buffer.from(content) : content);
    return f.finish();
  } catch (err) {
    f.discard();
    throw err;
  }
}

