// QUIC packet protection (RFC 9001 §5, RFC 9369 for version 2): the keys of
// a packet number space from a secret (Initial secrets from the client's
// first Destination Connection ID, the others from a TLS key log), header
// protection removal, and AEAD decryption. A packet that does not
// authenticate gives null, so callers can try other keys (which suite, which
// key phase) without knowing in advance.

import { createCipheriv, createDecipheriv, createHmac, type DecipherGCM } from 'node:crypto';
import { hkdfExpandLabel } from '../tls/key-schedule.js';
import type { Hash } from '../tls/cipher-suites.js';

export const QUIC_V1 = 0x00000001;
export const QUIC_V2 = 0x6b3343cf;

/** Initial salts (RFC 9001 §5.2, RFC 9369 §3.3.1). */
const INITIAL_SALT: ReadonlyMap<number, Buffer> = new Map([
  [QUIC_V1, Buffer.from('38762cf7f55934b34d179ae6a4c80cadccbb7f0a', 'hex')],
  [QUIC_V2, Buffer.from('0dede3def700a6db819381be6e269dcbf9bd2ed9', 'hex')],
]);

export function knownVersion(version: number): boolean {
  return INITIAL_SALT.has(version);
}

/** The AEADs TLS 1.3 suites give QUIC (AES-CCM is not used by QUIC stacks). */
export interface QuicSuite {
  aead: 'aes-128-gcm' | 'aes-256-gcm' | 'chacha20-poly1305';
  hash: Hash;
  keyLen: number;
}

export const AES_128_GCM: QuicSuite = { aead: 'aes-128-gcm', hash: 'sha256', keyLen: 16 };
export const AES_256_GCM: QuicSuite = { aead: 'aes-256-gcm', hash: 'sha384', keyLen: 32 };
export const CHACHA20: QuicSuite = { aead: 'chacha20-poly1305', hash: 'sha256', keyLen: 32 };

/** The suites a secret of this length may belong to (its hash's output length), most common first. */
export function suitesForSecret(secret: Buffer): QuicSuite[] {
  return secret.length === 48 ? [AES_256_GCM] : [AES_128_GCM, CHACHA20];
}

export interface PacketKeys {
  suite: QuicSuite;
  version: number;
  secret: Buffer;
  key: Buffer;
  iv: Buffer;
  hp: Buffer;
}

function labels(version: number): { key: string; iv: string; hp: string; ku: string } {
  return version === QUIC_V2
    ? { key: 'quicv2 key', iv: 'quicv2 iv', hp: 'quicv2 hp', ku: 'quicv2 ku' }
    : { key: 'quic key', iv: 'quic iv', hp: 'quic hp', ku: 'quic ku' };
}

export function packetKeys(suite: QuicSuite, version: number, secret: Buffer): PacketKeys {
  const l = labels(version);
  return {
    suite,
    version,
    secret,
    key: hkdfExpandLabel(suite.hash, secret, l.key, suite.keyLen),
    iv: hkdfExpandLabel(suite.hash, secret, l.iv, 12),
    hp: hkdfExpandLabel(suite.hash, secret, l.hp, suite.keyLen),
  };
}

/** The next key phase's keys (RFC 9001 §6): a new secret, key and IV; header protection stays. */
export function nextPhase(k: PacketKeys): PacketKeys {
  const l = labels(k.version);
  const secret = hkdfExpandLabel(k.suite.hash, k.secret, l.ku, k.secret.length);
  return { ...k, secret, key: hkdfExpandLabel(k.suite.hash, secret, l.key, k.suite.keyLen), iv: hkdfExpandLabel(k.suite.hash, secret, l.iv, 12) };
}

/**
 * Initial keys made lately, by version and connection id: the probe that
 * recognises a client's first Initial and the parser that then reads it need
 * the same keys, and each key costs HMACs (a flood of Initials pays per packet).
 */
const recentInitial = new Map<string, { secret: Buffer; client?: PacketKeys; server?: PacketKeys }>();
const RECENT_INITIAL = 64;

/** One direction's Initial keys, from the Destination Connection ID of the client's first Initial. */
export function initialKeys(version: number, dcid: Buffer, side: 'client' | 'server'): PacketKeys | undefined {
  const salt = INITIAL_SALT.get(version);
  if (!salt) return undefined;
  const id = `${version}:${dcid.toString('hex')}`;
  let known = recentInitial.get(id);
  if (!known) {
    if (recentInitial.size >= RECENT_INITIAL) recentInitial.delete(recentInitial.keys().next().value as string);
    known = { secret: createHmac('sha256', salt).update(dcid).digest() };
    recentInitial.set(id, known);
  }
  return (known[side] ??= packetKeys(AES_128_GCM, version, hkdfExpandLabel('sha256', known.secret, side === 'client' ? 'client in' : 'server in', 32)));
}

/** The 5-byte header protection mask from a 16-byte sample of the ciphertext. */
export function headerMask(k: PacketKeys, sample: Buffer): Buffer {
  if (k.suite.aead === 'chacha20-poly1305') {
    // The sample's first 4 bytes are the block counter, the rest the nonce (RFC 9001 §5.4.4).
    const c = createCipheriv('chacha20', k.hp, sample);
    return c.update(Buffer.alloc(5));
  }
  const c = createCipheriv(k.suite.aead === 'aes-128-gcm' ? 'aes-128-ecb' : 'aes-256-ecb', k.hp, null);
  c.setAutoPadding(false);
  return c.update(sample).subarray(0, 5);
}

/**
 * Header protection taken off a packet (RFC 9001 §5.4): the unprotected
 * header (its first byte and packet number in the clear, the AEAD's
 * associated data) and the truncated packet number with its length.
 */
export function unprotectHeader(k: PacketKeys, packet: Buffer, pnOffset: number, long: boolean): { header: Buffer; truncated: number; pnLength: number } {
  const mask = headerMask(k, packet.subarray(pnOffset + 4, pnOffset + 20));
  const first = packet[0] ^ (mask[0] & (long ? 0x0f : 0x1f));
  const pnLength = (first & 0x03) + 1;
  const header = Buffer.from(packet.subarray(0, pnOffset + pnLength));
  header[0] = first;
  let truncated = 0;
  for (let j = 0; j < pnLength; j++) {
    header[pnOffset + j] ^= mask[1 + j];
    truncated = truncated * 256 + header[pnOffset + j];
  }
  return { header, truncated, pnLength };
}

/** The payload of a packet whose header (`aad`, unprotected) is followed by `ciphertext` (tag included); null if it does not authenticate. */
export function openPayload(k: PacketKeys, packetNumber: number, aad: Buffer, ciphertext: Buffer): Buffer | null {
  if (ciphertext.length < 16) return null;
  const nonce = Buffer.from(k.iv);
  // The packet number, big-endian, XORed into the IV's last bytes (at most 62 bits; a JavaScript number holds them).
  let pn = packetNumber;
  for (let i = 11; i >= 4 && pn > 0; i--) {
    nonce[i] ^= pn % 256;
    pn = Math.floor(pn / 256);
  }
  try {
    // GCM and ChaCha20-Poly1305 decipher alike (AAD, then the 16-byte tag).
    const d = createDecipheriv(k.suite.aead as 'aes-128-gcm', k.key, nonce, { authTagLength: 16 }) as DecipherGCM;
    d.setAAD(aad);
    d.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
    const out = d.update(ciphertext.subarray(0, ciphertext.length - 16));
    d.final();
    return out;
  } catch {
    return null;
  }
}

/** RFC 9000 §A.3: the full packet number from its truncated form and the largest one seen in its space. */
export function decodePacketNumber(largest: number, truncated: number, bits: number): number {
  const expected = largest + 1;
  const win = 2 ** bits;
  const half = win / 2;
  const candidate = Math.floor(expected / win) * win + truncated;
  if (candidate <= expected - half && candidate < 2 ** 62 - win) return candidate + win;
  if (candidate > expected + half && candidate >= win) return candidate - win;
  return candidate;
}
