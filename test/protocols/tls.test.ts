// TLS hellos: SNI/ALPN/versions from real captures (split hellos included)
// compared with tshark, alerts, and the probe.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { probeTls, tls } from '../../src/dissect/protocols/tls.js';
import { chunkings, fakeContext, feed, tcpCapture } from './helpers.js';
import { sharedCapture } from '../helpers/paths.js';

const captures = ['arkime-tls-split-client-hello.pcap', 'zeek-tls-chrome-34-google.pcap', 'suricata-tls-alpn-log-detect-02.pcap'];

for (const file of captures) {
  test(`${file}: SNI, ALPN and versions agree with tshark in every chunking`, () => {
    const capture = sharedCapture(file);
    const fields = ['tls.handshake.type', 'tls.handshake.extensions_server_name', 'tls.handshake.extensions_alpn_str', 'tls.handshake.ciphersuite', 'tls.handshake.extensions.supported_version'];
    const { streams, rows } = tcpCapture(capture, 'tcp', fields);
    const hello = (type: string) => rows.find((r) => r[0].split('|').includes(type))!;
    const [, sni, alpnOffered] = hello('1');
    const [, , alpnChosen, suite, supported] = hello('2');
    const segments = streams.get(0)!;
    for (const how of chunkings) {
      const ctx = fakeContext();
      const p = tls.createTcpParser!(ctx);
      feed(p, ctx, segments, how);
      p.onEnd('eof');
      assert.equal(ctx.calls.length, 1, how);
      const [call] = ctx.calls;
      assert.equal(call.request!.sni, sni);
      assert.deepEqual(call.request!.alpn, alpnOffered ? alpnOffered.split('|') : []);
      assert.equal(call.response!.alpn, alpnChosen ?? '');
      assert.equal(Number(call.response!.cipherSuiteCode), Number(suite));
      // TLS 1.3 says its version in supported_versions (0x0304); TLS 1.2 servers do not send it.
      assert.equal(call.response!.version, supported === '0x0304' ? 'TLS 1.3' : 'TLS 1.2');
      assert.equal(call.error, false);
      assert.equal(call.warnings, undefined);
      assert.match(call.summary, new RegExp(`^TLS ${sni.replace(/\./g, '\\.')}`));
      assert.match(call.request!.ja3Hash, /^[0-9a-f]{32}$/);
    }
  });
}

test('ClientHello answered by an alert is an error; no ServerHello → unanswered', () => {
  const segments = tcpCapture(sharedCapture('zeek-tls-chrome-34-google.pcap')).streams.get(0)!;
  const hello = segments.find((s) => s.dir === 'c2s')!;
  let ctx = fakeContext();
  let p = tls.createTcpParser!(ctx);
  p.onData('c2s', hello.data);
  p.onData('s2c', Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]));
  p.onEnd('eof');
  assert.equal(ctx.calls.length, 1);
  assert.deepEqual(ctx.calls[0].response, { alert: { level: 'fatal', description: 'handshake_failure' } });
  assert.equal(ctx.calls[0].error, true);
  ctx = fakeContext();
  p = tls.createTcpParser!(ctx);
  p.onData('c2s', hello.data);
  p.onEnd('fin');
  assert.equal(ctx.calls.length, 1);
  assert.equal(ctx.calls[0].response, null);
  assert.deepEqual(ctx.calls[0].warnings, ['unanswered']);
});

test('garbage after a record header and a gap are marked, not thrown', () => {
  const ctx = fakeContext();
  const p = tls.createTcpParser!(ctx);
  p.onData('c2s', Buffer.from([0x16, 0x03, 0x01, 0x00, 0x08, 0x01, 0x00, 0x00, 0x04, 0x03, 0x03, 0xff, 0xff]));
  p.onGap('s2c', 100);
  p.onEnd('eof');
  assert.equal(ctx.counters['tls.malformed'], 1);
  assert.equal(ctx.calls.length, 0);
});

test('probe', () => {
  assert.equal(probeTls(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]), false), 'request');
  assert.equal(probeTls(Buffer.from([0x16, 0x03, 0x03, 0x00, 0x5a, 0x02]), false), 'response');
  assert.equal(probeTls(Buffer.from([0x16, 0x03]), false), 'need-more');
  assert.equal(probeTls(Buffer.from([0x16, 0x03, 0x09]), false), false);
  assert.equal(probeTls(Buffer.from('GET / HTTP/1.1'), false), false);
});

/** A ClientHello claiming `claimed` bytes (its first record's worth of it sent): SNI, ALPN, then a padding extension that never ends. */
function hugeClientHello(sni: string, claimed: number): Buffer {
  const name = Buffer.from(sni, 'latin1');
  const sniExt = Buffer.concat([Buffer.from([0, 0]), u16(name.length + 5), u16(name.length + 3), Buffer.from([0]), u16(name.length), name]);
  const alpnName = Buffer.from('h2');
  const alpnExt = Buffer.concat([Buffer.from([0, 16]), u16(alpnName.length + 3), u16(alpnName.length + 1), Buffer.from([alpnName.length]), alpnName]);
  const padding = Buffer.concat([Buffer.from([0, 21]), u16(0xffff - sniExt.length - alpnExt.length - 4), Buffer.alloc(8000)]);
  const exts = Buffer.concat([sniExt, alpnExt, padding]);
  const body = Buffer.concat([u16(0x0303), Buffer.alloc(32, 7), Buffer.from([0]), u16(4), u16(0x1301), u16(0x1302), Buffer.from([1, 0]), u16(0xffff), exts]);
  const hs = Buffer.concat([Buffer.from([1, (claimed >> 16) & 0xff, (claimed >> 8) & 0xff, claimed & 0xff]), body]);
  return Buffer.concat([Buffer.from([0x16, 0x03, 0x01]), u16(hs.length), hs]);
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

test('a ClientHello claiming more than 64 KB is a tls entry with its SNI and a warning, not only a count', () => {
  const ctx = fakeContext();
  const p = tls.createTcpParser!(ctx);
  p.onData('c2s', hugeClientHello('big.example', 100_000));
  p.onData('c2s', Buffer.alloc(16_000, 0x41));
  p.onEnd('fin');
  assert.equal(ctx.calls.length, 1);
  const [call] = ctx.calls;
  assert.equal(call.protocol, 'tls');
  assert.equal(call.request!.sni, 'big.example');
  assert.deepEqual(call.request!.alpn, ['h2']);
  assert.equal(call.request!.truncated, true);
  assert.equal(call.request!.ja3, undefined);
  assert.deepEqual(call.warnings, ['malformed: hello too large (100000 bytes)', 'unanswered']);
  assert.equal(ctx.counters['tls.hello-truncated'], 1);
  assert.match(call.summary, /^TLS big\.example h2 → unanswered$/);
});
