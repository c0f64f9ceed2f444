// A TLS connection whose secrets are in the key log (`--tls-keylog`): its
// records are decrypted and the plaintext is handed, as an in-order byte
// stream per direction, to the dissector of the protocol inside (by ALPN, else
// by content), so HTTP/1, HTTP/2, gRPC … inside TLS come out as their own
// entries, marked `tls: true`, in place of the connection's `tls` entry.
//
// The hello entry (today's TlsParser) is held while decryption may replace it
// and is emitted as before when it cannot: no key for the session, records
// that do not authenticate, a gap in the ciphertext, or plaintext no dissector
// claims (then with the decrypted byte counts). Each such case is counted.

import type { CallRecord, ConnectionContext, Direction, InnerParser, ProtocolDissector, TcpStreamParser } from '../api.js';
import { ByteQueue } from '../byte-queue.js';
import { cipherSuite, type CipherSuite } from './cipher-suites.js';
import { masterFromPremaster, nextTrafficSecret, tls12Keys, tls13Keys, TLS10, TLS12 } from './key-schedule.js';
import { keyMismatchCounter, MAX_TRIED_MASTERS, unsupportedSuiteCounter, TlsKeyLog, type SessionSecrets } from './keylog.js';
import { mayBeFinished, RecordCipher } from './record-cipher.js';
import { clientHelloHasExtension, clientHelloResumption, encryptedExtensions, newSessionTicket, parseServerHelloKeys } from './handshake-fields.js';
import { alertName, helloSummary } from '../protocols/tls.js';

/** RFC 8446 §5.2: a protected record is at most 2^14 + 256 bytes. */
const MAX_RECORD = 16384 + 2048;
/** Clear-text handshake bytes kept while waiting for a whole hello. */
const MAX_HANDSHAKE = 64 * 1024;
/** After a gap, records that may have been lost in it (sequence numbers tried). */
const MAX_LOST_RECORDS = 64n;
/** After a gap, bytes searched for the next record before the direction is given up. */
const MAX_RESYNC_BYTES = 1024 * 1024;
/** Plaintext kept while the inner protocol is not yet known. */
const MAX_UNDETECTED = 16 * 1024;
/**
 * Live, with a followed key log: how long (capture time) and how many bytes
 * a connection waits for its secrets to be logged, and how many bytes all
 * waiting connections hold together. A client logs them as it computes them,
 * a moment after the ServerHello the capture shows; a session whose client
 * logs nothing gives up here and stays a tls entry (tls.no-key).
 */
const KEY_WAIT_MS = 3000;
const MAX_KEY_WAIT_BYTES = 256 * 1024;
const MAX_KEY_WAIT_BYTES_ALL = 16 * 1024 * 1024;

/**
 * TLS 1.0–1.2 with a premaster secret logged and extended_master_secret: the
 * handshake up to the ClientKeyExchange is hashed into the master secret
 * (RFC 7627), so its messages are kept until then (a long certificate chain
 * past this: the session is counted as having no key).
 */
const MAX_TRANSCRIPT = 256 * 1024;

/** On the calls of a NULL-cipher session whose MACs could not be checked (no key for it). */
const NULL_UNCHECKED = 'TLS NULL cipher: plaintext read as is, MAC not checked (no key)';
/** NULL encryption without a key: records carry their plaintext; only the MAC goes unchecked. */
const NO_KEYS = { key: Buffer.alloc(0), iv: Buffer.alloc(0) };

/** TLS 1.3 0-RTT: client records taken for early data (bounded), and the bytes of them kept before the ServerHello. */
const MAX_EARLY_RECORDS = 64;
const MAX_EARLY_BYTES = 64 * 1024;

/** A record or its plaintext, with its packet's time and frame. */
interface Timed {
  data: Buffer;
  now: number;
  frame: number;
}

/** Bytes that came while a connection waited for its secrets, with their packet's time and frame. */
interface WaitingChunk {
  dir: Direction;
  data: Buffer;
  now: number;
  frame: number;
}

const flip = (d: Direction): Direction => (d === 'c2s' ? 's2c' : 'c2s');

interface Half {
  records: ByteQueue;
  handshake: ByteQueue;
  /** Decrypting from here on (TLS 1.2: after ChangeCipherSpec; TLS 1.3: after the ServerHello). */
  cipher: RecordCipher | undefined;
  /** TLS 1.3: the application traffic secret of the current generation. */
  trafficSecret: Buffer | undefined;
  /** TLS 1.3: records are under the application keys (the handshake is over in this direction). */
  application: boolean;
  /** Some record of this direction authenticated (TLS 1.3: a client record failing before then may be 0-RTT). */
  authenticated: boolean;
  /**
   * TLS 1.3: the log has the handshake secrets and the other direction's
   * traffic secret, not this one's (a server logging only what it sends, a
   * log cut short): the handshake decrypts, the application records do not.
   */
  noTrafficKey: boolean;
  /** TLS 1.0–1.2: a clear-text handshake message after the hellos was too long to read; the rest of them are not read. */
  handshakeOff: boolean;
  /** Decryption gave up on this direction (gap, bad record): the rest is counted. */
  lost: boolean;
  /** After a gap: looking for the next record (see resync). */
  resync: boolean;
  resyncBytes: number;
  /**
   * TLS 1.0–1.2, after a gap in the clear handshake that followed the hellos
   * (a lost segment of a certificate chain): looking for the ChangeCipherSpec
   * record, from which this direction decrypts as if nothing was lost.
   */
  seekCcs: boolean;
  /** Ciphertext lost in the current gap (the partial record before it, and the gap). */
  lostCipherBytes: number;
  plainBytes: number;
}

/** The random of a ServerHello that is a HelloRetryRequest (RFC 8446 §4.1.3: SHA-256 of "HelloRetryRequest"). */
const HELLO_RETRY_REQUEST = Buffer.from('cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c', 'hex');

export class DecryptingTlsParser implements TcpStreamParser {
  private readonly halves: Record<Direction, Half> = { c2s: newHalf(), s2c: newHalf() };
  /** The direction the ClientHello travelled in ('c2s' unless the engine guessed the client wrongly). */
  private clientDir: Direction = 'c2s';
  private clientRandom: Buffer | undefined;
  private serverRandom: Buffer | undefined;
  private suite: CipherSuite | undefined;
  /** The ServerHello's cipher suite, known to shark or not. */
  private suiteCode = 0;
  private tls13 = false;
  /** The negotiated version (0x0301 TLS 1.0 … 0x0304 TLS 1.3): TLS 1.0 and 1.1 derive keys with their own PRF. */
  private version = TLS12;
  private encryptThenMac = false;
  private extendedMasterSecret = false;
  /** TLS 1.0–1.2: what the ClientHello offered to resume (session id, ticket), and the session id the ServerHello gave. */
  private offered: { sessionId: Buffer; ticket: Buffer } | undefined;
  private serverSessionId: Buffer | undefined;
  /** TLS 1.0–1.2: the master secret is an earlier session's (counted once the session decrypts). */
  private resumed = false;
  /**
   * TLS 1.0–1.2: a resumption whose master secret no earlier session gave: the
   * key log's master secrets are tried on its first encrypted record
   * (resumeByTrial), so it decrypts whichever worker read its full handshake,
   * or when the capture began after it.
   */
  private trial = false;
  /** TLS 1.0–1.2: a renegotiation's handshake was seen (its session's secrets replace the first's). */
  private renegotiating = false;
  /** TLS 1.0–1.2: the directions whose ChangeCipherSpec was seen. */
  private readonly ccsSeen: Record<Direction, boolean> = { c2s: false, s2c: false };
  /** TLS 1.0–1.2: the master secret comes from a logged premaster secret, at the ClientKeyExchange. */
  private premasterPending = false;
  /** The handshake messages so far, while a premaster secret may need them (MAX_TRANSCRIPT). */
  private transcript: { parts: Buffer[]; bytes: number } | undefined;
  /** Some record of this connection decrypted (counted once in tls.decrypted-sessions). */
  private decrypted = false;
  /** The session's first encrypted record did not open under its logged secrets (counted once). */
  private mismatchCounted = false;
  /** TLS 1.3 0-RTT: the ClientHello offered early data; early records seen so far (the early keys' next sequence number). */
  private offeredEarlyData = false;
  private earlyRecords = 0;
  private earlyCipher: RecordCipher | undefined;
  /**
   * 0-RTT records that came before the ServerHello (whole, header included),
   * decrypted once it names the suite; their plaintext waits for the
   * EncryptedExtensions to say whether the server took it (`accepted`).
   */
  private readonly early: { records: Timed[]; bytes: number; passed: number; plain: Timed[]; accepted: boolean | undefined } = { records: [], bytes: 0, passed: 0, plain: [], accepted: undefined };
  /** Live: the ServerHello came before the client logged the session's secrets (see KEY_WAIT_MS). */
  private awaiting: { since: number; bytes: number; chunks: WaitingChunk[] } | undefined;
  private alpn = '';
  private secrets: SessionSecrets | undefined;
  /**
   * TLS 1.3 with only the handshake secrets logged (a client that gave up
   * before the server's Finished logs no traffic secrets: Go's refusing a
   * certificate): the handshake is read, for its alert and ALPN; the first
   * record that does not open under them ends it as a session without a key.
   */
  private handshakeOnly = false;
  /** TLS 1.3: a direction's records past the handshake were not decrypted for want of its traffic secret (said on the calls). */
  private oneWay: string | undefined;
  /** An alert decrypted before any application data: the handshake failed (it goes on the tls entry). */
  private alert: { level: string; description: string; from: 'client' | 'server' } | undefined;
  /** The connection's `tls` entry, held while decryption may replace it. */
  private held: CallRecord | undefined;
  private helloDone = false;
  /** Why decryption stopped, for the tls entry when it goes out instead of the calls inside. */
  private warning: string | undefined;
  private inner: TcpStreamParser | undefined;
  private innerFailed = false;
  private innerEmitted = false;
  /** Plaintext waiting for the inner protocol to be known, per client/server direction. */
  private readonly undetected: Record<Direction, ByteQueue> = { c2s: new ByteQueue(), s2c: new ByteQueue() };

  /** Today's parser of the hellos: it makes the connection's tls entry. */
  private readonly hello: TcpStreamParser;
  /**
   * A NULL-encryption session read without its keys (none logged, or no key
   * log at all): its records' plaintext is dissected, their MACs unchecked.
   */
  private unverified = false;

  constructor(
    private readonly ctx: ConnectionContext,
    private readonly keyLog: TlsKeyLog,
    createHelloParser: (ctx: ConnectionContext) => TcpStreamParser,
    /** The dissectors that may claim the plaintext. */
    private readonly candidates: () => ProtocolDissector[],
    /** The plaintext's parser, when the connection said what TLS carries (MySQL after its SSLRequest). */
    private readonly inside?: InnerParser,
    /**
     * No key log: only a NULL-encryption session is read (its plaintext is on
     * the wire); any other steps aside at its ServerHello, counting nothing,
     * and the connection is the hello parser's alone, as without this class.
     */
    private readonly nullOnly = false,
  ) {
    this.hello = createHelloParser(forward(ctx, (call) => this.onHelloCall(call)));
    if (keyLog.hasPremasters) this.transcript = { parts: [], bytes: 0 };
  }

  onData(dir: Direction, data: Buffer): void {
    if (this.nullOnly) {
      // The hello parser after: the tls entry it makes at the ServerHello finds the suite known (onHelloCall).
      this.records(dir, data);
      this.hello.onData(dir, data);
      return;
    }
    this.hello.onData(dir, data);
    if (this.awaiting) return this.waitWith(dir, data);
    this.records(dir, data);
  }

  /** Counters, except while a run without a key log has not found a NULL-cipher session here (its output is as before). */
  private count(name: string, n?: number): void {
    if (!this.nullOnly || this.unverified) this.ctx.count(name, n);
  }

  private records(dir: Direction, data: Buffer): void {
    const h = this.halves[dir];
    if (h.lost) return;
    h.records.push(data);
    this.readRecords(dir, h);
  }

  onGap(dir: Direction, length: number): void {
    this.hello.onGap(dir, length);
    const h = this.halves[dir];
    if (!h.lost && !h.cipher && this.helloDone && !this.tls13 && this.secrets) {
      // The hellos are read: what was lost is handshake this direction's keys do not need
      // (ChangeCipherSpec is still to come). A premaster's transcript went with it.
      this.count('tls.handshake-gap');
      h.records.clear();
      h.handshake.clear();
      h.handshakeOff = true;
      h.seekCcs = true;
      if (dir === this.clientDir && this.premasterPending) this.transcript = undefined;
      return;
    }
    if (h.lost || !h.cipher) {
      this.inner?.onGap(this.innerDir(dir), length);
      if (!h.lost) this.lose(dir, 'tls.decrypt-gap');
      return;
    }
    // Record boundaries and sequence numbers went with the bytes: find the next record
    // that authenticates under one of the next sequence numbers (records lost in the gap are counted).
    // The protocol inside hears of the gap then, with the plaintext it lost.
    this.count('tls.decrypt-gap');
    h.cipher.chainBroken();
    h.lostCipherBytes += h.records.length + length;
    h.records.clear();
    h.resync = true;
  }

  onFin(dir: Direction): void {
    // The hello parser tells a TLS 1.3 server's refusal by its close (TlsParser.tls13Record).
    this.hello.onFin?.(dir);
    // Plaintext still waiting for its secrets has not reached the inner parser: its end is the connection's.
    if (this.awaiting) return;
    this.endResync(dir);
    this.inner?.onFin?.(this.innerDir(dir));
  }

  onTick(nowMs: number, timeoutMs: number): void {
    // A connection gone quiet while waiting for its secrets is not kept waiting.
    if (this.awaiting) this.checkSecrets(false);
    this.hello.onTick?.(nowMs, timeoutMs);
    this.inner?.onTick?.(nowMs, timeoutMs);
  }

  pendingSince(): number | undefined {
    let t = this.held?.requestTime;
    // Calls still locked in the bytes that wait for their secrets begin no earlier than the wait.
    if (this.awaiting && (t === undefined || this.awaiting.since < t)) t = this.awaiting.since;
    for (const p of [this.hello.pendingSince?.(), this.inner?.pendingSince?.()]) {
      if (p !== undefined && (t === undefined || p < t)) t = p;
    }
    return t;
  }

  onEnd(reason: 'fin' | 'rst' | 'timeout' | 'eof'): void {
    if (this.awaiting) this.checkSecrets(true);
    // A resumption whose master secret was to be found on its first encrypted record, which never came.
    if (this.trial) {
      this.trial = false;
      this.noDecryption('tls.no-key');
    }
    // Only the handshake's secrets, and no record past it: a failed handshake needs no more; else the session had no key.
    if (this.handshakeOnly) {
      this.handshakeOnly = false;
      if (!this.alert) this.noDecryption('tls.no-key');
    }
    // 0-RTT plaintext the server never said it took (its EncryptedExtensions were not seen).
    if (this.early.plain.length > 0) this.count('tls.early-data-skipped', this.early.plain.length);
    this.hello.onEnd(reason);
    this.endResync('c2s');
    this.endResync('s2c');
    this.inner?.onEnd(reason);
    // Plaintext that no dissector claimed by the end (one side never spoke, or spoke too little).
    if (!this.inner && !this.innerFailed && this.halves.c2s.plainBytes + this.halves.s2c.plainBytes > 0) this.giveUpInner();
    this.releaseHeld();
  }

  // ---- records -------------------------------------------------------------

  private readRecords(dir: Direction, h: Half): void {
    if (h.seekCcs && !this.seekCcs(dir, h)) return;
    if (h.resync && !this.resync(dir, h)) return;
    // While waiting for secrets, what follows the ServerHello stays queued.
    while (!h.lost && !this.awaiting && h.records.length >= 5) {
      const header = h.records.peek(5);
      const len = header.readUInt16BE(3);
      if (header[1] !== 3 || header[0] < 20 || header[0] > 24 || len > MAX_RECORD) {
        this.lose(dir, 'tls.decrypt-malformed');
        return;
      }
      if (h.records.length < 5 + len) return;
      const record = h.records.take(5 + len);
      this.onRecord(dir, h, record.subarray(0, 5), record.subarray(5));
    }
  }

  /** After a gap in the clear handshake: slide to the ChangeCipherSpec record (true once there); bounded like resync. */
  private seekCcs(dir: Direction, h: Half): boolean {
    while (h.records.length >= 6) {
      const buf = h.records.peek();
      let at = -1;
      for (let i = 0; i + 6 <= buf.length; i++) {
        if (buf[i] === 20 && buf[i + 1] === 3 && buf[i + 2] <= 3 && buf[i + 3] === 0 && buf[i + 4] === 1 && buf[i + 5] === 1) {
          at = i;
          break;
        }
      }
      if (at >= 0) {
        h.records.consume(at);
        h.seekCcs = false;
        h.resyncBytes = 0;
        return true;
      }
      h.resyncBytes += buf.length - 5;
      h.records.consume(buf.length - 5);
      if (h.resyncBytes > MAX_RESYNC_BYTES) {
        this.lose(dir, 'tls.decrypt-gap');
        return false;
      }
    }
    return false;
  }

  /**
   * After a gap: slide over the bytes to a record header whose record
   * authenticates at one of the next MAX_LOST_RECORDS sequence numbers. True
   * once in step again (the queue starts at a record); false while more bytes
   * are needed; gives the direction up past MAX_RESYNC_BYTES.
   */
  private resync(dir: Direction, h: Half): boolean {
    const cipher = h.cipher!;
    while (h.records.length >= 5) {
      const buf = h.records.peek();
      let at = -1;
      for (let i = 0; i + 5 <= buf.length; i++) {
        if (buf[i] === 23 && buf[i + 1] === 3 && buf[i + 2] <= 4 && buf.readUInt16BE(i + 3) <= MAX_RECORD) {
          at = i;
          break;
        }
      }
      if (at < 0) {
        h.resyncBytes += Math.max(0, buf.length - 4);
        h.records.consume(Math.max(0, buf.length - 4));
        break;
      }
      h.resyncBytes += at;
      h.records.consume(at);
      const len = h.records.peek(5).readUInt16BE(3);
      if (h.records.length < 5 + len) break;
      const record = h.records.peek(5 + len);
      const start = cipher.seq;
      for (let k = 0n; k <= MAX_LOST_RECORDS; k++) {
        cipher.seq = start + k;
        const plain = cipher.decrypt(record.subarray(0, 5), record.subarray(5));
        if (plain) {
          h.records.consume(5 + len);
          h.resync = false;
          this.count('tls.records-lost-in-gap', Number(k));
          const lost = cipher.lostPlaintext(h.lostCipherBytes + h.resyncBytes, Number(k));
          h.lostCipherBytes = 0;
          h.resyncBytes = 0;
          this.inner?.onGap(this.innerDir(dir), lost.length, lost.slack);
          if (plain.type === 23) this.onPlaintext(dir, plain.data);
          return true;
        }
      }
      cipher.seq = start;
      cipher.skip(record.subarray(5));
      h.resyncBytes++;
      h.records.consume(1);
    }
    if (h.resyncBytes > MAX_RESYNC_BYTES) {
      this.endResync(dir);
      this.lose(dir, 'tls.undecryptable');
    }
    return false;
  }

  /**
   * A gap that no authenticating record followed (the direction ended with a
   * record lost, or no record opened within the bound): the protocol inside
   * hears of it now, as resync would have told it, so the call it was in ends
   * with a gap rather than cut short as if the peer had stopped there. How
   * many records were lost is not known: the fewest that hold the bytes.
   */
  private endResync(dir: Direction): void {
    const h = this.halves[dir];
    if (!h.resync || h.lost || !h.cipher) return;
    h.resync = false;
    const bytes = h.lostCipherBytes + h.resyncBytes + h.records.length;
    h.records.clear();
    const records = Math.max(1, Math.ceil(bytes / (5 + MAX_RECORD)));
    this.count('tls.records-lost-in-gap', records);
    const lost = h.cipher.lostPlaintext(bytes, records);
    h.lostCipherBytes = 0;
    h.resyncBytes = 0;
    this.inner?.onGap(this.innerDir(dir), lost.length, lost.slack);
  }

  private onRecord(dir: Direction, h: Half, header: Buffer, body: Buffer): void {
    const type = header[0];
    if (type === 20) {
      // ChangeCipherSpec: TLS 1.2 encrypts from the next record on; in TLS 1.3 it is only for middleboxes.
      if (!this.tls13 && this.helloDone) this.startCipher12(dir);
      return;
    }
    // No key log, and application data before any ServerHello (a connection captured mid-way): no NULL cipher to find.
    if (this.nullOnly && !this.helloDone && type === 23) return this.stepAside();
    // TLS 1.0–1.2 resumption with no master secret known yet: the first encrypted record tells which (resumeByTrial).
    if (!h.cipher && this.trial && this.ccsSeen[dir] && !this.resumeByTrial(dir, header, body)) return;
    if (!h.cipher) {
      // TLS 1.0–1.2: the handshake stays clear until ChangeCipherSpec (session ticket, ClientKeyExchange).
      if (type === 22 && (!this.helloDone || !this.tls13)) this.readHandshake(dir, h, body);
      // TLS 1.3 0-RTT: application data right after the ClientHello, under early keys; which
      // suite they are for, the ServerHello is yet to say (keepEarly, openEarly).
      else if (type === 23 && this.clientRandom && !this.helloDone && dir === this.clientDir) this.keepEarly(header, body);
      return;
    }
    const plain = this.decrypt(dir, h, header, body);
    if (!plain) return;
    if (plain.type === 23) this.onPlaintext(dir, plain.data);
    else if (plain.type === 21) this.onAlert(dir, plain.data);
    // TLS 1.0–1.2 renegotiation: a new handshake under the current keys, whose hellos give the next ones.
    else if (plain.type === 22 && !this.tls13) this.readHandshake(dir, h, plain.data);
    // TLS 1.3 moved ALPN (and the server's answer to 0-RTT) into the (encrypted) EncryptedExtensions.
    else if (plain.type === 22 && this.tls13 && this.early.accepted === undefined && dir !== this.clientDir) {
      const ee = encryptedExtensions(plain.data);
      if (ee) {
        this.alpn ||= ee.alpn;
        this.settleEarly(ee.earlyData);
      }
    }
  }

  private decrypt(dir: Direction, h: Half, header: Buffer, body: Buffer): { type: number; data: Buffer } | null {
    const plain = h.cipher!.decrypt(header, body);
    if (plain) {
      h.authenticated = true;
      return plain;
    }
    if (this.isEarly(dir, h, header, body)) return null;
    if (this.tls13 && this.suite && h.trafficSecret) {
      // No clear-text sign marks the end of the handshake (application keys from sequence 0)
      // or a KeyUpdate (the next generation): the record authenticates under the new keys or it does not.
      const secret = h.application ? nextTrafficSecret(this.suite, h.trafficSecret) : h.trafficSecret;
      const next = new RecordCipher(this.suite, tls13Keys(this.suite, secret));
      const moved = next.decrypt(header, body);
      if (moved) {
        h.cipher = next;
        h.trafficSecret = secret;
        h.application = true;
        h.authenticated = true;
        return moved;
      }
    }
    h.cipher!.skip(body);
    // Past the handshake in a direction whose traffic secret was not logged: the other direction goes on alone.
    if (h.noTrafficKey && h.authenticated) {
      this.lose(dir, dir === this.clientDir ? 'tls.no-key-client-direction' : 'tls.no-key-server-direction');
      return null;
    }
    // Past the handshake with only its secrets: as before them, a session without a key.
    if (this.handshakeOnly) {
      this.handshakeOnly = false;
      this.noDecryption('tls.no-key');
      return null;
    }
    if (!h.authenticated && !this.decrypted && !this.mismatchCounted) {
      // Not one record of the session opened: the secrets found for it are not its own, or its
      // keys are derived another way than shark's; counted by version and suite for the summary.
      this.mismatchCounted = true;
      this.count('tls.key-mismatch');
      this.count(keyMismatchCounter(this.tls13 ? 0x0304 : this.version, this.suite!.code));
    }
    this.lose(dir, 'tls.undecryptable');
    return null;
  }

  /**
   * TLS 1.3 0-RTT: until the client's first handshake record authenticates,
   * a client record that does not may be early data or EndOfEarlyData, under
   * keys from CLIENT_EARLY_TRAFFIC_SECRET. With that secret logged, a record
   * is told apart by authenticating under them (its plaintext goes where the
   * early data before the ServerHello went, earlyPlaintext); without it, when
   * the ClientHello offered early data, it is taken for early data and
   * counted (bounded), and the handshake goes on.
   */
  private isEarly(dir: Direction, h: Half, header: Buffer, body: Buffer): boolean {
    if (!this.tls13 || dir !== this.clientDir || h.authenticated || !this.offeredEarlyData || this.earlyRecords >= MAX_EARLY_RECORDS) return false;
    // The early keys number every early record the client sent, read or not.
    if (this.earlyCipher) this.earlyCipher.seq = BigInt(this.earlyRecords);
    const opened = this.earlyCipher?.decrypt(header, body);
    if (this.earlyCipher && !opened) return false;
    this.earlyRecords++;
    // EndOfEarlyData (a handshake record) closes the early data: nothing to hand on.
    if (!opened) this.count('tls.early-data-skipped');
    else if (opened.type === 23) this.earlyPlaintext({ data: opened.data, now: this.ctx.now, frame: this.ctx.frame });
    return true;
  }

  /** A 0-RTT record before the ServerHello: kept (bounded) until the suite is known. */
  private keepEarly(header: Buffer, body: Buffer): void {
    const e = this.early;
    if (!this.offeredEarlyData || e.records.length >= MAX_EARLY_RECORDS || e.bytes + 5 + body.length > MAX_EARLY_BYTES) {
      // After the kept ones: numbered once they are (openEarly).
      e.passed++;
      this.count('tls.early-data-skipped');
      return;
    }
    e.records.push({ data: Buffer.concat([header, body]), now: this.ctx.now, frame: this.ctx.frame });
    e.bytes += 5 + body.length;
  }

  /** TLS 1.3 keys are known: the kept 0-RTT records are decrypted under the early ones (when logged). */
  private openEarly(): void {
    const e = this.early;
    const secret = this.secrets?.get('CLIENT_EARLY_TRAFFIC_SECRET');
    if (secret && this.suite && !this.earlyCipher) this.earlyCipher = new RecordCipher(this.suite, tls13Keys(this.suite, secret));
    for (const r of e.records) {
      if (this.earlyCipher) this.earlyCipher.seq = BigInt(this.earlyRecords);
      this.earlyRecords++;
      const opened = this.earlyCipher?.decrypt(r.data.subarray(0, 5), r.data.subarray(5));
      if (!opened) this.count('tls.early-data-skipped');
      else if (opened.type === 23) this.earlyPlaintext({ data: opened.data, now: r.now, frame: r.frame });
    }
    this.earlyRecords += e.passed;
    e.records = [];
    e.bytes = 0;
    e.passed = 0;
  }

  /** 0-RTT plaintext: handed on once the server took it, dropped (counted) when it refused it (the client sends it again). */
  private earlyPlaintext(p: Timed): void {
    const e = this.early;
    if (e.accepted === undefined) e.plain.push(p);
    else if (e.accepted) this.at(p, () => this.onPlaintext(this.clientDir, p.data));
    else this.count('tls.early-data-refused');
  }

  /** The EncryptedExtensions said whether the server took the 0-RTT data. */
  private settleEarly(accepted: boolean): void {
    const e = this.early;
    e.accepted = accepted;
    const plain = e.plain;
    e.plain = [];
    for (const p of plain) this.earlyPlaintext(p);
  }

  /** `fn` as if the packet of `p` were being read (its time and frame). */
  private at(p: { now: number; frame: number }, fn: () => void): void {
    const ctx = this.ctx as { now: number; frame: number };
    const { now, frame } = ctx;
    ctx.now = p.now;
    ctx.frame = p.frame;
    try {
      fn();
    } finally {
      ctx.now = now;
      ctx.frame = frame;
    }
  }

  // ---- clear-text handshake: the hellos ---------------------------------

  private readHandshake(dir: Direction, h: Half, body: Buffer): void {
    if (h.handshakeOff) return;
    h.handshake.push(body);
    while (!h.lost && h.handshake.length >= 4) {
      const hdr = h.handshake.peek(4);
      const len = (hdr[1] << 16) | (hdr[2] << 8) | hdr[3];
      if (len > MAX_HANDSHAKE) {
        if (!this.helloDone) return this.lose(dir, 'tls.decrypt-malformed');
        // After the hellos (a long certificate chain): nothing decryption needs is lost but a premaster's transcript.
        h.handshakeOff = true;
        h.handshake.clear();
        this.transcript = undefined;
        return;
      }
      if (h.handshake.length < 4 + len) return;
      const msg = Buffer.from(h.handshake.take(4 + len));
      this.keepTranscript(msg);
      if (msg[0] === 1 && h.cipher && dir === this.clientDir) this.renegotiate(dir, msg.subarray(4));
      else if (msg[0] === 1 && !this.helloDone) this.onClientHello(dir, msg.subarray(4));
      else if (msg[0] === 2 && !this.helloDone) this.onServerHello(msg.subarray(4));
      else if (msg[0] === 4 && dir !== this.clientDir) this.onNewSessionTicket(msg.subarray(4));
      // A Certificate, ServerKeyExchange or ServerHelloDone: a full handshake after all (the server
      // turned the ticket down), whose master secret is not the earlier session's.
      else if ((msg[0] === 11 || msg[0] === 12 || msg[0] === 14) && dir !== this.clientDir && (this.resumed || this.trial)) {
        this.resumed = false;
        this.trial = false;
        this.noDecryption('tls.no-key');
      }
      else if (msg[0] === 16 && dir === this.clientDir) this.onClientKeyExchange(msg.subarray(4));
      // TLS 1.3 encrypts the rest of the handshake.
      if (this.helloDone && this.tls13) {
        h.handshake.clear();
        return;
      }
    }
  }

  /**
   * TLS 1.0–1.2 renegotiation: a ClientHello under the current keys starts a
   * new handshake; its ServerHello gives the new randoms, suite and session,
   * and each direction moves to the new keys at its ChangeCipherSpec, as at
   * the first handshake (the key log names the new session by its own random).
   */
  private renegotiate(dir: Direction, hello: Buffer): void {
    this.count('tls.renegotiations');
    this.renegotiating = true;
    this.helloDone = false;
    this.ccsSeen.c2s = false;
    this.ccsSeen.s2c = false;
    this.onClientHello(dir, hello);
  }

  private keepTranscript(msg: Buffer): void {
    const t = this.transcript;
    if (!t) return;
    t.parts.push(msg);
    t.bytes += msg.length;
    if (t.bytes > MAX_TRANSCRIPT) this.transcript = undefined;
  }

  private onClientHello(dir: Direction, b: Buffer): void {
    if (b.length < 34) return;
    this.clientDir = dir;
    this.clientRandom = Buffer.from(b.subarray(2, 34));
    this.offeredEarlyData = clientHelloHasExtension(b, 42);
    this.offered = clientHelloResumption(b);
  }

  private onServerHello(b: Buffer): void {
    const hello = parseServerHelloKeys(b);
    if (!hello || !this.clientRandom) return this.noDecryption('tls.decrypt-no-hello');
    // TLS 1.3 HelloRetryRequest (the server wants another key share, as PostgreSQL's P-256-only default asks of
    // clients that lead with X25519): a second ClientHello, with the same random, and the real ServerHello follow.
    if (hello.random.equals(HELLO_RETRY_REQUEST)) {
      this.count('tls.hello-retry');
      return;
    }
    this.helloDone = true;
    this.serverRandom = hello.random;
    this.alpn = hello.alpn;
    this.encryptThenMac = hello.encryptThenMac;
    this.extendedMasterSecret = hello.extendedMasterSecret;
    this.serverSessionId = hello.sessionId;
    this.tls13 = hello.version === 0x0304;
    this.version = hello.version;
    this.suite = cipherSuite(hello.suite);
    this.suiteCode = hello.suite;
    if (this.tls13) this.transcript = undefined;
    this.secrets = this.findSecrets();
    if (this.nullOnly) this.trial = false;
    if (!this.premasterPending) this.transcript = undefined;
    // NULL encryption: the plaintext is there whether or not the log has the keys (with them, MACs are
    // checked; a followed log is waited for as for any suite, checkSecrets).
    if (this.suite?.cipher === 'null' && !this.secretsReady() && !this.trial && !this.keyLog.follows) return this.readUnverified();
    if (this.nullOnly) return this.stepAside();
    if (!this.secretsReady() && this.keyLog.follows && this.suite && (this.tls13 || hello.version >= TLS10)) {
      // Live: the client logs its secrets as it computes them, just after the ServerHello the capture shows.
      this.awaiting = { since: this.ctx.now, bytes: 0, chunks: [] };
      return;
    }
    this.useSecrets();
  }

  /** The session's secrets: the key log's for its client random; TLS 1.0–1.2 also those of the session it resumes, or a premaster secret. */
  private findSecrets(): SessionSecrets | undefined {
    // Looked for again while a live key log is awaited: each look decides afresh.
    this.premasterPending = false;
    this.resumed = false;
    this.trial = false;
    const logged = this.keyLog.lookup(this.clientRandom!);
    if (this.tls13 || logged?.has('CLIENT_RANDOM')) return logged;
    const found = this.resumedMaster();
    if (found) {
      this.resumed = found.resumed;
      return new Map([['CLIENT_RANDOM', found.master]]);
    }
    // Derived at the ClientKeyExchange (PMS_CLIENT_RANDOM, or an `RSA` line found by the encrypted premaster).
    if (logged?.has('PMS_CLIENT_RANDOM') || this.keyLog.hasPremasters) {
      this.premasterPending = true;
      return logged ?? new Map();
    }
    this.trial = logged === undefined && this.resumptionIds().length > 0;
    return logged;
  }

  /**
   * TLS 1.0–1.2: the master secret of the earlier session this one resumes.
   * A server resuming by session id echoes the id the client offered (RFC
   * 5246 §7.4.1.3); one taking the client's ticket echoes its session id too,
   * or sends none when the client sent none (RFC 5077 §3.4). An `RSA
   * Session-ID:` line in the log names a session by the ServerHello's id.
   */
  private resumedMaster(): { master: Buffer; resumed: boolean } | undefined {
    const sid = this.serverSessionId ?? Buffer.alloc(0);
    const offered = this.offered;
    const echoed = offered !== undefined && sid.length > 0 && sid.equals(offered.sessionId);
    const master =
      (echoed ? this.keyLog.recallMaster('id', sid) : undefined) ??
      (offered && offered.ticket.length > 0 && (echoed || sid.length === 0) ? this.keyLog.recallMaster('ticket', offered.ticket) : undefined);
    if (master) return { master, resumed: true };
    const logged = sid.length > 0 ? this.keyLog.lookupSessionId(sid) : undefined;
    return logged && { master: logged, resumed: echoed };
  }

  /** TLS 1.0–1.2: what names the session this one may resume (the echoed session id, the offered ticket). */
  private resumptionIds(): Array<['id' | 'ticket', Buffer]> {
    const sid = this.serverSessionId ?? Buffer.alloc(0);
    const offered = this.offered;
    if (!offered) return [];
    const ids: Array<['id' | 'ticket', Buffer]> = [];
    if (sid.length > 0 && sid.equals(offered.sessionId)) ids.push(['id', sid]);
    if (offered.ticket.length > 0) ids.push(['ticket', offered.ticket]);
    return ids;
  }

  /**
   * TLS 1.0–1.2 resumption with no master secret known: the key log's master
   * secrets, the last MAX_TRIED_MASTERS logged, newest first (MAX_TRIALS in a
   * run), are tried on this direction's first encrypted record (its
   * Finished), which authenticates under the right one only; the session then
   * decrypts as any other, and the secret is remembered for the next
   * resumption of it. So whichever worker read the full handshake
   * (`--workers N`), the resumption decrypts as with one worker while its
   * line is among them. False, and no decryption, when none opens it.
   */
  private resumeByTrial(dir: Direction, header: Buffer, body: Buffer): boolean {
    this.trial = false;
    const ids = this.resumptionIds();
    const suite = this.suite!;
    if (ids.some(([kind, id]) => this.keyLog.mastersTriedInVain(kind, id))) {
      this.noDecryption('tls.no-key');
      return false;
    }
    const implicitIv = this.version <= TLS10 && suite.cipher.endsWith('cbc');
    if (this.keyLog.masterCount > MAX_TRIED_MASTERS) this.count('tls.resume-trial-limited');
    for (const master of this.keyLog.mastersNewestFirst(MAX_TRIED_MASTERS)) {
      if (this.keyLog.takeTrials(1) === 0) {
        this.count('tls.resume-trial-budget');
        break;
      }
      const keys = tls12Keys(suite, master, this.clientRandom!, this.serverRandom!, this.version);
      const own = dir === this.clientDir ? keys.client : keys.server;
      // One block first: a wrong key nearly never makes a Finished's head, and failing a full authentication costs far more.
      if (!mayBeFinished(suite, own, body, implicitIv)) continue;
      const cipher = new RecordCipher(suite, own, this.encryptThenMac, implicitIv);
      if (!cipher.decrypt(header, body)) continue;
      this.count('tls.resumed-by-trial');
      this.resumed = true;
      this.secrets = new Map([['CLIENT_RANDOM', master]]);
      for (const [kind, id] of ids) if (this.keyLog.rememberMaster(kind, id, master)) this.count('tls.resumable-forgotten');
      for (const d of ['c2s', 's2c'] as Direction[]) if (this.ccsSeen[d]) this.startCipher12(d);
      return true;
    }
    for (const [kind, id] of ids) this.keyLog.triedMastersInVain(kind, id);
    if (suite.cipher === 'null') {
      // NULL encryption: no master secret of the log checks its MACs, but its plaintext is there.
      this.readUnverified();
      for (const d of ['c2s', 's2c'] as Direction[]) if (this.ccsSeen[d]) this.startCipher12(d);
      return true;
    }
    this.noDecryption('tls.no-key');
    return false;
  }

  /** TLS 1.0–1.2: a session with a master secret is remembered by its session id for the connections that resume it. */
  private rememberSession(): void {
    const master = this.secrets?.get('CLIENT_RANDOM');
    if (master && this.serverSessionId && this.keyLog.rememberMaster('id', this.serverSessionId, master)) this.count('tls.resumable-forgotten');
  }

  /** TLS 1.2: the server's NewSessionTicket (clear, before its ChangeCipherSpec) resumes this session's master secret later. */
  private onNewSessionTicket(b: Buffer): void {
    const master = this.secrets?.get('CLIENT_RANDOM');
    const ticket = newSessionTicket(b);
    if (master && ticket && this.keyLog.rememberMaster('ticket', ticket, master)) this.count('tls.resumable-forgotten');
  }

  /** TLS 1.0–1.2 with a premaster secret logged: the master secret, from it and the hellos (or the handshake's hash). */
  private onClientKeyExchange(b: Buffer): void {
    if (!this.premasterPending || !this.suite || this.suite.tls13 || !this.clientRandom || !this.serverRandom) return;
    this.premasterPending = false;
    const transcript = this.transcript;
    this.transcript = undefined;
    // RSA: the premaster encrypted to the server's key, after a 2-byte length (TLS 1.0 on).
    const premaster = this.secrets?.get('PMS_CLIENT_RANDOM') ?? this.keyLog.lookupRsaPremaster(b.subarray(2));
    if (!premaster || (this.extendedMasterSecret && !transcript)) return this.noDecryption('tls.no-key');
    const hash = this.extendedMasterSecret ? Buffer.concat(transcript!.parts) : undefined;
    const master = masterFromPremaster(this.suite, premaster, this.clientRandom, this.serverRandom, this.version, hash);
    this.secrets = new Map([...(this.secrets ?? []), ['CLIENT_RANDOM', master]]);
    this.rememberSession();
  }

  /** The secrets this session's records need are all in the key log. */
  private secretsReady(): boolean {
    const s = this.secrets;
    if (!s) return false;
    // A followed log may yet get this session's line: an `RSA` premaster line (of another session
    // perhaps) is no reason to stop waiting for it; its own PMS_CLIENT_RANDOM is.
    if (!this.tls13) return s.has('CLIENT_RANDOM') || s.has('PMS_CLIENT_RANDOM') || (this.premasterPending && !this.keyLog.follows);
    return ['CLIENT_HANDSHAKE_TRAFFIC_SECRET', 'SERVER_HANDSHAKE_TRAFFIC_SECRET', 'CLIENT_TRAFFIC_SECRET_0', 'SERVER_TRAFFIC_SECRET_0'].every((l) => s.has(l));
  }

  /** TLS 1.3: the log holds the handshake's secrets (enough to read how it ended). */
  private hasHandshakeSecrets(): boolean {
    return this.tls13 && !!this.secrets?.has('CLIENT_HANDSHAKE_TRAFFIC_SECRET') && !!this.secrets.has('SERVER_HANDSHAKE_TRAFFIC_SECRET');
  }

  /** Keys from the secrets found (or the reason there are none, counted). */
  private useSecrets(): void {
    if (!this.secrets && !this.trial) return this.noDecryption('tls.no-key');
    if (!this.suite) {
      // Which one, for the summary (ARIA, Camellia, 3DES, RC4 …).
      this.count(unsupportedSuiteCounter(this.suiteCode));
      return this.noDecryption('tls.decrypt-unsupported-cipher');
    }
    // SSL 3.0 MACs and derives keys its own way (and is long gone): counted, not guessed at.
    if (!this.tls13 && this.version < TLS10) return this.noDecryption('tls.decrypt-unsupported-version');
    if (!this.secrets) return;
    if (this.tls13) {
      const c = this.secrets.get('CLIENT_HANDSHAKE_TRAFFIC_SECRET');
      const s = this.secrets.get('SERVER_HANDSHAKE_TRAFFIC_SECRET');
      const capp = this.secrets.get('CLIENT_TRAFFIC_SECRET_0');
      const sapp = this.secrets.get('SERVER_TRAFFIC_SECRET_0');
      if (!c || !s) return this.noDecryption('tls.no-key');
      const client = this.halves[this.clientDir];
      const server = this.halves[flip(this.clientDir)];
      client.cipher = new RecordCipher(this.suite, tls13Keys(this.suite, c));
      server.cipher = new RecordCipher(this.suite, tls13Keys(this.suite, s));
      // One traffic secret is enough for its own direction (as tshark reads it); neither: only the handshake is read.
      this.handshakeOnly = !capp && !sapp;
      client.trafficSecret = capp;
      server.trafficSecret = sapp;
      client.noTrafficKey = !this.handshakeOnly && !capp;
      server.noTrafficKey = !this.handshakeOnly && !sapp;
      this.openEarly();
    } else if (this.secrets.get('CLIENT_RANDOM')) {
      this.rememberSession();
    } else if (!this.premasterPending) {
      this.noDecryption('tls.no-key');
    }
  }

  /** A NULL-cipher session with no key: read as is, said on its calls and counted. */
  private readUnverified(): void {
    this.unverified = true;
    this.secrets = undefined;
    this.premasterPending = false;
    this.transcript = undefined;
    this.count('tls.null-cipher-unverified');
    // TLS 1.3 (RFC 9150's integrity-only suites) protects every record after the ServerHello, with no ChangeCipherSpec to wait for.
    if (this.tls13 && this.suite) for (const d of ['c2s', 's2c'] as Direction[]) this.halves[d].cipher = new RecordCipher(this.suite, NO_KEYS);
  }

  /** No key log and no NULL cipher: nothing to read; the hello parser's entry goes out as it comes. */
  private stepAside(): void {
    this.helloDone = true;
    for (const d of ['c2s', 's2c'] as Direction[]) {
      this.halves[d].lost = true;
      this.halves[d].records.clear();
      this.halves[d].handshake.clear();
    }
    this.transcript = undefined;
    this.releaseHeld();
  }

  /** Live: bytes that came while this connection waits for its secrets (copied: the engine reuses its buffers). */
  private waitWith(dir: Direction, data: Buffer): void {
    const a = this.awaiting!;
    a.chunks.push({ dir, data: Buffer.from(data), now: this.ctx.now, frame: this.ctx.frame });
    a.bytes += data.length;
    this.keyLog.awaitingBytes += data.length;
    this.checkSecrets(false);
  }

  /** Live: look for the secrets again; go on with them, or give up once waited too long or for too much (or at the end). */
  private checkSecrets(final: boolean): void {
    const a = this.awaiting!;
    this.keyLog.refresh(final);
    this.secrets = this.findSecrets();
    const ready = this.secretsReady();
    if (!ready && !final && this.ctx.now - a.since <= KEY_WAIT_MS && a.bytes <= MAX_KEY_WAIT_BYTES && this.keyLog.awaitingBytes <= MAX_KEY_WAIT_BYTES_ALL) return;
    this.awaiting = undefined;
    this.keyLog.awaitingBytes -= a.bytes;
    // A NULL-cipher session whose keys never came is read all the same, unchecked.
    if (!ready && !this.trial && this.suite?.cipher === 'null') this.readUnverified();
    else if (!ready && !this.trial && !this.hasHandshakeSecrets()) return this.noDecryption('tls.no-key');
    else this.useSecrets();
    // What queued behind the ServerHello, then what came since, each with its own packet's time and frame.
    const serverDir = flip(this.clientDir);
    this.readRecords(serverDir, this.halves[serverDir]);
    this.readRecords(this.clientDir, this.halves[this.clientDir]);
    for (const c of a.chunks) this.at(c, () => this.records(c.dir, c.data));
  }

  private startCipher12(dir: Direction): void {
    this.ccsSeen[dir] = true;
    // The handshake messages after this are encrypted ones (Finished, a renegotiation's), read whole again.
    this.halves[dir].handshake.clear();
    this.halves[dir].handshakeOff = false;
    // The ClientKeyExchange that was to give the master secret did not come (or was not read).
    if (this.premasterPending && dir === this.clientDir) return this.noDecryption('tls.no-key');
    if (this.unverified && this.suite) {
      this.halves[dir].cipher = new RecordCipher(this.suite, NO_KEYS);
      return;
    }
    const master = this.secrets?.get('CLIENT_RANDOM');
    if (!master || !this.suite || this.suite.tls13 || !this.serverRandom || !this.clientRandom) return;
    const keys = tls12Keys(this.suite, master, this.clientRandom, this.serverRandom, this.version);
    const implicitIv = this.version <= TLS10 && this.suite.cipher.endsWith('cbc');
    this.halves[dir].cipher = new RecordCipher(this.suite, dir === this.clientDir ? keys.client : keys.server, this.encryptThenMac, implicitIv);
  }

  // ---- plaintext → the protocol inside -------------------------------------

  private onPlaintext(dir: Direction, data: Buffer): void {
    const h = this.halves[dir];
    // Once per connection (an empty record, as TLS 1.0's 1/n−1 split sends first, counts too).
    if (!this.decrypted) {
      this.decrypted = true;
      // A NULL-cipher session without keys was read, not decrypted: counted as such (readUnverified).
      if (!this.unverified) this.count('tls.decrypted-sessions');
      if (this.resumed) this.count('tls.resumed-sessions');
    }
    h.plainBytes += data.length;
    this.count('tls.decrypted-bytes', data.length);
    if (data.length === 0 || this.innerFailed) return;
    const side = this.innerDir(dir);
    if (!this.inner && this.inside) this.startInner(this.inside);
    if (!this.inner) {
      const q = this.undetected[side];
      q.push(data);
      const d = this.chooseInner(side, q.peek());
      if (d === null || (d === undefined && q.length > MAX_UNDETECTED)) return this.giveUpInner();
      if (d === undefined) return;
      this.startInner((ctx: ConnectionContext) => d.createTcpParser!(ctx));
      for (const s of ['c2s', 's2c'] as Direction[]) {
        const pending = this.undetected[s];
        if (pending.length > 0) this.feedInner(s, pending.take(pending.length));
      }
      return;
    }
    this.feedInner(side, data);
  }

  /** Direction relative to the real client (the ClientHello's sender). */
  private innerDir(dir: Direction): Direction {
    return this.clientDir === 'c2s' ? dir : flip(dir);
  }

  private chooseInner(side: Direction, data: Buffer): ProtocolDissector | null | undefined {
    const all = this.candidates().filter((d) => d.name !== 'tls' && d.createTcpParser);
    const byAlpn = this.alpn === 'h2' ? 'http2' : this.alpn.startsWith('http/1') ? 'http' : undefined;
    if (byAlpn) return all.find((d) => d.name === byAlpn) ?? null;
    let needMore = false;
    for (const d of all) {
      let verdict;
      try {
        verdict = d.probe(data, false);
      } catch {
        verdict = false;
      }
      if (verdict === 'need-more') needMore = true;
      if ((verdict === 'request' && side === 'c2s') || (verdict === 'response' && side === 's2c')) return d;
    }
    this.rejected[side] = !needMore;
    // The other side may still say (HTTP/2 servers often send SETTINGS before the client's preface is seen).
    return this.rejected.c2s && this.rejected.s2c ? null : undefined;
  }

  /** Sides whose first plaintext no dissector claimed. */
  private readonly rejected: Record<Direction, boolean> = { c2s: false, s2c: false };

  private startInner(create: InnerParser): void {
    const outer = this.ctx;
    const reversed = this.clientDir !== 'c2s';
    this.inner = create(
      forward(outer, (call) => {
        call.tls = true;
        if (this.unverified) call.warnings = [...(call.warnings ?? []), NULL_UNCHECKED];
        // Why a call of a one-way session has no request or no response.
        if (this.oneWay) call.warnings = [...(call.warnings ?? []), this.oneWay];
        if (reversed) call.reversed = !call.reversed;
        this.innerEmitted = true;
        // The calls inside replace the connection's tls entry.
        this.held = undefined;
        outer.emit(call);
      }),
    );
  }

  private feedInner(side: Direction, data: Buffer): void {
    try {
      this.inner!.onData(side, data);
    } catch {
      this.count('tls.inner-parser-threw');
      this.innerFailed = true;
      this.inner = undefined;
    }
  }

  private giveUpInner(): void {
    this.innerFailed = true;
    this.count('tls.decrypted-unknown-protocol');
    this.undetected.c2s.clear();
    this.undetected.s2c.clear();
  }

  // ---- the connection's own tls entry -------------------------------------

  /**
   * A decrypted alert before any application data: the handshake failed (a
   * TLS 1.3 client or server refusing the other's certificate sends it
   * encrypted). close_notify and user_canceled are no failure.
   */
  private onAlert(dir: Direction, data: Buffer): void {
    if (data.length < 2 || this.decrypted || this.alert || data[1] === 0 || data[1] === 90) return;
    this.alert = { level: data[0] === 2 ? 'fatal' : 'warning', description: alertName(data[1]), from: dir === this.clientDir ? 'client' : 'server' };
    this.count('tls.handshake-alerts');
  }

  private onHelloCall(call: CallRecord): void {
    if (this.innerEmitted) return;
    this.held = call;
    // Without a key log, an entry made before a NULL cipher was found (mid-stream, an unanswered hello) goes out as ever.
    if (this.nullOnly && !this.unverified) return this.stepAside();
    if (this.secrets === undefined && this.helloDone && !this.awaiting && !this.trial && !this.unverified) this.releaseHeld();
  }

  /** Decryption will not happen: the tls entry goes out as it would without a key log. */
  private noDecryption(counter: string): void {
    // A renegotiated session without a key: what came before it decrypted, what follows cannot.
    const before = this.renegotiating && this.decrypted;
    if (before && counter === 'tls.no-key') counter = 'tls.renegotiation-no-key';
    this.helloDone = true;
    this.count(counter);
    // The log names this session, but not with what its version needs: said apart from a
    // session the log does not name at all (the whole log being another capture's, see describeDecryption).
    if (counter === 'tls.no-key' && this.clientRandom) this.count(this.keyLog.lookup(this.clientRandom) ? 'tls.no-key-incomplete' : this.keyLog.hasRandoms ? 'tls.no-key-unnamed' : 'tls.no-key-other');
    for (const d of ['c2s', 's2c'] as Direction[]) {
      this.halves[d].lost = true;
      this.halves[d].records.clear();
    }
    this.secrets = undefined;
    // The calls decrypted before it go out at the end in place of the tls entry, as always.
    if (!before) this.releaseHeld();
  }

  private lose(dir: Direction, counter: string): void {
    const h = this.halves[dir];
    if (h.lost) return;
    h.lost = true;
    h.records.clear();
    this.count(counter);
    if (counter === 'tls.no-key-client-direction' || counter === 'tls.no-key-server-direction') {
      const client = counter === 'tls.no-key-client-direction';
      this.oneWay = `TLS: the ${client ? 'client' : 'server'}'s records not decrypted (no ${client ? 'CLIENT' : 'SERVER'}_TRAFFIC_SECRET_0 in the key log)`;
      this.warning = this.oneWay;
      return;
    }
    if (h.cipher) this.warning = counter === 'tls.decrypt-gap' ? 'gap: not decrypted after it' : 'undecryptable records';
  }

  private releaseHeld(): void {
    const call = this.held;
    if (!call || this.innerEmitted) return;
    this.held = undefined;
    const c = this.halves[this.clientDir].plainBytes;
    const s = this.halves[flip(this.clientDir)].plainBytes;
    const extra = [...(this.warning ? [this.warning] : []), ...(this.unverified && c + s > 0 ? [NULL_UNCHECKED] : [])];
    if (extra.length > 0) call.warnings = [...new Set([...(call.warnings ?? []), ...extra])];
    if (this.alert && call.request && (!call.response?.alert || call.response.alert.description === 'encrypted alert')) {
      // Which alert it was, in place of the one inferred from its record's size.
      call.response = { ...call.response, alert: this.alert };
      call.error = true;
      call.summary = helloSummary(call.request, call.response);
    }
    if (this.alpn && call.request && call.response && !call.response.alpn) {
      // TLS 1.3: the server's choice was in its EncryptedExtensions, read once decrypted.
      call.response = { ...call.response, alpn: this.alpn };
      call.summary = helloSummary(call.request, call.response);
    }
    if (c + s > 0) {
      // Decrypted, but no dissector knew the protocol inside: say how much plaintext there was.
      if (call.request) call.request = { ...call.request, decryptedBytes: c };
      if (call.response) call.response = { ...call.response, decryptedBytes: s };
    }
    this.ctx.emit(call);
  }
}

/**
 * The TLS dissector, decrypting when the run has a key log. Made in the
 * registry, which knows every dissector the plaintext may belong to.
 */
export function decryptingTls(tls: ProtocolDissector, candidates: () => ProtocolDissector[]): ProtocolDissector {
  const plain = tls.createTcpParser!.bind(tls);
  return {
    ...tls,
    createTcpParser(ctx, inside) {
      const keys = ctx.options.tlsKeys;
      // A followed key log may be empty yet: its secrets come as clients connect.
      if (keys && (keys.size > 0 || keys.follows)) return new DecryptingTlsParser(ctx, keys, plain, candidates, inside);
      // No key log: a NULL-cipher session's plaintext is still on the wire, and read.
      return new DecryptingTlsParser(ctx, keys ?? new TlsKeyLog(), plain, candidates, inside, true);
    },
  };
}

function newHalf(): Half {
  return { records: new ByteQueue(), handshake: new ByteQueue(), handshakeOff: false, seekCcs: false, cipher: undefined, trafficSecret: undefined, application: false, authenticated: false, noTrafficKey: false, lost: false, resync: false, resyncBytes: 0, lostCipherBytes: 0, plainBytes: 0 };
}

/** A context that reads time and frame from `ctx` as they move on (getters: a spread would freeze them), with its own emit. */
function forward(ctx: ConnectionContext, emit: (call: CallRecord) => void): ConnectionContext {
  return {
    transport: ctx.transport,
    client: ctx.client,
    server: ctx.server,
    options: ctx.options,
    get now() {
      return ctx.now;
    },
    get frame() {
      return ctx.frame;
    },
    emit,
    count: (name, n) => ctx.count(name, n),
  };
}
