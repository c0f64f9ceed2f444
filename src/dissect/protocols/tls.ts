// TLS (RFC 8446, RFC 5246) without decryption: the ClientHello and the
// ServerHello (or an alert in their place) make one entry per connection,
// reassembled across records and TCP segments. TLS 1.0–1.2 go on in clear
// after the ServerHello (certificates, key exchange), so a handshake that
// fails there (a client's bad_certificate) is seen: the entry waits for the
// server's ChangeCipherSpec or an alert (HandshakeEnd); in TLS 1.3 for the
// client's first encrypted record or its alert in clear. After that the
// encrypted rest is only counted. A connection whose handshake was not
// captured (the capture started mid-connection) is still TLS when its
// records line up: one entry pairs the first records each way, marked
// "handshake not captured".
import { createHash } from 'node:crypto';
import type { CallRecord, ConnectionContext, Direction, Probe, ProtocolDissector, TcpStreamParser } from '../api.js';
import { ByteQueue } from '../byte-queue.js';
import { clientHelloHasExtension } from '../tls/handshake-fields.js';

/** A hello larger than this is not one we can use (post-quantum ClientHellos are ~2 KB). */
const MAX_HELLO = 64 * 1024;
/** RFC 8446 §5.1: a record is at most 2^14 bytes plus expansion. */
const MAX_RECORD = 16384 + 2048;

const VERSION_NAMES: Record<number, string> = {
  0x0300: 'SSL 3.0', 0x0301: 'TLS 1.0', 0x0302: 'TLS 1.1', 0x0303: 'TLS 1.2', 0x0304: 'TLS 1.3',
  0xfeff: 'DTLS 1.0', 0xfefd: 'DTLS 1.2', 0xfefc: 'DTLS 1.3',
};

const CIPHER_NAMES: Record<number, string> = {
  0x1301: 'TLS_AES_128_GCM_SHA256', 0x1302: 'TLS_AES_256_GCM_SHA384', 0x1303: 'TLS_CHACHA20_POLY1305_SHA256',
  0x1304: 'TLS_AES_128_CCM_SHA256', 0x1305: 'TLS_AES_128_CCM_8_SHA256',
  // RFC 9150: TLS 1.3 with integrity only (HMAC, no encryption).
  0xc0b4: 'TLS_SHA256_SHA256', 0xc0b5: 'TLS_SHA384_SHA384',
  0xc02b: 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 0xc02c: 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384',
  0xc02f: 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 0xc030: 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384',
  0xcca8: 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256', 0xcca9: 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256',
  0xc013: 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA', 0xc014: 'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA',
  0xc009: 'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA', 0xc00a: 'TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA',
  0x009c: 'TLS_RSA_WITH_AES_128_GCM_SHA256', 0x009d: 'TLS_RSA_WITH_AES_256_GCM_SHA384',
  0x002f: 'TLS_RSA_WITH_AES_128_CBC_SHA', 0x0035: 'TLS_RSA_WITH_AES_256_CBC_SHA', 0x000a: 'TLS_RSA_WITH_3DES_EDE_CBC_SHA',
  0x0005: 'TLS_RSA_WITH_RC4_128_SHA', 0x0004: 'TLS_RSA_WITH_RC4_128_MD5', 0xc011: 'TLS_ECDHE_RSA_WITH_RC4_128_SHA',
  0x009e: 'TLS_DHE_RSA_WITH_AES_128_GCM_SHA256', 0x0033: 'TLS_DHE_RSA_WITH_AES_128_CBC_SHA', 0x0039: 'TLS_DHE_RSA_WITH_AES_256_CBC_SHA',
  0x0001: 'TLS_RSA_WITH_NULL_MD5', 0x0002: 'TLS_RSA_WITH_NULL_SHA', 0x003b: 'TLS_RSA_WITH_NULL_SHA256',
  0xc006: 'TLS_ECDHE_ECDSA_WITH_NULL_SHA', 0xc010: 'TLS_ECDHE_RSA_WITH_NULL_SHA', 0x002c: 'TLS_PSK_WITH_NULL_SHA',
  0x00b0: 'TLS_PSK_WITH_NULL_SHA256', 0x00b1: 'TLS_PSK_WITH_NULL_SHA384',
};

const ALERT_NAMES: Record<number, string> = {
  0: 'close_notify', 10: 'unexpected_message', 20: 'bad_record_mac', 22: 'record_overflow', 40: 'handshake_failure',
  42: 'bad_certificate', 43: 'unsupported_certificate', 44: 'certificate_revoked', 45: 'certificate_expired',
  46: 'certificate_unknown', 47: 'illegal_parameter', 48: 'unknown_ca', 49: 'access_denied', 50: 'decode_error',
  51: 'decrypt_error', 70: 'protocol_version', 71: 'insufficient_security', 80: 'internal_error',
  86: 'inappropriate_fallback', 90: 'user_canceled', 109: 'missing_extension', 110: 'unsupported_extension',
  112: 'unrecognized_name', 113: 'bad_certificate_status_response', 115: 'unknown_psk_identity',
  116: 'certificate_required', 120: 'no_application_protocol',
};

/** RFC 8446 §4.1.3: a ServerHello with this random is a HelloRetryRequest. */
const HRR_RANDOM = 'cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c';

export const versionName = (v: number): string => VERSION_NAMES[v] ?? `0x${v.toString(16).padStart(4, '0')}`;
export const cipherName = (c: number): string => CIPHER_NAMES[c] ?? `0x${c.toString(16).padStart(4, '0')}`;
export const alertName = (d: number): string => ALERT_NAMES[d] ?? `alert ${d}`;
/** RFC 8701 GREASE values (0x?a?a) are noise by design. */
const isGrease = (v: number): boolean => (v & 0x0f0f) === 0x0a0a && (v >> 8) === (v & 0xff);

class Malformed extends Error {}

/** A bounds-checked reader over one handshake message. */
class Reader {
  constructor(
    private readonly b: Buffer,
    public off = 0,
    private readonly end = b.length,
  ) {}
  left(): number {
    return this.end - this.off;
  }
  u8(): number {
    this.need(1);
    return this.b[this.off++];
  }
  u16(): number {
    this.need(2);
    const v = this.b.readUInt16BE(this.off);
    this.off += 2;
    return v;
  }
  bytes(n: number): Buffer {
    this.need(n);
    const v = this.b.subarray(this.off, this.off + n);
    this.off += n;
    return v;
  }
  /** A sub-reader over a length-prefixed vector cut short: skips the length, reads what is left. */
  rest(lenBytes: 1 | 2): Reader {
    this.need(lenBytes);
    this.off += lenBytes;
    const r = new Reader(this.b, this.off, this.end);
    this.off = this.end;
    return r;
  }
  /** A sub-reader over a length-prefixed vector (`lenBytes` = 1 or 2). */
  vec(lenBytes: 1 | 2): Reader {
    const n = lenBytes === 1 ? this.u8() : this.u16();
    this.need(n);
    const r = new Reader(this.b, this.off, this.off + n);
    this.off += n;
    return r;
  }
  private need(n: number): void {
    if (this.off + n > this.end) throw new Malformed('hello truncated');
  }
}

interface Extensions {
  sni?: string;
  alpn: string[];
  versions: number[];
  groups: number[];
  pointFormats: number[];
  types: number[];
}

function readExtensions(r: Reader, isClient: boolean, partial = false): Extensions {
  const ext: Extensions = { alpn: [], versions: [], groups: [], pointFormats: [], types: [] };
  if (r.left() === 0) return ext; // extensions are optional before TLS 1.3
  try {
    readExtensionList(partial ? r.rest(2) : r.vec(2), isClient, ext);
  } catch (e) {
    // The start of a hello too large to keep: the extensions read before the cut are what it says.
    if (!partial || !(e instanceof Malformed)) throw e;
  }
  return ext;
}

function readExtensionList(all: Reader, isClient: boolean, ext: Extensions): void {
  while (all.left() > 0) {
    const type = all.u16();
    const body = all.vec(2);
    ext.types.push(type);
    switch (type) {
      case 0: // server_name
        if (isClient && body.left() > 0) {
          const list = body.vec(2);
          while (list.left() > 0) {
            const kind = list.u8();
            const name = list.vec(2);
            if (kind === 0 && ext.sni === undefined) ext.sni = name.bytes(name.left()).toString('latin1');
          }
        }
        break;
      case 16: {
        // ALPN: a list of length-prefixed protocol names (one in the ServerHello).
        const list = body.vec(2);
        while (list.left() > 0) {
          const p = list.vec(1);
          ext.alpn.push(p.bytes(p.left()).toString('latin1'));
        }
        break;
      }
      case 43: // supported_versions: a list in the ClientHello, one version in the ServerHello
        if (isClient) {
          const list = body.vec(1);
          while (list.left() >= 2) ext.versions.push(list.u16());
        } else ext.versions.push(body.u16());
        break;
      case 10: {
        const list = body.vec(2);
        while (list.left() >= 2) ext.groups.push(list.u16());
        break;
      }
      case 11: {
        const list = body.vec(1);
        while (list.left() >= 1) ext.pointFormats.push(list.u8());
        break;
      }
    }
  }
}

/**
 * ClientHello body (after the 4-byte handshake header) → request record. `partial`: `b` is the
 * start of a hello too large to keep, read up to where it was cut.
 */
export function parseClientHello(b: Buffer, partial = false): Record<string, any> {
  const r = new Reader(b);
  const legacy = r.u16();
  r.bytes(32); // random
  r.vec(1); // session id
  const suitesVec = r.vec(2);
  const suites: number[] = [];
  while (suitesVec.left() >= 2) suites.push(suitesVec.u16());
  r.vec(1); // compression methods
  const ext = readExtensions(r, true, partial);
  const versions = ext.versions.filter((v) => !isGrease(v));
  // JA3 (https://github.com/salesforce/ja3): decimal fields, GREASE left out.
  const ja3 = [
    legacy,
    suites.filter((s) => !isGrease(s)).join('-'),
    ext.types.filter((t) => !isGrease(t)).join('-'),
    ext.groups.filter((g) => !isGrease(g)).join('-'),
    ext.pointFormats.join('-'),
  ].join(',');
  const rec: Record<string, any> = {
    sni: ext.sni ?? '',
    alpn: ext.alpn,
    version: versionName(legacy),
    versions: versions.map(versionName),
    cipherSuites: suites.filter((s) => !isGrease(s)).length,
    ja3,
    ja3Hash: createHash('md5').update(ja3).digest('hex'),
  };
  return rec;
}

/** ServerHello body → response record (`partial`: as parseClientHello's). */
export function parseServerHello(b: Buffer, partial = false): Record<string, any> {
  const r = new Reader(b);
  const legacy = r.u16();
  const random = r.bytes(32);
  r.vec(1); // session id
  const suite = r.u16();
  r.u8(); // compression
  const ext = readExtensions(r, false, partial);
  const negotiated = ext.versions[0] ?? legacy;
  const rec: Record<string, any> = {
    version: versionName(negotiated),
    cipherSuite: cipherName(suite),
    cipherSuiteCode: `0x${suite.toString(16).padStart(4, '0')}`,
    alpn: ext.alpn[0] ?? '',
  };
  if (random.toString('hex') === HRR_RANDOM) rec.helloRetryRequest = true;
  return rec;
}

interface HalfState {
  records: ByteQueue;
  /** Handshake bytes gathered from records, waiting for a full hello. */
  handshake: ByteQueue;
  /** Wire bytes of the records that carried the hello. */
  size: number;
  time: number;
  frame: number;
  started: boolean;
  /** Hello parsed (or abandoned): from here on bytes are only counted. */
  done: boolean;
  /** The half began with encrypted records, not a hello (mid-connection start): their record-layer version. */
  midStream?: number;
}

/**
 * One direction's records after the hellos, read for their type alone: bodies
 * are skipped as they come (nothing is held but a header and an alert's two
 * bytes), so waiting for the handshake's end costs no memory whatever the
 * certificate chains weigh.
 */
class RecordTypes {
  private readonly head = Buffer.alloc(7);
  private have = 0;
  private skip = 0;

  /** Calls `on` for each record as it completes its header (an alert's with its body); false from `on` stops. */
  push(data: Buffer, on: (type: number, len: number, alert?: Buffer) => boolean): void {
    let off = 0;
    while (off < data.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, data.length - off);
        this.skip -= n;
        off += n;
        continue;
      }
      const clearAlert = this.have >= 5 && this.head[0] === 21 && this.head.readUInt16BE(3) === 2;
      const need = clearAlert ? 7 : 5;
      const n = Math.min(need - this.have, data.length - off);
      data.copy(this.head, this.have, off, off + n);
      this.have += n;
      off += n;
      if (this.have < need) return;
      const type = this.head[0];
      const len = this.head.readUInt16BE(3);
      if (need === 5 && (this.head[1] !== 3 || type < 20 || type > 24 || len > MAX_RECORD)) {
        this.have = 0;
        if (!on(-1, len)) return;
        continue;
      }
      // A clear alert: its two bytes are read before it is told.
      if (need === 5 && type === 21 && len === 2) continue;
      this.have = 0;
      this.skip = need === 7 ? 0 : len;
      if (!on(type, len, need === 7 ? this.head.subarray(5, 7) : undefined)) return;
    }
  }
}

/** Between the ServerHello and the end of the handshake: the entry waits (see watchRecord). */
interface HandshakeEnd {
  records: Record<Direction, RecordTypes>;
  /** The ServerHello's packet: the entry's response time and frame, whenever it goes out. */
  time: number;
  frame: number;
  tls13: boolean;
  /**
   * TLS 1.3: the length of a protected record that holds an alert and nothing
   * else (its 2 bytes, the inner content type, the suite's tag); 0 when the
   * ClientHello offered 0-RTT, whose early data may be that short.
   */
  alertSize: number;
  /** TLS 1.3: the client's first protected record (its Finished, or Certificate) was seen at this capture time; now the server's verdict is watched. */
  clientFlightAt?: number;
  /** TLS 1.3: the server's first record after the client's flight was alert-sized (at this capture time): an alert if the server then closes. */
  serverAlertAt?: number;
}

/**
 * TLS 1.3, after the client's flight: how long (capture time) the entry waits
 * for the server's next record, the one that says whether it took the
 * client's certificate (NewSessionTicket, data: yes; an alert and the end: no).
 */
const VERDICT_WAIT_MS = 1000;

/** Bytes a TLS 1.3 suite's record protection adds after the plaintext (the AEAD tag; RFC 9150's HMAC). */
function tagLength(suite: string): number {
  if (suite.endsWith('CCM_8_SHA256')) return 8;
  if (suite === 'TLS_SHA256_SHA256') return 32;
  if (suite === 'TLS_SHA384_SHA384') return 48;
  return 16;
}

export class TlsParser implements TcpStreamParser {
  private readonly halves: Record<Direction, HalfState> = { c2s: newHalf(), s2c: newHalf() };
  private request: Record<string, any> | null = null;
  private response: Record<string, any> | null = null;
  private readonly warnings: string[] = [];
  private emitted = false;
  private reversed = false;
  private ending: HandshakeEnd | undefined;
  /** The ClientHello offered 0-RTT early data (extension 42). */
  private offeredEarlyData = false;

  constructor(private readonly ctx: ConnectionContext) {}

  onData(dir: Direction, data: Buffer): void {
    const h = this.halves[dir];
    if (h.done) {
      // After the hello everything is encrypted: counted, not kept (only record types are read while the handshake ends).
      this.ctx.count('tls.encrypted-bytes', data.length);
      this.ending?.records[dir].push(data, (type, len, alert) => this.watchRecord(dir, type, len, alert));
      return;
    }
    if (!h.started) {
      h.started = true;
      h.time = this.ctx.now;
      h.frame = this.ctx.frame;
    }
    h.records.push(data);
    this.readRecords(dir, h);
  }

  onGap(dir: Direction, _length: number): void {
    const h = this.halves[dir];
    // Record boundaries went with the bytes: how the handshake ended is not known; the entry goes as it stands.
    if (this.ending) this.endHandshake();
    if (h.done) return;
    this.ctx.count('tls.gap');
    this.warnings.push('gap');
    if (h.size === 0 && this.noHello()) {
      // Nothing read yet on a connection caught mid-stream: a record may begin after the hole.
      h.records.clear();
      h.handshake.clear();
      return;
    }
    this.abandon(h);
  }

  /**
   * The one call is stamped with the first byte of the client's half (or the
   * server's, when the client's was never seen): pending from the first byte
   * until it is emitted, unless both halves are done without a hello (then
   * nothing will ever be emitted).
   */
  pendingSince(): number | undefined {
    if (this.emitted) return undefined;
    const { c2s, s2c } = this.halves;
    const midStream = c2s.midStream !== undefined || s2c.midStream !== undefined;
    if (this.request === null && this.response === null && c2s.done && s2c.done && !midStream) return undefined;
    // Which half is the client's is learnt from the hellos, so either may end up stamping the call.
    if (c2s.started && s2c.started) return Math.min(c2s.time, s2c.time);
    if (c2s.started) return c2s.time;
    return s2c.started ? s2c.time : undefined;
  }

  onEnd(): void {
    if (this.ending) return this.endWatching();
    if (this.emitted) return;
    if (this.request === null && this.response === null) {
      if (this.halves.c2s.midStream !== undefined || this.halves.s2c.midStream !== undefined) return this.emitMidStream();
      // Not TLS after all: nothing to report as a call.
      this.ctx.count('tls.no-hello');
      return;
    }
    this.emit();
  }

  private readRecords(dir: Direction, h: HalfState): void {
    while (!h.done && h.records.length >= 5) {
      const hdr = h.records.peek(5);
      const type = hdr[0];
      const len = hdr.readUInt16BE(3);
      if (hdr[1] !== 3 || len > MAX_RECORD || type < 20 || type > 24) {
        // A half of a connection caught mid-stream may begin inside a record.
        if (h.size === 0 && this.noHello()) {
          this.finishHalf(h);
          if (this.halves.c2s.done && this.halves.s2c.done && (this.halves.c2s.midStream ?? this.halves.s2c.midStream) !== undefined) this.emitMidStream();
          return;
        }
        this.malformed(h, 'not a TLS record');
        return;
      }
      if (h.records.length < 5 + len) return;
      h.records.consume(5);
      const body = h.records.take(len);
      h.size += 5 + len;
      // The half begins with a record that is not a hello — application data, a
      // ChangeCipherSpec, an encrypted alert (a clear one is 2 bytes) or
      // handshake message (TLS 1.2's Finished): the handshake was not captured.
      const notHello = type === 23 || type === 20 || (type === 21 && len > 2) || (type === 22 && body[0] !== 1 && body[0] !== 2);
      if (notHello && h.size === 5 + len && this.noHello()) {
        h.midStream = hdr.readUInt16BE(1);
        this.finishHalf(h);
        if (this.halves.c2s.done && this.halves.s2c.done) this.emitMidStream();
        return;
      }
      if (type === 21) {
        this.onAlert(dir, body);
        this.finishHalf(h);
        return;
      }
      if (type !== 22) {
        // ChangeCipherSpec or application data after a hello: nothing more to read here.
        this.finishHalf(h);
        return;
      }
      h.handshake.push(body);
      this.readHandshake(dir, h);
    }
  }

  private readHandshake(dir: Direction, h: HalfState): void {
    if (h.handshake.length < 4) return;
    const hdr = h.handshake.peek(4);
    const type = hdr[0];
    const len = (hdr[1] << 16) | (hdr[2] << 8) | hdr[3];
    if (len > MAX_HELLO) {
      // Not kept (a hello that large is an attack or a broken peer), but the connection is still a
      // TLS call: what its first record says (the SNI, the offers) makes the entry, with a warning.
      this.tooLarge(dir, h, type, len);
      return;
    }
    if (h.handshake.length < 4 + len) return;
    const body = h.handshake.peek(4 + len).subarray(4);
    try {
      if (type === 1) {
        this.offeredEarlyData = clientHelloHasExtension(body, 42);
        this.onHello(dir, 'request', parseClientHello(body), h);
      }
      else if (type === 2) this.onHello(dir, 'response', parseServerHello(body), h);
      else this.malformed(h, `unexpected handshake type ${type}`);
    } catch (e) {
      this.malformed(h, e instanceof Malformed ? e.message : 'bad hello');
    }
  }

  /**
   * A hello claiming more than MAX_HELLO: read from the bytes held so far (its first record), then
   * given up; `tls.hello-truncated`, warning `malformed: hello too large (N bytes)`.
   */
  private tooLarge(dir: Direction, h: HalfState, type: number, len: number): void {
    this.ctx.count('tls.hello-truncated');
    const why = `hello too large (${len} bytes)`;
    if (type !== 1 && type !== 2) return this.malformed(h, why);
    const held = h.handshake.peek(Math.min(h.handshake.length, 4 + MAX_HELLO)).subarray(4);
    let rec: Record<string, any>;
    try {
      rec = type === 1 ? parseClientHello(held, true) : parseServerHello(held, true);
    } catch {
      // Cut before its extensions: the record layer's version is all there is to say.
      rec = type === 1 ? { sni: '', alpn: [], version: '', versions: [] } : { version: '', cipherSuite: '', alpn: '' };
    }
    // A fingerprint of part of the offers would name a client that never was.
    delete rec.ja3;
    delete rec.ja3Hash;
    rec.truncated = true;
    this.warnings.push(`malformed: ${why}`);
    this.onHello(dir, type === 1 ? 'request' : 'response', rec, h);
  }

  private onHello(dir: Direction, kind: 'request' | 'response', rec: Record<string, any>, h: HalfState): void {
    if ((dir === 'c2s') !== (kind === 'request')) this.reversed = true;
    if (kind === 'request') this.request = rec;
    else this.response = rec;
    // A HelloRetryRequest and a cut hello end the reading as before.
    const clear = kind === 'response' && this.request !== null && rec.version !== '' && !rec.helloRetryRequest && !rec.truncated;
    const rest = clear && h.records.length > 0 ? h.records.take(h.records.length) : undefined;
    if (rest) this.ctx.count('tls.encrypted-bytes', rest.length);
    this.finishHalf(h);
    if (kind !== 'response') return;
    if (!clear) return this.emit();
    const tls13 = rec.version === 'TLS 1.3';
    const alertSize = tls13 && !this.offeredEarlyData ? 2 + 1 + tagLength(rec.cipherSuite) : 0;
    this.ending = { records: { c2s: new RecordTypes(), s2c: new RecordTypes() }, time: this.ctx.now, frame: this.ctx.frame, tls13, alertSize };
    // The rest of the server's flight (Certificate … ServerHelloDone) may have come in the ServerHello's segment.
    if (rest) this.ending.records[dir].push(rest, (type, len, alert) => this.watchRecord(dir, type, len, alert));
  }

  /**
   * A record after the ServerHello. TLS 1.0–1.2: the handshake succeeded
   * once the server sends its ChangeCipherSpec (it has checked the client's
   * Finished, or resumes a session) or either side application data (a
   * client's False Start); it failed when either side sends an alert in
   * clear first (a client rejecting the certificate: bad_certificate,
   * unknown_ca; a server rejecting a client certificate): the alert is the
   * entry's and makes it an error. TLS 1.3: all the server sends is
   * encrypted, but a client that fails on the server's certificate before it
   * took its own handshake keys (OpenSSL does) sends its alert in clear.
   * The rest is told by sizes (tls13Record). False stops reading.
   */
  private watchRecord(dir: Direction, type: number, len: number, alert?: Buffer): boolean {
    const e = this.ending;
    if (!e) return false;
    const fromServer = (dir === 's2c') !== this.reversed;
    if (type === 21 && alert) {
      this.response = { ...this.response, alert: { level: alert[0] === 2 ? 'fatal' : 'warning', description: alertName(alert[1]), from: fromServer ? 'server' : 'client' } };
      this.endHandshake();
      return false;
    }
    if (e.tls13 && type !== -1) return this.tls13Record(e, fromServer, type, len);
    // Not a record (the bytes are not what they should be), an encrypted alert, the end: the entry goes as it stands.
    if (type === -1 || type === 21 || type === 23 || (type === 20 && fromServer)) {
      this.endHandshake();
      return false;
    }
    return true;
  }

  /**
   * TLS 1.3 after the ServerHello, from the records' sizes alone. The
   * client's first protected record is a handshake message (a Finished, at
   * least 32 bytes; a Certificate) or an alert: one exactly an alert's size
   * (2 bytes, the content type, the tag: 19 bytes in most suites) is the
   * client refusing the server (Go's client, so kubectl, sends its alert
   * under its handshake keys). Otherwise the entry then waits for the
   * server's next record (VERDICT_WAIT_MS at most): a server that refuses
   * the client's certificate sends an alert-sized record and closes (its FIN,
   * or the connection's end, within VERDICT_WAIT_MS); one that takes it sends
   * a ticket or data. Such an inferred alert is `{description:
   * 'encrypted alert', from}` (which alert, only a key log tells), counted
   * `tls.alert-inferred`. A 0-RTT offer (early data may be that short) and
   * padded alerts are not told apart: the entry goes as a success, as before.
   */
  private tls13Record(e: HandshakeEnd, fromServer: boolean, type: number, len: number): boolean {
    if (e.clientFlightAt === undefined) {
      // The server's flight and the client's ChangeCipherSpec (for middleboxes) say nothing of how it ends.
      if (fromServer || type === 20 || type === 22) return true;
      if (type === 23 && len === e.alertSize) return this.inferAlert('client');
      if (type !== 23 || e.alertSize === 0) {
        this.endHandshake();
        return false;
      }
      e.clientFlightAt = this.ctx.now;
      return true;
    }
    // The client's records after its flight (its requests) do not say what the server made of it.
    if (!fromServer || type === 20) return true;
    if (type === 23 && len === e.alertSize && e.serverAlertAt === undefined) {
      e.serverAlertAt = this.ctx.now;
      return true;
    }
    // The server went on after all: a ticket, data (or its alert-sized record was data).
    this.endHandshake();
    return false;
  }

  /** TLS 1.3: the handshake ended in an alert known only by its record's size. */
  private inferAlert(from: 'client' | 'server'): false {
    this.ctx.count('tls.alert-inferred');
    this.response = { ...this.response, alert: { description: 'encrypted alert', from } };
    this.endHandshake();
    return false;
  }

  /** TLS 1.3: no word (or no close after an alert-sized record) from the server within VERDICT_WAIT_MS: the entry goes as a success. */
  onTick(nowMs: number): void {
    const e = this.ending;
    const since = e?.serverAlertAt ?? e?.clientFlightAt;
    if (since !== undefined && nowMs - since > VERDICT_WAIT_MS) this.endHandshake();
  }

  /** The server closing right after an alert-sized record: it refused the client's flight. */
  onFin(dir: Direction): void {
    if (this.ending?.serverAlertAt !== undefined && (dir === 's2c') !== this.reversed) this.inferAlert('server');
  }

  /** The connection ended while the handshake's end was watched. */
  private endWatching(): void {
    if (this.ending?.serverAlertAt !== undefined) {
      this.inferAlert('server');
      return;
    }
    this.endHandshake();
  }

  private endHandshake(): void {
    const e = this.ending;
    if (!e) return;
    this.ending = undefined;
    this.emit(e);
  }

  private noHello(): boolean {
    return this.request === null && this.response === null && !this.emitted;
  }

  /**
   * The entry of a connection whose handshake was not captured: its first
   * records each way, reported once both halves were read (as a hello
   * exchange would be), or at the end when one side never spoke.
   */
  private emitMidStream(): void {
    if (this.emitted) return;
    this.emitted = true;
    const { c2s, s2c } = this.halves;
    const side = (h: HalfState) => (h.midStream !== undefined ? { version: versionName(h.midStream), handshake: 'not captured' } : null);
    const call: CallRecord = {
      protocol: 'tls',
      request: side(c2s),
      response: side(s2c),
      requestTime: c2s.started ? c2s.time : s2c.time,
      requestFrame: c2s.started ? c2s.frame : s2c.frame,
      requestSize: c2s.size,
      responseSize: s2c.size,
      error: false,
      summary: 'TLS (handshake not captured)',
      warnings: [...new Set([...this.warnings, 'handshake not captured'])],
    };
    if (s2c.started) {
      call.responseTime = s2c.time;
      call.responseFrame = s2c.frame;
    }
    // Said in the key log's summary line: such a session cannot be decrypted whatever the log holds.
    this.ctx.count('tls.no-handshake');
    this.ctx.emit(call);
  }

  private onAlert(dir: Direction, body: Buffer): void {
    if (body.length < 2) return;
    const alert = { level: body[0] === 2 ? 'fatal' : 'warning', description: alertName(body[1]) };
    const fromServer = (dir === 's2c') !== this.reversed;
    if (fromServer && this.response === null && this.request !== null) {
      this.response = { alert };
      this.emit();
    }
  }

  private malformed(h: HalfState, why: string): void {
    this.ctx.count('tls.malformed');
    if (h.started && (this.request !== null || h === this.halves.c2s)) this.warnings.push(`malformed: ${why}`);
    this.abandon(h);
  }

  private abandon(h: HalfState): void {
    this.finishHalf(h);
  }

  private finishHalf(h: HalfState): void {
    h.done = true;
    if (h.records.length > 0) this.ctx.count('tls.encrypted-bytes', h.records.length);
    h.records.clear();
    h.handshake.clear();
  }

  private emit(at?: { time: number; frame: number }): void {
    if (this.emitted) return;
    this.emitted = true;
    const c = this.halves[this.reversed ? 's2c' : 'c2s'];
    const s = this.halves[this.reversed ? 'c2s' : 's2c'];
    const req = this.request;
    const res = this.response;
    const call: CallRecord = {
      protocol: 'tls',
      request: req,
      response: res,
      requestTime: c.started ? c.time : s.time,
      requestFrame: c.started ? c.frame : s.frame,
      requestSize: c.size,
      responseSize: s.size,
      error: res === null || res.alert !== undefined,
      summary: helloSummary(req, res),
    };
    if (res) {
      call.responseTime = at?.time ?? this.ctx.now;
      call.responseFrame = at?.frame ?? this.ctx.frame;
    }
    const warnings = [...this.warnings];
    if (!res) warnings.push('unanswered');
    if (warnings.length > 0) call.warnings = [...new Set(warnings)];
    if (this.reversed) call.reversed = true;
    this.ctx.emit(call);
  }
}

/** "TLS sni alpn": the protocol the server chose, else (TLS 1.3 hides it) the client's first offer. */
export function helloSummary(req: Record<string, any> | null, res: Record<string, any> | null): string {
  const alpn = res?.alpn || req?.alpn?.[0] || '';
  return `TLS ${req?.sni || '-'}${alpn ? ' ' + alpn : ''}${res?.alert ? ' → ' + res.alert.description : res ? '' : ' → unanswered'}`;
}

function newHalf(): HalfState {
  return { records: new ByteQueue(), handshake: new ByteQueue(), size: 0, time: 0, frame: 0, started: false, done: false };
}

/** Record headers that must line up before encrypted bytes are taken for TLS. */
const MID_STREAM_RECORDS = 2;

/**
 * Encrypted records seen mid-connection: consecutive headers of type 20–23
 * (ChangeCipherSpec, alert, handshake, application data), one record-layer
 * version 0x0301–0x0304 throughout, lengths 1..2^14+2048, each record ending
 * where the next header begins. Which side sent them cannot be told.
 */
function probeRecords(data: Buffer, portMatch: boolean): Probe {
  let off = 0;
  let seen = 0;
  while (off < data.length) {
    const type = data[off];
    if (type < 20 || type > 23) return false;
    if (off + 1 < data.length && data[off + 1] !== 3) return false;
    if (off + 2 < data.length && (data[off + 2] < 1 || data[off + 2] > 4 || (seen > 0 && data[off + 2] !== data[2]))) return false;
    if (off + 5 > data.length) return 'need-more';
    const len = data.readUInt16BE(off + 3);
    if (len === 0 || len > MAX_RECORD) return false;
    if (++seen >= MID_STREAM_RECORDS) return 'stream';
    off += 5 + len;
    // On a TLS port, one application-data record that ends exactly where the bytes so far end
    // (a request in one record, the other side's first bytes seen mid-record) is enough.
    if (portMatch && type === 23 && off === data.length) return 'stream';
  }
  return 'need-more';
}

/**
 * Probe: a handshake record header (0x16 0x03 0x00..0x04) carrying a
 * ClientHello or ServerHello; else encrypted records of a connection whose
 * handshake was not captured.
 */
export function probeTls(data: Buffer, portMatch: boolean): Probe {
  if (data.length === 0) return 'need-more';
  const hello = probeHello(data);
  return hello === false ? probeRecords(data, portMatch) : hello;
}

function probeHello(data: Buffer): Probe {
  if (data[0] !== 0x16) return false;
  if (data.length < 2) return 'need-more';
  if (data[1] !== 0x03) return false;
  if (data.length < 3) return 'need-more';
  if (data[2] > 0x04) return false;
  if (data.length < 6) return 'need-more';
  const len = data.readUInt16BE(3);
  if (len < 4 || len > MAX_RECORD) return false;
  if (data[5] === 1) return 'request';
  if (data[5] === 2) return 'response';
  return false;
}

export const tls: ProtocolDissector = {
  name: 'tls',
  transport: 'tcp',
  ports: [443, 8443, 6443, 9443, 10250, 2379, 2380],
  priority: 10,
  reference: 'https://www.rfc-editor.org/rfc/rfc8446',
  probe(data, portMatch) {
    try {
      return probeTls(data, portMatch);
    } catch {
      return false;
    }
  },
  createTcpParser(ctx) {
    return new TlsParser(ctx);
  },
};
