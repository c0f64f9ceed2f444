// From logged secrets to record keys: the PRF key block of TLS 1.2 (RFC 5246
// §6.3) and of TLS 1.0/1.1 (RFC 2246 §5–6.3: MD5 and SHA-1 combined), and TLS
// 1.3's HKDF-Expand-Label (RFC 8446 §7.1, §7.3).
import { createHash, createHmac } from 'node:crypto';
import type { CipherSuite, Hash } from './cipher-suites.js';

export interface RecordKeys {
  key: Buffer;
  /** AEAD: the fixed IV (TLS 1.3, ChaCha) or salt (TLS 1.2 GCM, CCM); CBC: the first record's IV in TLS 1.0 (later versions send one per record). */
  iv: Buffer;
  /** CBC suites: the HMAC key. */
  macKey?: Buffer;
}

const HASH_LEN: Record<Hash, number> = { sha1: 20, sha256: 32, sha384: 48 };

/** P_hash (RFC 5246 §5; RFC 2246 §5 with MD5 and SHA-1). */
function pHash(hash: Hash | 'md5', secret: Buffer, seed: Buffer, length: number): Buffer {
  const out: Buffer[] = [];
  let total = 0;
  let a = seed;
  while (total < length) {
    a = createHmac(hash, secret).update(a).digest();
    const block = createHmac(hash, secret).update(a).update(seed).digest();
    out.push(block);
    total += block.length;
  }
  return Buffer.concat(out).subarray(0, length);
}

/** TLS 1.0 and 1.1's PRF: P_MD5 over the secret's first half xor P_SHA1 over its second (halves share a byte when odd). */
function prf10(secret: Buffer, seed: Buffer, length: number): Buffer {
  const half = Math.ceil(secret.length / 2);
  const md5 = pHash('md5', secret.subarray(0, half), seed, length);
  const sha1 = pHash('sha1', secret.subarray(secret.length - half), seed, length);
  for (let i = 0; i < length; i++) md5[i] ^= sha1[i];
  return md5;
}

/** The record protocol version of a TLS 1.0 ServerHello (0x0301); 1.1 is 0x0302, 1.2 0x0303. */
export const TLS10 = 0x0301;
export const TLS12 = 0x0303;

/** TLS 1.0–1.2: client and server write keys from the master secret and the two hello randoms. */
export function tls12Keys(suite: CipherSuite, master: Buffer, clientRandom: Buffer, serverRandom: Buffer, version = TLS12): { client: RecordKeys; server: RecordKeys } {
  const macLen = suite.macLen ?? 0;
  // GCM, CCM: a 4-byte salt; ChaCha20-Poly1305: a 12-byte IV; CBC: IVs travel in each
  // record, except in TLS 1.0, where the first comes from here and each next is the
  // last ciphertext block before it.
  // NULL encryption: MAC keys alone.
  const ivLen = suite.cipher === 'null' ? 0 : suite.cipher === 'chacha20-poly1305' ? 12 : suite.cipher.endsWith('gcm') || suite.cipher.endsWith('ccm') ? 4 : version <= TLS10 ? 16 : 0;
  const seed = Buffer.concat([Buffer.from('key expansion', 'latin1'), serverRandom, clientRandom]);
  const length = 2 * (macLen + suite.keyLen + ivLen);
  const block = version < TLS12 ? prf10(master, seed, length) : pHash(suite.hash, master, seed, length);
  let off = 0;
  const take = (n: number): Buffer => block.subarray(off, (off += n));
  const clientMac = take(macLen);
  const serverMac = take(macLen);
  const clientKey = take(suite.keyLen);
  const serverKey = take(suite.keyLen);
  const clientIv = take(ivLen);
  const serverIv = take(ivLen);
  return {
    client: { key: clientKey, iv: clientIv, macKey: macLen ? clientMac : undefined },
    server: { key: serverKey, iv: serverIv, macKey: macLen ? serverMac : undefined },
  };
}

/**
 * TLS 1.0–1.2: the master secret from a logged premaster secret (RFC 5246
 * §8.1), or with extended_master_secret from the hash of the handshake up to
 * the ClientKeyExchange (RFC 7627 §4: the PRF's hash in TLS 1.2, MD5 and SHA-1
 * side by side before).
 */
export function masterFromPremaster(suite: CipherSuite, premaster: Buffer, clientRandom: Buffer, serverRandom: Buffer, version: number, transcript?: Buffer): Buffer {
  const seed = transcript
    ? Buffer.concat([Buffer.from('extended master secret', 'latin1'), version < TLS12 ? Buffer.concat([createHash('md5').update(transcript).digest(), createHash('sha1').update(transcript).digest()]) : createHash(suite.hash).update(transcript).digest()])
    : Buffer.concat([Buffer.from('master secret', 'latin1'), clientRandom, serverRandom]);
  return version < TLS12 ? prf10(premaster, seed, 48) : pHash(suite.hash, premaster, seed, 48);
}

/** HKDF-Expand (RFC 5869) with an already extracted key. */
function hkdfExpand(hash: Hash, prk: Buffer, info: Buffer, length: number): Buffer {
  const out: Buffer[] = [];
  let prev = Buffer.alloc(0);
  for (let i = 1, total = 0; total < length; i++) {
    prev = createHmac(hash, prk).update(prev).update(info).update(Buffer.from([i])).digest();
    out.push(prev);
    total += prev.length;
  }
  return Buffer.concat(out).subarray(0, length);
}

/** HKDF-Expand-Label (RFC 8446 §7.1) with an empty context. */
export function hkdfExpandLabel(hash: Hash, secret: Buffer, label: string, length: number): Buffer {
  const full = Buffer.from(`tls13 ${label}`, 'latin1');
  const info = Buffer.concat([Buffer.from([length >> 8, length & 0xff, full.length]), full, Buffer.from([0])]);
  return hkdfExpand(hash, secret, info, length);
}

/** TLS 1.3: a traffic secret's record key and IV. */
export function tls13Keys(suite: CipherSuite, secret: Buffer): RecordKeys {
  // RFC 9150's integrity-only suites: an IV as long as the HMAC's hash (its nonce too); AEADs: 12 bytes.
  const ivLen = suite.cipher === 'null' ? suite.keyLen : 12;
  return { key: hkdfExpandLabel(suite.hash, secret, 'key', suite.keyLen), iv: hkdfExpandLabel(suite.hash, secret, 'iv', ivLen) };
}

/** TLS 1.3 KeyUpdate: the next generation of a traffic secret (RFC 8446 §7.2). */
export function nextTrafficSecret(suite: CipherSuite, secret: Buffer): Buffer {
  return hkdfExpandLabel(suite.hash, secret, 'traffic upd', HASH_LEN[suite.hash]);
}
