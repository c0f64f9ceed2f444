// CBOR bodies (`application/cbor`): a map's text keys are framed by a length byte that is often a
// letter, so a search of the bytes as text never saw `password` apart from its value. The redactor
// walks the items: a sensitive key's value becomes the text "[REDACTED]", the rest stays as it came
// and still decodes. Through the CLI on a crafted capture, and on bytes that only look like CBOR.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wire } from '../helpers/engine-wire.js';
import { writeRawPcap } from '../helpers/pcap-wire.js';
import { runCli } from '../helpers/cli.js';
import { redactCbor } from '../../src/redact/cbor.js';

/** A minimal CBOR encoder (RFC 8949): unsigned integers, text, byte strings, arrays, maps; `indefinite` maps. */
function head(major: number, n: number): Buffer {
  if (n < 24) return Buffer.from([(major << 5) | n]);
  if (n < 256) return Buffer.from([(major << 5) | 24, n]);
  const b = Buffer.alloc(3);
  b[0] = (major << 5) | 25;
  b.writeUInt16BE(n, 1);
  return b;
}
type Item = number | string | Buffer | Item[] | { [k: string]: Item } | { indefinite: { [k: string]: Item } };
function cbor(v: Item): Buffer {
  if (typeof v === 'number') return head(0, v);
  if (typeof v === 'string') return Buffer.concat([head(3, Buffer.byteLength(v)), Buffer.from(v)]);
  if (Buffer.isBuffer(v)) return Buffer.concat([head(2, v.length), v]);
  if (Array.isArray(v)) return Buffer.concat([head(4, v.length), ...v.map(cbor)]);
  if ('indefinite' in v && typeof v.indefinite === 'object' && !Buffer.isBuffer(v.indefinite)) {
    const m = v.indefinite as { [k: string]: Item };
    return Buffer.concat([Buffer.from([0xbf]), ...Object.entries(m).flatMap(([k, x]) => [cbor(k), cbor(x)]), Buffer.from([0xff])]);
  }
  const m = v as { [k: string]: Item };
  return Buffer.concat([head(5, Object.keys(m).length), ...Object.entries(m).flatMap(([k, x]) => [cbor(k), cbor(x)])]);
}

const isSecret = (n: string) => /password|token|secret/i.test(n);

test('a CBOR map loses the values of its sensitive keys at any depth, its other items stay and it still parses', () => {
  const body = cbor({ user: 'visible-user', password: 'cborSECRET1', nested: [{ api_token: Buffer.from('cborSECRET2'), count: 300 }], meta: { indefinite: { client_secret: 'cborSECRET3', region: 'visible-region' } } });
  const red = redactCbor(body, isSecret)!;
  const expected = cbor({ user: 'visible-user', password: '[REDACTED]', nested: [{ api_token: '[REDACTED]', count: 300 }], meta: { indefinite: { client_secret: '[REDACTED]', region: 'visible-region' } } });
  assert.deepEqual(red, expected);
  // Nothing to redact, or bytes that are not CBOR to the end: nothing rewritten.
  assert.equal(redactCbor(cbor({ user: 'visible-user' }), isSecret), undefined);
  assert.equal(redactCbor(Buffer.concat([cbor({ password: 'x1' }).subarray(0, 5)]), isSecret), undefined);
  assert.equal(redactCbor(Buffer.from([0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), isSecret), undefined);
  // Nesting past the bound is not walked (no stack overflow).
  assert.equal(redactCbor(Buffer.concat([Buffer.alloc(100_000, 0x81), Buffer.from([0x00])]), isSecret), undefined);
});

test('dissect: an application/cbor body loses its secrets in every output; with --no-redact they are there', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'shark-cbor-'));
  try {
    const body = cbor({ username: 'x', password: 'cborWIRE7secret', device: { refresh_token: 'cborWIRE8secret', model: 'visible-model' } });
    const w = new Wire();
    const reqHead = `POST /api/login HTTP/1.1\r\nHost: iot\r\nContent-Type: application/cbor\r\nContent-Length: ${body.length}\r\n\r\n`;
    w.send(1_700_000_000_000, 1, 40001, 80, Buffer.concat([Buffer.from(reqHead), body]));
    w.send(1_700_000_000_001, 2, 80, 40001, 'HTTP/1.1 204 No Content\r\n\r\n');
    const pcap = join(dir, 'cbor.pcap');
    writeRawPcap(pcap, w.packets);
    const decoded = (out: string) => {
      const e = JSON.parse(out.trim().split('\n')[0]);
      assert.equal(e.request.bodyEncoding, 'base64');
      return Buffer.from(e.request.body, 'base64');
    };
    const plain = await runCli(['dissect', pcap, '--no-redact']);
    assert.ok(decoded(plain.stdout).includes('cborWIRE7secret') && decoded(plain.stdout).includes('cborWIRE8secret'));
    for (const format of ['json', 'detail']) {
      const r = await runCli(['dissect', pcap, '-o', format]);
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stdout + r.stderr, /cborWIRE|Y2JvcldJUkU/);
    }
    const r = await runCli(['dissect', pcap]);
    assert.deepEqual(decoded(r.stdout), cbor({ username: '[REDACTED]', password: '[REDACTED]', device: { refresh_token: '[REDACTED]', model: 'visible-model' } }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
