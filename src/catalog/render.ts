// The catalogue and the diff as the user asked for them: a terminal table,
// Markdown, JSON (one object), and for diff JUnit XML for CI reporters.

import { renderRows, humanMs, type Column } from '../output/table.js';
import type { CatalogLimits, EndpointStats } from './endpoints.js';
import { failsOn, type ChangeKind, type DiffResult } from './diff.js';
import { isoTime } from '../output/iso-time.js';
import { xmlAttr as attr, xmlText as text } from '../output/xml-text.js';

export type CatalogFormat = 'table' | 'json' | 'markdown';
export type DiffFormat = 'table' | 'json' | 'markdown' | 'junit';

/** Statuses as "200×12 404×1", most frequent first. */
function statusCell(e: EndpointStats, max = 6): string {
  const list = [...e.statuses].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const shown = list.slice(0, max).map(([s, n]) => `${s}×${n}`);
  if (list.length > max) shown.push(`+${list.length - max}`);
  return shown.join(' ');
}

export function catalogJson(e: EndpointStats): Record<string, unknown> {
  return {
    service: e.service,
    protocol: e.protocol,
    endpoint: e.name,
    calls: e.calls,
    errors: e.errors,
    errorRate: e.errorRate,
    latencyMs: { p50: e.latency.quantile(0.5), p95: e.latency.quantile(0.95), p99: e.latency.quantile(0.99), max: e.latency.count ? e.latency.max : null },
    statuses: Object.fromEntries([...e.statuses].sort((a, b) => b[1] - a[1])),
    first: isoTime(e.first),
    last: isoTime(e.last),
    ...(e.protocol === 'grpc' && (e.requestBodies.size || e.responseBodies.size) ? { messages: grpcSchemas(e) } : {}),
  };
}

/** gRPC message schemas (with --proto): request and response message types, inferred from the decoded fields. */
function grpcSchemas(e: EndpointStats): Record<string, unknown> {
  const of = (m: Map<string, { schema: { count: number; toSchema(): unknown } }>) =>
    Object.fromEntries([...m].filter(([, b]) => b.schema.count > 0).map(([type, b]) => [type, b.schema.toSchema()]));
  const response: Record<string, unknown> = {};
  for (const byType of e.responseBodies.values()) Object.assign(response, of(byType));
  return { request: of(e.requestBodies), response };
}

export function renderCatalog(endpoints: EndpointStats[], limits: CatalogLimits, format: CatalogFormat, width = 0, onCut?: (cells: number) => void): string {
  if (format === 'json') {
    return JSON.stringify({ endpoints: endpoints.map(catalogJson), limits }) + '\n';
  }
  const columns: Column[] = [
    { title: 'service', shrink: true },
    // The endpoint says most of it (GET /x, A name): on a pane too narrow for 16-column names, it goes.
    { title: 'protocol', dropLast: 1 },
    { title: 'endpoint', shrink: true },
    // A 40-column pane, its names cut to 7 columns, still has no room for p95: it goes last of all.
    ...['calls', 'error %', 'p50 ms', 'p95 ms', 'p99 ms'].map((title) => ({
      title,
      align: 'right' as const,
      drop: { 'p50 ms': 3, 'p99 ms': 4 }[title],
      dropFinal: title === 'p95 ms' ? 1 : undefined,
    })),
    // On a narrow terminal: the times go first, then p99, p50, the statuses.
    { title: 'statuses', drop: 2 },
    { title: 'first seen', drop: 5 },
    { title: 'last seen', drop: 6 },
  ];
  const rows = endpoints.map((e) => [
    e.service,
    e.protocol,
    e.name,
    String(e.calls),
    `${(e.errorRate * 100).toFixed(1)}%`,
    humanMs(e.latency.quantile(0.5)),
    humanMs(e.latency.quantile(0.95)),
    humanMs(e.latency.quantile(0.99)),
    statusCell(e),
    shortTime(e.first),
    shortTime(e.last),
  ]);
  return renderRows(columns, rows, format, { width, onCut });
}

function shortTime(ms: number): string {
  return isoTime(ms)?.replace('T', ' ').replace(/\.\d+Z$/, 'Z') ?? '-';
}

export function renderDiff(
  result: DiffResult,
  format: DiffFormat,
  failOn: Set<ChangeKind>,
  names: { baseline: string; candidate: string },
  width = 0,
  onCut?: (cells: number) => void,
): string {
  if (format === 'json') {
    return JSON.stringify({ ...names, ...result, failing: result.changes.filter((c) => failsOn(c, failOn)).length }) + '\n';
  }
  if (format === 'junit') return diffJunit(result, failOn, names);
  if (result.changes.length === 0) {
    const n = result.baseline.endpoints;
    return `no API changes (${n} endpoint${n === 1 ? '' : 's'} in ${names.baseline}, ${result.candidate.endpoints} in ${names.candidate})\n`;
  }
  // On a narrow terminal the text wraps rather than being cut: every word of a change counts, and the
  // service and endpoint name the row (a cut name could be two endpoints).
  const columns: Column[] = [{ title: 'service', wrap: true }, { title: 'endpoint', wrap: true }, { title: 'change' }, { title: 'detail', wrap: true }];
  const rows = result.changes.map((c) => [c.service, `${c.protocol} ${c.endpoint}`, failsOn(c, failOn) ? `${c.kind} ✗` : c.kind, c.detail]);
  return renderRows(columns, rows, format, { width, onCut });
}

/** One testcase per changed endpoint; a <failure> for each change `--fail-on` names. */
function diffJunit(result: DiffResult, failOn: Set<ChangeKind>, names: { baseline: string; candidate: string }): string {
  const byEndpoint = new Map<string, typeof result.changes>();
  for (const c of result.changes) {
    const k = `${c.service} ${c.protocol} ${c.endpoint}`;
    const list = byEndpoint.get(k) ?? [];
    list.push(c);
    byEndpoint.set(k, list);
  }
  const failures = [...byEndpoint.values()].filter((l) => l.some((c) => failsOn(c, failOn))).length;
  const suite = `shark diff ${names.baseline} ${names.candidate}`;
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${attr(suite)}" tests="${byEndpoint.size}" failures="${failures}" errors="0">`,
    `  <testsuite name="${attr(suite)}" tests="${byEndpoint.size}" failures="${failures}" errors="0" skipped="0">`,
  ];
  for (const [name, list] of byEndpoint) {
    lines.push(`    <testcase name="${attr(name)}" classname="shark.diff.${attr(list[0].service)}">`);
    for (const c of list) {
      if (failsOn(c, failOn)) lines.push(`      <failure message="${attr(`${c.kind}: ${c.detail}`)}" type="${attr(c.kind)}">${text(c.detail)}</failure>`);
    }
    lines.push(`      <system-out>${text(list.map((c) => `${c.kind}: ${c.detail}`).join('\n'))}</system-out>`, '    </testcase>');
  }
  lines.push('  </testsuite>', '</testsuites>');
  return lines.join('\n') + '\n';
}
