// How a call ended, in a word a person scans for: the HTTP status, the gRPC
// status name, the DNS rcode, or ok/ERR for protocols without a status code;
// and its class, which picks the colour (as Hubble colours verdicts).

import { isOneWay, type Entry } from '../../model/entry.js';

export type OutcomeClass = 'ok' | 'redirect' | 'client-error' | 'error' | 'unanswered' | 'none';

export interface Outcome {
  text: string;
  cls: OutcomeClass;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : typeof v === 'number' && Number.isFinite(v) ? String(v) : undefined;
}

export function callOutcome(e: Entry): Outcome {
  const res = e.response && typeof e.response === 'object' ? e.response : null;
  const req = e.request && typeof e.request === 'object' ? e.request : null;
  if (!res) {
    if (isOneWay(e)) return { text: 'one-way', cls: 'none' };
    if (req && e.protocol !== 'tcp' && e.protocol !== 'udp' && e.protocol !== 'tls') {
      return { text: 'unanswered', cls: e.error ? 'error' : 'unanswered' };
    }
    return { text: e.error ? 'ERR' : '', cls: e.error ? 'error' : 'none' };
  }
  const grpc = str(res.grpcStatusName) ?? (typeof res.grpcStatus === 'number' ? `grpc ${res.grpcStatus}` : undefined);
  if (grpc) return { text: grpc, cls: e.error ? 'error' : res.grpcStatus === 0 ? 'ok' : 'client-error' };
  if (typeof res.status === 'number') {
    const s = res.status;
    const cls: OutcomeClass = e.error || s >= 500 ? 'error' : s >= 400 ? 'client-error' : s >= 300 ? 'redirect' : 'ok';
    return { text: String(s), cls };
  }
  // An HTTP status the capture lost (null) is unknown: neither ok nor an error of its own.
  if (res.status === null && !e.error) return { text: '?', cls: 'none' };
  const rcode = str(res.rcodeName);
  if (rcode) return { text: rcode, cls: e.error ? 'error' : 'ok' };
  // A flow no dissector claimed has no outcome of its own, only an error when it was reset.
  if (e.protocol === 'tcp' || e.protocol === 'udp' || e.protocol === 'tls') return { text: e.error ? 'ERR' : '', cls: e.error ? 'error' : 'none' };
  return { text: e.error ? 'ERR' : 'ok', cls: e.error ? 'error' : 'ok' };
}

/** "0.21ms", "12.3ms", "123ms", "1.23s"; empty for a call without a latency (model/entry.ts callLatency). */
export function formatLatency(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) return '';
  if (ms < 10) return `${ms.toFixed(2)}ms`;
  if (ms < 100) return `${ms.toFixed(1)}ms`;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)}s`;
  return `${(ms / 60_000).toFixed(1)}m`;
}
