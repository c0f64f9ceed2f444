// Writes text to stdout (or an injected stream) in batches, honours
// backpressure, and turns EPIPE (`| head`) into a quiet "done" signal instead
// of an error: callers abort their pipeline when `closed` fires.

import type { Writable } from 'node:stream';
import { ExitCode, UserError, isEpipe } from '../cli/errors.js';

export interface LineSinkOptions {
  /** Flush when this many characters are buffered. */
  batchChars?: number;
  /** Called once when the reader went away (EPIPE) so producers can stop. */
  onClosed?: () => void;
}

export class LineSink {
  private buf: string[] = [];
  private bufChars = 0;
  private readonly batchChars: number;
  closed = false;
  private failure: NodeJS.ErrnoException | undefined;

  constructor(
    private readonly out: Writable = process.stdout,
    private readonly opts: LineSinkOptions = {},
  ) {
    this.batchChars = opts.batchChars ?? 64 * 1024;
    out.on('error', (err) => {
      if (isEpipe(err)) this.markClosed();
      else {
        // Disk full, permission…: stop writing, and fail the next flush with one line.
        this.failure = err as NodeJS.ErrnoException;
        this.markClosed();
      }
    });
  }

  /** Queue one line (without its newline). Returns a promise only when the caller must wait. */
  write(line: string): Promise<void> | undefined {
    if (this.closed) return undefined;
    this.buf.push(line);
    this.bufChars += line.length + 1;
    if (this.bufChars >= this.batchChars) return this.flush();
    return undefined;
  }

  /** Write what is queued; resolves when the stream can take more. */
  async flush(): Promise<void> {
    if (this.failure) {
      const f = this.failure;
      throw new UserError(`cannot write output: ${f.message}`, ExitCode.OUTPUT);
    }
    if (this.closed || this.buf.length === 0) return;
    const text = this.buf.join('\n') + '\n';
    this.buf = [];
    this.bufChars = 0;
    let ok: boolean;
    try {
      ok = this.out.write(text);
    } catch (err) {
      if (isEpipe(err)) {
        this.markClosed();
        return;
      }
      throw err;
    }
    if (!ok && !this.closed) await this.drained();
    if (this.failure) await this.flush();
  }

  /** Resolve on 'drain' or 'close', removing both listeners (events.once would leak one per wait). */
  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.out.off('drain', done);
        this.out.off('close', done);
        resolve();
      };
      this.out.on('drain', done);
      this.out.on('close', done);
    });
  }

  private markClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.buf = [];
    this.opts.onClosed?.();
  }
}
