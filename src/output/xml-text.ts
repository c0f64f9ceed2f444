// Text and attribute values of the JUnit XML that `stats --junit` and
// `diff --format junit` write. Names in it (services, paths, rule details)
// come from the traffic, and the report is read on CI pages and `cat` in CI
// logs: every character a terminal could obey or that reorders the text (C0
// and C1 controls, bidi overrides, zero-width characters, noncharacters) is
// shown as an escape (`\x1b`, `\u202e`), as in every text format. XML 1.0
// cannot carry most C0 controls even as character references; they were
// dropped, so `GET /c\x1b[2J/z` was reported as `GET /c[2J/z`, and a
// U+202E turned the name around on the CI page.

import { escapeKeepingLines } from './formats/terminal-text.js';

/** Element text: unsafe characters escaped, line breaks kept, markup characters as entities. */
export function xmlText(s: string): string {
  return escapeKeepingLines(s).join('\n').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A double-quoted attribute's value: as xmlText, with quotes and line breaks as references. */
export function xmlAttr(s: string): string {
  return xmlText(s).replace(/"/g, '&quot;').replace(/\n/g, '&#10;');
}
