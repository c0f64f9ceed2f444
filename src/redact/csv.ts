// Secrets in a CSV table, by its header: `user,password` then `app,…` (a
// users export, a credentials sheet, a database dump as CSV). A column whose
// header is a sensitive name has every field redacted; rows whose field
// count differs from the header's (a quoted comma this reader does not
// follow, free text) are left as they are. One walk over the lines: linear.

import type { SensitiveNames } from './names.js';
import { REDACTED, isRedacted } from './redacted.js';
import { isSecretName } from './inline-pairs.js';

/** A header longer than this is not one. */
const MAX_HEADER = 4096;
const MAX_COLUMNS = 256;

/** `s` with the fields of its sensitive columns redacted, when it is a CSV table; `s` itself otherwise. */
export function redactCsvColumns(s: string, names: SensitiveNames): string {
  const headerEnd = s.indexOf('\n');
  if (headerEnd < 0 || headerEnd > MAX_HEADER) return s;
  const comma = s.indexOf(',');
  if (comma < 0 || comma > headerEnd) return s;
  const header = fields(s, 0, lineEnd(s, 0, headerEnd));
  if (!header || header.length < 2 || header.length > MAX_COLUMNS) return s;
  const secret: number[] = [];
  for (let k = 0; k < header.length; k++) {
    const [a, b] = header[k];
    const name = s.slice(a, b).trim();
    if (name.length > 0 && name.length <= 96 && names.test(name, 'field') && isSecretName(name, names)) secret.push(k);
  }
  if (secret.length === 0) return s;
  let out = '';
  let copied = 0;
  for (let start = headerEnd + 1; start < s.length; ) {
    let end = s.indexOf('\n', start);
    if (end < 0) end = s.length;
    const row = fields(s, start, lineEnd(s, start, end));
    if (row && row.length === header.length) {
      for (const k of secret) {
        const [a, b] = row[k];
        if (b <= a || isRedacted(s, a, b)) continue;
        out += s.slice(copied, a) + REDACTED;
        copied = b;
      }
    }
    start = end + 1;
  }
  return copied === 0 ? s : out + s.slice(copied);
}

/** The line's end without its carriage return. */
function lineEnd(s: string, start: number, end: number): number {
  return end > start && s.charCodeAt(end - 1) === 0x0d ? end - 1 : end;
}

/** The fields of s[start, end) (a quoted field: its inside), or undefined past MAX_COLUMNS. */
function fields(s: string, start: number, end: number): [number, number][] | undefined {
  const found: [number, number][] = [];
  let i = start;
  for (;;) {
    if (found.length > MAX_COLUMNS) return undefined;
    if (s.charCodeAt(i) === QUOTE) {
      // A quoted field: to the quote not doubled ("" is a quote inside).
      let j = i + 1;
      while (j < end && !(s.charCodeAt(j) === QUOTE && s.charCodeAt(j + 1) !== QUOTE)) j += s.charCodeAt(j) === QUOTE ? 2 : 1;
      found.push([i + 1, Math.min(j, end)]);
      i = j + 1;
      if (i < end && s.charCodeAt(i) !== COMMA) return undefined; // text after the closing quote: not CSV
    } else {
      let j = i;
      while (j < end && s.charCodeAt(j) !== COMMA) j++;
      found.push([i, j]);
      i = j;
    }
    if (i >= end) return found;
    i++; // the comma
    if (i === end) {
      found.push([end, end]);
      return found;
    }
  }
}

const QUOTE = 0x22;
const COMMA = 0x2c;
