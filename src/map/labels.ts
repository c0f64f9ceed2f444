// The text on a map edge, shared by the DOT and Mermaid renderers:
// "HTTP 1.2k req · 3.4 MB · p95 12 ms · 2% err", then optional top paths.

import { UserError, ExitCode } from '../cli/errors.js';
import { humanBytes, humanCount, humanMs } from '../output/table.js';
import type { MapEdge } from './graph.js';

export const LABEL_PARTS = ['protocol', 'requests', 'bytes', 'latency', 'errors'] as const;
export type LabelPart = (typeof LABEL_PARTS)[number];

export interface EdgeLabelOptions {
  parts: LabelPart[];
  /** Top paths listed under the label (0 = none). */
  paths: number;
}

/** "--edge-label protocol,requests" → parts; "none" → no label; "all"/undefined → every part. */
export function parseEdgeLabel(spec: string | undefined): LabelPart[] {
  if (spec === undefined || spec === 'all') return [...LABEL_PARTS];
  if (spec === 'none' || spec === '') return [];
  const parts = spec.split(',').map((s) => s.trim().toLowerCase());
  for (const p of parts)
    if (!(LABEL_PARTS as readonly string[]).includes(p))
      throw new UserError(`--edge-label: unknown part "${p}" (any of ${LABEL_PARTS.join(',')}, or all, none)`, ExitCode.USAGE);
  return LABEL_PARTS.filter((p) => parts.includes(p));
}

export function edgeLabelLines(e: MapEdge, opts: EdgeLabelOptions): string[] {
  const bits: string[] = [];
  const head: string[] = [];
  if (opts.parts.includes('protocol')) head.push(e.protocol.toUpperCase());
  if (opts.parts.includes('requests')) head.push(`${humanCount(e.requests)} req`);
  if (head.length) bits.push(head.join(' '));
  if (opts.parts.includes('bytes')) bits.push(humanBytes(e.bytesIn + e.bytesOut));
  if (opts.parts.includes('latency') && e.latency.p95 !== null) bits.push(`p95 ${humanMs(e.latency.p95)} ms`);
  if (opts.parts.includes('errors') && e.errors > 0) bits.push(`${formatRate(e.errorRate)} err`);
  const lines = bits.length ? [bits.join(' · ')] : [];
  // A protocol without paths (raw TCP, PostgreSQL …) reports its own name as the path: noise.
  // A count the bounded counter may have overestimated shows what is certain: ×≥N.
  for (const p of e.paths.filter((x) => x.path !== e.protocol).slice(0, opts.paths)) lines.push(`${p.path} ×${p.atLeast < p.count ? '≥' : ''}${humanCount(p.atLeast)}`);
  return lines;
}

function formatRate(pct: number): string {
  if (pct >= 10 || Number.isInteger(pct)) return `${Math.round(pct)}%`;
  return `${pct.toFixed(1)}%`;
}
