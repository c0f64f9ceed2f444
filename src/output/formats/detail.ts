// A multi-line view of one call, like Kubeshark's detail pane or `curl -v`:
// a heading, then the request and the response in the shape people know for
// the protocol — request line and headers, bodies pretty-printed (JSON
// indented, binary as a hex excerpt), gRPC messages as decoded fields, SQL
// text, DNS answers as a table. Other protocols show their fields as YAML.
// Every line passes through the terminal escaper: it is all traffic.

import { stringify as yaml } from 'yaml';
import { callLatency, type Entry } from '../../model/entry.js';
import { formatSize } from '../../cli/units.js';
import { callOutcome, formatLatency } from './call-outcome.js';
import { endpointLabel, localTime, paintOutcome } from './compact.js';
import type { Styles } from './colour.js';
import { displayWidth, escapeForTerminal, escapeKeepingLines, fitToWidth, padEnd } from './terminal-text.js';

export interface DetailOptions {
  styles: Styles;
  /** Terminal width every line is cut to; 0 = do not cut. */
  columns: number;
  /**
   * Terminal width the line of facts (time, endpoints, outcome, latency,
   * sizes, id) is laid out in, wrapping between facts; default `columns`,
   * 0 = one line. Bodies are not cut (`-o detail` shows calls in full), but
   * the facts of a call between two pods are 90 columns and more: the
   * terminal wrapped them mid-word on 80.
   */
  factsWidth?: number;
  /** Body lines shown before "… N more lines". */
  maxBodyLines?: number;
}

const HTTP_LIKE = new Set(['http', 'http2', 'http3', 'grpc', 'graphql', 'grpc-web']);
const SQL = new Set(['postgresql', 'mysql']);
type Obj = Record<string, any>;

export function detailLines(e: Entry, o: DetailOptions): string[] {
  const s = o.styles;
  const out: string[] = [];
  const outcome = callOutcome(e);
  const protocol = escapeForTerminal(String(e.protocol ?? '?')) + (e.tls ? ' (tls)' : '');
  out.push(s.bold(`━━ ${protocol}  ${escapeForTerminal(String(e.summary ?? ''))}`));
  // Time, source and destination always; what is empty of the rest is left out.
  const facts = [
    localTime(e.timestamp),
    endpointLabel(e.src),
    `→ ${endpointLabel(e.dst)}`,
    ...[
      paintOutcome(s, outcome.cls, outcome.text || '-'),
      formatLatency(callLatency(e)),
      `${formatSize(Number(e.requestSize) || 0)} / ${formatSize(Number(e.responseSize) || 0)}`,
      `id ${escapeForTerminal(String(e.id ?? ''))}`,
    ].filter(Boolean),
  ];
  out.push(...wrapFacts(facts, o.factsWidth ?? o.columns));
  if (Array.isArray(e.warnings) && e.warnings.length > 0) {
    out.push('   ' + s.yellow(`warnings: ${e.warnings.map((w) => escapeForTerminal(String(w))).join('; ')}`));
  }
  const req = isObj(e.request) ? e.request : null;
  const res = isObj(e.response) ? e.response : null;
  const proto = String(e.protocol);
  if (HTTP_LIKE.has(proto)) httpLike(out, req, res, o);
  else if (proto === 'dns') dns(out, req, res, o);
  else if (SQL.has(proto)) sql(out, req, res, o);
  else generic(out, req, res, o);
  out.push('');
  return o.columns > 0 ? out.map((l) => fitToWidth(l, o.columns)) : out;
}

const FACTS_INDENT = '   ';

/**
 * The facts on as few lines of `width` columns as hold them, each fact whole
 * (a fact wider than a line has one to itself); source (the second fact) and
 * `→ destination` are one space apart, the other facts two.
 */
function wrapFacts(facts: string[], width: number): string[] {
  const lines: string[] = [];
  let line = '';
  let used = 0;
  facts.forEach((fact, i) => {
    const gap = i === 2 ? ' ' : '  ';
    const w = displayWidth(fact);
    if (line !== '' && width > 0 && used + gap.length + w > width) {
      lines.push(line);
      line = '';
    }
    if (line === '') {
      line = FACTS_INDENT + fact;
      used = FACTS_INDENT.length + w;
    } else {
      line += gap + fact;
      used += gap.length + w;
    }
  });
  if (line !== '') lines.push(line);
  return lines;
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function httpLike(out: string[], req: Obj | null, res: Obj | null, o: DetailOptions): void {
  const s = o.styles;
  if (req) {
    const method = req.httpMethod ?? req.method ?? '';
    const target = req.path ?? req.url ?? '';
    out.push(s.cyan(`> ${esc(method)} ${esc(target)} ${esc(req.httpVersion ?? '')}`.trimEnd()));
    if (req.authority && !hasHeader(req.headers, 'host')) out.push(s.cyan(`> :authority: ${esc(req.authority)}`));
    headers(out, '> ', req.headers, s.cyan);
    out.push(s.cyan('>'));
    messages(out, req.messages, o);
    body(out, req, o);
  } else out.push(s.dim('(no request seen)'));
  if (res) {
    // null: the capture lost the status (the response head went with a gap).
    const status = res.status === null ? '?' : res.status !== undefined ? `${esc(res.status)} ${esc(res.statusText ?? '')}`.trimEnd() : '';
    out.push(s.magenta(`< ${esc(res.httpVersion ?? '')} ${status}`.trimEnd() || '<'));
    headers(out, '< ', res.headers, s.magenta);
    out.push(s.magenta('<'));
    messages(out, res.messages, o);
    body(out, res, o);
    if (isObj(res.trailers)) headers(out, '< ', res.trailers, s.magenta);
    if (res.grpcStatus !== undefined && !hasHeader(res.trailers, 'grpc-status')) {
      const msg = res.grpcMessage ? ` ${esc(res.grpcMessage)}` : '';
      out.push(`  grpc-status: ${esc(res.grpcStatus)} ${esc(res.grpcStatusName ?? '')}${msg}`.trimEnd());
    }
  } else out.push(s.yellow('(no response)'));
}

function hasHeader(h: unknown, name: string): boolean {
  return isObj(h) && Object.keys(h).some((k) => k.toLowerCase() === name);
}

function headers(out: string[], prefix: string, h: unknown, paint: (t: string) => string): void {
  if (!isObj(h)) return;
  for (const [k, v] of Object.entries(h)) {
    for (const one of Array.isArray(v) ? v : [v]) out.push(paint(`${prefix}${esc(k)}: ${esc(one)}`));
  }
}

function messages(out: string[], list: unknown, o: DetailOptions): void {
  if (!Array.isArray(list)) return;
  list.forEach((m, i) => {
    if (!isObj(m)) return;
    const type = m.type ? ` ${esc(m.type)}` : '';
    out.push(o.styles.dim(`  message ${i}${type} (${esc(m.length ?? '?')} bytes${m.compressed ? ', compressed' : ''})`));
    if (m.decoded !== undefined) indented(out, yaml(m.decoded).trimEnd(), o);
    else if (typeof m.data === 'string') hexExcerpt(out, Buffer.from(m.data, 'base64'), o);
  });
}

function body(out: string[], m: Obj, o: DetailOptions): void {
  if (typeof m.body !== 'string' || m.body === '') return;
  if (m.bodyEncoding === 'base64') {
    hexExcerpt(out, Buffer.from(m.body, 'base64'), o);
    return;
  }
  const pretty = prettyJson(m.body);
  indented(out, pretty ?? m.body, o);
  if (m.bodyTruncated) out.push(o.styles.dim(`  … body cut at ${formatSize(Buffer.byteLength(m.body))} of ${formatSize(Number(m.bodySize) || 0)}`));
}

function prettyJson(text: string): string | undefined {
  const t = text.trimStart();
  if (!t.startsWith('{') && !t.startsWith('[')) return undefined;
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return undefined;
  }
}

function indented(out: string[], text: string, o: DetailOptions): void {
  const lines = escapeKeepingLines(text.replace(/\s+$/, ''));
  const max = o.maxBodyLines ?? 200;
  for (const l of lines.slice(0, max)) out.push(`  ${l}`);
  if (lines.length > max) out.push(o.styles.dim(`  … ${lines.length - max} more lines`));
}

/** The first 256 bytes as `xxd` shows them: offset, hex, printable ASCII. */
function hexExcerpt(out: string[], bytes: Buffer, o: DetailOptions): void {
  const shown = bytes.subarray(0, 256);
  for (let off = 0; off < shown.length; off += 16) {
    const row = shown.subarray(off, off + 16);
    const hex = [...row].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    const ascii = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    out.push(`  ${off.toString(16).padStart(8, '0')}  ${padEnd(hex, 47)}  ${ascii}`);
  }
  if (bytes.length > shown.length) out.push(o.styles.dim(`  … ${bytes.length - shown.length} more bytes`));
}

function dns(out: string[], req: Obj | null, res: Obj | null, o: DetailOptions): void {
  const s = o.styles;
  for (const q of Array.isArray(req?.questions) ? req.questions : []) {
    if (isObj(q)) out.push(s.cyan(`> ${esc(q.type ?? '')} ${esc(q.name ?? '')} ${esc(q.class ?? '')}`.trimEnd()));
  }
  if (!res) {
    out.push(s.yellow('(no response)'));
    return;
  }
  out.push(s.magenta(`< ${esc(res.rcodeName ?? res.rcode ?? '')}`));
  for (const section of ['answers', 'authorities', 'additionals'] as const) {
    const rows = (Array.isArray(res[section]) ? res[section] : []).filter(isObj);
    if (rows.length === 0) continue;
    out.push(s.dim(`  ${section}:`));
    const table = rows.map((r: Obj) => [esc(r.name ?? ''), esc(r.type ?? ''), esc(r.ttl ?? ''), esc(r.data ?? '')]);
    const widths = [0, 1, 2].map((c) => Math.max(...table.map((r: string[]) => r[c].length)));
    for (const r of table) out.push(`    ${padEnd(r[0], widths[0])}  ${padEnd(r[1], widths[1])}  ${padEnd(r[2], widths[2])}  ${r[3]}`);
  }
}

function sql(out: string[], req: Obj | null, res: Obj | null, o: DetailOptions): void {
  const s = o.styles;
  if (req) {
    const { query, ...rest } = req;
    if (typeof query === 'string') for (const l of escapeKeepingLines(query)) out.push(s.cyan(`> ${l}`));
    indented(out, yaml(rest).trimEnd(), o);
  } else out.push(s.dim('(no request seen)'));
  if (res) {
    out.push(s.magenta('<'));
    indented(out, yaml(res).trimEnd(), o);
  } else out.push(s.yellow('(no response)'));
}

function generic(out: string[], req: Obj | null, res: Obj | null, o: DetailOptions): void {
  const s = o.styles;
  out.push(s.cyan('> request'));
  if (req) indented(out, yaml(req).trimEnd(), o);
  out.push(s.magenta('< response'));
  if (res) indented(out, yaml(res).trimEnd(), o);
  else out.push(s.yellow('  (none)'));
}

function esc(v: unknown): string {
  return escapeForTerminal(typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));
}
