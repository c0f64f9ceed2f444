// A document streamed to a file (`-o`) or to stdout, with backpressure. A
// write that fails (disk full, a device that takes nothing) is one line and
// exit 6, as every command says it, not an exception from a stream; stdout's
// reader going away (`| head`) ends the writing quietly (`onClosed`).

import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { ExitCode, UserError, errnoText, isEpipe } from '../cli/errors.js';

export class TextOut {
  private failure: NodeJS.ErrnoException | undefined;
  private closed = false;

  private constructor(
    private readonly out: Writable,
    /** The file written, or undefined for stdout. */
    private readonly path: string | undefined,
    onClosed: () => void,
  ) {
    out.on('error', (err: NodeJS.ErrnoException) => {
      if (!path && isEpipe(err)) {
        this.closed = true;
        onClosed();
      } else this.failure ??= err;
    });
  }

  /** Open `path` for writing (created or truncated), or stdout without one. */
  static async open(path: string | undefined, onClosed: () => void): Promise<TextOut> {
    if (path === undefined) return new TextOut(process.stdout, undefined, onClosed);
    const file = createWriteStream(path);
    const out = new TextOut(file, path, onClosed);
    await once(file, 'open').catch((err: NodeJS.ErrnoException) => {
      throw new UserError(`${path}: cannot write (${errnoText(err.code)})`, ExitCode.OUTPUT);
    });
    return out;
  }

  /** Write `text`; resolves when the stream can take more. */
  async write(text: string): Promise<void> {
    this.check();
    if (this.closed) return;
    if (!this.out.write(text)) await this.settled('drain');
    this.check();
  }

  /** All of it written: a file is closed, and a failure that came late is thrown. */
  async end(): Promise<void> {
    this.check();
    if (this.path !== undefined) {
      this.out.end();
      await this.settled('finish');
    }
    this.check();
  }

  /** Resolve on `event`, or when the stream failed or closed (events.once would wait for ever on a destroyed stream). */
  private settled(event: 'drain' | 'finish'): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.out.off(event, done);
        this.out.off('error', done);
        this.out.off('close', done);
        resolve();
      };
      this.out.on(event, done);
      this.out.on('error', done);
      this.out.on('close', done);
    });
  }

  private check(): void {
    const f = this.failure;
    if (!f) return;
    // Stdout's failure reads as CommandRuntime says it for every other command.
    throw new UserError(this.path !== undefined ? `${this.path}: cannot write (${errnoText(f.code)})` : `cannot write output: ${f.message}`, ExitCode.OUTPUT);
  }
}
