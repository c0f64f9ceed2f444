// What `stats --by` groups entries by. Keys name Kubernetes objects directly;
// endpoints without metadata are keyed by a placeholder for their IP and port
// that is turned into a DNS name (or left as IP:port) only when the table is
// rendered, because the DNS answer naming an IP may come later in the stream.

import { isOneWay, type Endpoint, type Entry } from '../model/entry.js';
import { UserError, ExitCode } from '../cli/errors.js';
import { FilterSyntaxError } from '../filter/errors.js';
import { JsonataKeys } from '../filter/jsonata-guard.js';
import { K8S_NAME_FIELDS, k8sName, type IpNames } from './names.js';
import { mergeSpecs, type FieldSpec } from '../ndjson/project.js';
import { literalBraces, sqlShape, templateSegments } from '../catalog/path-template.js';

export const BUILTIN_GROUPINGS = ['protocol', 'service', 'endpoint', 'namespace', 'pod', 'status'] as const;

export type KeyOf = (e: Entry) => string;

/** Keys of a batch of entries (JSONata); undefined for an entry not evaluated because the run was stopped. */
export interface BatchKeys {
  keys(batch: Entry[]): Promise<Array<string | undefined>>;
  close(): void;
}

const MARK = '\u0001';

/** Placeholder for an endpoint named later by `resolveKey`. */
export function unresolved(ep: Endpoint | undefined): string {
  return `${MARK}${ep?.ip ?? ''}${MARK}${ep?.port ?? ''}${MARK}`;
}

// eslint-disable-next-line no-control-regex -- the placeholder's separator is U+0001 on purpose
const PLACEHOLDER = /\u0001([^\u0001]*)\u0001([^\u0001]*)\u0001/g;

/** Replace placeholders with the DNS/Host name seen for the IP, else IP:port. */
export function resolveKey(key: string, names: IpNames): string {
  if (!key.includes(MARK)) return key;
  return key.replace(PLACEHOLDER, (_m, ip: string, port: string) => {
    // An entry with no destination address (NDJSON from elsewhere) is "(none)", not an empty name (" GET /a").
    if (!ip) return NONE;
    const name = names.nameOf(ip);
    const host = name ?? (ip.includes(':') ? `[${ip}]` : ip);
    // Port 0: ICMP and other portless traffic.
    return port && port !== '0' ? `${host}:${port}` : host;
  });
}

function serviceKey(e: Entry): string {
  return k8sName(e.dst, 'service') || (e.dst?.name ? `${e.dst.name}:${e.dst.port}` : unresolved(e.dst));
}

/**
 * Where the protocols without an endpoint shape of their own name what a
 * request does: MongoDB/SMTP/FTP `command`, LDAP `operation`, NATS `op`,
 * CQL/WebSocket `opcode`, ICMP `typeName`, MQTT `type`, RADIUS `code`. First
 * string found wins. Without it every call of such a protocol was one
 * endpoint named after the protocol (`icmp icmp`, `mongodb mongodb`).
 */
const VERB_KEYS = ['command', 'operation', 'op', 'opcode', 'typeName', 'type', 'code', 'method'] as const;
export const VERB_SPEC: Record<(typeof VERB_KEYS)[number], true> = Object.fromEntries(VERB_KEYS.map((k) => [k, true])) as Record<(typeof VERB_KEYS)[number], true>;

/** The entry fields operationOf reads. */
export const OPERATION_FIELDS: FieldSpec = { protocol: true, request: { ...VERB_SPEC, path: true, questions: true, query: true } };

/** The entry fields statusOf reads. */
export const STATUS_FIELDS: FieldSpec = {
  protocol: true,
  error: true,
  response: { grpcStatusName: true, rcodeName: true, status: true, statusCode: true, rcode: true },
};

const SERVICE_FIELDS: FieldSpec = { dst: mergeSpecs(K8S_NAME_FIELDS, { ip: true, port: true, name: true }) };

/** The entry fields a built-in grouping reads; undefined for JSONata (it may read anything). */
export function groupFields(by: string): FieldSpec | undefined {
  switch (by) {
    case 'protocol':
      return { protocol: true };
    case 'service':
      return SERVICE_FIELDS;
    case 'endpoint':
      return mergeSpecs(SERVICE_FIELDS, OPERATION_FIELDS);
    case 'namespace':
      return { dst: { namespace: true } };
    case 'pod':
      return { dst: mergeSpecs(K8S_NAME_FIELDS, { ip: true, port: true }) };
    case 'status':
      return STATUS_FIELDS;
    default:
      return undefined;
  }
}

/** What a missing group value or protocol is shown as. */
export const NONE = '(none)';

/** An entry's protocol, "(none)" for an entry from elsewhere that names none. */
export function protocolOf(e: Entry): string {
  return typeof e.protocol === 'string' ? e.protocol : NONE;
}

/** "GET /details" (query dropped), "A example.com", a Redis command, else the protocol. */
export function operationOf(e: Entry): string {
  const r = e.request;
  if (!r) return protocolOf(e);
  // gRPC: the path is the method ("/pkg.Service/Method"); HTTP/2 framing says POST for all.
  if (e.protocol === 'grpc' && typeof r.path === 'string') return r.path;
  if (typeof r.path === 'string') {
    const path = r.path.split('?')[0];
    return typeof r.method === 'string' ? `${r.method} ${path}` : path;
  }
  const q = Array.isArray(r.questions) ? r.questions[0] : undefined;
  if (q && typeof q.name === 'string') return `${q.type ?? ''} ${q.name}`.trim();
  if (typeof r.command === 'string') return r.command.toUpperCase();
  if (typeof r.method === 'string') return r.method;
  return verbOf(r) ?? protocolOf(e);
}

/** Longest verb kept: they are protocol words, a longer one is junk. */
const MAX_VERB = 64;

/** The operation a request names (see VERB_KEYS), cut to MAX_VERB; undefined when it names none. */
export function verbOf(r: Record<string, unknown>): string | undefined {
  for (const k of VERB_KEYS) {
    const v = r[k];
    if (typeof v === 'string' && v !== '') return v.length > MAX_VERB ? v.slice(0, MAX_VERB) : v;
  }
  return undefined;
}

/**
 * The operation with HTTP paths templated as the catalogue's first step does
 * (`GET /details/58` → `GET /details/{id}`): what `stats --by endpoint` and
 * a map edge's top paths count, so a hundred ids are one row of 100 calls
 * rather than a hundred rows of 1 (which also crowd a bounded table out).
 */
export function operationShape(e: Entry): string {
  const r = e.request;
  // A SQL call is its statement with the literals out, as `catalog` names it (`select ? as n, now()`):
  // by its message type every statement was one row, `query`, errors and all.
  if ((e.protocol === 'postgresql' || e.protocol === 'mysql') && typeof r?.query === 'string' && r.query !== '') {
    return sqlShape(r.query, { doubleQuotedStrings: e.protocol === 'mysql' });
  }
  const http = e.protocol === 'http' || e.protocol === 'http2' || e.protocol === 'http3';
  if (!http || !r || typeof r.path !== 'string' || typeof r.method !== 'string') return operationOf(e);
  return `${r.method} ${templateSegments(literalBraces(r.path.split('?')[0])).join('/')}`;
}

/** "200", "NXDOMAIN", "unanswered", "one-way" … prefixed by the protocol. */
export function statusOf(e: Entry): string {
  const res = e.response;
  let status: string;
  if (!res) status = isOneWay(e) ? 'one-way' : 'unanswered';
  else if (typeof res.grpcStatusName === 'string') status = res.grpcStatusName;
  else if (typeof res.rcodeName === 'string') status = res.rcodeName;
  // null: an HTTP status the capture lost (the response head went with a gap): unknown, not 0.
  else if (res.status === null) status = '?';
  else if (res.status !== undefined) status = String(res.status);
  else if (res.statusCode !== undefined) status = String(res.statusCode);
  else if (res.rcode !== undefined) status = String(res.rcode);
  else status = e.error ? 'error' : 'ok';
  return `${protocolOf(e)} ${status}`;
}

/** Compile `--by` into a key function; undefined when it is not a built-in grouping (then it is JSONata: jsonataKeys). */
export function groupKey(by: string): KeyOf | undefined {
  switch (by) {
    case 'protocol':
      return protocolOf;
    case 'service':
      return serviceKey;
    case 'endpoint':
      return (e) => `${serviceKey(e)} ${operationShape(e)}`;
    case 'namespace':
      return (e) => e.dst?.namespace || '(no namespace)';
    case 'pod':
      return (e) => k8sName(e.dst, 'pod') || unresolved(e.dst);
    case 'status':
      return statusOf;
    default:
      return undefined;
  }
}

/** `--by EXPR` as JSONata, evaluated in a process of its own (filter/jsonata-process.ts) until `signal` stops the run; `onNoValue` is told of each entry it gave no value (or that hit a limit). */
export function jsonataKeys(expr: string, signal?: AbortSignal, onNoValue?: () => void): BatchKeys {
  let keys: JsonataKeys;
  try {
    // Limits as for `filter --jsonata` (time, memory, depth, RE2 regexes): a rules author's expression may never end.
    keys = new JsonataKeys(expr, { what: '--by', signal, onWarning: (m) => process.stderr.write(`stats: ${m}\n`) });
  } catch (err) {
    if (!(err instanceof FilterSyntaxError)) throw err;
    throw new UserError(`${err.message} (not one of ${BUILTIN_GROUPINGS.join('|')}, so read as JSONata)`, ExitCode.USAGE);
  }
  return {
    // An entry over a limit, or with no value, is grouped as "(none)"; undefined: not evaluated (the run stopped).
    keys: async (batch) =>
      (await keys.keys(batch)).map((k) => {
        if (k === undefined) return undefined;
        if (k === null) onNoValue?.();
        return k ?? NONE;
      }),
    close: () => keys.close(),
  };
}

/**
 * The warning for a JSONata `--by` that gave not one of `entries` a value: a
 * misspelt grouping (`services`, `Service`) or field reads as JSONata, and
 * the table would be a single "(none)" row with nothing said.
 */
export function noValueWarning(by: string, entries: number, valueless: number): string | undefined {
  if (entries === 0 || valueless < entries) return undefined;
  const near = nearestGrouping(by);
  const why = near ? `did you mean --by ${near}?` : `not one of ${BUILTIN_GROUPINGS.join('|')}, so read as JSONata over each entry`;
  return `--by ${by}: no entry has a value for it, so all ${entries} are in one "${NONE}" row (${why})`;
}

/** The built-in grouping `by` is a slip of (case, a plural, a letter or two), if any. */
function nearestGrouping(by: string): string | undefined {
  const b = by.trim().toLowerCase();
  for (const g of BUILTIN_GROUPINGS) {
    if (b === g || b === `${g}s` || editDistance(b, g) <= (g.length < 5 ? 1 : 2)) return g;
  }
  return undefined;
}

/** Levenshtein distance (short words only: two rows). */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length];
}
