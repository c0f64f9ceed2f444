// Turns a stats snapshot into what the user asked for: sorted, cut to --top,
// as a terminal table, CSV, Markdown or one JSON object.

import { UserError, ExitCode } from '../cli/errors.js';
import { renderRows, humanBytes, humanMs, type Column } from '../output/table.js';
import type { StatsRow, StatsSnapshot } from './aggregate.js';

export type StatsFormat = 'table' | 'json' | 'csv' | 'markdown';

/** --sort names and what they read; numbers sort largest first, names A→Z. */
const SORT_KEYS: Record<string, (r: StatsRow) => number | string | null> = {
  name: (r) => r.name,
  entries: (r) => r.entries,
  requests: (r) => r.entries,
  ok: (r) => r.successes,
  share: (r) => r.share,
  rate: (r) => r.perSecond,
  in: (r) => r.bytesIn,
  out: (r) => r.bytesOut,
  errors: (r) => r.errors,
  'error%': (r) => r.errorRate,
  err: (r) => r.errorRate,
  avg: (r) => r.latency.avg,
  p50: (r) => r.latency.p50,
  p95: (r) => r.latency.p95,
  p99: (r) => r.latency.p99,
  max: (r) => r.latency.max,
};

export const SORT_COLUMNS = Object.keys(SORT_KEYS);

export interface RenderOptions {
  format: StatsFormat;
  sort?: string;
  top?: number;
  /** Terminal width for the table format (0: no limit; see renderRows). */
  width?: number;
  /** Written to a terminal: CSV cells escaped for it (see renderRows). */
  terminal?: boolean;
}

export function sortRows(rows: StatsRow[], sort = 'entries'): StatsRow[] {
  const get = SORT_KEYS[sort];
  if (!get) throw new UserError(`--sort: unknown column "${sort}" (one of ${SORT_COLUMNS.join(', ')})`, ExitCode.USAGE);
  return [...rows].sort((a, b) => {
    const va = get(a);
    const vb = get(b);
    if (typeof va === 'string' || typeof vb === 'string') return String(va).localeCompare(String(vb), 'en');
    const d = (vb ?? -Infinity) - (va ?? -Infinity);
    if (d !== 0 && !Number.isNaN(d)) return d;
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  });
}

export function renderStats(snap: StatsSnapshot, opts: RenderOptions): string {
  let rows = sortRows(snap.rows, opts.sort);
  if (opts.top !== undefined && opts.top > 0) rows = rows.slice(0, opts.top);
  if (opts.format === 'json') return JSON.stringify({ ...snap, rows }) + '\n';
  // On a narrow terminal the columns go in this order (highest first): what is left answers
  // "how much, how many failed, how slow" (entries, errors, error %, p95 and the --sort column).
  const dropRank: Record<string, number> = { 'avg ms': 10, 'bytes in': 9, 'bytes out': 8, 'max ms': 7, ok: 6, share: 5, 'p50 ms': 4, 'req/s': 3, 'p99 ms': 2 };
  const sortTitle = SORT_TITLES[opts.sort ?? 'entries'];
  const columns: Column[] = [
    { title: snap.by, shrink: true },
    ...['entries', 'ok', 'share', 'req/s', 'bytes in', 'bytes out', 'errors', 'error %', 'avg ms', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms'].map(
      // errors: error % says it, and goes only on a pane too narrow for 16-column names.
      (title) => ({ title, align: 'right' as const, drop: title === sortTitle ? undefined : dropRank[title], dropLast: title === 'errors' && title !== sortTitle ? 1 : undefined }),
    ),
  ];
  const human = opts.format === 'table';
  const cells = (r: StatsRow): string[] => [
    r.name,
    String(r.entries),
    String(r.successes),
    `${r.share.toFixed(1)}%`,
    r.perSecond === null ? '-' : r.perSecond.toFixed(r.perSecond < 10 ? 2 : 1),
    human ? humanBytes(r.bytesIn) : String(r.bytesIn),
    human ? humanBytes(r.bytesOut) : String(r.bytesOut),
    String(r.errors),
    `${r.errorRate.toFixed(1)}%`,
    humanMs(r.latency.avg),
    humanMs(r.latency.p50),
    humanMs(r.latency.p95),
    humanMs(r.latency.p99),
    humanMs(r.latency.max),
  ];
  const body = rows.map(cells);
  // The total row helps a human; CSV consumers would count it twice.
  if (opts.format !== 'csv' && snap.rows.length > 1) body.push(cells(snap.total));
  return renderRows(columns, body, opts.format, { width: opts.width, terminal: opts.terminal });
}

/** The column a --sort key shows (kept on a narrow terminal: the user sorted by it). */
const SORT_TITLES: Record<string, string> = {
  entries: 'entries', requests: 'entries', ok: 'ok', share: 'share', rate: 'req/s', in: 'bytes in', out: 'bytes out',
  errors: 'errors', 'error%': 'error %', err: 'error %', avg: 'avg ms', p50: 'p50 ms', p95: 'p95 ms', p99: 'p99 ms', max: 'max ms',
};
