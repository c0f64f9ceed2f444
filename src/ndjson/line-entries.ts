// NDJSON bytes to entries cut to a consumer's fields (`stats`, `map`):
// lines split as bytes (line-spans.ts), each projected by the byte scanner
// (project.ts); a line the scanner declines is parsed in full by
// parseEntryLine, so bad lines are reported exactly as by readNdjson. One
// reader of an input (read-projected.ts), or a worker thread given blocks of
// its lines, each with the number of its first line (stats on --workers).

import type { Entry } from '../model/entry.js';
import { LineSplitter } from './line-spans.js';
import { makeProjector, type FieldSpec } from './project.js';
import { badLine, checkedEntry, isBlank, MAX_LINE_BYTES, parseEntryLine, type NdjsonReadOptions } from './read.js';
import { bytesHoldMoreValues, MAX_JSON_VALUES } from './value-count.js';

export class LineEntries {
  private readonly splitter: LineSplitter;
  /** The number of the line being read (for a caller told of a bad one). */
  line = 0;

  constructor(source: string, spec: FieldSpec, onEntry: (e: Entry) => void, opts: NdjsonReadOptions = {}) {
    const project = makeProjector(spec);
    const maxLine = opts.maxLineBytes ?? MAX_LINE_BYTES;
    const maxValues = opts.maxLineValues ?? MAX_JSON_VALUES;
    this.splitter = new LineSplitter(
      (buf, start, end, lineNo) => {
        this.line = lineNo;
        // The line `filter` and `merge` refuse unparsed (read.ts) is refused here too, though projecting it would
        // be cheap: every reader of one file counts the same entries (`stats` said 3 where `filter` kept 2).
        if (bytesHoldMoreValues(buf, start, end, maxValues)) return badLine(source, lineNo, `more than ${maxValues} JSON values in one line`, opts);
        const projected = project(buf, start, end);
        // The projected fields are type-checked as a whole line would be (entry-shape.ts).
        const e = projected ? checkedEntry(projected, source, lineNo, opts) : parseEntryLine({ text: buf.toString('utf8', start, end), lineNo }, source, opts);
        if (e) onEntry(e as Entry);
      },
      (lineNo) => {
        this.line = lineNo;
        badLine(source, lineNo, `line longer than ${maxLine} bytes`, opts);
      },
      isBlank,
      maxLine,
    );
  }

  feed(chunk: Buffer): void {
    this.splitter.feed(chunk);
  }

  /** The next line fed is line `n` of the input (a block of whole lines from further on in it). */
  startAt(n: number): void {
    this.splitter.startAt(n);
  }

  /** End of input: the last line if it had no newline. */
  end(): void {
    this.splitter.end();
  }
}
