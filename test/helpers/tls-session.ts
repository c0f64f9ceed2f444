// A real TLS session made in this process (node's TLS, OpenSSL underneath)
// over an in-memory pipe, written as TCP segments of a synthetic capture
// (engine-wire's Wire) with its client's key log: each write of either end is
// one segment. No network, no namespace: captures for cipher suites and inner
// protocols a test wants to pin down exactly.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { Wire } from './engine-wire.js';

let identity: { key: Buffer; cert: Buffer } | undefined;

/** A throwaway self-signed RSA certificate (made once per process). */
export function testIdentity(): { key: Buffer; cert: Buffer } {
  if (identity) return identity;
  const dir = mkdtempSync(join(tmpdir(), 'shark-tls-id-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '2', '-subj', '/CN=web'], { stdio: 'ignore' });
    identity = { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return identity;
}

export interface TlsConversation {
  /** When the first segment goes out (ms); each next one is 1 ms later. */
  atMs: number;
  sport: number;
  dport: number;
  /** Each request is written once the previous response came whole. */
  exchanges: Array<{ request: Buffer | string; response: Buffer | string }>;
  client?: tls.ConnectionOptions;
  server?: tls.TlsOptions;
}

/**
 * Runs the conversation; its segments go to `wire`; resolves with the client's
 * key log lines, the suite used, whether the session was resumed (give the
 * client `session`, and both servers one `secureContext` for its ticket
 * keys) and the session to resume later.
 */
export async function tlsConversation(wire: Wire, c: TlsConversation): Promise<{ keylog: string[]; cipher: string; reused: boolean; session: Buffer | undefined }> {
  let at = c.atMs;
  const segment = (from: 1 | 2, data: Buffer): void => (from === 1 ? wire.send(at++, 1, c.sport, c.dport, data) : wire.send(at++, 2, c.dport, c.sport, data));
  const toServer: Duplex = new Duplex({ read() {}, write(chunk: Buffer, _e, cb) { segment(1, Buffer.from(chunk)); toClient.push(chunk); cb(); } });
  const toClient: Duplex = new Duplex({ read() {}, write(chunk: Buffer, _e, cb) { segment(2, Buffer.from(chunk)); toServer.push(chunk); cb(); } });
  const { key, cert } = testIdentity();
  const server = new tls.TLSSocket(toClient, { isServer: true, key, cert, ...c.server });
  const client = tls.connect({ socket: toServer, rejectUnauthorized: false, ...c.client });
  const keylog: string[] = [];
  client.on('keylog', (line: Buffer) => keylog.push(line.toString('latin1').trim()));
  let session: Buffer | undefined;
  client.on('session', (s: Buffer) => (session = s));
  const responses = c.exchanges.map((e) => Buffer.from(e.response));
  let answered = 0;
  let pending = Buffer.alloc(0);
  const expected = c.exchanges.reduce((n, e) => n + Buffer.byteLength(e.request), 0);
  let received = 0;
  server.on('data', (d: Buffer) => {
    // A request is answered once it came whole (its length is known to the test).
    pending = Buffer.concat([pending, d]);
    received += d.length;
    while (answered < c.exchanges.length && pending.length >= Buffer.byteLength(c.exchanges[answered].request)) {
      pending = pending.subarray(Buffer.byteLength(c.exchanges[answered].request));
      server.write(responses[answered++]);
    }
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`TLS conversation stalled (${received}/${expected} request bytes)`)), 10_000);
    let got = 0;
    let next = 0;
    const send = (): void => {
      if (next < c.exchanges.length) client.write(c.exchanges[next++].request);
    };
    client.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    client.on('secureConnect', send);
    client.on('data', (d: Buffer) => {
      got += d.length;
      const want = responses.slice(0, next).reduce((n, r) => n + r.length, 0);
      if (got < want) return;
      if (next < c.exchanges.length) return send();
      clearTimeout(timer);
      const cipher = client.getCipher().standardName;
      const reused = client.isSessionReused();
      client.destroy();
      server.destroy();
      resolve({ keylog, cipher, reused, session });
    });
  });
}
