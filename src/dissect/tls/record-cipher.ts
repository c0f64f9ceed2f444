// Decrypt one direction's TLS records, in order, with its keys and its own
// sequence number (RFC 5246 §6.2.3, RFC 8446 §5.2–5.3). A record that does
// not authenticate returns null and leaves the sequence number alone, so the
// caller may try other keys (TLS 1.3 moves from handshake to application
// keys, and on KeyUpdate to the next generation, without a clear-text sign).
import { createDecipheriv, createHmac, timingSafeEqual } from 'node:crypto';
import type { CipherSuite } from './cipher-suites.js';
import type { RecordKeys } from './key-schedule.js';

export interface Plaintext {
  /** The content type: the record's own (TLS 1.2) or the inner one (TLS 1.3). */
  type: number;
  data: Buffer;
}

const TAG = 16;

export class RecordCipher {
  /** Records decrypted with these keys so far: the next record's sequence number. */
  seq = 0n;

  constructor(
    readonly suite: CipherSuite,
    readonly keys: RecordKeys,
    /** TLS 1.2 CBC with the encrypt_then_mac extension (RFC 7366). */
    private readonly encryptThenMac = false,
  ) {}

  /** `header` is the record's 5 bytes, `body` what follows. */
  decrypt(header: Buffer, body: Buffer): Plaintext | null {
    let out: Plaintext | null;
    try {
      out = this.suite.tls13 ? this.open13(header, body) : this.suite.cipher.endsWith('cbc') ? this.openCbc(header, body) : this.open12(header, body);
    } catch {
      out = null;
    }
    if (out) this.seq++;
    return out;
  }

  private nonce(iv: Buffer): Buffer {
    const n = Buffer.from(iv);
    const seq = Buffer.alloc(8);
    seq.writeBigUInt64BE(this.seq);
    for (let i = 0; i < 8; i++) n[n.length - 8 + i] ^= seq[i];
    return n;
  }

  private aead(nonce: Buffer, aad: Buffer, ciphertext: Buffer, tag: Buffer): Buffer {
    const d = createDecipheriv(this.suite.cipher as 'aes-128-gcm', this.keys.key, nonce, { authTagLength: TAG });
    d.setAAD(aad, { plaintextLength: ciphertext.length });
    d.setAuthTag(tag);
    return Buffer.concat([d.update(ciphertext), d.final()]);
  }

  /** TLS 1.3: nonce = IV xor seq; the additional data is the record header; the real type ends the plaintext, before zero padding. */
  private open13(header: Buffer, body: Buffer): Plaintext | null {
    if (body.length < TAG + 1) return null;
    const plain = this.aead(this.nonce(this.keys.iv), header, body.subarray(0, body.length - TAG), body.subarray(body.length - TAG));
    let end = plain.length;
    while (end > 0 && plain[end - 1] === 0) end--;
    if (end === 0) return null;
    return { type: plain[end - 1], data: plain.subarray(0, end - 1) };
  }

  /** TLS 1.2 AEAD: GCM carries an 8-byte explicit nonce; ChaCha20-Poly1305 uses IV xor seq. */
  private open12(header: Buffer, body: Buffer): Plaintext | null {
    const gcm = this.suite.cipher.endsWith('gcm');
    const explicit = gcm ? 8 : 0;
    if (body.length < explicit + TAG) return null;
    const nonce = gcm ? Buffer.concat([this.keys.iv, body.subarray(0, 8)]) : this.nonce(this.keys.iv);
    const ciphertext = body.subarray(explicit, body.length - TAG);
    const plain = this.aead(nonce, this.aad12(header, ciphertext.length), ciphertext, body.subarray(body.length - TAG));
    return { type: header[0], data: plain };
  }

  /** TLS 1.2 CBC: an explicit IV, then (MAC-then-encrypt) data‖MAC‖padding, or (encrypt-then-MAC) a MAC over the ciphertext. */
  private openCbc(header: Buffer, body: Buffer): Plaintext | null {
    const macLen = this.suite.macLen!;
    const macKey = this.keys.macKey!;
    let encrypted = body;
    if (this.encryptThenMac) {
      if (body.length < 16 + macLen) return null;
      encrypted = body.subarray(0, body.length - macLen);
      const mac = createHmac(this.suite.mac!, macKey).update(this.aad12(header, encrypted.length)).update(encrypted).digest();
      if (!timingSafeEqual(mac, body.subarray(body.length - macLen))) return null;
    }
    if (encrypted.length < 32 || encrypted.length % 16 !== 0) return null;
    const d = createDecipheriv(this.suite.cipher, this.keys.key, encrypted.subarray(0, 16));
    d.setAutoPadding(false);
    const plain = Buffer.concat([d.update(encrypted.subarray(16)), d.final()]);
    const pad = plain[plain.length - 1];
    let end = plain.length - pad - 1;
    if (end < 0) return null;
    for (let i = end; i < plain.length; i++) if (plain[i] !== pad) return null;
    if (!this.encryptThenMac) {
      end -= macLen;
      if (end < 0) return null;
      const data = plain.subarray(0, end);
      const mac = createHmac(this.suite.mac!, macKey).update(this.aad12(header, data.length)).update(data).digest();
      if (!timingSafeEqual(mac, plain.subarray(end, end + macLen))) return null;
      return { type: header[0], data };
    }
    return { type: header[0], data: plain.subarray(0, end) };
  }

  /** seq_num ‖ type ‖ version ‖ length: TLS 1.2's additional data (and MAC input). */
  private aad12(header: Buffer, length: number): Buffer {
    const a = Buffer.alloc(13);
    a.writeBigUInt64BE(this.seq, 0);
    a[8] = header[0];
    a[9] = header[1];
    a[10] = header[2];
    a.writeUInt16BE(length, 11);
    return a;
  }
}
