// One NDJSON line through a KFL filter, as `shark filter` decides it: on the
// projected fields first (cheap), and only a line not left out by them is
// parsed in full, so a damaged line that would be kept (or counted) is
// reported, never passed on, and one whose projected fields have the wrong
// types is parsed too (entry-shape.ts). The one thread's loop (run.ts) and a
// worker's share of a file (parallel/worker.ts) both use it, so their
// decisions, output lines and warnings are the same.

import type { Entry } from '../model/entry.js';
import type { Redactor } from '../redact/entry.js';
import { entryShapeProblem } from '../ndjson/entry-shape.js';
import { binaryToText, parseEntryLine, type NdjsonReadOptions, type RawLine } from '../ndjson/read.js';
import { repeatsKeys } from '../ndjson/repeated-keys.js';
import { entryJson } from '../ndjson/stringify.js';
import { lineTeachesRedaction, teachesRedaction } from '../redact/teaching.js';

export class LineMatcher {
  /** Lines read as entries (bad lines not counted). */
  read = 0;

  constructor(
    private readonly predicate: (e: Entry) => boolean,
    /** Reads the predicate's fields from a line (binary text when lines are read so); undefined: parse it. */
    private readonly project: ((line: string) => Entry | undefined) | undefined,
    private readonly invert: boolean,
    private readonly redactor: Redactor,
    /** Redaction is on: a line holding what its entry does not (a key given twice) is written as its entry. */
    private readonly redacting: boolean,
  ) {}

  /**
   * The line to write if `l` is kept: the original text when redaction
   * changed nothing (and saw all of it), else the redacted entry; '' when kept and `count` only
   * (nothing to write); undefined when left out or bad (reported through
   * `readOpts`). `binary`: `l.text` is the line's bytes as a latin1 string.
   */
  match(l: RawLine, binary: boolean, source: string, readOpts: NdjsonReadOptions, count: boolean): string | undefined {
    if (this.project) {
      const p = this.project(l.text);
      if (p !== undefined && entryShapeProblem(p) === undefined && this.predicate(p) === this.invert) {
        this.read++;
        if (this.redacting) teachFromLine(l.text, binary, this.redactor);
        return undefined;
      }
    }
    const line = binary ? { text: binaryToText(l.text), lineNo: l.lineNo } : l;
    const entry = parseEntryLine(line, source, readOpts);
    if (!entry) return undefined;
    this.read++;
    if (this.predicate(entry) === this.invert) {
      if (this.redacting && teachesRedaction(entry)) this.redactor(entry);
      return undefined;
    }
    if (count) return '';
    return asWritten(line.text, entry, this.redactor, this.redacting);
  }
}

/**
 * A left-out line that may hold what a later entry's redaction needs (redact/teaching.ts): parsed
 * and shown to the redactor, nothing written. `binary`: the line's bytes as latin1.
 */
export function teachFromLine(text: string, binary: boolean, redactor: Redactor): void {
  if (!lineTeachesRedaction(text)) return;
  let entry: Entry;
  try {
    entry = JSON.parse(binary ? binaryToText(text) : text) as Entry;
  } catch {
    return; // A damaged line left out is not reported (docs/filters.md); it teaches nothing.
  }
  if (entry !== null && typeof entry === 'object' && !Array.isArray(entry) && entryShapeProblem(entry) === undefined && teachesRedaction(entry)) redactor(entry);
}

/**
 * What to write for a kept entry read from `text`: the line as it came when
 * redaction changes nothing, else the redacted entry. With redaction on, a
 * line that holds more than its entry (a key given twice: JSON.parse keeps
 * the last copy, and redaction saw only that) is written as its entry.
 */
export function asWritten(text: string, entry: Entry, redactor: Redactor, redacting: boolean): string {
  const out = redactor(entry);
  if (out !== entry) return entryJson(out);
  return redacting && repeatsKeys(text, entry) ? entryJson(entry) : text;
}
