// Renders rows of named columns as a terminal table (cli-table3), CSV
// (RFC 4180) or a Markdown table. JSON is left to callers: they know which
// raw numbers belong in it. Cells are already strings here.

import Table from 'cli-table3';

export type TextFormat = 'table' | 'csv' | 'markdown';

export interface Column {
  title: string;
  align?: 'left' | 'right';
}

export function renderRows(columns: Column[], rows: string[][], format: TextFormat): string {
  switch (format) {
    case 'csv':
      return [columns.map((c) => csvCell(c.title)), ...rows.map((r) => r.map(csvCell))].map((r) => r.join(',')).join('\n') + '\n';
    case 'markdown':
      return renderMarkdown(columns, rows);
    default:
      return renderTerminal(columns, rows);
  }
}

function renderTerminal(columns: Column[], rows: string[][]): string {
  const table = new Table({
    head: columns.map((c) => c.title),
    colAligns: columns.map((c) => c.align ?? 'left'),
    // No colours: the table may be piped, and stdout carries data only.
    style: { head: [], border: [], compact: true },
  });
  for (const row of rows) table.push(row.map(oneLine));
  return table.toString() + '\n';
}

function renderMarkdown(columns: Column[], rows: string[][]): string {
  const cell = (s: string) => oneLine(s).replace(/\\/g, '\\\\').replace(/\|/g, '\\|');
  const lines = [
    `| ${columns.map((c) => cell(c.title)).join(' | ')} |`,
    `|${columns.map((c) => (c.align === 'right' ? ' ---: ' : ' --- ')).join('|')}|`,
    ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
  ];
  return lines.join('\n') + '\n';
}

function csvCell(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Table cells are one line: newlines and other control characters become visible escapes. */
function oneLine(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f]/g, (c) => (c === '\n' ? '\\n' : c === '\t' ? ' ' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

/** 1234567 → "1.2 MB" (decimal units, as network tools count bytes). */
export function humanBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB', 'PB'];
  let v = n;
  let i = -1;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
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
