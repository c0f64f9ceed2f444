// A numbered series of files (`nightly-00001.pcap`, `nightly-00002.pcap` …)
// that moves to the next file by size or by time. Time is the data's own
// (packet or entry timestamps), never the wall clock, so rotation is
// reproducible and testable. Records are buffered and written as whole units,
// so a file only ever ends at a record boundary.

import { join } from 'node:path';
import { SafeFile, type FinishedFile } from './safe-file.js';

export interface RotationOptions {
  /** Start a new file before one would grow past this many bytes. */
  rotateBytes?: number;
  /** Start a new file when a record is this many ms later than the file's first record. */
  rotateEveryMs?: number;
}

export interface SeriesOptions extends RotationOptions {
  dir: string;
  /** File names are `<base>-<NNNNN>.<extension>`. */
  base: string;
  extension: string;
  /** Bytes every file starts with (pcap header, empty gzip member …). */
  header?: () => Buffer;
  /** Buffered bytes that force a write. */
  flushBytes?: number;
  /** Turns a run of whole records into the bytes written (gzip: one member per run). */
  encodeUnit?: (records: Buffer) => Buffer;
}

export interface SeriesFile extends FinishedFile {
  /** Records (packets or entries) in the file. */
  count: number;
  /** ms timestamps of the first and last record, when known. */
  firstTime?: number;
  lastTime?: number;
}

export class FileSeries {
  readonly files: SeriesFile[] = [];
  private current: SafeFile | undefined;
  private index = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private count = 0;
  /** Records of `count` that reached the file (the rest are buffered). */
  private written = 0;
  private firstTime: number | undefined;
  private lastTime: number | undefined;
  private lastFlush = 0;

  constructor(private readonly opts: SeriesOptions) {}

  get currentPath(): string | undefined {
    return this.current?.path;
  }

  /** Files finished plus the one being written. */
  get fileIndex(): number {
    return this.index;
  }

  /** Add one record; `time` is its ms timestamp (when it has one). */
  add(record: Buffer, time?: number): void {
    if (this.current && this.count > 0 && this.shouldRotate(record.length, time)) this.rotate();
    if (!this.current) this.open();
    this.pending.push(record);
    this.pendingBytes += record.length;
    this.count++;
    if (time !== undefined) {
      this.firstTime ??= time;
      this.lastTime = time;
    }
    if (this.pendingBytes >= (this.opts.flushBytes ?? 1 << 20)) this.flush();
  }

  private shouldRotate(nextBytes: number, time: number | undefined): boolean {
    const { rotateBytes, rotateEveryMs } = this.opts;
    const size = (this.current?.bytes ?? 0) + this.pendingBytes;
    if (rotateBytes !== undefined && size + nextBytes > rotateBytes) return true;
    if (rotateEveryMs !== undefined && time !== undefined && this.firstTime !== undefined) {
      if (time - this.firstTime >= rotateEveryMs) return true;
    }
    return false;
  }

  private open(): void {
    if (this.current) return;
    this.index++;
    const name = `${this.opts.base}-${String(this.index).padStart(5, '0')}.${this.opts.extension}`;
    this.current = new SafeFile(join(this.opts.dir, name));
    this.count = 0;
    this.written = 0;
    this.firstTime = undefined;
    this.lastTime = undefined;
    const header = this.opts.header?.();
    if (header && header.length > 0) this.current.write(header);
  }

  /** Write what is buffered when it is big or old enough (bounds what a killed run loses). */
  flushIfDue(nowMs: number, maxAgeMs = 1000, minBytes = 256 * 1024): void {
    if (this.pendingBytes === 0) return;
    if (this.pendingBytes >= minBytes || nowMs - this.lastFlush >= maxAgeMs) this.flush();
  }

  /** Write buffered records as one unit (whole records or nothing). */
  flush(): void {
    if (!this.current || this.pendingBytes === 0) return;
    const raw = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingBytes);
    const unit = this.opts.encodeUnit ? this.opts.encodeUnit(raw) : raw;
    const records = this.pending.length;
    this.pending = [];
    this.pendingBytes = 0;
    this.lastFlush = Date.now();
    this.current.write(unit);
    this.written += records;
  }

  /** Finish the current file (if any) and move on. */
  rotate(): void {
    if (!this.current) return;
    this.flush();
    this.finishCurrent();
  }

  /** Finish everything (the end of a recording). */
  close(): SeriesFile[] {
    if (this.current) {
      this.flush();
      this.finishCurrent();
    }
    return this.files;
  }

  /**
   * After a write failed (disk full): keep what reached the disk whole.
   * SafeFile already cut the file back to its last whole unit; records of the
   * failed unit are dropped from the counts.
   */
  salvage(): SeriesFile[] {
    if (this.current) {
      this.pending = [];
      this.pendingBytes = 0;
      if (this.written === 0) {
        this.current.discard();
        this.current = undefined;
        return this.files;
      }
      try {
        this.finishCurrent(true);
      } catch {
        this.current?.discard();
        this.current = undefined;
      }
    }
    return this.files;
  }

  private finishCurrent(afterFailure = false): void {
    const file = this.current!;
    this.current = undefined;
    const done = file.finish();
    const entry: SeriesFile = { ...done, count: this.written };
    if (!afterFailure) {
      if (this.firstTime !== undefined) entry.firstTime = this.firstTime;
      if (this.lastTime !== undefined) entry.lastTime = this.lastTime;
    }
    this.files.push(entry);
  }
}
