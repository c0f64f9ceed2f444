// The cipher suites shark can decrypt with a key log, and what each needs.
// AEAD suites (GCM, ChaCha20-Poly1305) for TLS 1.2 and 1.3; AES-CBC with
// HMAC for TLS 1.2 (MAC-then-encrypt, or encrypt-then-MAC per RFC 7366).

export type Hash = 'sha256' | 'sha384' | 'sha1';

export interface CipherSuite {
  code: number;
  tls13: boolean;
  /** node:crypto cipher name. */
  cipher: 'aes-128-gcm' | 'aes-256-gcm' | 'chacha20-poly1305' | 'aes-128-cbc' | 'aes-256-cbc';
  keyLen: number;
  /** PRF / HKDF hash. */
  hash: Hash;
  /** CBC suites: the record MAC's hash and key length. */
  mac?: Hash;
  macLen?: number;
}

function suite(code: number, cipher: CipherSuite['cipher'], hash: Hash, tls13 = false, mac?: Hash): CipherSuite {
  const keyLen = cipher.includes('128') ? 16 : 32;
  const macLen = mac === undefined ? undefined : mac === 'sha1' ? 20 : mac === 'sha256' ? 32 : 48;
  return { code, tls13, cipher, keyLen, hash, mac, macLen };
}

const SUITES: CipherSuite[] = [
  // TLS 1.3 (RFC 8446 §B.4)
  suite(0x1301, 'aes-128-gcm', 'sha256', true),
  suite(0x1302, 'aes-256-gcm', 'sha384', true),
  suite(0x1303, 'chacha20-poly1305', 'sha256', true),
  // TLS 1.2 AES-GCM (RFC 5288, RFC 5289)
  ...[0xc02b, 0xc02f, 0x009c, 0x009e, 0x00a2, 0x00a6].map((c) => suite(c, 'aes-128-gcm', 'sha256')),
  ...[0xc02c, 0xc030, 0x009d, 0x009f, 0x00a3, 0x00a7].map((c) => suite(c, 'aes-256-gcm', 'sha384')),
  // TLS 1.2 ChaCha20-Poly1305 (RFC 7905)
  ...[0xcca8, 0xcca9, 0xccaa].map((c) => suite(c, 'chacha20-poly1305', 'sha256')),
  // TLS 1.2 AES-CBC with HMAC (RFC 5246, RFC 5289)
  ...[0xc009, 0xc013, 0x002f, 0x0033, 0x0032].map((c) => suite(c, 'aes-128-cbc', 'sha256', false, 'sha1')),
  ...[0xc00a, 0xc014, 0x0035, 0x0039, 0x0038].map((c) => suite(c, 'aes-256-cbc', 'sha256', false, 'sha1')),
  ...[0xc023, 0xc027, 0x003c, 0x0067].map((c) => suite(c, 'aes-128-cbc', 'sha256', false, 'sha256')),
  ...[0xc024, 0xc028].map((c) => suite(c, 'aes-256-cbc', 'sha384', false, 'sha384')),
  ...[0x003d, 0x006b].map((c) => suite(c, 'aes-256-cbc', 'sha256', false, 'sha256')),
];

const BY_CODE = new Map(SUITES.map((s) => [s.code, s]));

export function cipherSuite(code: number): CipherSuite | undefined {
  return BY_CODE.get(code);
}
