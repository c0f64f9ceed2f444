// Prometheus remote write: what a POST from Prometheus, Grafana Agent/Alloy,
// the OpenTelemetry Collector or vmagent to Mimir, Thanos, Cortex or
// VictoriaMetrics carries. The body (snappy-packed protobuf, unpacked by
// body.ts) is a WriteRequest; an entry shows how many series, samples,
// histograms and exemplars it held and which metrics, so a dropped or
// refused write is readable without protoc. Both protocol versions:
//   1.0 (X-Prometheus-Remote-Write-Version: 0.1.0): prometheus.WriteRequest,
//       https://github.com/prometheus/prometheus/blob/main/prompb/remote.proto
//   2.0 (Content-Type: application/x-protobuf;proto=io.prometheus.write.v2.Request):
//       label names and values are references into a symbol table,
//       https://prometheus.io/docs/specs/prw/remote_write_spec_2_0/
// The walk is a bounded read of the wire format, not a general decoder: it
// reads only the fields it counts, and stops at the first malformed byte.
import type { BodyReader, RequestHead } from './body-readers.js';
import { counted } from './util/text.js';
import { LEN, packedVarints, walk } from './util/protowire.js';

/** Distinct metric names an entry lists; a write holds thousands of series of a few hundred metrics. */
const MAX_METRICS = 50;
/** Symbols kept from a 2.0 request's table: enough to name the metrics, bounded against a hostile table. */
const MAX_SYMBOLS = 100_000;

export interface RemoteWriteSummary {
  /** The protocol version: `1.0` or `2.0`. */
  version: string;
  series: number;
  samples: number;
  histograms: number;
  exemplars: number;
  /** Metric metadata entries (1.0: the request's metadata list; 2.0: series carrying metadata). */
  metadata: number;
  /** Distinct `__name__` values, in the order first seen, at most MAX_METRICS. */
  metrics: string[];
  /** More distinct metrics than listed. */
  metricsTruncated?: true;
  /** 2.0: a symbol table past MAX_SYMBOLS; names referring beyond it are not listed. */
  symbolsTruncated?: true;
  /** The body was cut (--max-body) or malformed where the count stopped: the counts are a lower bound. */
  incomplete?: true;
}

/**
 * The remote-write protocol version a request's headers declare (`1.0` or `2.0`), or undefined
 * when it is not a remote write: a protobuf body with Prometheus's version header, or 2.0's
 * content type.
 */
function remoteWriteVersion(request: RequestHead): string | undefined {
  const type = (request.header('content-type') ?? '').toLowerCase();
  if (!type.startsWith('application/x-protobuf')) return undefined;
  if (type.includes('proto=io.prometheus.write.v2.request')) return '2.0';
  const declared = request.header('x-prometheus-remote-write-version');
  if (declared === undefined) return undefined;
  return declared.startsWith('2.') ? '2.0' : '1.0';
}

/** Remote write as a body reader: `request.remoteWrite`, and `(812 series, 812 samples)` in the summary. */
export const remoteWriteReader: BodyReader<RemoteWriteSummary> = {
  field: 'remoteWrite',
  match(request) {
    const version = remoteWriteVersion(request);
    return version === undefined ? undefined : { read: (decoded) => readWriteRequest(decoded, version) };
  },
  counts(summary) {
    const at = summary.incomplete;
    const counts = [counted(summary.series, 'series', at), counted(summary.samples, 'sample', at)];
    if (summary.histograms > 0) counts.push(counted(summary.histograms, 'histogram', at));
    if (summary.series === 0 && summary.metadata > 0) counts.push(`${at ? '≥' : ''}${summary.metadata} metadata`);
    return counts.join(', ');
  },
};

/** Count what a WriteRequest holds. Never throws: a malformed body gives what was read, `incomplete`. */
export function readWriteRequest(body: Buffer, version: string): RemoteWriteSummary {
  const out: RemoteWriteSummary = { version, series: 0, samples: 0, histograms: 0, exemplars: 0, metadata: 0, metrics: [] };
  const names = new Set<string>();
  const addName = (name: string | undefined) => {
    if (name === undefined || names.has(name)) return;
    if (names.size >= MAX_METRICS) {
      out.metricsTruncated = true;
      return;
    }
    names.add(name);
  };
  const symbols: string[] = [];
  const ok =
    version === '2.0'
      ? walk(body, (field, wire, value) => {
          if (field === 4 && wire === LEN) {
            if (symbols.length < MAX_SYMBOLS) symbols.push(value.toString('utf8'));
            else out.symbolsTruncated = true;
          }
          else if (field === 5 && wire === LEN) {
            out.series++;
            if (!seriesV2(value, symbols, out, addName)) return false;
          }
          return true;
        })
      : walk(body, (field, wire, value) => {
          if (field === 1 && wire === LEN) {
            out.series++;
            if (!seriesV1(value, out, addName)) return false;
          } else if (field === 3 && wire === LEN) out.metadata++;
          return true;
        });
  if (!ok) out.incomplete = true;
  out.metrics = [...names];
  return out;
}

type Counts = Pick<RemoteWriteSummary, 'samples' | 'histograms' | 'exemplars' | 'metadata'>;

/** 1.0 TimeSeries: labels (1, each a name and a value), samples (2), exemplars (3), histograms (4). */
function seriesV1(series: Buffer, out: Counts, addName: (name: string | undefined) => void): boolean {
  let name: string | undefined;
  const ok = walk(series, (field, wire, value) => {
    if (wire !== LEN) return true;
    if (field === 1) {
      let labelName = '';
      let labelValue = '';
      if (!walk(value, (f, w, v) => {
        if (w === LEN && f === 1) labelName = v.toString('utf8');
        else if (w === LEN && f === 2) labelValue = v.toString('utf8');
        return true;
      })) return false;
      if (labelName === '__name__') name = labelValue;
    } else if (field === 2) out.samples++;
    else if (field === 3) out.exemplars++;
    else if (field === 4) out.histograms++;
    return true;
  });
  addName(name);
  return ok;
}

/** 2.0 TimeSeries: labels_refs (1, packed pairs into the symbols), samples (2), histograms (3), exemplars (4), metadata (5). */
function seriesV2(series: Buffer, symbols: string[], out: Counts, addName: (name: string | undefined) => void): boolean {
  let name: string | undefined;
  const ok = walk(series, (field, wire, value) => {
    if (field === 1 && wire === LEN) {
      const refs = packedVarints(value);
      if (!refs) return false;
      for (let i = 0; i + 1 < refs.length; i += 2) if (symbols[refs[i]] === '__name__') name = symbols[refs[i + 1]];
    } else if (wire === LEN) {
      if (field === 2) out.samples++;
      else if (field === 3) out.histograms++;
      else if (field === 4) out.exemplars++;
      else if (field === 5) out.metadata++;
    }
    return true;
  });
  addName(name);
  return ok;
}
