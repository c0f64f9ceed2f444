// TLS handshakes that fail after the ServerHello, between real OpenSSL
// (`openssl s_client`) and node's TLS server over a unix socket: the client
// refusing the server's self-signed certificate (TLS 1.2 and 1.3), the server
// refusing a client without a certificate (TLS 1.2); and one that succeeds. The bytes each way are recorded at node's end and fed
// to the TLS dissector (plain, and decrypting as with a key log) in every
// chunking: the alert sent in clear is the entry's, and the entry an error.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { tls as tlsDissector } from '../../src/dissect/protocols/tls.js';
import { chunkings, fakeContext, feed, type Segment } from './helpers.js';
import { testIdentity } from '../helpers/tls-session.js';
import { TlsKeyLog } from '../../src/dissect/tls/keylog.js';
import { buildGoFixture } from '../helpers/go-fixture.js';
import { decryptingTls } from '../../src/dissect/tls/decrypting-parser.js';

/** A socket's bytes recorded as segments (`ours`: the direction of what this end writes) around a TLS socket of node's. */
function recorded(raw: net.Socket, segments: Segment[], ours: 'c2s' | 's2c'): Duplex {
  const theirs = ours === 'c2s' ? 's2c' : 'c2s';
  const d = new Duplex({
    read() {},
    write(chunk: Buffer, _e, cb) {
      segments.push({ dir: ours, data: Buffer.from(chunk) });
      raw.write(chunk, cb);
    },
  });
  raw.on('data', (b: Buffer) => {
    segments.push({ dir: theirs, data: Buffer.from(b) });
    d.push(b);
  });
  raw.on('end', () => d.push(null));
  raw.on('error', () => d.destroy());
  return d;
}

/** Runs `openssl` with `args` until it exits (bounded: 10 s). */
function openssl(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('openssl', args, { stdio: ['pipe', 'ignore', 'ignore'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('error', reject);
    child.on('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.stdin.end();
  });
}

const dir = mkdtempSync(join(tmpdir(), 'shark-tls-fail-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const { key, cert } = testIdentity();

/**
 * A client (`openssl s_client` by default) against node's server, which
 * echoes what it reads: `verify` makes the client check the server's
 * self-signed certificate (and refuse it with an alert); `clientCert` makes
 * the server ask for a client certificate, get none and refuse the client.
 */
async function session(sni: string, version: '-tls1_2' | '-tls1_3', verify: boolean, clientCert: boolean, client?: (path: string) => Promise<void>): Promise<Segment[]> {
  const path = join(dir, `${sni}.sock`);
  const segments: Segment[] = [];
  const closed = new Promise<void>((resolve) => {
    const server = net.createServer((raw) => {
      const s = new tls.TLSSocket(recorded(raw, segments, 's2c'), { isServer: true, key, cert, requestCert: clientCert, rejectUnauthorized: clientCert });
      s.on('error', () => {});
      s.on('data', (d: Buffer) => s.write(d));
      raw.on('close', () => {
        server.close();
        resolve();
      });
    });
    server.listen(path);
  });
  await new Promise((r) => setTimeout(r, 50));
  if (client) await client(path);
  else await openssl(['s_client', '-unix', path, version, '-servername', sni, '-keylogfile', join(dir, `${sni}.keys`), ...(verify ? ['-verify_return_error'] : [])]);
  await closed;
  return segments;
}

test('a TLS 1.2 or 1.3 handshake refused after the ServerHello is an error entry with the alert; one that succeeds is not', async () => {
  const cases = [
    { segments: await session('web.test', '-tls1_2', true, false), sni: 'web.test', version: 'TLS 1.2', from: 'client', description: 'unknown_ca' },
    { segments: await session('api.test', '-tls1_2', false, true), sni: 'api.test', version: 'TLS 1.2', from: 'server', description: 'handshake_failure' },
    // OpenSSL's TLS 1.3 client fails on the certificate before it takes its handshake keys: its alert goes in clear.
    { segments: await session('web13.test', '-tls1_3', true, false), sni: 'web13.test', version: 'TLS 1.3', from: 'client', description: 'unknown_ca' },
  ];
  const good = await session('ok13.test', '-tls1_3', false, false);
  for (const how of chunkings) {
    const ctx = fakeContext();
    const p = tlsDissector.createTcpParser!(ctx);
    feed(p, ctx, good, how);
    p.onEnd('fin');
    assert.deepEqual(ctx.calls.map((c) => [c.summary, c.error, c.response?.alert]), [['TLS ok13.test', false, undefined]], how);
  }
  for (const c of cases) {
    // Real OpenSSL sent its alert in clear after the ServerHello (an alert record: 0x15, two bytes).
    const alertAt = c.segments.findIndex((s) => s.data[0] === 0x15 && s.data.readUInt16BE(3) === 2);
    assert.ok(alertAt > 1, `${c.sni}: no clear alert recorded`);
    for (const how of chunkings) {
      // The plain dissector, and the decrypting one as a run with a key log (here without this session's secrets) makes it.
      const keyLog = new TlsKeyLog();
      keyLog.addText('CLIENT_RANDOM ' + '00'.repeat(32) + ' ' + '11'.repeat(48));
      for (const [name, options] of [['plain', {}], ['key log', { tlsKeys: keyLog }]] as const) {
        const ctx = fakeContext(options);
        const p = name === 'plain' ? tlsDissector.createTcpParser!(ctx) : decryptingTls(tlsDissector, () => []).createTcpParser!(ctx);
        feed(p, ctx, c.segments, how);
        p.onEnd('fin');
        assert.equal(ctx.calls.length, 1, `${c.sni} ${how} ${name}`);
        const [call] = ctx.calls;
        assert.equal(call.error, true, `${c.sni} ${how} ${name}`);
        assert.equal(call.request!.sni, c.sni);
        assert.equal(call.response!.version, c.version);
        assert.deepEqual(call.response!.alert, { level: 'fatal', description: c.description, from: c.from });
        assert.equal(call.summary, `TLS ${c.sni} → ${c.description}`);
        // The response is the ServerHello's packet, not the alert's (feed numbers segment i as frame i + 2).
        assert.ok(call.responseFrame! >= 3 && call.responseFrame! < alertAt + 2, `${c.sni} ${how} ${name}: frame ${call.responseFrame}`);
      }
    }
  }
});


/** Runs `bin` with `args` until it exits (bounded: 10 s). */
function run(bin: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('error', reject);
    child.on('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

test('a TLS 1.3 handshake refused with an encrypted alert is an error entry: inferred by size, and named with the key log', async () => {
  const go = buildGoFixture('tls13client', dir);
  const goSession = (sni: string, mode: 'verify' | 'insecure') => session(sni, '-tls1_3', false, false, (path) => run(go, [path, sni, mode, join(dir, `${sni}.keys`)]));
  const cases = [
    // Go refuses the self-signed certificate after taking its handshake keys, and logs no traffic secrets.
    { sni: 'go.test', segments: await goSession('go.test', 'verify'), error: true, from: 'client', description: 'bad_certificate' },
    // OpenSSL as the server refuses a client without a certificate after its Finished, under its application keys.
    { sni: 'mtls13.test', segments: await session('mtls13.test', '-tls1_3', false, true), error: true, from: 'server', description: 'certificate_required' },
    { sni: 'gook.test', segments: await goSession('gook.test', 'insecure'), error: false },
  ];
  for (const c of cases) {
    const keys = readFileSync(join(dir, `${c.sni}.keys`), 'utf8');
    if (c.sni === 'go.test') assert.ok(!keys.includes('CLIENT_TRAFFIC_SECRET_0') && keys.includes('CLIENT_HANDSHAKE_TRAFFIC_SECRET'), 'go.test: the Go client logged its traffic secrets');
    for (const how of chunkings) {
      const keyLog = new TlsKeyLog();
      keyLog.addText(keys);
      for (const [name, options] of [['plain', {}], ['key log', { tlsKeys: keyLog }]] as const) {
        const ctx = fakeContext(options);
        const p = name === 'plain' ? tlsDissector.createTcpParser!(ctx) : decryptingTls(tlsDissector, () => []).createTcpParser!(ctx);
        feed(p, ctx, c.segments, how);
        // The server closes first (node ends its socket after its alert, or after the echo): its FIN is what tells.
        p.onFin!('s2c');
        p.onEnd('fin');
        const what = `${c.sni} ${how} ${name}`;
        assert.equal(ctx.calls.length, 1, what);
        const [call] = ctx.calls;
        assert.equal(call.request!.sni, c.sni, what);
        assert.equal(call.response!.version, 'TLS 1.3', what);
        assert.equal(call.error, c.error, what);
        if (!c.error) {
          assert.equal(call.response!.alert, undefined, what);
          assert.equal(ctx.counters['tls.alert-inferred'], undefined, what);
          continue;
        }
        // Without the keys, the alert is known by its record's size; with them, by name.
        const alert = name === 'plain' ? { description: 'encrypted alert', from: c.from } : { level: 'fatal', description: c.description, from: c.from };
        assert.deepEqual(call.response!.alert, alert, what);
        assert.equal(call.summary, `TLS ${c.sni} → ${alert.description}`, what);
        assert.equal(ctx.counters['tls.alert-inferred'], 1, what);
        assert.equal(ctx.counters['tls.no-key'], undefined, what);
      }
    }
  }
});
