// A progress line on stderr while long inputs are read — only when stderr is
// a terminal, so pipelines and logs never see spinner noise.

import { statSync, type ReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { Ora } from 'ora';

export interface ProgressSource {
  name: string;
  stream: Readable;
}

export class InputProgress {
  private spinner: Ora | undefined;
  private timer: NodeJS.Timeout | undefined;
  private current: { name: string; stream: Readable; size: number } | undefined;
  private stopped = false;
  private readonly enabled: boolean;

  constructor(
    private readonly counts: () => string,
    enabled = Boolean(process.stderr.isTTY) && (process.stderr.columns ?? 0) > 0,
  ) {
    this.enabled = enabled;
    if (!enabled) return;
    // Loaded only for a terminal: importing ora costs ~0.1 s of every start.
    void import('ora').then(({ default: ora }) => {
      if (this.stopped) return;
      this.spinner = ora({ stream: process.stderr, text: 'reading…' }).start();
      this.timer = setInterval(() => this.render(), 250);
      this.timer.unref();
    });
  }

  /** A new input was opened (size known for files, not for stdin). */
  opened(name: string, stream: Readable): void {
    if (!this.enabled || this.stopped) return;
    let size = 0;
    try {
      if (name !== '<stdin>') size = statSync(name).size;
    } catch {
      size = 0;
    }
    this.current = { name, stream, size };
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.spinner?.stop();
    this.spinner = undefined;
  }

  private render(): void {
    if (!this.spinner || !this.current) return;
    const read = (this.current.stream as ReadStream).bytesRead ?? 0;
    const pct = this.current.size > 0 ? ` ${Math.min(100, Math.floor((100 * read) / this.current.size))}%` : '';
    this.spinner.text = `${this.current.name}${pct} · ${this.counts()}`;
  }
}
