// OpenTelemetry over HTTP (OTLP/HTTP): what SDKs and Collectors POST to
// `/v1/traces`, `/v1/metrics` and `/v1/logs` (a gateway may put a prefix
// before them: `/otlp/v1/metrics`), as protobuf or JSON, gzip'd or not. An
// entry shows which services sent how many spans (and how many of them
// failed), metrics and data points, or log records, so a telemetry pipeline
// that drops or refuses data is readable without protoc.
//   https://github.com/open-telemetry/opentelemetry-proto (collector/*/v1, trace, metrics, logs)
// Counted by a bounded walk of the fields named below; anything else is skipped.
import type { BodyReader, RequestHead } from './body-readers.js';
import { LEN, VARINT, walk } from './util/protowire.js';
import { counted, parseJsonBody } from './util/text.js';

/** Service names listed (a Collector batches many services into one export). */
const MAX_SERVICES = 20;
/** Metric names listed. */
const MAX_METRICS = 50;

export interface OtlpSummary {
  signal: 'traces' | 'metrics' | 'logs';
  format: 'protobuf' | 'json';
  /** Resources (ResourceSpans, ResourceMetrics, ResourceLogs): one per process or pod, usually. */
  resources: number;
  /** `service.name` of each resource, distinct, at most MAX_SERVICES. */
  services: string[];
  spans?: number;
  /** Spans whose status is ERROR. */
  errorSpans?: number;
  metrics?: number;
  dataPoints?: number;
  /** Metric names, distinct, at most MAX_METRICS. */
  metricNames?: string[];
  /** More distinct services, or metric names, than listed. */
  servicesTruncated?: true;
  metricNamesTruncated?: true;
  logRecords?: number;
  incomplete?: true;
}

type Signal = OtlpSummary['signal'];

/** The signal a path exports, by its end (before a query and trailing slashes); asked of every HTTP request, so without allocating. */
function signalOf(path: string): Signal | undefined {
  const query = path.indexOf('?');
  let end = query < 0 ? path.length : query;
  while (end > 0 && path.charCodeAt(end - 1) === 0x2f /* / */) end--;
  if (path.endsWith('/v1/traces', end)) return 'traces';
  if (path.endsWith('/v1/metrics', end)) return 'metrics';
  if (path.endsWith('/v1/logs', end)) return 'logs';
  return undefined;
}

export const otlpReader: BodyReader<OtlpSummary> = {
  field: 'otlp',
  match(request: RequestHead) {
    const signal = signalOf(request.path);
    if (!signal) return undefined;
    const type = (request.header('content-type') ?? '').toLowerCase();
    if (type.startsWith('application/x-protobuf')) return { read: (body) => readProtobuf(body, signal) };
    if (type.startsWith('application/json')) return { read: (body) => readJson(body, signal) };
    return undefined;
  },
  answer: {
    read: (decoded, request) => readExportResponse(decoded, request.signal, request.format),
    counts: (answer: OtlpResponse, request) => rejectedCounts(answer, request.signal),
  },
  counts(s) {
    const at = s.incomplete;
    const parts = [counted(s.services.length, 'service', false)];
    if (s.signal === 'traces') {
      parts.push(counted(s.spans ?? 0, 'span', at));
      if (s.errorSpans) parts.push(`${at ? '≥' : ''}${s.errorSpans} failed`);
    } else if (s.signal === 'metrics') {
      parts.push(counted(s.metrics ?? 0, 'metric', at), counted(s.dataPoints ?? 0, 'point', at));
    } else parts.push(counted(s.logRecords ?? 0, 'log record', at));
    return parts.join(', ');
  },
};

function emptySummary(signal: Signal, format: OtlpSummary['format']): OtlpSummary {
  const out: OtlpSummary = { signal, format, resources: 0, services: [] };
  if (signal === 'traces') Object.assign(out, { spans: 0, errorSpans: 0 });
  else if (signal === 'metrics') Object.assign(out, { metrics: 0, dataPoints: 0, metricNames: [] });
  else out.logRecords = 0;
  return out;
}

/** Add `value` to a bounded list of distinct values; false when it is new and the list is full. */
function addDistinct(list: string[], value: string | undefined, max: number): boolean {
  if (value === undefined || list.includes(value)) return true;
  if (list.length >= max) return false;
  list.push(value);
  return true;
}

/** Span status code ERROR (trace.proto Status.StatusCode). */
const STATUS_ERROR = 2;
/** Metric data fields holding data points (gauge, sum, histogram, exponential histogram, summary). */
const METRIC_DATA_FIELDS = new Set([5, 7, 9, 10, 11]);

/** The export request: resources (1), each a Resource (1) and scopes (2) holding the items (2). */
export function readProtobuf(body: Buffer, signal: Signal): OtlpSummary {
  const out = emptySummary(signal, 'protobuf');
  const ok = walk(body, (field, wire, resource) => {
    if (field !== 1 || wire !== LEN) return true;
    out.resources++;
    return walk(resource, (f, w, value) => {
      if (w !== LEN) return true;
      if (f === 1 && !addDistinct(out.services, serviceName(value), MAX_SERVICES)) out.servicesTruncated = true;
      else if (f === 2) return walk(value, (g, x, item) => (g === 2 && x === LEN ? countItem(item, signal, out) : true));
      return true;
    });
  });
  if (!ok) out.incomplete = true;
  return out;
}

function countItem(item: Buffer, signal: Signal, out: OtlpSummary): boolean {
  if (signal === 'logs') {
    out.logRecords!++;
    return true;
  }
  if (signal === 'traces') {
    out.spans!++;
    return walk(item, (f, w, status) => {
      if (f === 15 && w === LEN && statusCode(status) === STATUS_ERROR) out.errorSpans!++;
      return true;
    });
  }
  out.metrics!++;
  return walk(item, (f, w, value) => {
    if (f === 1 && w === LEN) {
      if (!addDistinct(out.metricNames!, value.toString('utf8'), MAX_METRICS)) out.metricNamesTruncated = true;
    }
    else if (METRIC_DATA_FIELDS.has(f) && w === LEN) {
      return walk(value, (g, x) => {
        if (g === 1 && x === LEN) out.dataPoints!++;
        return true;
      });
    }
    return true;
  });
}

/** Status.code (field 3). */
function statusCode(status: Buffer): number | undefined {
  let code: number | undefined;
  walk(status, (field, wire, _value, n) => {
    if (field === 3 && wire === VARINT) code = n;
    return true;
  });
  return code;
}

/** Resource.attributes (1) are KeyValue (key 1, AnyValue 2 with string_value 1): `service.name`'s value. */
function serviceName(resource: Buffer): string | undefined {
  let name: string | undefined;
  walk(resource, (f, w, kv) => {
    if (f !== 1 || w !== LEN) return true;
    let key = '';
    let value: Buffer | undefined;
    walk(kv, (g, x, v) => {
      if (g === 1 && x === LEN) key = v.toString('utf8');
      else if (g === 2 && x === LEN) value = v;
      return true;
    });
    if (key !== 'service.name' || !value) return true;
    walk(value, (g, x, v) => {
      if (g === 1 && x === LEN) name = v.toString('utf8');
      return true;
    });
    return name === undefined;
  });
  return name;
}

const JSON_KEYS = {
  traces: { resources: 'resourceSpans', scopes: 'scopeSpans', items: 'spans' },
  metrics: { resources: 'resourceMetrics', scopes: 'scopeMetrics', items: 'metrics' },
  logs: { resources: 'resourceLogs', scopes: 'scopeLogs', items: 'logRecords' },
} as const;

/** The JSON encoding (lowerCamelCase field names); a body that does not parse is incomplete. */
export function readJson(body: Buffer, signal: Signal): OtlpSummary {
  const out = emptySummary(signal, 'json');
  const doc = parseJsonBody(body);
  if (doc === undefined) {
    out.incomplete = true;
    return out;
  }
  const keys = JSON_KEYS[signal];
  for (const resource of list(doc?.[keys.resources])) {
    out.resources++;
    const attrs = list(resource?.resource?.attributes);
    const service = attrs.find((a: any) => a?.key === 'service.name')?.value?.stringValue;
    if (!addDistinct(out.services, typeof service === 'string' ? service : undefined, MAX_SERVICES)) out.servicesTruncated = true;
    for (const scope of list(resource?.[keys.scopes])) {
      for (const item of list(scope?.[keys.items])) {
        if (signal === 'logs') out.logRecords!++;
        else if (signal === 'traces') {
          out.spans!++;
          const code = item?.status?.code;
          if (code === STATUS_ERROR || code === 'STATUS_CODE_ERROR') out.errorSpans!++;
        } else {
          out.metrics!++;
          if (typeof item?.name === 'string' && !addDistinct(out.metricNames!, item.name, MAX_METRICS)) out.metricNamesTruncated = true;
          for (const kind of ['gauge', 'sum', 'histogram', 'exponentialHistogram', 'summary']) out.dataPoints! += list(item?.[kind]?.dataPoints).length;
        }
      }
    }
  }
  return out;
}

function list(v: unknown): any[] {
  return Array.isArray(v) ? v : [];
}

/**
 * An export's answer (Export*ServiceResponse): `partial_success` (field 1) says how many spans, data
 * points or log records the receiver rejected (field 1) and why (field 2). A Collector that drops
 * data for a quota or a bad attribute answers 200 with this: the one place the loss is said.
 */
export interface OtlpResponse {
  rejected: number;
  /** The receiver's reason, at most MAX_MESSAGE characters. */
  errorMessage?: string;
  incomplete?: true;
}

const MAX_MESSAGE = 256;
/** The JSON names of the rejected count, per signal. */
const REJECTED_KEYS = { traces: 'rejectedSpans', metrics: 'rejectedDataPoints', logs: 'rejectedLogRecords' } as const;
/** What one rejected item is called in a summary. */
const REJECTED_NOUN = { traces: 'span', metrics: 'point', logs: 'log record' } as const;

/** The partial success an export's response body carries; undefined when it says none (all was taken). */
export function readExportResponse(body: Buffer, signal: Signal, format: OtlpSummary['format']): OtlpResponse | undefined {
  if (body.length === 0) return undefined;
  if (format === 'json') {
    const doc = parseJsonBody(body);
    const partial = doc?.partialSuccess;
    if (partial === null || typeof partial !== 'object') return undefined;
    const rejected = Number(partial[REJECTED_KEYS[signal]] ?? 0);
    const message = typeof partial.errorMessage === 'string' ? partial.errorMessage : '';
    return partialSuccess(Number.isFinite(rejected) ? rejected : 0, message);
  }
  let rejected = 0;
  let message = '';
  let seen = false;
  const ok = walk(body, (field, wire, partial) => {
    if (field !== 1 || wire !== LEN) return true;
    seen = true;
    return walk(partial, (f, w, value, n) => {
      if (f === 1 && w === VARINT) rejected = Number.isFinite(n) ? n : rejected;
      else if (f === 2 && w === LEN) message = value.subarray(0, 4 * MAX_MESSAGE).toString('utf8');
      return true;
    });
  });
  if (!seen) return undefined;
  const out = partialSuccess(rejected, message);
  // Cut short inside partial_success: what was read, as a lower bound.
  if (!ok) return { ...(out ?? { rejected }), incomplete: true };
  return out;
}

function partialSuccess(rejected: number, message: string): OtlpResponse | undefined {
  // An empty partial_success (`{"partialSuccess": {}}`, as some receivers always send) rejected nothing.
  if (rejected === 0 && message === '') return undefined;
  const out: OtlpResponse = { rejected };
  if (message) out.errorMessage = message.slice(0, MAX_MESSAGE);
  return out;
}

/** `3 spans rejected` for a summary. */
export function rejectedCounts(response: OtlpResponse, signal: Signal): string {
  return `${counted(response.rejected, REJECTED_NOUN[signal], response.incomplete)} rejected`;
}
