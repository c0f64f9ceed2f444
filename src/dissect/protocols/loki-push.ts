// Loki pushes: what Promtail, Grafana Agent/Alloy, the OpenTelemetry
// Collector's Loki exporter and Fluent Bit send to Loki, every log line of a
// cluster. The protobuf form (logproto.PushRequest) is snappy-packed without
// a Content-Encoding header, so it is unpacked here on the sender's word; the
// JSON form (`{"streams":[{"stream":{…},"values":[[ts, line]…]}]}`) is read as
// it comes. An entry shows how many streams and lines a push held, their
// bytes, and the streams' labels. The lines themselves are in the body,
// where the redactor searches them as it searches any body: log lines carry
// secrets more often than any other traffic.
//   https://github.com/grafana/loki/blob/main/pkg/push/push.proto
import type { BodyReader, RequestHead } from './body-readers.js';
import { counted, parseJsonBody } from './util/text.js';
import { LEN, walk } from './util/protowire.js';

/** Label sets an entry lists (a push holds a few streams; a hostile one, any number). */
const MAX_STREAMS_LISTED = 20;

export interface LokiPushSummary {
  /** `protobuf` or `json`. */
  format: string;
  streams: number;
  /** Log lines. */
  entries: number;
  /** Bytes of log lines. */
  bytes: number;
  /** Each stream's labels (`{job="app", namespace="shop"}`), the first MAX_STREAMS_LISTED. */
  labels: string[];
  /** More streams than labels listed. */
  labelsTruncated?: true;
  incomplete?: true;
}

/** Loki's push endpoints (and the old Cortex-era one). */
function isPushPath(path: string): boolean {
  const query = path.indexOf('?');
  const end = query < 0 ? path.length : query;
  return path.endsWith('/loki/api/v1/push', end) || path.endsWith('/api/prom/push', end);
}

export const lokiPushReader: BodyReader<LokiPushSummary> = {
  field: 'lokiPush',
  match(request: RequestHead) {
    if (!isPushPath(request.path)) return undefined;
    const type = (request.header('content-type') ?? '').toLowerCase();
    if (type.startsWith('application/x-protobuf')) return { coding: 'snappy', read: readProtobufPush };
    if (type.startsWith('application/json')) return { read: readJsonPush };
    return undefined;
  },
  counts(summary) {
    return `${counted(summary.streams, 'stream', summary.incomplete)}, ${counted(summary.entries, 'line', summary.incomplete)}`;
  },
};

/** PushRequest: streams (1), each labels (1) and entries (2), each a timestamp (1) and a line (2). */
export function readProtobufPush(body: Buffer): LokiPushSummary {
  const out: LokiPushSummary = { format: 'protobuf', streams: 0, entries: 0, bytes: 0, labels: [] };
  const ok = walk(body, (field, wire, stream) => {
    if (field !== 1 || wire !== LEN) return true;
    out.streams++;
    return walk(stream, (f, w, value) => {
      if (w !== LEN) return true;
      if (f === 1) {
        if (out.labels.length < MAX_STREAMS_LISTED) out.labels.push(value.toString('utf8'));
        else out.labelsTruncated = true;
      }
      else if (f === 2) {
        out.entries++;
        return walk(value, (g, x, line) => {
          if (g === 2 && x === LEN) out.bytes += line.length;
          return true;
        });
      }
      return true;
    });
  });
  if (!ok) out.incomplete = true;
  return out;
}

/** The JSON form; a body that does not parse (cut at --max-body by the sender's size) is incomplete. */
export function readJsonPush(body: Buffer): LokiPushSummary {
  const out: LokiPushSummary = { format: 'json', streams: 0, entries: 0, bytes: 0, labels: [] };
  const doc = parseJsonBody(body);
  if (doc === undefined) {
    out.incomplete = true;
    return out;
  }
  const streams = Array.isArray(doc?.streams) ? doc.streams : [];
  for (const s of streams) {
    out.streams++;
    if (out.labels.length >= MAX_STREAMS_LISTED) out.labelsTruncated = true;
    else if (s && typeof s.stream === 'object' && s.stream !== null) {
      out.labels.push(`{${Object.entries(s.stream).map(([k, v]) => `${k}=${JSON.stringify(String(v))}`).join(', ')}}`);
    }
    for (const v of Array.isArray(s?.values) ? s.values : []) {
      out.entries++;
      if (Array.isArray(v) && typeof v[1] === 'string') out.bytes += Buffer.byteLength(v[1]);
    }
  }
  return out;
}
