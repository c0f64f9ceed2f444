// Renders rows of named columns as a terminal table (box-drawn), CSV
// (RFC 4180) or a Markdown table. JSON is left to callers: they know which
// raw numbers belong in it. Cells are already strings here.

import { formatSize } from '../cli/units.js';
import { cutMiddle, escapeForTerminal } from './formats/terminal-text.js';

export type TextFormat = 'table' | 'csv' | 'markdown';

export interface Column {
  title: string;
  align?: 'left' | 'right';
  /**
   * On a terminal too narrow for the whole table, columns with a `drop`
   * rank are left out, highest rank first, until it fits; columns without
   * one are always shown. CSV and Markdown always have every column.
   */
  drop?: number;
  /**
   * On a terminal too narrow even once the `drop` columns are gone and the
   * names are cut to 16 columns (a 60- or 40-column pane), columns with a
   * `dropLast` rank go too, highest first, before names are cut shorter.
   */
  dropLast?: number;
  /**
   * On a terminal too narrow even once names are cut to 7 columns (a 40-column
   * pane), columns with a `dropFinal` rank go too, highest first: a table
   * wider than the terminal wraps every row, which is worse than one number fewer.
   */
  dropFinal?: number;
  /** On a terminal still too narrow once columns were dropped, this text column's cells are cut in their middle (…), to 16 columns, and to 7 as a last resort. */
  shrink?: boolean;
  /**
   * On a terminal still too narrow once the steps above are done, this
   * column's cells are wrapped onto more lines (at spaces, a longer word
   * broken), the widest such column first, down to 12 columns: for text
   * whose every part counts (a diff's detail), where a cut would lose it.
   */
  wrap?: boolean;
}

const MIN_SHRUNK = 16;
/** The least a name is cut to when nothing else is left to give ("198…:80": a 40-column pane still shows entries, error %, p95). */
const LAST_SHRUNK = 7;
/** The narrowest a wrapped column gets: a dozen columns still hold a word or two a line. */
const MIN_WRAPPED = 12;

export interface RenderRowsOptions {
  /** The terminal's width: a box table wider than this loses its droppable columns (0 = no limit). */
  width?: number;
  /** Told how many cells were cut at MAX_CELL_CHARS (table and Markdown), when any were: the caller says so on stderr. */
  onCut?: (cells: number) => void;
  /**
   * Written to a terminal: CSV cells are escaped for it (`\x1b`, `\u202e`), so a
   * capture cannot drive the reader's terminal; into a pipe or file they stay as they are.
   */
  terminal?: boolean;
}

/**
 * The most characters of one cell a box or Markdown table shows; a longer one is cut (…). A name
 * from an entry file can be 20 MB: its box table was 220 MB of rules, 700 MB of memory, and the
 * fitting to a terminal narrowed it a column at a time. CSV, for programs, keeps every cell whole.
 */
export const MAX_CELL_CHARS = 1024;

/** What catalog and diff say on stderr when their table cut cells (their JSON keeps them whole). */
export function cutCellsNote(cells: number): string {
  return `${cells} table cell${cells === 1 ? '' : 's'} longer than ${MAX_CELL_CHARS} characters cut (…); --format json keeps them whole`;
}

/** `rows` with every cell over MAX_CELL_CHARS cut (…, never inside a surrogate pair), and how many were. */
function cutCells(rows: string[][]): { rows: string[][]; cut: number } {
  let cut = 0;
  const out = rows.map((r) => {
    if (!r.some((c) => c.length > MAX_CELL_CHARS)) return r;
    return r.map((c) => {
      if (c.length <= MAX_CELL_CHARS) return c;
      cut++;
      let end = MAX_CELL_CHARS - 1;
      const code = c.charCodeAt(end - 1);
      if (code >= 0xd800 && code <= 0xdbff) end--;
      return `${c.slice(0, end)}…`;
    });
  });
  return { rows: out, cut };
}

export function renderRows(columns: Column[], rows: string[][], format: TextFormat, opts: RenderRowsOptions = {}): string {
  if (format === 'csv') {
    // On a terminal a person reads the CSV: traffic's control characters are shown escaped, as in the box table.
    const cell = opts.terminal ? (v: string) => csvCell(escapeForTerminal(v)) : csvCell;
    return [columns.map((c) => cell(c.title)), ...rows.map((r) => r.map(cell))].map((r) => r.join(',')).join('\n') + '\n';
  }
  const cut = cutCells(rows);
  if (cut.cut > 0) opts.onCut?.(cut.cut);
  return format === 'markdown' ? renderMarkdown(columns, cut.rows) : renderFitted(columns, cut.rows, opts.width ?? 0);
}

/**
 * The width to fit tables to when writing to this stream: `COLUMNS` when set
 * (as `ls` and the entry formats read it: `COLUMNS=200 shark stats | less -S`),
 * else a terminal's columns, else no limit (a pipe or a file gets every column).
 */
export function tableWidth(out: { isTTY?: boolean; columns?: number }, env: NodeJS.ProcessEnv = process.env): number {
  const fromEnv = Number(env.COLUMNS);
  if (Number.isInteger(fromEnv) && fromEnv > 0) return fromEnv;
  return out.isTTY && (out.columns ?? 0) > 0 ? (out.columns as number) : 0;
}

/**
 * A box table that fits `width` columns: a table wider than the terminal
 * wraps every row into two broken lines, so the least needed columns are
 * left out instead, and one line under the table names them.
 */
function renderFitted(columns: Column[], rows: string[][], width: number): string {
  const cells = rows.map((r) => columns.map((_c, i) => oneLine(r[i] ?? '')));
  const widths = columns.map((c, i) => cells.reduce((w, r) => Math.max(w, displayWidth(r[i])), displayWidth(oneLine(c.title))));
  const keep = columns.map(() => true);
  const total = (w: number[]) => w.reduce((sum, x, i) => sum + (keep[i] ? x + 3 : 0), 1);
  // The widths once the widest kept shrinkable column is narrowed, one column at a time, until the table fits or none is above `min`.
  const shrunk = (min: number): number[] => {
    const cut = widths.slice();
    let excess = total(cut) - width;
    while (excess > 0) {
      let widest = -1;
      for (let i = 0; i < columns.length; i++) if (keep[i] && columns[i].shrink && cut[i] > min && (widest < 0 || cut[i] > cut[widest])) widest = i;
      if (widest < 0) break;
      cut[widest]--;
      excess--;
    }
    return cut;
  };
  // Columns of a rank go, highest first, until the table (its names cut to MIN_SHRUNK at most) fits.
  const dropBy = (rank: (c: Column) => number | undefined, fits: () => boolean) => {
    const order = columns
      .map((c, i) => ({ rank: rank(c), i }))
      .filter((c): c is { rank: number; i: number } => c.rank !== undefined)
      .sort((a, b) => b.rank - a.rank || b.i - a.i);
    for (const { i } of order) {
      if (fits()) break;
      keep[i] = false;
    }
  };
  let cut = widths.slice();
  if (width > 0) {
    dropBy((c) => c.drop, () => total(widths) <= width);
    // Still too wide (long service names, paths): cut names, then give up the last-resort columns, then cut names shorter.
    cut = shrunk(MIN_SHRUNK);
    if (total(cut) > width) {
      dropBy((c) => c.dropLast, () => total(shrunk(MIN_SHRUNK)) <= width);
      cut = shrunk(MIN_SHRUNK);
      if (total(cut) > width) cut = shrunk(LAST_SHRUNK);
      if (total(cut) > width) {
        dropBy((c) => c.dropFinal, () => total(shrunk(LAST_SHRUNK)) <= width);
        // What the dropped columns gave back goes to the names again (cut to 16 when that fits).
        cut = shrunk(MIN_SHRUNK);
        if (total(cut) > width) cut = shrunk(LAST_SHRUNK);
      }
    }
    // Wrapped columns give what is still missing, the widest first (never below their title).
    let excess = total(cut) - width;
    while (excess > 0) {
      let widest = -1;
      for (let i = 0; i < columns.length; i++) {
        const floor = Math.max(MIN_WRAPPED, displayWidth(oneLine(columns[i].title)));
        if (keep[i] && columns[i].wrap && cut[i] > floor && (widest < 0 || cut[i] > cut[widest])) widest = i;
      }
      if (widest < 0) break;
      cut[widest]--;
      excess--;
    }
  }
  // A name column cut below its title's width has its title cut too (a 40-column pane: "pro…col").
  const shown = columns.map((c, i) => (c.shrink && cut[i] < widths[i] ? { ...c, title: cutMiddle(oneLine(c.title), cut[i]) } : c)).filter((_c, i) => keep[i]);
  const table = renderTerminal(
    shown,
    cells.map((r) =>
      r
        .map((cell, i) => (columns[i].wrap && cut[i] < widths[i] ? wrapText(cell, cut[i]) : columns[i].shrink ? cutMiddle(cell, cut[i]) : cell))
        .filter((_c, i) => keep[i]),
    ),
  );
  const left = columns.filter((_c, i) => !keep[i]).map((c) => c.title);
  if (left.length === 0) return table;
  // Broken between column names, never inside one ("first seen"), so the note fits the pane it is for.
  const words = `(${left.length} column${left.length > 1 ? 's' : ''} hidden to fit ${width}:`.split(' ');
  left.forEach((title, i) => words.push(i < left.length - 1 ? `${title},` : `${title})`));
  return table + wrapWords(words, width);
}

/** Words joined by spaces in lines of at most `width` columns (a word longer than that stays whole). */
function wrapWords(words: string[], width: number): string {
  const lines: string[] = [];
  let line = '';
  for (const word of words) {
    if (line && displayWidth(line) + 1 + displayWidth(word) > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  lines.push(line);
  return lines.join('\n') + '\n';
}

/**
 * A one-line cell as lines of at most `width` columns: broken at spaces, a
 * word wider than that after a `/ . : - _ , ;` (a host or a path reads on
 * from there) and else where it reaches the edge. One pass, linear.
 */
function wrapText(cell: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  let lineWidth = 0;
  const newLine = () => {
    lines.push(line);
    line = '';
    lineWidth = 0;
  };
  // `text` on the current line (after a space when `spaced`), else on a new one.
  const put = (text: string, w: number, spaced: boolean) => {
    const gap = spaced && line ? 1 : 0;
    if (line && lineWidth + gap + w > width) return put(text, w, (newLine(), false));
    line += gap ? ` ${text}` : text;
    lineWidth += gap + w;
  };
  for (const word of cell.split(' ')) {
    const w = displayWidth(word);
    if (w <= width) {
      put(word, w, true);
      continue;
    }
    // Wider than the column: it starts a line of its own, then goes on part by part (a part still too wide, character by character).
    if (line) newLine();
    for (const part of word.match(WORD_PARTS) ?? [word]) {
      const pw = displayWidth(part);
      if (pw <= width) put(part, pw, false);
      else for (const ch of part) put(ch, displayWidth(ch), false);
    }
  }
  lines.push(line);
  return lines;
}
/** A word's parts, each up to and with its run of `/ . : - _ , ;` (simple classes: linear). */
const WORD_PARTS = /[^/.:_,;-]*[/.:_,;-]*/g;

// Box-drawn like cli-table3's compact style (the look users know), but laid
// out in one pass: cli-table3's layout manager checks every cell against
// every other for spans, which took a minute for 10,000 rows. A cell given
// as lines (wrapped) makes its row that many lines high. Cells come one-lined
// (renderFitted did it), and each one's width is measured once: escaping and
// measuring every cell again made drawing 11,000 catalogue rows after a
// SIGTERM cost twice what it does now.
function renderTerminal(columns: Column[], rows: (string | string[])[][]): string {
  const head = columns.map((c) => oneLine(c.title));
  const widths = head.map(displayWidth);
  // Each string cell's width, beside it (a wrapped cell's lines are measured when drawn).
  const cellWidths = rows.map((r) =>
    columns.map((_c, i) => {
      const cell = r[i] ?? '';
      if (typeof cell === 'string') {
        const w = displayWidth(cell);
        widths[i] = Math.max(widths[i], w);
        return w;
      }
      for (const l of cell) widths[i] = Math.max(widths[i], displayWidth(l));
      return -1;
    }),
  );
  const rule = (left: string, mid: string, right: string) => left + widths.map((w) => '─'.repeat(w + 2)).join(mid) + right;
  const line = (cells: string[], known?: number[]) =>
    '│' +
    cells
      .map((cell, i) => {
        const w = known && known[i] >= 0 ? known[i] : displayWidth(cell);
        const pad = ' '.repeat(widths[i] - w);
        return columns[i].align === 'right' ? ` ${pad}${cell} ` : ` ${cell}${pad} `;
      })
      .join('│') +
    '│';
  const out = [rule('┌', '┬', '┐'), line(head), rule('├', '┼', '┤')];
  rows.forEach((r, n) => {
    const cells = columns.map((_c, i) => r[i] ?? '');
    let height = 1;
    for (const cell of cells) if (typeof cell !== 'string') height = Math.max(height, cell.length);
    if (height === 1) out.push(line(cells.map((cell) => (typeof cell === 'string' ? cell : cell[0])), cellWidths[n]));
    else for (let k = 0; k < height; k++) out.push(line(cells.map((cell) => (typeof cell === 'string' ? (k === 0 ? cell : '') : (cell[k] ?? '')))));
  });
  out.push(rule('└', '┴', '┘'));
  return out.join('\n') + '\n';
}

/** Terminal columns a one-line string takes: wide (CJK, emoji) characters two, combining marks none. */
export function displayWidth(s: string): number {
  // Plain ASCII (nearly every cell): its length.
  if (/^[\x20-\x7e]*$/.test(s)) return s.length;
  let w = 0;
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ZERO_WIDTH.test(ch)) continue;
    w += isWide(cp) || EMOJI.test(ch) ? 2 : 1;
  }
  return w;
}

const ZERO_WIDTH = /[\p{Mn}\p{Me}\u200b-\u200f\u2060\ufeff]/u;
const EMOJI = /\p{Extended_Pictographic}/u;

/** East Asian Wide and Fullwidth ranges (Unicode UAX #11), as terminals draw them. */
function isWide(cp: number): boolean {
  return (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0x303e) ||
    (cp >= 0x3041 && cp <= 0x33ff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0xa000 && cp <= 0xa4cf) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  );
}

function renderMarkdown(columns: Column[], rows: string[][]): string {
  // Markdown's active punctuation is backslash-escaped (CommonMark allows it before any ASCII punctuation):
  // a path from traffic stays text in a step summary or a PR comment, never a link, an image, code, or an
  // HTML comment that hides the rows after it.
  const cell = (s: string) => oneLine(s).replace(/[\\`*_[\]<>|~&!]/g, '\\$&');
  const lines = [
    `| ${columns.map((c) => cell(c.title)).join(' | ')} |`,
    `|${columns.map((c) => (c.align === 'right' ? ' ---: ' : ' --- ')).join('|')}|`,
    ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
  ];
  return lines.join('\n') + '\n';
}

/**
 * An RFC 4180 field. A cell a spreadsheet would run as a formula (`=HYPERLINK(…)`, `@SUM(…)`, `+cmd|…`:
 * a path or a name from the traffic, opened by whoever reads the report) starts with an apostrophe,
 * as OWASP advises for CSV injection; numbers (`-3`, `+1.5`, `12%`) and a lone `-` stay as they are.
 */
function csvCell(s: string): string {
  const text = FORMULA_START.test(s) && !NUMBER.test(s) && s !== '-' ? `'${s}` : s;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
const FORMULA_START = /^[=+\-@\t\r]/;
const NUMBER = /^[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?%?$/i;

/**
 * Table cells are one line of text a terminal only prints: newlines and every
 * character a terminal could obey or that reorders what is shown (C0 and C1
 * controls such as the one-byte CSI U+009B, bidi overrides, zero-width
 * characters) become visible escapes, as in `-o compact`. Tabs are one space.
 */
function oneLine(s: string): string {
  return escapeForTerminal(s.replace(/\t/g, ' '));
}

/** Bytes for a cell or label: 1234567 → "1.2 MB" (KB = 1024, as in every size shark reads or prints). */
export function humanBytes(n: number): string {
  return formatSize(n);
}

/** 1234 → "1.2k", 1234567 → "1.2M". */
export function humanCount(n: number): string {
  if (n < 1000) return String(n);
  if (n < 1e6) return `${(n / 1e3).toFixed(n < 1e4 ? 1 : 0)}k`;
  if (n < 1e9) return `${(n / 1e6).toFixed(n < 1e7 ? 1 : 0)}M`;
  return `${(n / 1e9).toFixed(1)}G`;
}

/** Milliseconds for a cell: 3 significant digits, "-" when absent. */
export function humanMs(ms: number | null): string {
  if (ms === null) return '-';
  if (ms === 0) return '0';
  if (ms < 1) return ms.toFixed(3);
  if (ms < 100) return ms.toFixed(ms < 10 ? 2 : 1);
  return Math.round(ms).toString();
}
