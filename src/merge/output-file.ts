// merge's -w file. Writing straight into it truncated it before any input was read, so
// `shark merge a.pcap b.pcap -w a.pcap` destroyed a.pcap while reading it (12,731 packets became
// 532 and exit 3), and a refused run (`-F pcap` of inputs with different link types, exit 2) left
// an existing file empty. So a regular file (or a new one) is written under a temporary name beside
// it and renamed over it once the merge is done: the old file stays whole until then, and a run
// refused before its end leaves it as it was. A FIFO, a device (`/dev/null`) or a terminal is
// written in place: renaming over one would replace it.

import { createWriteStream, statSync, renameSync, rmSync, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { basename, dirname, join } from 'node:path';

export class OutputFile {
  private constructor(
    readonly stream: WriteStream,
    /** The temporary name the bytes go to, or undefined when written in place. */
    private readonly temp: string | undefined,
    private readonly path: string,
  ) {}

  /** Open `path` for writing (throws the open's error, e.g. ENOENT for a missing folder). */
  static async open(path: string): Promise<OutputFile> {
    const temp = inPlace(path) ? undefined : join(dirname(path), `.${basename(path)}.${process.pid}.partial`);
    const stream = createWriteStream(temp ?? path);
    await once(stream, 'open');
    return new OutputFile(stream, temp, path);
  }

  /** The merge is over (its bytes flushed): the file takes its name. */
  commit(): void {
    if (this.temp !== undefined) renameSync(this.temp, this.path);
  }

  /** The run was refused: what was written goes, an earlier file of that name stays. */
  discard(): void {
    if (this.temp !== undefined) rmSync(this.temp, { force: true });
  }
}

/** Not a regular file (a FIFO, a device), so written where it is; a missing path is a new regular file. */
function inPlace(path: string): boolean {
  try {
    return !statSync(path).isFile();
  } catch {
    return false;
  }
}
