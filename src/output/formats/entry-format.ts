// `-o/--output`: how entries are written. NDJSON is the contract for pipes
// and is written untouched (no formatter at all). The human formats read the
// NDJSON line the writer produced, so every command and every path (one
// thread, workers, agents) gets them at the sink without knowing of them.

import type { Entry } from '../../model/entry.js';
import { compactLine } from './compact.js';
import { detailLines } from './detail.js';
import type { Styles } from './colour.js';

export const OUTPUT_FORMATS = ['ndjson', 'compact', 'wide', 'detail', 'json'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** Turns each NDJSON line into the lines to print; `head`/`tail` frame the whole output. */
export interface LineFormatter {
  head?: () => string | undefined;
  line(ndjson: string): string | string[];
  /** What ends the output (the `]` of a JSON array); given whether any line was written. */
  tail?: (wroteAny: boolean) => string | undefined;
}

export interface FormatOptions {
  styles: Styles;
  columns: number;
}

export function formatterFor(format: OutputFormat, o: FormatOptions): LineFormatter | undefined {
  switch (format) {
    case 'ndjson':
      return undefined;
    case 'json':
      return jsonArray();
    case 'compact':
    case 'wide':
      return entryLines((e) => compactLine(e, { styles: o.styles, columns: o.columns, wide: format === 'wide' }));
    case 'detail':
      // Calls in full: only the line of facts is fitted to the terminal.
      return entryLines((e) => detailLines(e, { styles: o.styles, columns: 0, factsWidth: o.columns }));
  }
}

/** Lines that are not entries (a `--count` total) pass through as they are. */
function entryLines(render: (e: Entry) => string | string[]): LineFormatter {
  return {
    line(ndjson) {
      if (!ndjson.startsWith('{')) return ndjson;
      let e: Entry;
      try {
        e = JSON.parse(ndjson) as Entry;
      } catch {
        return ndjson;
      }
      return typeof e === 'object' && e !== null ? render(e) : ndjson;
    },
  };
}

/** One JSON document: `[` entry `,` entry … `]`, entries as they are (already redacted). */
function jsonArray(): LineFormatter {
  let first = true;
  return {
    line(ndjson) {
      const prefix = first ? '[' : ',';
      first = false;
      return prefix + ndjson;
    },
    tail: (wroteAny) => (wroteAny ? ']' : '[]'),
  };
}
