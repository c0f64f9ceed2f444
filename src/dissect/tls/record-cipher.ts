// Decrypt one direction's TLS records, in order, with its keys and its own
// sequence number (RFC 5246 §6.2.3, RFC 8446 §5.2–5.3; RFC 2246 §6.2.3.2 for
// TLS 1.0's chained CBC IV). A record that does
// not authenticate returns null and leaves the sequence number alone, so the
// caller may try other keys (TLS 1.3 moves from handshake to application
// keys, and on KeyUpdate to the next generation, without a clear-text sign).
import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual } from 'node:crypto';
import type { CipherSuite } from './cipher-suites.js';
import type { RecordKeys } from './key-schedule.js';

export interface Plaintext {
  /** The content type: the record's own (TLS 1.2) or the inner one (TLS 1.3). */
  type: number;
  data: Buffer;
}

export class RecordCipher {
  /** Records decrypted with these keys so far: the next record's sequence number. */
  seq = 0n;
  /** TLS 1.0 CBC: the next record's IV (the key block's, then each record's last ciphertext block). */
  private chainedIv: Buffer | undefined;
  /** TLS 1.0 CBC after a gap: the next record's IV was the lost bytes' last block. */
  private ivLost = false;

  constructor(
    readonly suite: CipherSuite,
    readonly keys: RecordKeys,
    /** TLS 1.2 CBC with the encrypt_then_mac extension (RFC 7366). */
    private readonly encryptThenMac = false,
    /** TLS 1.0: CBC records carry no IV of their own. */
    implicitIv = false,
  ) {
    if (implicitIv) this.chainedIv = keys.iv;
  }

  /** `header` is the record's 5 bytes, `body` what follows. */
  decrypt(header: Buffer, body: Buffer): Plaintext | null {
    let out: Plaintext | null;
    try {
      const c = this.suite.cipher;
      out = this.suite.tls13 ? this.open13(header, body) : c === 'null' ? this.openNull(header, body) : c.endsWith('cbc') ? this.openCbc(header, body) : this.open12(header, body);
    } catch {
      out = null;
    }
    if (out) this.seq++;
    return out;
  }

  /**
   * A record that did not authenticate (after a gap, or a wrong guess while
   * resynchronising): in TLS 1.0 the next record's IV is this one's last
   * ciphertext block all the same, so the chain goes on from it.
   */
  skip(body: Buffer): void {
    if (!this.chainedIv) return;
    const encrypted = this.encryptThenMac ? body.subarray(0, Math.max(0, body.length - this.suite.macLen!)) : body;
    if (encrypted.length >= 16 && encrypted.length % 16 === 0) this.chainedIv = Buffer.from(encrypted.subarray(encrypted.length - 16));
    // MAC-then-encrypt: a wrong IV garbles the MACed plaintext, so the next record's MAC tells.
    // Encrypt-then-MAC cannot tell (its MAC covers the ciphertext): see chainBroken.
    if (!this.encryptThenMac) this.ivLost = false;
  }

  /**
   * The plaintext `records` lost records carried, `bytes` bytes of them in all
   * (their headers included): at most `length`. CBC pads each record with 1 to
   * 256 bytes that a lost record does not show, so its plaintext may be up to
   * `slack` bytes less; AEAD records have no padding in TLS 1.2 (and TLS 1.3's
   * optional padding is taken as unused), so there `slack` is 0.
   */
  lostPlaintext(bytes: number, records: number): { length: number; slack: number } {
    const s = this.suite;
    let overhead: number;
    let slack = 0;
    if (s.tls13) overhead = 5 + s.tagLen + 1;
    else if (s.cipher === 'null') overhead = 5 + s.macLen!;
    else if (s.cipher === 'chacha20-poly1305') overhead = 5 + s.tagLen;
    else if (!s.cipher.endsWith('cbc')) overhead = 5 + 8 + s.tagLen;
    else {
      // Header, the record's own IV (none in TLS 1.0), MAC, and the least padding: one byte.
      overhead = 5 + (this.chainedIv ? 0 : 16) + s.macLen! + 1;
      slack = 255 * records;
    }
    const length = Math.max(0, bytes - records * overhead);
    return { length, slack: Math.min(slack, length) };
  }

  /**
   * Bytes of this direction were lost (a gap). In TLS 1.0 the IV of the next
   * record was in them. With encrypt-then-MAC that record still authenticates
   * and would decrypt with its first block garbled, so the first record that
   * authenticates after the gap only restores the chain: it is given back
   * empty, never as made-up plaintext.
   */
  chainBroken(): void {
    if (this.chainedIv) this.ivLost = true;
  }

  private nonce(iv: Buffer): Buffer {
    const n = Buffer.from(iv);
    const seq = Buffer.alloc(8);
    seq.writeBigUInt64BE(this.seq);
    for (let i = 0; i < 8; i++) n[n.length - 8 + i] ^= seq[i];
    return n;
  }

  private aead(nonce: Buffer, aad: Buffer, ciphertext: Buffer, tag: Buffer): Buffer {
    const d = createDecipheriv(this.suite.cipher as 'aes-128-ccm', this.keys.key, nonce, { authTagLength: this.suite.tagLen });
    // CCM wants the tag before the additional data, and the data in one update (node:crypto).
    d.setAuthTag(tag);
    d.setAAD(aad, { plaintextLength: ciphertext.length });
    const plain = d.update(ciphertext);
    d.final();
    return plain;
  }

  /** TLS 1.3: nonce = IV xor seq; the additional data is the record header; the real type ends the plaintext, before zero padding. */
  private open13(header: Buffer, body: Buffer): Plaintext | null {
    const tag = this.suite.tagLen;
    if (body.length < tag + 1) return null;
    const plain = this.suite.cipher === 'null' ? this.openIntegrityOnly(header, body) : this.aead(this.nonce(this.keys.iv), header, body.subarray(0, body.length - tag), body.subarray(body.length - tag));
    if (!plain) return null;
    let end = plain.length;
    while (end > 0 && plain[end - 1] === 0) end--;
    if (end === 0) return null;
    return { type: plain[end - 1], data: plain.subarray(0, end - 1) };
  }

  /**
   * RFC 9150: the inner plaintext travels as is, followed by HMAC(key, nonce ‖
   * header ‖ inner plaintext); checked when the key is known, else (a session
   * the key log does not name) taken unchecked: the caller says so.
   */
  private openIntegrityOnly(header: Buffer, body: Buffer): Buffer | null {
    const tag = this.suite.tagLen;
    const plain = body.subarray(0, body.length - tag);
    if (this.keys.key.length > 0) {
      const mac = createHmac(this.suite.mac!, this.keys.key).update(this.nonce(this.keys.iv)).update(header).update(plain).digest();
      if (!timingSafeEqual(mac, body.subarray(body.length - tag))) return null;
    }
    return plain;
  }

  /** TLS 1.2 AEAD: GCM and CCM carry an 8-byte explicit nonce after the salt; ChaCha20-Poly1305 uses IV xor seq. */
  private open12(header: Buffer, body: Buffer): Plaintext | null {
    const salted = this.suite.cipher !== 'chacha20-poly1305';
    const explicit = salted ? 8 : 0;
    const tag = this.suite.tagLen;
    if (body.length < explicit + tag) return null;
    const nonce = salted ? Buffer.concat([this.keys.iv, body.subarray(0, 8)]) : this.nonce(this.keys.iv);
    const ciphertext = body.subarray(explicit, body.length - tag);
    const plain = this.aead(nonce, this.aad12(header, ciphertext.length), ciphertext, body.subarray(body.length - tag));
    return { type: header[0], data: plain };
  }

  /**
   * NULL encryption: the plaintext, then its MAC, checked when the keys are
   * known (`macKey`); without them (a session the key log does not name) the
   * plaintext is taken as it is, unchecked: the caller says so.
   */
  private openNull(header: Buffer, body: Buffer): Plaintext | null {
    const macLen = this.suite.macLen!;
    if (body.length < macLen) return null;
    const data = body.subarray(0, body.length - macLen);
    const macKey = this.keys.macKey;
    if (macKey) {
      const mac = createHmac(this.suite.mac!, macKey).update(this.aad12(header, data.length)).update(data).digest();
      if (!timingSafeEqual(mac, body.subarray(data.length))) return null;
    }
    return { type: header[0], data };
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
    const chained = this.chainedIv;
    if (encrypted.length < (chained ? 16 : 32) || encrypted.length % 16 !== 0) return null;
    if (chained && this.ivLost && this.encryptThenMac) {
      // Authenticated (the MAC above), but its IV is gone: the chain goes on from it, its plaintext does not.
      this.ivLost = false;
      this.chainedIv = Buffer.from(encrypted.subarray(encrypted.length - 16));
      return { type: header[0], data: Buffer.alloc(0) };
    }
    const d = createDecipheriv(this.suite.cipher as 'aes-128-cbc', this.keys.key, chained ?? encrypted.subarray(0, 16));
    d.setAutoPadding(false);
    const plain = Buffer.concat([d.update(chained ? encrypted : encrypted.subarray(16)), d.final()]);
    const opened = this.checkCbc(header, plain, macLen, macKey);
    // Only a record that authenticates moves the chain on here (a resync tries one record under several sequence numbers); skip() moves it past one that does not.
    if (opened && chained) {
      this.chainedIv = Buffer.from(encrypted.subarray(encrypted.length - 16));
      this.ivLost = false;
    }
    return opened;
  }

  /** The CBC plaintext's padding and (MAC-then-encrypt) MAC checked: the record's data, or null. */
  private checkCbc(header: Buffer, plain: Buffer, macLen: number, macKey: Buffer): Plaintext | null {
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

/** A TLS 1.0–1.2 Finished message's first bytes: its type (20) and length (12: verify_data). */
const FINISHED_HEAD = Buffer.from([20, 0, 0, 12]);

/**
 * Whether `body`, a direction's first record under `keys` (sequence number 0),
 * may be a TLS 1.0–1.2 Finished: its first plaintext bytes, found with one
 * block of the cipher and no authentication, read as one. A cheap sieve for
 * trying many master secrets on a resumed session (false for nearly all wrong
 * ones, without the cost of an authentication failing); the record is then
 * opened for real with the one that passes.
 */
export function mayBeFinished(suite: CipherSuite, keys: RecordKeys, body: Buffer, implicitIv: boolean): boolean {
  try {
    const head = firstPlaintextBytes(suite, keys, body, implicitIv);
    return head === undefined || head.subarray(0, 4).equals(FINISHED_HEAD);
  } catch {
    return true;
  }
}

/** The record's first plaintext bytes (unauthenticated), or undefined when this suite is not sieved. */
function firstPlaintextBytes(suite: CipherSuite, keys: RecordKeys, body: Buffer, implicitIv: boolean): Buffer | undefined {
  const c = suite.cipher;
  if (c === 'null') return body;
  if (c.endsWith('cbc')) {
    // TLS 1.1 on: an explicit IV, then the first block; TLS 1.0: the key block's IV.
    const [iv, block] = implicitIv ? [keys.iv, body.subarray(0, 16)] : [body.subarray(0, 16), body.subarray(16, 32)];
    if (block.length < 16) return Buffer.alloc(0);
    const d = createDecipheriv(c, keys.key, iv);
    d.setAutoPadding(false);
    return d.update(block);
  }
  const counter = Buffer.alloc(16);
  let stream: 'aes-128-ctr' | 'aes-256-ctr' | 'aria-128-ctr' | 'aria-256-ctr' | 'chacha20';
  let data: Buffer;
  if (c === 'chacha20-poly1305') {
    // RFC 8439: nonce = IV xor sequence number (0 here); the plaintext's keystream starts at block 1 (little-endian counter first, as node takes it).
    counter.writeUInt32LE(1, 0);
    keys.iv.copy(counter, 4);
    stream = 'chacha20';
    data = body;
  } else if (c.endsWith('gcm')) {
    // GCM: salt ‖ explicit nonce ‖ counter 2 (1 is the tag's).
    keys.iv.copy(counter, 0);
    body.copy(counter, 4, 0, 8);
    counter.writeUInt32BE(2, 12);
    stream = `${c.slice(0, -4)}-ctr` as typeof stream;
    data = body.subarray(8);
  } else {
    // CCM (RFC 3610, 6655): flags L−1 = 2 ‖ salt ‖ explicit nonce ‖ counter 1 (0 is the tag's).
    counter[0] = 2;
    keys.iv.copy(counter, 1);
    body.copy(counter, 5, 0, 8);
    counter[15] = 1;
    stream = `${c.slice(0, -4)}-ctr` as typeof stream;
    data = body.subarray(8);
  }
  return createCipheriv(stream, keys.key, counter).update(data.subarray(0, 4));
}
