// NDJSON lines as byte ranges of the chunks they arrive in, for readers that
// look at a few fields of each line without decoding it (see json-project.ts).
// Numbering, CR stripping, blank lines and the length limit are exactly
// readRawLines' (ndjson.ts), so both layers report the same line numbers.
// Only a line cut by a chunk boundary is copied; the rest are never decoded.

/** Told about each non-blank line: bytes buf[start, end) (no newline, no trailing CR) and its 1-based number. */
export type OnSpan = (buf: Buffer, start: number, end: number, lineNo: number) => void;

const NEWLINE = 0x0a;
const CR = 0x0d;

export class LineSplitter {
  private lineNo = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private oversized = false;

  /**
   * @param maxLine longest line accepted (bytes), as readRawLines' maxLineBytes
   * @param isBlank decides on a line that does not start with '{' (given its text)
   * @param tooLong told the number of a line over maxLine
   */
  constructor(
    private readonly onSpan: OnSpan,
    private readonly tooLong: (lineNo: number) => void,
    private readonly isBlank: (text: string) => boolean,
    private readonly maxLine = 64 * 1024 * 1024,
  ) {}

  feed(chunk: Buffer): void {
    const last = chunk.lastIndexOf(NEWLINE);
    if (last < 0) {
      // No line ends here: keep the bytes (or only count them once the line is too long).
      if (!this.oversized) {
        this.pendingBytes += chunk.length;
        if (this.pendingBytes > this.maxLine) {
          this.oversized = true;
          this.pending = [];
          this.pendingBytes = 0;
        } else this.pending.push(Buffer.from(chunk));
      }
      return;
    }
    let start = 0;
    const first = chunk.indexOf(NEWLINE);
    if (this.oversized) {
      this.lineNo++;
      this.oversized = false;
      this.tooLong(this.lineNo);
      start = first + 1;
    } else if (this.pending.length > 0) {
      this.pending.push(chunk.subarray(0, first));
      const joined = Buffer.concat(this.pending);
      this.pending = [];
      this.pendingBytes = 0;
      this.line(joined, 0, joined.length);
      start = first + 1;
    }
    while (start <= last) {
      const nl = chunk.indexOf(NEWLINE, start);
      this.line(chunk, start, nl);
      start = nl + 1;
    }
    if (last + 1 < chunk.length) {
      const rest = chunk.subarray(last + 1);
      this.pendingBytes = rest.length;
      if (this.pendingBytes > this.maxLine) {
        this.oversized = true;
        this.pendingBytes = 0;
      } else this.pending.push(Buffer.from(rest));
    }
  }

  /**
   * The next line is line `n`: a block of whole lines from further on in the
   * input (a worker's share). Only between lines: a line cut short is an error.
   */
  startAt(n: number): void {
    if (this.pending.length > 0 || this.oversized) throw new Error('LineSplitter: startAt in the middle of a line');
    this.lineNo = n - 1;
  }

  /** End of input: the last line if it had no newline. */
  end(): void {
    if (this.oversized) {
      this.lineNo++;
      this.tooLong(this.lineNo);
    } else if (this.pending.length > 0) {
      const joined = Buffer.concat(this.pending);
      this.pending = [];
      this.line(joined, 0, joined.length);
    }
  }

  private line(buf: Buffer, start: number, end: number): void {
    const lineNo = ++this.lineNo;
    if (end > start && buf[end - 1] === CR) end--;
    if (end === start) return;
    // Entries start with '{'; anything else may be blank (trim()'s idea of blank, as readRawLines).
    if (buf[start] !== 0x7b && this.isBlank(buf.toString('utf8', start, end))) return;
    // UTF-8 text is never longer (in UTF-16 units) than its bytes: only long byte runs need the exact check.
    if (end - start > this.maxLine) {
      const text = buf.toString('utf8', start, end);
      if (text.length > this.maxLine && Buffer.byteLength(text, 'utf8') > this.maxLine) return this.tooLong(lineNo);
    }
    this.onSpan(buf, start, end, lineNo);
  }
}
