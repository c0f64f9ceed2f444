// QUIC (RFC 9000, 9001; version 2: RFC 9369) over UDP, and HTTP/3 inside it.
// Initial packets are protected by keys anyone can derive (from the client's
// first Destination Connection ID), so every connection's ClientHello and
// ServerHello are read: a `quic` entry with the server name, ALPN and suite,
// as a `tls` entry for TCP. With the TLS secrets (`--tls-keylog`, or a pcapng's
// Decryption Secrets Block) the Handshake, 0-RTT and 1-RTT packets are
// decrypted too, and the streams inside are read as HTTP/3 (http3.ts): one
// `http3` entry per request, marked `tls`, in place of the `quic` entry; or,
// when the ALPN says `doq`, as DNS over QUIC (doq.ts): `dns` entries.
//
// Datagrams may coalesce packets; packet numbers are recovered per number
// space; the AEAD tag decides which suite or key phase a packet is under.
// Everything a peer can fill is bounded and counted (docs/entry.md).

import type { CallRecord, ConnectionContext, Direction, Probe, ProtocolDissector, UdpDatagramParser } from '../api.js';
import { parseClientHello, parseServerHello } from './tls.js';
import { encryptedExtensions, parseServerHelloKeys } from '../tls/handshake-fields.js';
import type { SessionSecrets } from '../tls/keylog.js';
import {
  AES_128_GCM,
  AES_256_GCM,
  CHACHA20,
  QUIC_V1,
  QUIC_V2,
  decodePacketNumber,
  initialKeys,
  knownVersion,
  nextPhase,
  openPayload,
  packetKeys,
  suitesForSecret,
  unprotectHeader,
  type PacketKeys,
  type QuicSuite,
} from '../quic/packet-protection.js';
import { readFrames, readVarint, type FrameHandler } from '../quic/frames.js';
import { StreamAssembler } from '../quic/stream-assembler.js';
import { StreamTable } from '../quic/stream-table.js';
import { currentMeter } from '../memory-budget.js';
import { GSO_MIN_SEGMENT, gsoSegmentSizes } from '../quic/gso.js';
import { Http3Session } from './http3.js';
import { DoqSession } from './doq.js';

/** Handshake bytes (CRYPTO frames) held per level and direction while waiting for a whole message. */
const MAX_CRYPTO = 64 * 1024;
/**
 * What a connection's state costs beyond the engine's charge for a UDP
 * conversation (measured: ~3.4 KB on the heap for a connection read from its
 * Initials, against 2 KB charged for any conversation): a flood of Initials
 * is bounded by the memory budget as other floods are.
 */
const QUIC_STATE_COST = 2048;
/** Packets that came before their keys could be known (0-RTT before the ClientHello, reordering), held to try again. */
const MAX_WAITING_PACKETS = 32;
/**
 * Live (a key log followed as clients write it): a client logs a session's
 * secrets only once it has them, after its ClientHello went out, so the
 * connection's packets wait for them, up to this many and this long (as a
 * TLS connection waits, tls/decrypting-parser.ts).
 */
const MAX_WAITING_PACKETS_LIVE = 1024;
const MAX_WAITING_BYTES_LIVE = 1024 * 1024;
const KEY_WAIT_MS = 3000;
/** Datagrams per direction searched for where a GSO batch was cut (quic/gso.ts), when the size known did not fit. */
const MAX_GSO_SEARCHES = 16;

/** What became of a packet: read, not authenticated by any key, or held/dropped for another reason (counted). */
type PacketOutcome = 'opened' | 'failed' | 'other';

type Level = 'initial' | 'handshake' | 'early' | 'application';
/** Packet number spaces (0-RTT and 1-RTT share the application one). */
type Space = 'initial' | 'handshake' | 'application';

const SPACE: Record<Level, Space> = { initial: 'initial', handshake: 'handshake', early: 'application', application: 'application' };
const SPACE_INDEX: Record<Space, number> = { initial: 0, handshake: 2, application: 4 };

/** The long header's two type bits, per version (RFC 9369 §3.2 reorders them for version 2). */
function longType(version: number, first: number): Level | 'retry' {
  const bits = (first >> 4) & 0x03;
  if (version === QUIC_V2) return (['retry', 'initial', 'early', 'handshake'] as const)[bits];
  return (['initial', 'early', 'handshake', 'retry'] as const)[bits];
}

const versionName = (v: number): string => (v === QUIC_V1 ? 'QUIC v1' : v === QUIC_V2 ? 'QUIC v2' : `QUIC 0x${v.toString(16).padStart(8, '0')}`);

/** Key log labels per level and direction. */
const SECRET_LABEL: Record<Exclude<Level, 'initial'>, Partial<Record<Direction, string>>> = {
  handshake: { c2s: 'CLIENT_HANDSHAKE_TRAFFIC_SECRET', s2c: 'SERVER_HANDSHAKE_TRAFFIC_SECRET' },
  early: { c2s: 'CLIENT_EARLY_TRAFFIC_SECRET' },
  application: { c2s: 'CLIENT_TRAFFIC_SECRET_0', s2c: 'SERVER_TRAFFIC_SECRET_0' },
};

/** The TLS 1.3 suites QUIC uses, by the ServerHello's code. */
const SUITE_BY_CODE: Record<number, QuicSuite | undefined> = { 0x1301: AES_128_GCM, 0x1302: AES_256_GCM, 0x1303: CHACHA20 };

interface DirectionKeys {
  /** Keys to try: one once known, the suites a secret may belong to before. */
  candidates: PacketKeys[];
  /** 1-RTT: the key phase bit of `candidates[0]`, the next phase's keys once derived, and the last phase's (packets reordered across an update). */
  phase: number;
  next?: PacketKeys;
  previous?: PacketKeys;
}

interface WaitingPacket {
  dir: Direction;
  level: Level;
  packet: Buffer;
  pnOffset: number;
  long: boolean;
  version: number;
  now: number;
  frame: number;
}

/** A handshake direction's CRYPTO stream and the messages read from it. */
class CryptoStream {
  private bytes: Buffer[] = [];
  private length = 0;
  /**
   * Bytes held before the next message can be read: its 4-byte header, then
   * the whole message. Held bytes were joined again at every CRYPTO frame, so
   * a 60 KB ClientHello sent a byte a frame copied 1.8 GB: 10 such connections
   * (4 MB of Initials, keys anyone can derive) took 32 s to dissect.
   */
  private wanted = 4;
  readonly assembler: StreamAssembler;
  /** The flow's meter: bytes waiting for a whole handshake message are charged to it. */
  private readonly meter = currentMeter();

  constructor(onMessage: (type: number, body: Buffer) => void, onHole: () => void, onDropped: (n: number) => void) {
    this.assembler = new StreamAssembler(
      (data) => {
        if (this.length + data.length > MAX_CRYPTO) {
          // A handshake message larger than any real one (certificate chains included): not read.
          onDropped(data.length);
          return;
        }
        this.bytes.push(Buffer.from(data));
        this.length += data.length;
        this.meter?.add(data.length);
        if (this.length < this.wanted) return;
        let all = Buffer.concat(this.bytes, this.length);
        // Handshake messages: a type byte, a 3-byte length, the body.
        this.wanted = 4;
        while (all.length >= 4) {
          const len = all.readUIntBE(1, 3);
          if (all.length < 4 + len) {
            this.wanted = 4 + len;
            break;
          }
          onMessage(all[0], all.subarray(4, 4 + len));
          all = all.subarray(4 + len);
        }
        this.bytes = all.length > 0 ? [all] : [];
        this.meter?.add(all.length - this.length);
        this.length = all.length;
      },
      onHole,
      MAX_CRYPTO,
    );
  }
}

/**
 * A QUIC connection may be quiet this long and go on: its later packets have
 * short headers, which cannot be read as a connection of their own. (QUIC's
 * idle timeouts are typically 30 s to a few minutes; a keep-alive PING resets it.)
 */
const QUIC_IDLE_TIMEOUT_MS = 300_000;

class QuicParser implements UdpDatagramParser {
  readonly idleTimeoutMs = QUIC_IDLE_TIMEOUT_MS;
  private version = 0;
  /** The client's first Destination Connection ID (Initial keys come from it) and both sides' own ids' lengths. */
  private originalDcid: Buffer | undefined;
  private clientCidLength: number | undefined;
  private serverCidLength: number | undefined;
  /** Keys by level, direction and version (a server may answer a version 1 Initial in version 2, RFC 9368). */
  private keys = new Map<string, DirectionKeys>();
  /** The largest packet number decrypted, per number space and direction (SPACE_INDEX). */
  private largest = [-1, -1, -1, -1, -1, -1];
  private crypto: Map<string, CryptoStream> | undefined;
  private clientFrames: FrameHandler | undefined;
  private serverFrames: FrameHandler | undefined;
  /** The flow's share of the memory budget: packets waiting for keys and handshake bytes are charged to it. */
  private readonly meter = currentMeter();
  private suite: QuicSuite | undefined;
  private secrets: SessionSecrets | undefined;
  private clientHello: Record<string, any> | undefined;
  private serverHello: Record<string, any> | undefined;
  private alpn = '';
  private helloTime: number | undefined;
  private helloFrame: number | undefined;
  private firstTime: number | undefined;
  private firstFrame: number | undefined;
  private lastTime = 0;
  private lastFrame = 0;
  private clientBytes = 0;
  private serverBytes = 0;
  private close: { code: number; reason: string; application: boolean; by: Direction } | undefined;
  /** Made with the first stream frame decrypted (a connection read without keys has none). */
  private streams: StreamTable | undefined;
  private h3: Http3Session | undefined;
  private doq: DoqSession | undefined;
  /** Packets decrypted with secrets from the key log (handshake, 0-RTT, 1-RTT). */
  private decrypted = 0;
  private undecryptable = 0;
  /** The connection's entry: waiting (it may be replaced by the HTTP/3 calls inside), or written. */
  private entryWritten = false;
  private waiting: WaitingPacket[] | undefined;
  private waitingBytes = 0;
  /** Live: the ClientHello's random, and since when its secrets are waited for (undefined: not waiting). */
  private clientRandom: Buffer | undefined;
  private keyWaitSince: number | undefined;
  /** Per direction: the size its GSO batches were cut at, the largest datagram it sent that opened whole, searches left. */
  private gso: Record<Direction, { size?: number; largest?: number; searches: number }> | undefined;
  private ended = false;
  private warnings: Set<string> | undefined;

  constructor(private readonly ctx: ConnectionContext) {
    this.meter?.add(QUIC_STATE_COST);
  }

  private warn(warning: string): void {
    (this.warnings ??= new Set()).add(warning);
  }

  onDatagram(dir: Direction, payload: Buffer): void {
    if (this.ended) return;
    if (dir === 'c2s') this.clientBytes += payload.length;
    else this.serverBytes += payload.length;
    this.firstTime ??= this.ctx.now;
    this.firstFrame ??= this.ctx.frame;
    this.lastTime = this.ctx.now;
    this.lastFrame = this.ctx.frame;
    try {
      this.datagram(dir, payload);
    } catch {
      this.ctx.count('quic.internal_threw');
    }
  }

  /** One datagram's packets; `piece`: a piece of a GSO batch, not to be cut again. */
  private datagram(dir: Direction, payload: Buffer, piece = false): void {
    let off = 0;
    while (off < payload.length) {
      const first = payload[off];
      // After a packet, zeros to the datagram's end are padding the sender put after it (RFC 9000 §12.2), not a
      // packet. (Not the fixed bit: peers that agreed to grease it, RFC 9287, send packets without it.)
      if (off > 0 && first === 0 && payload.subarray(off).every((x) => x === 0)) return;
      if ((first & 0x80) === 0) {
        // Short header (1-RTT): to the datagram's end, after a Destination Connection ID of the length the receiver chose.
        const cidLength = dir === 'c2s' ? this.serverCidLength : this.clientCidLength;
        if (cidLength === undefined) {
          this.ctx.count('quic.short_header_without_handshake_dropped');
          this.undecryptable++;
          return;
        }
        this.shortHeader(dir, payload, off, 1 + cidLength, false, piece);
        return;
      }
      if (off + 7 > payload.length) return;
      const version = payload.readUInt32BE(off + 1);
      if (version === 0) {
        this.ctx.count('quic.version_negotiation');
        return;
      }
      if (!knownVersion(version)) {
        this.ctx.count('quic.unknown_version_dropped');
        this.warn(`version 0x${version.toString(16).padStart(8, '0')}: not read`);
        this.version ||= version;
        return;
      }
      this.version = version;
      let p = off + 5;
      const dcid = payload.subarray(p + 1, p + 1 + payload[p]);
      p += 1 + payload[p];
      if (p >= payload.length) return;
      const scid = payload.subarray(p + 1, p + 1 + payload[p]);
      p += 1 + payload[p];
      const type = longType(version, first);
      if (type === 'retry') {
        // The client's next Initial goes to the id the Retry gave, and its keys come from that id.
        this.originalDcid = undefined;
        for (const key of [...this.keys.keys()]) if (key.startsWith('initial:')) this.keys.delete(key);
        this.ctx.count('quic.retry');
        return;
      }
      if (dir === 'c2s') this.clientCidLength ??= scid.length;
      else this.serverCidLength = scid.length;
      if (type === 'initial') {
        const token = readVarint(payload, p);
        if (!token) return;
        p += token.length + token.value;
        if (dir === 'c2s' && this.originalDcid === undefined) this.originalDcid = Buffer.from(dcid);
      }
      const length = readVarint(payload, p);
      if (!length) return;
      p += length.length;
      const end = p + length.value;
      if (end > payload.length) {
        this.ctx.count('quic.packet_truncated');
        return;
      }
      this.packet(dir, type, payload.subarray(off, end), p - off, true, version);
      off = end;
    }
  }

  /**
   * A short-header (1-RTT) packet, from `off` to its datagram's end. A
   * datagram that does not open whole may be a GSO batch (quic/gso.ts): it is
   * cut where its packets' connection id repeats, and each piece is read as
   * a datagram of its own.
   */
  private shortHeader(dir: Direction, datagram: Buffer, off: number, pnOffset: number, retry: boolean, piece = false): void {
    const batch = !piece && datagram.length > 2 * GSO_MIN_SEGMENT;
    const outcome = this.packet(dir, 'application', datagram.subarray(off), pnOffset, false, this.version, retry, batch);
    const gso = (this.gso ??= { c2s: { searches: MAX_GSO_SEARCHES }, s2c: { searches: MAX_GSO_SEARCHES } })[dir];
    if (outcome === 'opened' && !piece) gso.largest = Math.max(gso.largest ?? 0, datagram.length);
    if (outcome !== 'failed' || !batch) return;
    const dcid = datagram.subarray(off + 1, off + pnOffset);
    // The size this direction was cut at before, else (a bounded number of times) a search.
    let sizes = gsoSegmentSizes(datagram, off, dcid, [gso.size], false);
    if (sizes.length === 0 && gso.searches > 0) {
      gso.searches--;
      sizes = gsoSegmentSizes(datagram, off, dcid, [gso.largest], true);
    }
    for (const size of sizes) {
      if (this.packet(dir, 'application', datagram.subarray(off, size), pnOffset, false, this.version, true, true) !== 'opened') continue;
      gso.size = size;
      this.ctx.count('quic.gso_batches_split');
      for (let at = size; at < datagram.length; at += size) this.datagram(dir, datagram.subarray(at, Math.min(at + size, datagram.length)), true);
      return;
    }
    if (!retry) {
      this.ctx.count('quic.decrypt_failed');
      this.undecryptable++;
    }
  }

  /**
   * Remove header protection and decrypt one packet; its frames are read, or
   * it waits for keys, or it is counted. A `tentative` packet that does not
   * authenticate is not counted: the caller has another way to try.
   */
  private packet(dir: Direction, level: Level, packet: Buffer, pnOffset: number, long: boolean, version: number, retry = false, tentative = false): PacketOutcome {
    if (!retry && this.keyWaitSince !== undefined && level !== 'initial') this.checkKeys(false);
    const keys = this.keysFor(level, dir, version);
    if (!keys) {
      if (!retry && level !== 'initial' && this.mayGetKeys() && this.roomToWait(packet.length)) {
        (this.waiting ??= []).push({ dir, level, packet: Buffer.from(packet), pnOffset, long, version, now: this.ctx.now, frame: this.ctx.frame });
        this.waitingBytes += packet.length;
        this.meter?.add(packet.length);
      } else if (!retry) this.undecrypted(level);
      return 'other';
    }
    if (packet.length < pnOffset + 4 + 16) {
      this.ctx.count('quic.packet_truncated');
      return 'other';
    }
    const slot = SPACE_INDEX[SPACE[level]] + (dir === 'c2s' ? 0 : 1);
    for (let i = 0; i < keys.candidates.length; i++) {
      const k = keys.candidates[i];
      const { header, truncated, pnLength } = unprotectHeader(k, packet, pnOffset, long);
      const pn = decodePacketNumber(this.largest[slot], truncated, pnLength * 8);
      const phase = long ? 0 : (header[0] >> 2) & 0x01;
      let aead = k;
      let plain: Buffer | null;
      if (!long && phase !== keys.phase) {
        // The other key phase: the next one (a key update), or the last one (a packet sent before it, arriving late).
        aead = keys.next ??= nextPhase(k);
        plain = openPayload(aead, pn, header, packet.subarray(pnOffset + pnLength));
        if (!plain && keys.previous) {
          plain = openPayload(keys.previous, pn, header, packet.subarray(pnOffset + pnLength));
          if (plain) aead = k; // stays in the current phase
        }
      } else plain = openPayload(aead, pn, header, packet.subarray(pnOffset + pnLength));
      if (!plain) continue;
      if (keys.candidates.length > 1) {
        keys.candidates = [k];
        this.suite ??= k.suite;
      }
      if (aead !== k) {
        // The peer moved to the next key phase: keep it (and the last one, for late packets); the one after is derived when needed.
        keys.previous = k;
        keys.candidates = [aead];
        keys.phase = phase;
        keys.next = undefined;
      }
      if (pn > this.largest[slot]) this.largest[slot] = pn;
      if (level !== 'initial' && this.decrypted++ === 0) this.ctx.count('quic.decrypted_connections');
      const why = readFrames(plain, this.frames(level, dir));
      if (why) {
        this.ctx.count('quic.frames_malformed');
        this.warn(why);
      }
      return 'opened';
    }
    if (!retry && !tentative) {
      this.ctx.count('quic.decrypt_failed');
      this.undecryptable++;
    }
    return 'failed';
  }

  /**
   * A packet left encrypted: an Initial whose connection id the capture
   * missed, or (with a key log) one whose session the log does not cover.
   * Without a key log nothing beyond the Initials is expected to be read.
   */
  private undecrypted(level: Level): void {
    this.undecryptable++;
    if (level === 'initial') this.ctx.count('quic.initial_undecrypted');
    else if (this.ctx.options.tlsKeys && this.ctx.options.tlsKeys.size > 0) this.ctx.count('quic.packets_undecrypted');
  }

  /** Whether the keys a waiting packet needs may still come (a ClientHello or a ServerHello to read). */
  private mayGetKeys(): boolean {
    const log = this.ctx.options.tlsKeys;
    if (log === undefined || (log.size === 0 && !log.follows)) return false;
    return this.clientHello === undefined || this.suite === undefined || this.keyWaitSince !== undefined;
  }

  private roomToWait(bytes: number): boolean {
    const n = this.waiting?.length ?? 0;
    if (!this.ctx.options.tlsKeys?.follows) return n < MAX_WAITING_PACKETS;
    return n < MAX_WAITING_PACKETS_LIVE && this.waitingBytes + bytes <= MAX_WAITING_BYTES_LIVE;
  }

  /**
   * Live: look in the followed key log again for the session's secrets; go on
   * with them, or give up once waited too long (or at the end): the packets
   * held are then counted as not decrypted, and the connection is a `quic` entry.
   */
  private checkKeys(final: boolean, now = this.ctx.now): void {
    const log = this.ctx.options.tlsKeys;
    if (this.keyWaitSince === undefined || !log || !this.clientRandom) return;
    log.refresh(final);
    this.secrets = log.lookup(this.clientRandom);
    if (this.secrets) {
      this.keyWaitSince = undefined;
      this.retryWaiting();
      return;
    }
    if (!final && now - this.keyWaitSince <= KEY_WAIT_MS) return;
    this.keyWaitSince = undefined;
    this.ctx.count('quic.no_key');
    const waiting = this.waiting ?? [];
    this.waiting = undefined;
    for (const w of waiting) {
      this.meter?.add(-w.packet.length);
      this.undecrypted(w.level);
    }
    this.waitingBytes = 0;
    if (this.serverHello !== undefined) this.writeEntry();
  }

  /** Keys for a level and direction: Initial ones from the connection id, the others from the key log's secrets. */
  private keysFor(level: Level, dir: Direction, version: number): DirectionKeys | undefined {
    const key = `${level}:${dir}:${version}`;
    const known = this.keys.get(key);
    if (known) return known;
    let made: DirectionKeys | undefined;
    if (level === 'initial') {
      const k = this.originalDcid && initialKeys(version, this.originalDcid, dir === 'c2s' ? 'client' : 'server');
      if (k) made = { candidates: [k], phase: 0 };
    } else if (this.secrets) {
      const label = SECRET_LABEL[level][dir];
      const secret = label ? this.secrets.get(label) : undefined;
      if (secret) made = { candidates: (this.suite ? [this.suite] : suitesForSecret(secret)).map((s) => packetKeys(s, version, secret)), phase: 0 };
    }
    if (made) this.keys.set(key, made);
    return made;
  }

  /**
   * The frame handler of a level and direction. 1-RTT packets are most of a
   * decrypted connection: theirs is made once per direction. (Kept for every
   * level, a flood of one-packet connections would hold one each.)
   */
  private frames(level: Level, dir: Direction): FrameHandler {
    if (level !== 'application') return this.makeFrames(level, dir);
    return dir === 'c2s' ? (this.clientFrames ??= this.makeFrames(level, dir)) : (this.serverFrames ??= this.makeFrames(level, dir));
  }

  private makeFrames(level: Level, dir: Direction): FrameHandler {
    return {
      crypto: (offset, data) => this.cryptoStream(level, dir).assembler.add(offset, data, false),
      stream: (id, offset, data, fin) => {
        if (level === 'initial' || level === 'handshake') return; // STREAM frames are not allowed there
        this.streamTable().data(id, dir, offset, data, fin, level === 'early');
      },
      resetStream: (id, code) => this.streamTable().reset(id, dir, code),
      connectionClose: (code, frameType, reason, application) => {
        this.close ??= { code, reason, application, by: dir };
        this.h3?.close(code, reason, application);
      },
    };
  }

  private cryptoStream(level: Level, dir: Direction): CryptoStream {
    const key = `${level}:${dir}`;
    this.crypto ??= new Map();
    let c = this.crypto.get(key);
    if (!c) {
      c = new CryptoStream(
        (type, body) => this.handshakeMessage(level, dir, type, body),
        () => this.ctx.count('quic.crypto_gap'),
        (n) => this.ctx.count('quic.crypto_dropped', n),
      );
      this.crypto.set(key, c);
    }
    return c;
  }

  /** The streams, read as what the connection carries: DNS over QUIC when the ALPN says `doq`, else HTTP/3. */
  private streamTable(): StreamTable {
    if (this.streams) return this.streams;
    const offered: unknown = this.clientHello?.alpn;
    const doq = this.alpn === 'doq' || (this.alpn === '' && Array.isArray(offered) && offered.includes('doq') && !offered.includes('h3'));
    const sink = doq ? (this.doq = new DoqSession(this.ctx)) : (this.h3 = new Http3Session(this.ctx));
    return (this.streams = new StreamTable(this.ctx, sink));
  }

  private handshakeMessage(level: Level, dir: Direction, type: number, body: Buffer): void {
    if (type === 1 && dir === 'c2s' && this.clientHello === undefined) {
      try {
        this.clientHello = parseClientHello(body);
      } catch {
        this.clientHello = {};
        this.warn('malformed: ClientHello');
      }
      this.helloTime = this.ctx.now;
      this.helloFrame = this.ctx.frame;
      this.ctx.count('quic.connections');
      const random = body.subarray(2, 34);
      const log = this.ctx.options.tlsKeys;
      this.secrets = random.length === 32 ? log?.lookup(random) : undefined;
      if (!this.secrets && random.length === 32 && log?.follows) {
        // Live: the client logs the secrets once it has them; the packets wait (checkKeys).
        this.clientRandom = Buffer.from(random);
        this.keyWaitSince = this.ctx.now;
      } else if (log && log.size > 0 && !this.secrets) this.ctx.count('quic.no_key');
      this.retryWaiting();
    } else if (type === 2 && dir === 's2c' && this.serverHello === undefined) {
      try {
        this.serverHello = parseServerHello(body);
      } catch {
        this.serverHello = {};
        this.warn('malformed: ServerHello');
      }
      const fields = parseServerHelloKeys(body);
      const suite = fields ? SUITE_BY_CODE[fields.suite] : undefined;
      if (suite && !this.suite) {
        this.suite = suite;
        // Keys made while the suite was a guess keep only the one the server chose.
        for (const k of this.keys.values()) if (k.candidates.length > 1) k.candidates = k.candidates.filter((c) => c.suite === suite);
      }
      // Without the session's secrets nothing more can be read: the connection's entry is written now.
      if (!this.secrets && this.keyWaitSince === undefined) this.writeEntry();
      this.retryWaiting();
    } else if (type === 8 && dir === 's2c' && level === 'handshake') {
      // EncryptedExtensions: the ALPN the server chose, and whether it took the client's 0-RTT data.
      const ee = encryptedExtensions(Buffer.concat([Buffer.from([8, body.length >> 16, (body.length >> 8) & 0xff, body.length & 0xff]), body]));
      if (ee?.alpn) this.alpn = ee.alpn;
      if (ee && !ee.earlyData) this.streams?.rejectEarlyData();
    }
  }

  /** Packets that waited for their keys: tried again, in arrival order, stamped with their own packet's time. */
  private retryWaiting(): void {
    if (!this.waiting || this.waiting.length === 0 || !this.secrets) return;
    const waiting = this.waiting;
    this.waiting = undefined;
    this.waitingBytes = 0;
    for (const w of waiting) this.meter?.add(-w.packet.length);
    const ctx = this.ctx as { now: number; frame: number };
    const now = ctx.now;
    const frame = ctx.frame;
    for (const w of waiting) {
      ctx.now = w.now;
      ctx.frame = w.frame;
      if (w.long) this.packet(w.dir, w.level, w.packet, w.pnOffset, w.long, w.version, true);
      else this.shortHeader(w.dir, w.packet, 0, w.pnOffset, true);
    }
    ctx.now = now;
    ctx.frame = frame;
  }

  onTick(nowMs: number): void {
    // Calls end with their streams or the connection; only a wait for a live key log times out.
    if (this.keyWaitSince !== undefined) this.checkKeys(false, nowMs);
  }

  pendingSince(): number | undefined {
    // Never "nothing pending" while the connection lives: the engine would end the conversation, and the
    // connection's later packets would start another. Later calls are stamped now or after.
    if (this.ended) return undefined;
    const calls = this.h3?.pendingSince() ?? this.doq?.pendingSince();
    if (calls !== undefined) return calls;
    if (!this.entryWritten && !(this.h3 && this.h3.emitted > 0) && !this.doq) return this.helloTime ?? this.firstTime ?? this.lastTime;
    return this.lastTime;
  }

  onEnd(): void {
    if (this.ended) return;
    this.checkKeys(true);
    this.ended = true;
    this.streams?.giveUpHoles();
    for (const w of this.waiting ?? []) this.undecrypted(w.level);
    this.waiting = undefined;
    if (this.doq) {
      // DNS queries are their own entries (an empty connection, too, says nothing more than they do).
      this.doq.finish();
      return;
    }
    const calls = this.h3?.finish() ?? 0;
    if (calls > 0) return;
    if (this.decrypted > 0 && this.h3 === undefined) this.ctx.count('quic.decrypted_not_http3');
    this.writeEntry();
  }

  /** The connection's entry, once: when its calls cannot be read, or none came. */
  private writeEntry(): void {
    if (this.entryWritten) return;
    this.entryWritten = true;
    this.ctx.emit(this.connectionRecord());
  }

  /** The connection as one entry, as a `tls` entry shows a TCP one: what its Initial packets say. */
  private connectionRecord(): CallRecord {
    // Only short headers seen (the capture started mid-connection): they name no version.
    const midConnection = this.version === 0;
    const request: Record<string, any> = midConnection ? { handshake: 'not captured' } : { quicVersion: versionName(this.version), ...(this.clientHello ?? {}) };
    let response: Record<string, any> | null = null;
    if (this.serverHello) {
      response = { ...this.serverHello };
      if (this.alpn) response.alpn = this.alpn;
    }
    if (this.close) {
      const close = { code: this.close.code, reason: this.close.reason, application: this.close.application, by: this.close.by === 'c2s' ? 'client' : 'server' };
      if (response) response.close = close;
      else request.close = close;
    }
    const warnings = [...(this.warnings ?? [])];
    if (!this.secrets) warnings.push('encrypted: no key for this session');
    else if (this.undecryptable > 0) warnings.push(`${this.undecryptable} packet(s) not decrypted`);
    if (midConnection) warnings.push('handshake not captured');
    else if (!this.clientHello) warnings.push('no ClientHello in the capture');
    const error = this.close !== undefined && this.close.code !== 0 && !(this.close.application && this.close.code === 0x100);
    const sni = request.sni || '-';
    const alpn = response?.alpn || (Array.isArray(request.alpn) ? request.alpn.join(',') : '');
    const record: CallRecord = {
      protocol: 'quic',
      request,
      response,
      requestTime: this.helloTime ?? this.firstTime ?? this.lastTime,
      requestFrame: this.helloFrame ?? this.firstFrame,
      responseTime: this.lastTime,
      responseFrame: this.lastFrame,
      requestSize: this.clientBytes,
      responseSize: this.serverBytes,
      error,
      summary: `${midConnection ? 'QUIC (handshake not captured)' : `${versionName(this.version)} ${sni}${alpn ? ' ' + alpn : ''}`}${this.close && error ? ` → close 0x${this.close.code.toString(16)}` : ''}`,
    };
    if (warnings.length > 0) record.warnings = warnings;
    return record;
  }
}

/**
 * A long-header packet of a version shark reads. Which side sent it: 0-RTT
 * comes only from clients; an Initial is the client's first when it opens
 * with the keys of its own Destination Connection ID (anyone can derive
 * them), and the server's otherwise. Both pad their Initials to 1200 bytes,
 * so size says nothing. A packet cut short (a snap length) cannot be opened:
 * the ports decide then, as for Handshake packets.
 */
export function probeQuic(data: Buffer, portMatch: boolean): Probe {
  if (portMatch && shortHeaderShape(data)) return 'stream';
  // The fixed bit may be greased (RFC 9287) on a QUIC port; elsewhere it keeps RTP (0x80) and the like out.
  if (data.length < 7 || (data[0] & 0x80) === 0 || ((data[0] & 0x40) === 0 && !portMatch)) return false;
  const version = data.readUInt32BE(1);
  if (!knownVersion(version)) return false;
  const dcidLength = data[5];
  if (dcidLength > 20 || data.length < 7 + dcidLength || data[6 + dcidLength] > 20) return false;
  const type = longType(version, data[0]);
  if (type === 'early') return 'request';
  if (type === 'handshake') return 'stream';
  if (type !== 'initial') return false;
  const opens = opensAsFirstInitial(data, version);
  return opens === undefined ? 'stream' : opens ? 'request' : 'response';
}

/**
 * A short-header (1-RTT) packet: the form bit clear, the fixed bit set, and
 * room for a header protection sample (RFC 9001 §5.4.2: 4 bytes past the
 * packet number's start, then 16). The first datagram of a connection whose
 * handshake the capture missed (it started mid-connection) looks so; nothing
 * else in it says QUIC, so only on a QUIC port is it taken for QUIC (as
 * tshark does on 443), and not when it reads as what else runs there: DTLS
 * (a record type, then version 0xfeXX), WireGuard (a type, then three zero
 * bytes), text. A packet whose fixed bit a peer greased (RFC 9287) is not
 * taken: a DNS query's first byte looks as much like one. Such a connection
 * is a `udp` entry that says it looks like QUIC (quic/mid-connection.ts).
 */
export function shortHeaderShape(data: Buffer): boolean {
  if (data.length < 1 + 4 + 16 || (data[0] & 0xc0) !== 0x40) return false;
  if (data[0] >= 0x14 && data[0] <= 0x19 && data[1] === 0xfe) return false;
  if (data[1] === 0 && data[2] === 0 && data[3] === 0) return false;
  // A connection id and a sealed payload are random bytes: twenty printable ones in a row are text ('GET /…').
  for (let i = 1; i <= 20; i++) if (data[i] < 0x20 || data[i] > 0x7e) return true;
  return false;
}

/** Whether a datagram's first packet, an Initial, opens with the keys of its own Destination Connection ID; undefined when it is cut short. */
function opensAsFirstInitial(data: Buffer, version: number): boolean | undefined {
  let p = 5;
  const dcid = data.subarray(p + 1, p + 1 + data[p]);
  p += 1 + data[p];
  p += 1 + data[p];
  const token = readVarint(data, p);
  if (!token) return undefined;
  p += token.length + token.value;
  const length = readVarint(data, p);
  if (!length) return undefined;
  p += length.length;
  const end = p + length.value;
  if (end > data.length || end < p + 20) return undefined;
  const keys = initialKeys(version, dcid, 'client')!;
  const { header, truncated, pnLength } = unprotectHeader(keys, data.subarray(0, end), p, true);
  return openPayload(keys, truncated, header, data.subarray(p + pnLength, end)) !== null;
}

export const quic: ProtocolDissector = {
  name: 'quic',
  transport: 'udp',
  ports: [443, 4433, 8443],
  priority: 40,
  reference: 'https://www.rfc-editor.org/rfc/rfc9000 (TLS: RFC 9001, version 2: RFC 9369, HTTP/3: RFC 9114)',
  probe: (data, portMatch) => {
    try {
      return probeQuic(data, portMatch);
    } catch {
      return false;
    }
  },
  createUdpParser: (ctx) => new QuicParser(ctx),
};
