// A whole, plain HTTP entry as an entry file holds it, for tests that build entry files line by line.

/** `GET / → 200` between two lab addresses; `extra` replaces or adds fields. */
export const plainEntry = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  timestamp: 1_795_400_000_000,
  protocol: 'http',
  transport: 'tcp',
  elapsedTime: 1,
  src: { ip: '198.18.0.1', port: 40000, name: '', namespace: '', pod: '', service: '', node: '' },
  dst: { ip: '198.18.0.2', port: 80, name: '', namespace: '', pod: '', service: '', node: '' },
  request: { method: 'GET', path: '/', url: '/', headers: {} },
  response: { status: 200, headers: {} },
  error: false,
  requestSize: 1,
  responseSize: 1,
  summary: 'GET / → 200',
  ...extra,
});
