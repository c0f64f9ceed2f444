// TLS 1.0's chained CBC IV (RFC 2246 §6.2.3.2) in RecordCipher: records are
// sealed here with node:crypto as a TLS 1.0 peer seals them (MAC-then-encrypt,
// and encrypt-then-MAC per RFC 7366), then opened with a record lost on the
// way. What follows the hole must decrypt again, and nothing garbled may come
// out as plaintext, whichever way the record was MACed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { RecordCipher } from '../../src/dissect/tls/record-cipher.js';
import { cipherSuite } from '../../src/dissect/tls/cipher-suites.js';

const SUITE = cipherSuite(0x002f)!; // TLS_RSA_WITH_AES_128_CBC_SHA
const TLS10 = [0x03, 0x01];

class Sealer {
  seq = 0n;
  constructor(
    private readonly key: Buffer,
    private readonly macKey: Buffer,
    private iv: Buffer,
    private readonly etm: boolean,
  ) {}

  private mac(length: number, data: Buffer): Buffer {
    const ad = Buffer.alloc(13);
    ad.writeBigUInt64BE(this.seq, 0);
    ad[8] = 23;
    ad[9] = TLS10[0];
    ad[10] = TLS10[1];
    ad.writeUInt16BE(length, 11);
    return createHmac('sha1', this.macKey).update(ad).update(data).digest();
  }

  seal(text: string): { header: Buffer; body: Buffer } {
    const data = Buffer.from(text);
    const inner = this.etm ? data : Buffer.concat([data, this.mac(data.length, data)]);
    const pad = 15 - (inner.length % 16);
    const padded = Buffer.concat([inner, Buffer.alloc(pad + 1, pad)]);
    const c = createCipheriv('aes-128-cbc', this.key, this.iv);
    c.setAutoPadding(false);
    const encrypted = Buffer.concat([c.update(padded), c.final()]);
    this.iv = encrypted.subarray(encrypted.length - 16);
    const body = this.etm ? Buffer.concat([encrypted, this.mac(encrypted.length, encrypted)]) : encrypted;
    this.seq++;
    const header = Buffer.from([23, ...TLS10, body.length >> 8, body.length & 0xff]);
    return { header, body };
  }
}

for (const etm of [false, true]) {
  test(`TLS 1.0 CBC (${etm ? 'encrypt-then-MAC' : 'MAC-then-encrypt'}): the chain holds record to record, and is picked up after a lost record without garbage`, () => {
    const key = randomBytes(16);
    const macKey = randomBytes(20);
    const iv = randomBytes(16);
    const sealer = new Sealer(key, macKey, iv, etm);
    const texts = ['GET /one HTTP/1.1\r\n\r\n', 'GET /two-is-longer-than-a-block HTTP/1.1\r\n\r\n', 'GET /three HTTP/1.1\r\nHost: web\r\n\r\n', 'GET /four HTTP/1.1\r\n\r\n', 'GET /five HTTP/1.1\r\n\r\n'];
    const records = texts.map((t) => sealer.seal(t));

    const whole = new RecordCipher(SUITE, { key, iv, macKey }, etm, true);
    assert.deepEqual(records.map((r) => whole.decrypt(r.header, r.body)?.data.toString()), texts);

    // Record 2 (/two…) lost in a gap: the caller says so, then finds record 3 one sequence number on.
    const holed = new RecordCipher(SUITE, { key, iv, macKey }, etm, true);
    assert.equal(holed.decrypt(records[0].header, records[0].body)?.data.toString(), texts[0]);
    holed.chainBroken();
    holed.seq += 1n;
    const after = holed.decrypt(records[2].header, records[2].body);
    if (after === null) {
      // MAC-then-encrypt: the garbled first block fails the MAC; the chain goes on from the record's ciphertext.
      assert.equal(etm, false);
      holed.skip(records[2].body);
      holed.seq += 1n;
    } else {
      // Encrypt-then-MAC authenticates the ciphertext, so the record passes: it must come back empty, not garbled.
      assert.equal(etm, true);
      assert.equal(after.data.length, 0, `made-up plaintext: ${JSON.stringify(after.data.toString('latin1'))}`);
    }
    assert.equal(holed.decrypt(records[3].header, records[3].body)?.data.toString(), texts[3]);
    assert.equal(holed.decrypt(records[4].header, records[4].body)?.data.toString(), texts[4]);
  });
}

test('a record tried under the wrong sequence numbers does not move the TLS 1.0 chain', () => {
  const key = randomBytes(16);
  const macKey = randomBytes(20);
  const iv = randomBytes(16);
  const sealer = new Sealer(key, macKey, iv, false);
  const records = ['first record', 'second record'].map((t) => sealer.seal(t));
  const c = new RecordCipher(SUITE, { key, iv, macKey }, false, true);
  // A resync tries one record at seq 5, 6, … before the right one (0).
  for (const seq of [5n, 6n, 7n]) {
    c.seq = seq;
    assert.equal(c.decrypt(records[0].header, records[0].body), null);
  }
  c.seq = 0n;
  assert.equal(c.decrypt(records[0].header, records[0].body)?.data.toString(), 'first record');
  assert.equal(c.decrypt(records[1].header, records[1].body)?.data.toString(), 'second record');
});
