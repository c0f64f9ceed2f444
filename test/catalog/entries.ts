// Entries for catalogue tests, shaped as shark's HTTP dissector writes them.
import type { Entry } from '../../src/model/entry.js';

export interface CallSpec {
  method?: string;
  path: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  requestBody?: unknown;
  status?: number;
  responseBody?: unknown;
  elapsed?: number;
  i?: number;
  service?: string;
  unanswered?: boolean;
}

export function httpCall(s: CallSpec): Entry {
  const i = s.i ?? 0;
  const qs = s.query ? new URLSearchParams(s.query).toString() : '';
  const reqBody = s.requestBody === undefined ? undefined : JSON.stringify(s.requestBody);
  const resBody = s.responseBody === undefined ? undefined : JSON.stringify(s.responseBody);
  const status = s.status ?? 200;
  return {
    id: `${i}-0`,
    timestamp: 1_795_400_000_000 + i * 10,
    protocol: 'http',
    transport: 'tcp',
    elapsedTime: s.elapsed ?? 1,
    src: { ip: '10.1.0.1', port: 40000 + (i % 20000), name: '', namespace: 'shop', pod: 'client', service: '', node: '' },
    dst: { ip: '10.1.0.2', port: 8080, name: '', namespace: 'shop', pod: 'orders-1', service: s.service ?? 'orders', node: '' },
    request: {
      method: s.method ?? 'GET',
      path: s.path + (qs ? `?${qs}` : ''),
      url: s.path + (qs ? `?${qs}` : ''),
      httpVersion: 'HTTP/1.1',
      headers: { host: 'orders:8080', ...(s.headers ?? {}) },
      query: s.query ?? {},
      host: 'orders:8080',
      bodySize: reqBody?.length ?? 0,
      ...(reqBody ? { body: reqBody } : {}),
    },
    response: s.unanswered
      ? null
      : {
          status,
          statusText: '',
          httpVersion: 'HTTP/1.1',
          headers: resBody ? { 'content-type': 'application/json' } : {},
          ...(resBody ? { contentType: 'application/json', body: resBody } : {}),
          bodySize: resBody?.length ?? 0,
        },
    error: s.unanswered === true || status >= 500,
    requestSize: 100,
    responseSize: 100,
    summary: `${s.method ?? 'GET'} ${s.path} → ${status}`,
  };
}
