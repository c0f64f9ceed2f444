// An HTTP entry between two lab addresses, built around the request and response a redaction test
// is about: the shape every field of the entry format asks for, and nothing else to look at.
import type { Entry } from '../../src/model/entry.js';

export function httpEntry(request: Record<string, any>, response: Record<string, any> | null = null, summary = 'POST /x → 200'): Entry {
  return {
    id: '1-1',
    timestamp: 1_700_000_000_000,
    protocol: 'http',
    transport: 'tcp',
    elapsedTime: 1,
    src: { ip: '198.18.0.1', port: 40000, name: '', namespace: '', pod: '', service: '', node: '' },
    dst: { ip: '198.18.0.2', port: 80, name: '', namespace: '', pod: '', service: '', node: '' },
    request: { method: 'POST', path: '/x', url: '/x', headers: {}, ...request },
    response,
    error: false,
    requestSize: 1,
    responseSize: 1,
    summary,
  };
}
