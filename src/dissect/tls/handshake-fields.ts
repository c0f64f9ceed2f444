// Fields of TLS handshake messages that decryption needs, read from their
// bytes (the body after the 4-byte handshake header): the ClientHello's
// extensions, the ServerHello's random, suite, version and extensions, and
// TLS 1.3's EncryptedExtensions. Lenient: a short or odd message gives what
// it has, never an exception.

/** Whether a ClientHello body (after the handshake header) carries extension `type` (42: early_data). */
export function clientHelloHasExtension(b: Buffer, type: number): boolean {
  let off = 34;
  if (off + 1 > b.length) return false;
  off += 1 + b[off]; // session id
  if (off + 2 > b.length) return false;
  off += 2 + b.readUInt16BE(off); // cipher suites
  if (off + 1 > b.length) return false;
  off += 1 + b[off]; // compression methods
  if (off + 2 > b.length) return false;
  const end = Math.min(b.length, off + 2 + b.readUInt16BE(off));
  for (off += 2; off + 4 <= end; off += 4 + b.readUInt16BE(off + 2)) if (b.readUInt16BE(off) === type) return true;
  return false;
}

/** A TLS 1.2 ClientHello's way back to an earlier session: its session id and its SessionTicket extension's ticket (both may be empty). */
export function clientHelloResumption(b: Buffer): { sessionId: Buffer; ticket: Buffer } {
  const none = Buffer.alloc(0);
  let off = 34;
  if (off + 1 > b.length) return { sessionId: none, ticket: none };
  const sessionId = Buffer.from(b.subarray(off + 1, Math.min(b.length, off + 1 + b[off])));
  off += 1 + b[off];
  if (off + 2 > b.length) return { sessionId, ticket: none };
  off += 2 + b.readUInt16BE(off); // cipher suites
  if (off + 1 > b.length) return { sessionId, ticket: none };
  off += 1 + b[off]; // compression methods
  if (off + 2 > b.length) return { sessionId, ticket: none };
  const end = Math.min(b.length, off + 2 + b.readUInt16BE(off));
  for (off += 2; off + 4 <= end; off += 4 + b.readUInt16BE(off + 2)) {
    if (b.readUInt16BE(off) === 35) return { sessionId, ticket: Buffer.from(b.subarray(off + 4, Math.min(end, off + 4 + b.readUInt16BE(off + 2)))) };
  }
  return { sessionId, ticket: none };
}

/** The ticket of a TLS 1.2 NewSessionTicket body (RFC 5077 §3.3: a 4-byte lifetime hint, then the ticket with a 2-byte length). */
export function newSessionTicket(b: Buffer): Buffer | undefined {
  if (b.length < 6) return undefined;
  const len = b.readUInt16BE(4);
  return len > 0 && 6 + len <= b.length ? Buffer.from(b.subarray(6, 6 + len)) : undefined;
}

/**
 * What TLS 1.3's EncryptedExtensions (handshake type 8) in a decrypted
 * handshake record says: the ALPN chosen ('' when none) and whether the server
 * took the 0-RTT data (early_data, 42); undefined when the record has none.
 */
export function encryptedExtensions(b: Buffer): { alpn: string; earlyData: boolean } | undefined {
  let off = 0;
  while (off + 4 <= b.length) {
    const type = b[off];
    const len = (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3];
    const body = b.subarray(off + 4, Math.min(b.length, off + 4 + len));
    off += 4 + len;
    if (type !== 8 || body.length < 2) continue;
    const out = { alpn: '', earlyData: false };
    const end = Math.min(body.length, 2 + body.readUInt16BE(0));
    for (let p = 2; p + 4 <= end; ) {
      const extType = body.readUInt16BE(p);
      const extLen = body.readUInt16BE(p + 2);
      const ext = body.subarray(p + 4, Math.min(end, p + 4 + extLen));
      p += 4 + extLen;
      if (extType === 16 && ext.length >= 3) out.alpn = ext.subarray(3, 3 + ext[2]).toString('latin1');
      else if (extType === 42) out.earlyData = true;
    }
    return out;
  }
  return undefined;
}

/** What decryption needs from a ServerHello: random, session id, suite, negotiated version, ALPN, encrypt_then_mac, extended_master_secret. */
export function parseServerHelloKeys(b: Buffer): { random: Buffer; sessionId: Buffer; suite: number; version: number; alpn: string; encryptThenMac: boolean; extendedMasterSecret: boolean } | undefined {
  if (b.length < 38) return undefined;
  const random = Buffer.from(b.subarray(2, 34));
  let off = 34;
  const sid = b[off];
  const sessionId = Buffer.from(b.subarray(off + 1, Math.min(b.length, off + 1 + sid)));
  off += 1 + sid;
  if (off + 3 > b.length) return undefined;
  const suite = b.readUInt16BE(off);
  off += 3; // suite + compression
  let version = b.readUInt16BE(0);
  let alpn = '';
  let encryptThenMac = false;
  let extendedMasterSecret = false;
  if (off + 2 <= b.length) {
    const end = Math.min(b.length, off + 2 + b.readUInt16BE(off));
    off += 2;
    while (off + 4 <= end) {
      const type = b.readUInt16BE(off);
      const len = b.readUInt16BE(off + 2);
      const body = b.subarray(off + 4, Math.min(end, off + 4 + len));
      off += 4 + len;
      if (type === 43 && body.length >= 2) version = body.readUInt16BE(0);
      else if (type === 22) encryptThenMac = true;
      else if (type === 23) extendedMasterSecret = true;
      else if (type === 16 && body.length >= 3) alpn = body.subarray(3, 3 + body[2]).toString('latin1');
    }
  }
  return { random, sessionId, suite, version, alpn, encryptThenMac, extendedMasterSecret };
}
