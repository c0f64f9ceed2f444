// The cipher suites shark can decrypt with a key log, and what each needs.
// AEAD suites (GCM, CCM, CCM_8, ChaCha20-Poly1305; ARIA-GCM) for TLS 1.2 and 1.3;
// AES-CBC and Camellia-CBC with HMAC for TLS 1.0–1.2 (MAC-then-encrypt, or
// encrypt-then-MAC per RFC 7366). The key exchange does not matter: the key log gives the
// master secret (TLS 1.2) or the traffic secrets (TLS 1.3), so RSA, (EC)DH,
// (EC)DHE, PSK and SRP suites with the same record protection are the same here.
// NULL-encryption suites (HMAC only, RFC 5246 §A.5, 4785, 5487, 4492, 5489)
// carry their plaintext as is: it is read, with the MAC checked when the key
// log gives the session's keys. The TLS 1.3 integrity-only suites (RFC 9150:
// TLS_SHA256_SHA256, TLS_SHA384_SHA384) are their TLS 1.3 kin: each record's
// inner plaintext as is, then an HMAC over nonce, header and plaintext whose
// key and IV are as long as the hash.

export type Hash = 'sha256' | 'sha384' | 'sha1';
/** A record MAC's hash: the PRF's, or MD5 (TLS_RSA_WITH_NULL_MD5). */
export type MacHash = Hash | 'md5';

export interface CipherSuite {
  code: number;
  tls13: boolean;
  /** node:crypto cipher name. */
  cipher: 'aes-128-gcm' | 'aes-256-gcm' | 'aes-128-ccm' | 'aes-256-ccm' | 'chacha20-poly1305' | 'aes-128-cbc' | 'aes-256-cbc' | 'aria-128-gcm' | 'aria-256-gcm' | 'camellia-128-cbc' | 'camellia-256-cbc' | 'null';
  keyLen: number;
  /** PRF / HKDF hash (TLS 1.2 and 1.3; TLS 1.0 and 1.1 have their own PRF). */
  hash: Hash;
  /** AEAD suites: the tag's length (8 for the CCM_8 suites, else 16). */
  tagLen: number;
  /** CBC and NULL suites: the record MAC's hash and key length. */
  mac?: MacHash;
  macLen?: number;
}

function suite(code: number, cipher: CipherSuite['cipher'], hash: Hash, tls13 = false, mac?: MacHash, tagLen = 16): CipherSuite {
  const keyLen = cipher === 'null' ? 0 : cipher.includes('128') ? 16 : 32;
  const macLen = mac === undefined ? undefined : { md5: 16, sha1: 20, sha256: 32, sha384: 48 }[mac];
  return { code, tls13, cipher, keyLen, hash, tagLen, mac, macLen };
}

const tls12 = (codes: number[], cipher: CipherSuite['cipher'], hash: Hash, mac?: MacHash, tagLen = 16): CipherSuite[] => codes.map((c) => suite(c, cipher, hash, false, mac, tagLen));

// Code points from the IANA TLS Cipher Suites registry (checked against `openssl ciphers -V`).
const SUITES: CipherSuite[] = [
  // TLS 1.3 (RFC 8446 §B.4)
  suite(0x1301, 'aes-128-gcm', 'sha256', true),
  suite(0x1302, 'aes-256-gcm', 'sha384', true),
  suite(0x1303, 'chacha20-poly1305', 'sha256', true),
  suite(0x1304, 'aes-128-ccm', 'sha256', true),
  suite(0x1305, 'aes-128-ccm', 'sha256', true, undefined, 8),
  // TLS 1.2 AES-GCM (RFC 5288, 5289, 5487, 8442): RSA, DH(E)-RSA/DSS, ADH, PSK, (EC)DH(E) …
  ...tls12([0x009c, 0x009e, 0x00a0, 0x00a2, 0x00a4, 0x00a6, 0x00a8, 0x00aa, 0x00ac, 0xc02b, 0xc02d, 0xc02f, 0xc031, 0xd001], 'aes-128-gcm', 'sha256'),
  ...tls12([0x009d, 0x009f, 0x00a1, 0x00a3, 0x00a5, 0x00a7, 0x00a9, 0x00ab, 0x00ad, 0xc02c, 0xc02e, 0xc030, 0xc032, 0xd002], 'aes-256-gcm', 'sha384'),
  // TLS 1.2 AES-CCM and CCM_8 (RFC 6655, 7251, 8442): PRF SHA-256 throughout.
  ...tls12([0xc09c, 0xc09e, 0xc0a4, 0xc0a6, 0xc0ac, 0xd005], 'aes-128-ccm', 'sha256'),
  ...tls12([0xc09d, 0xc09f, 0xc0a5, 0xc0a7, 0xc0ad], 'aes-256-ccm', 'sha256'),
  ...tls12([0xc0a0, 0xc0a2, 0xc0a8, 0xc0aa, 0xc0ae, 0xd003], 'aes-128-ccm', 'sha256', undefined, 8),
  ...tls12([0xc0a1, 0xc0a3, 0xc0a9, 0xc0ab, 0xc0af], 'aes-256-ccm', 'sha256', undefined, 8),
  // TLS 1.2 ChaCha20-Poly1305 (RFC 7905)
  ...tls12([0xcca8, 0xcca9, 0xccaa, 0xccab, 0xccac, 0xccad, 0xccae], 'chacha20-poly1305', 'sha256'),
  // AES-CBC with HMAC-SHA1 (RFC 5246, 4492, 4279, 5054): also TLS 1.0 and 1.1.
  ...tls12([0x002f, 0x0030, 0x0031, 0x0032, 0x0033, 0x0034, 0x008c, 0x0090, 0x0094, 0xc004, 0xc009, 0xc00e, 0xc013, 0xc018, 0xc01d, 0xc01e, 0xc01f, 0xc035], 'aes-128-cbc', 'sha256', 'sha1'),
  ...tls12([0x0035, 0x0036, 0x0037, 0x0038, 0x0039, 0x003a, 0x008d, 0x0091, 0x0095, 0xc005, 0xc00a, 0xc00f, 0xc014, 0xc019, 0xc020, 0xc021, 0xc022, 0xc036], 'aes-256-cbc', 'sha256', 'sha1'),
  // AES-CBC with HMAC-SHA256/384 (RFC 5246, 5289, 5487): TLS 1.2.
  ...tls12([0x003c, 0x003e, 0x003f, 0x0040, 0x0067, 0x006c, 0x00ae, 0x00b2, 0x00b6, 0xc023, 0xc025, 0xc027, 0xc029, 0xc037], 'aes-128-cbc', 'sha256', 'sha256'),
  ...tls12([0x003d, 0x0068, 0x0069, 0x006a, 0x006b, 0x006d], 'aes-256-cbc', 'sha256', 'sha256'),
  ...tls12([0x00af, 0x00b3, 0x00b7, 0xc024, 0xc026, 0xc028, 0xc02a, 0xc038], 'aes-256-cbc', 'sha384', 'sha384'),
  // ARIA-GCM (RFC 6209): 128-bit blocks like AES, PRF SHA-256 / SHA-384 by key size (Wireshark decrypts them too).
  ...tls12([0xc050, 0xc052, 0xc054, 0xc056, 0xc058, 0xc05a, 0xc05c, 0xc05e, 0xc060, 0xc062, 0xc06a, 0xc06c, 0xc06e], 'aria-128-gcm', 'sha256'),
  ...tls12([0xc051, 0xc053, 0xc055, 0xc057, 0xc059, 0xc05b, 0xc05d, 0xc05f, 0xc061, 0xc063, 0xc06b, 0xc06d, 0xc06f], 'aria-256-gcm', 'sha384'),
  // Camellia-CBC (RFC 5932) with HMAC-SHA1 (also TLS 1.0 and 1.1) and HMAC-SHA256/384 (TLS 1.2); its GCM suites node cannot open.
  ...tls12([0x0041, 0x0042, 0x0043, 0x0044, 0x0045, 0x0046], 'camellia-128-cbc', 'sha256', 'sha1'),
  ...tls12([0x0084, 0x0085, 0x0086, 0x0087, 0x0088, 0x0089], 'camellia-256-cbc', 'sha256', 'sha1'),
  ...tls12([0x00ba, 0x00bb, 0x00bc, 0x00bd, 0x00be, 0x00bf, 0xc072, 0xc074, 0xc076, 0xc078, 0xc094, 0xc096, 0xc098, 0xc09a], 'camellia-128-cbc', 'sha256', 'sha256'),
  ...tls12([0x00c0, 0x00c1, 0x00c2, 0x00c3, 0x00c4, 0x00c5], 'camellia-256-cbc', 'sha256', 'sha256'),
  ...tls12([0xc073, 0xc075, 0xc077, 0xc079, 0xc095, 0xc097, 0xc099, 0xc09b], 'camellia-256-cbc', 'sha384', 'sha384'),
  // NULL encryption: HMAC-MD5 and -SHA1 (also TLS 1.0 and 1.1), HMAC-SHA256/384 (TLS 1.2; RSA, PSK, (EC)DH(E)).
  ...tls12([0x0001], 'null', 'sha256', 'md5'),
  ...tls12([0x0002, 0x002c, 0x002d, 0x002e, 0xc001, 0xc006, 0xc00b, 0xc010, 0xc015, 0xc039], 'null', 'sha256', 'sha1'),
  ...tls12([0x003b, 0x00b0, 0x00b4, 0x00b8, 0xc03a], 'null', 'sha256', 'sha256'),
  ...tls12([0x00b1, 0x00b5, 0x00b9, 0xc03b], 'null', 'sha384', 'sha384'),
  // TLS 1.3 integrity only (RFC 9150 §5): HMAC key, IV and tag all the hash's length.
  { ...suite(0xc0b4, 'null', 'sha256', true, 'sha256', 32), keyLen: 32 },
  { ...suite(0xc0b5, 'null', 'sha384', true, 'sha384', 48), keyLen: 48 },
];

const BY_CODE = new Map(SUITES.map((s) => [s.code, s]));

export function cipherSuite(code: number): CipherSuite | undefined {
  return BY_CODE.get(code);
}
