// One line per call for a person at a terminal, like `hubble observe`'s
// compact mode or tshark's one-line summaries:
//
//   Nov 23 03:49:35.310  bookinfo/productpage-v1-5c9f:48000 → bookinfo/details:9080  http  200  0.08ms  GET /details/0 → 200
//
// `wide` adds the sizes, the capture node, the transport and the entry id.
// Every piece of text that came from traffic is escaped before it is shown.

import { callLatency, isOneWay, type Endpoint, type Entry } from '../../model/entry.js';
import { formatSize } from '../../cli/units.js';
import { callOutcome, formatLatency, type OutcomeClass } from './call-outcome.js';
import type { Styles } from './colour.js';
import { escapeForTerminal, fitToWidth, padEnd, padStart } from './terminal-text.js';

export interface LineOptions {
  styles: Styles;
  /** Terminal width; 0 = do not cut. */
  columns: number;
  wide: boolean;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number) => String(n).padStart(2, '0');

/** Local time with milliseconds, as `hubble observe` prints it: "Nov 23 03:49:35.310". */
export function localTime(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return '-';
  return `${MONTHS[d.getMonth()]} ${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

const text = (v: unknown): string => (typeof v === 'string' ? v : '');

/** namespace/pod, else namespace/service, else the endpoint name (enrichment or NDJSON input), else the workload, else the IP; then ":port". */
export function endpointLabel(ep: Endpoint | undefined): string {
  if (!ep || typeof ep !== 'object') return '?';
  const ns = text(ep.namespace);
  const inNs = (name: string) => (ns ? `${ns}/${name}` : name);
  const name = text(ep.pod) ? inNs(text(ep.pod)) : text(ep.service) ? inNs(text(ep.service)) : text(ep.name) || text(ep.workload) || ipText(ep.ip);
  const port = typeof ep.port === 'number' && ep.port > 0 ? `:${ep.port}` : '';
  return escapeForTerminal(name) + port;
}

function ipText(ip: unknown): string {
  const s = text(ip);
  return s.includes(':') ? `[${s}]` : s || '?';
}

export function paintOutcome(s: Styles, cls: OutcomeClass, t: string): string {
  switch (cls) {
    case 'ok':
      return s.green(t);
    case 'redirect':
      return s.cyan(t);
    case 'client-error':
    case 'unanswered':
      return s.yellow(t);
    case 'error':
      return s.red(t);
    default:
      return t;
  }
}

// Widths that keep columns aligned for the usual cases; longer values push the line on.
const ENDPOINT_WIDTH = 21;
const PROTOCOL_WIDTH = 6;
const OUTCOME_WIDTH = 8;
const LATENCY_WIDTH = 8;

/** Below this many columns (an 80×24 SSH session) the line drops the date, the source port and the status column. */
const NARROW = 120;

export function compactLine(e: Entry, o: LineOptions): string {
  const s = o.styles;
  const outcome = callOutcome(e);
  const protocol = escapeForTerminal(text(e.protocol) || '?') + (e.tls ? '+tls' : '');
  if (!o.wide && o.columns > 0 && o.columns < NARROW) return narrowLine(e, o, protocol, outcome.cls, formatLatency(callLatency(e)));
  const parts = [
    s.dim(localTime(e.timestamp)),
    `${padEnd(endpointLabel(e.src), ENDPOINT_WIDTH)} → ${padEnd(endpointLabel(e.dst), ENDPOINT_WIDTH)}`,
    s.cyan(padEnd(protocol, PROTOCOL_WIDTH)),
    paintOutcome(s, outcome.cls, padEnd(outcome.text || '-', OUTCOME_WIDTH)),
    padStart(formatLatency(callLatency(e)), LATENCY_WIDTH),
  ];
  if (o.wide) {
    parts.push(
      padStart(formatSize(num(e.requestSize)), 8) + ' ' + padStart(formatSize(num(e.responseSize)), 8),
      padEnd(escapeForTerminal(nodeName(e)) || '-', 12),
      padEnd(escapeForTerminal(text(e.transport)) || '-', 4),
      s.dim(escapeForTerminal(text(e.id))),
    );
  }
  let summary = escapeForTerminal(text(e.summary));
  const marks = markers(e);
  if (marks) summary += ' ' + s.yellow(marks);
  parts.push(e.error ? s.red(summary) : summary);
  const line = parts.join('  ');
  return o.columns > 0 ? fitToWidth(line, o.columns) : line;
}

/** `03:49:35.310 198.18.20.42 → bookinfo/details:9080 http GET /details/0 → 200 0.08ms`, the summary coloured by outcome. */
function narrowLine(e: Entry, o: LineOptions, protocol: string, cls: OutcomeClass, latency: string): string {
  const s = o.styles;
  const time = localTime(e.timestamp).slice(7);
  const src = endpointLabel(e.src).replace(/:\d+$/, '');
  let summary = escapeForTerminal(text(e.summary));
  const marks = markers(e);
  if (marks) summary += ' ' + marks;
  const line = [s.dim(time), `${padEnd(src, 15)} → ${padEnd(endpointLabel(e.dst), 20)}`, s.cyan(padEnd(protocol, 5)), paintOutcome(s, cls === 'ok' ? 'none' : cls, summary), s.dim(latency)].join(' ');
  return fitToWidth(line, o.columns);
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

function nodeName(e: Entry): string {
  return text(e.node?.name) || text(e.src?.node) || text(e.dst?.node);
}

/** "[unanswered]", "[gap]" … so a damaged or unanswered call stands out without colour too. */
function markers(e: Entry): string {
  const seen = new Set<string>();
  if (e.request && !e.response && e.protocol !== 'tcp' && e.protocol !== 'udp' && e.protocol !== 'tls' && !isOneWay(e)) seen.add('unanswered');
  for (const w of Array.isArray(e.warnings) ? e.warnings : []) {
    if (typeof w !== 'string') continue;
    const word = w.split(':')[0].trim();
    if (word) seen.add(escapeForTerminal(word));
  }
  return [...seen].map((w) => `[${w}]`).join(' ');
}
