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
import { cutMiddle, displayWidth, escapeForTerminal, fitToWidth, padEnd, padStart } from './terminal-text.js';

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
/** `postgresql`, the longest protocol name, and `http2+tls`: a list mixing protocols stays aligned. */
const PROTOCOL_WIDTH = 10;
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

/**
 * Narrow layouts, widest first: the columns of time, source, destination and
 * protocol (0 = left out). A line uses the first that leaves SUMMARY_ROOM
 * columns for the summary: it is chosen by the width alone, so the rows of a
 * list stay aligned. What goes first: some of each endpoint, the time, the
 * source (its room partly back to the destination), more of the destination,
 * the protocol, the destination. Endpoints are cut in their middle (the port
 * stays).
 */
const NARROW_LAYOUTS: readonly { time: boolean; src: number; dst: number; protocol: number }[] = [
  { time: true, src: 15, dst: 20, protocol: 5 },
  { time: true, src: 12, dst: 17, protocol: 5 },
  { time: false, src: 12, dst: 17, protocol: 5 },
  { time: false, src: 0, dst: 20, protocol: 5 },
  { time: false, src: 0, dst: 15, protocol: 5 },
  { time: false, src: 0, dst: 15, protocol: 0 },
  { time: false, src: 0, dst: 0, protocol: 0 },
];
/** Enough for `GET /missing/page → 404`: a method, a path one can recognise, the status. */
const SUMMARY_ROOM = 24;
const TIME_WIDTH = 12;

function narrowLayout(columns: number): (typeof NARROW_LAYOUTS)[number] {
  const used = (l: (typeof NARROW_LAYOUTS)[number]) =>
    (l.time ? TIME_WIDTH + 1 : 0) + (l.src ? l.src + 3 : 0) + (l.dst ? l.dst + 1 : 0) + (l.protocol ? l.protocol + 1 : 0);
  return NARROW_LAYOUTS.find((l) => columns - used(l) >= SUMMARY_ROOM) ?? NARROW_LAYOUTS[NARROW_LAYOUTS.length - 1];
}

/**
 * `03:49:35.310 198.18.20.42 → bookinfo/details:9080 http GET /details/0 → 200 0.08ms`, the
 * summary coloured by outcome. Narrower, the line gives up columns (NARROW_LAYOUTS) and then the
 * middle of the summary, never its outcome: the status is what a person scans the list for.
 */
function narrowLine(e: Entry, o: LineOptions, protocol: string, cls: OutcomeClass, latency: string): string {
  const s = o.styles;
  const layout = narrowLayout(o.columns);
  const parts: string[] = [];
  if (layout.time) parts.push(s.dim(localTime(e.timestamp).slice(7)));
  const dst = layout.dst ? padEnd(cutMiddle(endpointLabel(e.dst), layout.dst), layout.dst) : '';
  if (layout.src) parts.push(`${padEnd(cutMiddle(endpointLabel(e.src).replace(/:\d+$/, ''), layout.src), layout.src)} → ${dst}`);
  else if (dst) parts.push(dst);
  // A protocol longer than its column (`http+tls`) pushes the summary on rather than lose its name.
  if (layout.protocol) parts.push(s.cyan(padEnd(protocol, layout.protocol)));
  const prefix = parts.join(' ');
  const room = o.columns - displayWidth(prefix) - (prefix ? 1 : 0);
  const summary = fitSummary(escapeForTerminal(text(e.summary)), markers(e), room);
  // The latency only beside a whole summary (a cut one fills the room).
  const fits = latency !== '' && displayWidth(summary) + 1 + displayWidth(latency) <= room;
  const line = [prefix, paintOutcome(s, cls === 'ok' ? 'none' : cls, summary), fits ? s.dim(latency) : ''].filter(Boolean).join(' ');
  return fitToWidth(line, o.columns);
}

/** Below this the request side of a summary is not worth keeping beside its outcome. */
const HEAD_MIN = 10;

/**
 * The summary and its markers in `room` columns. Summaries read `request → outcome`
 * (`GET /missing/page → 404`, `A api.example.com → NXDOMAIN`): when the whole does not fit,
 * the request side gives up its middle and the outcome stays; an outcome too long for the
 * room (a DNS answer list) keeps its start.
 */
function fitSummary(summary: string, marks: string, room: number): string {
  const whole = marks ? `${summary} ${marks}` : summary;
  if (displayWidth(whole) <= room) return whole;
  const arrow = summary.lastIndexOf(' → ');
  if (arrow <= 0) return fitToWidth(whole, room);
  const head = summary.slice(0, arrow);
  const tail = summary.slice(arrow) + (marks ? ` ${marks}` : '');
  const headRoom = room - displayWidth(tail);
  if (headRoom >= Math.min(displayWidth(head), HEAD_MIN)) return cutRequest(head, headRoom) + tail;
  // The outcome side alone is too long: a little of the request, then as much of the outcome as fits.
  const wanted = Math.min(displayWidth(head), HEAD_MIN);
  const kept = room - wanted >= 7 ? wanted : 0;
  return (kept ? cutRequest(head, kept) : '') + fitToWidth(kept ? tail : tail.trimStart(), room - kept);
}

/** `GET /missing…page`: the verb (method, query type, command) whole when there is room, the middle of the rest taken out. */
function cutRequest(head: string, columns: number): string {
  if (displayWidth(head) <= columns) return head;
  const space = head.indexOf(' ');
  const verb = space > 0 ? head.slice(0, space) : '';
  if (verb && displayWidth(verb) + 4 <= columns) return `${verb} ${cutMiddle(head.slice(space + 1), columns - displayWidth(verb) - 1)}`;
  return cutMiddle(head, columns);
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
