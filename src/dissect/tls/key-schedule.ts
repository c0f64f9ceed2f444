// From logged secrets to record keys: TLS 1.2's PRF key block (RFC 5246 §6.3)
// and TLS 1.3's HKDF-Expand-Label (RFC 8446 §7.1, §7.3).
import { createHmac } from 'node:crypto';
import type { CipherSuite, Hash } from './cipher-suites.js';

export interface RecordKeys {
  key: Buffer;
  /** AEAD: the fixed IV (TLS 1.3, ChaCha) or salt (TLS 1.2 GCM); CBC: unused. */
  iv: Buffer;
  /** CBC suites: the HMAC key. */
  macKey?: Buffer;
}

const HASH_LEN: Record<Hash, number> = { sha1: 20, sha256: 32, sha384: 48 };

/** TLS 1.2 P_hash (RFC 5246 §5). */
function pHash(hash: Hash, secret: Buffer, seed: Buffer, length: number): Buffer {
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

/** TLS 1.2: client and server write keys from the master secret and the two hello randoms. */
export function tls12Keys(suite: CipherSuite, master: Buffer, clientRandom: Buffer, serverRandom: Buffer): { client: RecordKeys; server: RecordKeys } {
  const macLen = suite.macLen ?? 0;
  // GCM: a 4-byte salt; ChaCha20-Poly1305: a 12-byte IV; CBC: IVs travel in each record.
  const ivLen = suite.cipher === 'chacha20-poly1305' ? 12 : suite.cipher.endsWith('gcm') ? 4 : 0;
  const seed = Buffer.concat([Buffer.from('key expansion', 'latin1'), serverRandom, clientRandom]);
  const block = pHash(suite.hash, master, seed, 2 * (macLen + suite.keyLen + ivLen));
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
  return { key: hkdfExpandLabel(suite.hash, secret, 'key', suite.keyLen), iv: hkdfExpandLabel(suite.hash, secret, 'iv', 12) };
}

/** TLS 1.3 KeyUpdate: the next generation of a traffic secret (RFC 8446 §7.2). */
export function nextTrafficSecret(suite: CipherSuite, secret: Buffer): Buffer {
  return hkdfExpandLabel(suite.hash, secret, 'traffic upd', HASH_LEN[suite.hash]);
}
