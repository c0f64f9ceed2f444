// TLS secrets in the NSS key log format (what SSLKEYLOGFILE makes OpenSSL,
// BoringSSL, NSS, Go and curl write, and what Wireshark reads):
//   CLIENT_RANDOM <client random, 64 hex> <TLS 1.2 master secret, 96 hex>
//   CLIENT_HANDSHAKE_TRAFFIC_SECRET / SERVER_HANDSHAKE_TRAFFIC_SECRET /
//   CLIENT_TRAFFIC_SECRET_0 / SERVER_TRAFFIC_SECRET_0 <client random> <secret>  (TLS 1.3)
//   PMS_CLIENT_RANDOM <client random> <TLS 1.0–1.2 premaster secret>
//   RSA Session-ID:<session id hex> Master-Key:<master secret hex>
//   RSA <first 8 bytes of the RSA-encrypted premaster, 16 hex> <premaster, 96 hex>
// Secrets are keyed by the ClientHello's random, which the capture shows; the
// two `RSA` forms (NSS's, and what OpenSSL logs beside CLIENT_RANDOM for an RSA
// key exchange) by the ServerHello's session id or the ClientKeyExchange.
// TLS 1.2 sessions resumed (by session id or ticket) reuse the master secret
// of the session they resume: the log may hold only the full handshake's line,
// so the master secrets of the sessions seen are remembered (rememberMaster).
// A key log is input too: lines that are not key log lines are counted and
// the first few reported with their line number, never fatal.

import { closeSync, constants, openSync, readSync, statSync } from 'node:fs';
import { ExitCode, UserError, errnoText } from '../../cli/errors.js';
import { cipherName, versionName } from '../protocols/tls.js';
import { readFileBounded } from '../../input/bounded-file.js';

/** The secrets one TLS session logged, by label. */
export type SessionSecrets = Map<string, Buffer>;

const LABELS = new Set([
  'CLIENT_RANDOM',
  'CLIENT_HANDSHAKE_TRAFFIC_SECRET',
  'SERVER_HANDSHAKE_TRAFFIC_SECRET',
  'CLIENT_TRAFFIC_SECRET_0',
  'SERVER_TRAFFIC_SECRET_0',
  'EXPORTER_SECRET',
  'EARLY_EXPORTER_SECRET',
  'CLIENT_EARLY_TRAFFIC_SECRET',
  'PMS_CLIENT_RANDOM',
]);

/** More sessions than any real key log holds; past it lines are counted, not kept (memory bound). */
export const MAX_SESSIONS = 1_000_000;

/**
 * Labels of the NSS format that give no secret shark needs, read without a
 * warning: OpenSSL 3 logs `CLIENT_TRAFFIC_SECRET_N` / `SERVER_TRAFFIC_SECRET_N`
 * (a literal N) at each TLS 1.3 KeyUpdate, whose secrets shark derives from
 * generation 0 itself; `ECH_SECRET` and `ECH_CONFIG` are Encrypted Client
 * Hello's (the outer ClientHello is what the capture shows and shark reads).
 */
const UNUSED_LABELS = new Set(['CLIENT_TRAFFIC_SECRET_N', 'SERVER_TRAFFIC_SECRET_N', 'ECH_SECRET', 'ECH_CONFIG']);

/**
 * A resumed TLS 1.2 session whose master secret no earlier session of this
 * run gave is tried against the key log's last this many master secrets
 * (~10 µs each: the key block and one block of the cipher; a packet must not
 * hold the thread much past the 100 ms between turns of the event loop).
 */
export const MAX_TRIED_MASTERS = 16_384;
/** Master secrets tried in all, per run (per worker): a capture of made-up resumptions costs seconds, not minutes. */
export const MAX_TRIALS = 500_000;

/** Master secrets of sessions seen in the capture, kept for their resumptions (oldest forgotten first). */
export const MAX_RESUMABLE = 100_000;

const HEX = /^[0-9a-fA-F]+$/;
const SESSION_ID = /^Session-ID:((?:[0-9a-fA-F]{2}){1,32})$/;
const MASTER_KEY = /^Master-Key:([0-9a-fA-F]{96})$/;

export class TlsKeyLog {
  private readonly sessions = new Map<string, SessionSecrets>();
  /** `RSA Session-ID:… Master-Key:…` lines: master secrets by session id (hex). */
  private readonly bySessionId = new Map<string, Buffer>();
  /** `RSA <encrypted premaster prefix> <premaster>` lines: premaster secrets by the ClientKeyExchange's first 8 encrypted bytes (hex). */
  private readonly rsaPremasters = new Map<string, Buffer>();
  /** TLS 1.2 master secrets of sessions decrypted in this run, by `id:`/`ticket:` + hex (see rememberMaster). */
  private readonly resumable = new Map<string, Buffer>();
  /** TLS 1.0–1.2 master secrets in log order (CLIENT_RANDOM and `RSA Session-ID:` lines), for resumptions tried against them (mastersNewestFirst). */
  private readonly masters: Buffer[] = [];
  /** Resumed sessions (`id:`/`ticket:` + hex) that no master secret of the log opened: not tried again (bounded). */
  private readonly triedInVain = new Set<string>();
  /** Master secrets that may still be tried in this run (takeTrials). */
  private trialsLeft = MAX_TRIALS;
  /** Lines that were not key log lines (bad label, length or hex). */
  badLines = 0;
  /** Sessions left out because the log held more than MAX_SESSIONS. */
  dropped = 0;

  /** Reads what was appended to the file since last time; true when it read something (followKeyLog). */
  private follower: ((now: boolean) => boolean) | undefined;
  /** Live: ciphertext held by connections waiting for their keys to be logged, all together (bounded). */
  awaitingBytes = 0;

  get size(): number {
    return this.sessions.size + this.bySessionId.size + this.rsaPremasters.size;
  }

  /** Some secret in the log is a premaster secret: the handshake (ClientKeyExchange, transcript) is needed to use it. */
  get hasPremasters(): boolean {
    return this.rsaPremasters.size > 0 || this.premasterRandoms > 0;
  }

  private premasterRandoms = 0;

  /** The log is a file still being written (`tap`: SSLKEYLOGFILE grows as clients connect). */
  get follows(): boolean {
    return this.follower !== undefined;
  }

  follow(read: (now: boolean) => boolean): void {
    this.follower = read;
  }

  /** When the log follows a file: read what was appended to it (at most every few ms unless `now`). */
  refresh(now = false): boolean {
    return this.follower?.(now) ?? false;
  }

  /**
   * Add the lines of a key log (a file, or a pcapng Decryption Secrets Block).
   * `onBadLine` hears about the first few lines that are not key log lines.
   */
  addText(text: string, onBadLine?: (lineNo: number, why: string) => void): void {
    let lineNo = 0;
    for (const raw of withoutByteOrderMark(text).split('\n')) {
      lineNo++;
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      const why = this.addLine(line);
      if (why !== undefined) {
        this.badLines++;
        if (this.badLines <= 3) onBadLine?.(lineNo, why);
      }
    }
  }

  /** The secrets logged for a ClientHello random, if any. */
  lookup(clientRandom: Buffer): SessionSecrets | undefined {
    return this.sessions.get(clientRandom.toString('hex'));
  }

  /** The master secret an `RSA Session-ID:` line gave for a session id. */
  lookupSessionId(sessionId: Buffer): Buffer | undefined {
    return this.bySessionId.get(sessionId.toString('hex'));
  }

  /** The premaster secret an `RSA` line gave for an RSA ClientKeyExchange (by its encrypted premaster's first 8 bytes). */
  lookupRsaPremaster(encrypted: Buffer): Buffer | undefined {
    return encrypted.length < 8 ? undefined : this.rsaPremasters.get(encrypted.subarray(0, 8).toString('hex'));
  }

  /**
   * A TLS 1.2 session's master secret, by the session id and the ticket the
   * server gave it, for a later connection that resumes it (its own
   * CLIENT_RANDOM line may be missing: the log is another process's, or the
   * client logs full handshakes only). Bounded: the oldest is forgotten first;
   * returns true when one was (the caller counts it).
   */
  rememberMaster(kind: 'id' | 'ticket', id: Buffer, master: Buffer): boolean {
    if (id.length === 0) return false;
    const key = `${kind}:${id.toString('hex')}`;
    this.resumable.delete(key);
    this.resumable.set(key, master);
    if (this.resumable.size <= MAX_RESUMABLE) return false;
    this.resumable.delete(this.resumable.keys().next().value!);
    return true;
  }

  /** The log names sessions by their client random (CLIENT_RANDOM, TLS 1.3 or PMS_CLIENT_RANDOM lines). */
  get hasRandoms(): boolean {
    return this.sessions.size > 0;
  }

  /** The log's TLS 1.0–1.2 master secrets, the last logged first, at most `max` of them. */
  *mastersNewestFirst(max = Infinity): Generator<Buffer> {
    for (let i = this.masters.length - 1; i >= 0 && i >= this.masters.length - max; i--) yield this.masters[i];
  }

  /** How many TLS 1.0–1.2 master secrets the log holds. */
  get masterCount(): number {
    return this.masters.length;
  }

  /** How many of `wanted` master secrets may still be tried in this run (MAX_TRIALS in all). */
  takeTrials(wanted: number): number {
    const n = Math.min(wanted, this.trialsLeft);
    this.trialsLeft -= n;
    return n;
  }

  /** A resumed session that no master secret of the log opened (not remembered while the log still grows). */
  triedMastersInVain(kind: 'id' | 'ticket', id: Buffer): void {
    if (this.follows || id.length === 0 || this.triedInVain.size >= MAX_RESUMABLE) return;
    this.triedInVain.add(`${kind}:${id.toString('hex')}`);
  }

  mastersTriedInVain(kind: 'id' | 'ticket', id: Buffer): boolean {
    return id.length > 0 && this.triedInVain.has(`${kind}:${id.toString('hex')}`);
  }

  /** The master secret of an earlier session with this session id or ticket. */
  recallMaster(kind: 'id' | 'ticket', id: Buffer): Buffer | undefined {
    return id.length === 0 ? undefined : this.resumable.get(`${kind}:${id.toString('hex')}`);
  }

  private addLine(line: string): string | undefined {
    const parts = line.split(/\s+/);
    if (parts.length !== 3) return 'not "LABEL CLIENT_RANDOM SECRET"';
    const [written, random, secret] = parts;
    if (written === 'RSA') return this.addRsaLine(random, secret);
    // Early QUIC stacks (quicly, ngtcp2 drafts) wrote the TLS 1.3 labels with a QUIC_ prefix; Wireshark reads both.
    const label = written.startsWith('QUIC_') && LABELS.has(written.slice(5)) ? written.slice(5) : written;
    if (UNUSED_LABELS.has(label)) return undefined;
    if (!LABELS.has(label)) return `unknown label ${JSON.stringify(label.slice(0, 40))}`;
    if (random.length !== 64 || !HEX.test(random)) return 'client random is not 32 bytes of hex';
    // A premaster of finite-field DH is as long as the group's prime (up to 8192 bits); the rest are at most 64 bytes.
    const longest = label === 'PMS_CLIENT_RANDOM' ? 2048 : 256;
    if (secret.length < 32 || secret.length > longest || secret.length % 2 !== 0 || !HEX.test(secret)) return 'secret is not hex of a sane length';
    const key = random.toLowerCase();
    let s = this.sessions.get(key);
    if (!s) {
      if (this.sessions.size >= MAX_SESSIONS) {
        this.dropped++;
        return undefined;
      }
      s = new Map();
      this.sessions.set(key, s);
    }
    if (label === 'PMS_CLIENT_RANDOM' && !s.has(label)) this.premasterRandoms++;
    const value = Buffer.from(secret, 'hex');
    if (label === 'CLIENT_RANDOM' && value.length === 48) this.masters.push(value);
    s.set(label, value);
    return undefined;
  }

  /** `RSA Session-ID:<id> Master-Key:<master>` or `RSA <encrypted premaster's first 8 bytes> <premaster>`. */
  private addRsaLine(first: string, second: string): string | undefined {
    const id = SESSION_ID.exec(first);
    if (id) {
      const master = MASTER_KEY.exec(second);
      if (!master) return 'Master-Key is not 48 bytes of hex';
      return this.keep(() => {
        const value = Buffer.from(master[1], 'hex');
        this.bySessionId.set(id[1].toLowerCase(), value);
        this.masters.push(value);
      });
    }
    if (first.length !== 16 || !HEX.test(first)) return 'RSA line is neither "Session-ID:… Master-Key:…" nor 8 bytes of encrypted premaster';
    if (second.length !== 96 || !HEX.test(second)) return 'RSA premaster secret is not 48 bytes of hex';
    return this.keep(() => this.rsaPremasters.set(first.toLowerCase(), Buffer.from(second, 'hex')));
  }

  /** Adds a secret unless the log already holds MAX_SESSIONS (then counted, not kept). */
  private keep(add: () => void): undefined {
    if (this.size >= MAX_SESSIONS) this.dropped++;
    else add();
    return undefined;
  }
}

/**
 * Text read as latin1 whose first bytes are a byte order mark: a key log saved
 * by a Windows editor (UTF-8 with a BOM), or by PowerShell's `>` / `Out-File`
 * (UTF-16 little-endian), is read as the text it is, not as a first line with
 * an unknown label and NULs between the characters of the rest.
 */
function withoutByteOrderMark(text: string): string {
  if (text.startsWith('\xef\xbb\xbf')) return text.slice(3);
  if (text.startsWith('\xff\xfe')) return Buffer.from(text.slice(2), 'latin1').toString('utf16le');
  if (text.startsWith('\xfe\xff')) {
    const be = Buffer.from(text.slice(2, 2 + ((text.length - 2) & ~1)), 'latin1');
    return be.swap16().toString('utf16le');
  }
  return text;
}

/** Larger than any honest key log (a line per session, ~200 bytes). */
const MAX_KEYLOG_BYTES = 256 * 1024 * 1024;

/**
 * Read `--tls-keylog FILE`: a missing or oversized file is a usage error; bad
 * lines are warnings with their line number. `onRead` hears the text read (a
 * FIFO's is gone once read: the worker threads are given it, see
 * cli/tls-keylog-file.ts).
 */
export function loadKeyLogFile(path: string, warn: (message: string) => void, log = new TlsKeyLog(), follow = false, onRead?: (text: string) => void): TlsKeyLog {
  if (follow) return followKeyLog(path, warn, log);
  let text: string;
  try {
    // Read no further than the bound: a FIFO (`<(kubectl exec … cat keys)`) or /dev/zero has no size to check first.
    const bytes = readFileBounded(path, MAX_KEYLOG_BYTES);
    if (!bytes) throw new UserError(`--tls-keylog ${path}: larger than ${MAX_KEYLOG_BYTES / 1024 / 1024} MB, not a key log`, ExitCode.USAGE);
    text = bytes.toString('latin1');
  } catch (err) {
    if (err instanceof UserError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(`--tls-keylog ${path}: ${code === 'ENOENT' ? 'no such file' : errnoText(code)}`, ExitCode.USAGE);
  }
  onRead?.(text);
  return keyLogFromText(path, text, warn, log);
}

/** A key log's text (read from `path`), its bad lines warned about. */
export function keyLogFromText(path: string, text: string, warn: (message: string) => void, log = new TlsKeyLog()): TlsKeyLog {
  log.addText(text, (line, why) => warn(`${path}:${line}: not a key log line (${why}); skipped`));
  if (log.badLines > 3) warn(`${path}: ${log.badLines} lines in all were not key log lines`);
  if (log.size === 0) warn(`${path}: no TLS secrets in this file; nothing will be decrypted`);
  if (log.dropped > 0) warn(droppedSecrets(path, log.dropped));
  return log;
}

function droppedSecrets(path: string, dropped: number): string {
  return `${path}: more than ${MAX_SESSIONS} sessions; ${dropped} secret line(s) past that not kept (their sessions are not decrypted)`;
}

/** Wall-clock ms between two looks at a followed key log (a look is a stat, and a read when it grew). */
const FOLLOW_EVERY_MS = 20;
/** A followed key log's unfinished last line is kept up to this many characters. */
const MAX_PARTIAL_LINE = 4096;

/**
 * A key log that is still being written: read now, then again (what was
 * appended) whenever a session's secrets are looked for and not found, at
 * most every FOLLOW_EVERY_MS. A file not there yet is read once it appears;
 * one truncated or replaced is read from its start again. A FIFO (`tap
 * --tls-keylog <(kubectl exec … -- tail -f keys)`) has no size to watch: it
 * is opened once, without blocking, and read as its writer writes.
 */
function followKeyLog(path: string, warn: (message: string) => void, log: TlsKeyLog): TlsKeyLog {
  let offset = 0;
  let partial = '';
  // The file's encoding, told by its first bytes (a UTF-16 byte order mark: PowerShell's `>`), and
  // the odd byte of a UTF-16 character whose second byte was not written yet.
  let encoding: 'latin1' | 'utf16le' | 'utf16be' = 'latin1';
  let oddByte: Buffer | undefined;
  let tooLarge = false;
  let toldDropped = false;
  let lastLook = -Infinity;
  let lineBase = 0;
  const onBadLine = (line: number, why: string): void => warn(`${path}:${lineBase + line}: not a key log line (${why}); skipped`);
  const read = (force = false): boolean => {
    const now = performance.now();
    if (!force && now - lastLook < FOLLOW_EVERY_MS) return false;
    lastLook = now;
    let any = false;
    // A megabyte at a time, until caught up (a long log already there at start).
    while (pull()) any = true;
    if (log.dropped > 0 && !toldDropped) {
      toldDropped = true;
      warn(droppedSecrets(path, log.dropped));
    }
    return any;
  };
  /** A FIFO's (or a character device's) descriptor, open for the run: read what its writer wrote. */
  let stream: number | undefined;
  let streamChunk: Buffer | undefined;
  const pullStream = (fd: number): boolean => {
    if (tooLarge) return false;
    // One buffer for the run: take() turns what was read into text before the next read.
    const chunk = (streamChunk ??= Buffer.allocUnsafe(64 * 1024));
    let got: number;
    try {
      got = readSync(fd, chunk, 0, chunk.length, null);
    } catch {
      // EAGAIN: nothing written since.
      return false;
    }
    if (got === 0) return false;
    if (offset + got > MAX_KEYLOG_BYTES) {
      warn(`${path}: more than ${MAX_KEYLOG_BYTES / 1024 / 1024} MB read; not read further`);
      tooLarge = true;
      return false;
    }
    return take(chunk.subarray(0, got));
  };
  const pull = (): boolean => {
    if (stream !== undefined) return pullStream(stream);
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      return false;
    }
    if (size < offset) {
      offset = 0;
      partial = '';
    }
    // Too few bytes yet to tell a byte order mark from text (checked again when the file grows).
    if (offset === 0 && size < 3) return false;
    if (size > MAX_KEYLOG_BYTES) {
      if (!tooLarge) warn(`${path}: larger than ${MAX_KEYLOG_BYTES / 1024 / 1024} MB; not read further`);
      tooLarge = true;
      return false;
    }
    if (size === offset) return false;
    const chunk = Buffer.allocUnsafe(Math.min(size - offset, 1024 * 1024));
    let got = 0;
    try {
      const fd = openSync(path, 'r');
      try {
        got = readSync(fd, chunk, 0, chunk.length, offset);
      } finally {
        closeSync(fd);
      }
    } catch {
      return false;
    }
    return take(chunk.subarray(0, got));
  };
  /** Bytes read from the log at `offset`: its whole lines are added, an unfinished one kept for the next read. */
  const take = (bytes: Buffer): boolean => {
    const text = partial + decode(bytes, offset === 0);
    offset += bytes.length;
    // A line being written is read whole next time; one that never ends (no key log line is
    // longer than a few hundred bytes) is not kept growing: it is counted as a bad line.
    const end = text.lastIndexOf('\n') + 1;
    partial = text.slice(end);
    if (partial.length > MAX_PARTIAL_LINE) {
      log.addText(partial.slice(0, 80) + '\n', onBadLine);
      partial = '';
    }
    const lines = text.slice(0, end);
    log.addText(lines, onBadLine);
    lineBase += lines.split('\n').length - 1;
    return lines.length > 0;
  };
  /** A chunk of the file as text: every chunk of a UTF-16 log is UTF-16 too, not only the first, which says so. */
  const decode = (bytes: Buffer, first: boolean): string => {
    if (first) {
      oddByte = undefined;
      encoding = bytes[0] === 0xff && bytes[1] === 0xfe ? 'utf16le' : bytes[0] === 0xfe && bytes[1] === 0xff ? 'utf16be' : 'latin1';
      // A UTF-8 byte order mark is left to addText (text read as latin1).
      if (encoding !== 'latin1') bytes = bytes.subarray(2);
    }
    if (encoding === 'latin1') return bytes.toString('latin1');
    const all = oddByte ? Buffer.concat([oddByte, bytes]) : bytes;
    const even = all.length & ~1;
    oddByte = even < all.length ? Buffer.from(all.subarray(even)) : undefined;
    const units = Buffer.from(all.subarray(0, even));
    return (encoding === 'utf16be' ? units.swap16() : units).toString('utf16le');
  };
  let there: ReturnType<typeof statSync> | undefined;
  try {
    there = statSync(path);
  } catch {
    warn(`${path}: not there yet; read as it appears (--tls-keylog on a live capture follows the file)`);
  }
  if (there?.isDirectory()) throw new UserError(`--tls-keylog ${path}: is a directory`, ExitCode.USAGE);
  if (there && !there.isFile()) {
    try {
      stream = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch (err) {
      throw new UserError(`--tls-keylog ${path}: ${errnoText((err as NodeJS.ErrnoException).code)}`, ExitCode.USAGE);
    }
  }
  read();
  log.follow(read);
  return log;
}

/** One human line about decryption, from the run's counters. */
export function describeDecryption(counters: Record<string, number>): string {
  const n = (k: string): number => counters[k] ?? 0;
  const count = (k: string, one: string, many = `${one}s`): string => `${n(k)} ${n(k) === 1 ? one : many}`;
  const tried = n('tls.resumed-by-trial') > 0 ? `; ${n('tls.resumed-by-trial')} of them by trying the key log's master secrets: the full handshake was not in this capture, or another worker read it` : '';
  const resumed = n('tls.resumed-sessions') > 0 ? ` (${n('tls.resumed-sessions')} resumed with the master secret of an earlier session${tried})` : '';
  const parts = [`${count('tls.decrypted-sessions', 'session')} decrypted${resumed}`];
  if (n('tls.no-key') > 0) parts.push(`${n('tls.no-key')} without a key in the key log${noKeyHint(n)}`);
  if (n('tls.handshake-alerts') > 0) parts.push(`${count('tls.handshake-alerts', 'handshake')} refused by an encrypted alert (decrypted: on the tls entry)`);
  const mismatched = keyMismatches(counters);
  if (mismatched) parts.push(mismatched);
  if (n('tls.no-handshake') > 0) parts.push(`${n('tls.no-handshake')} captured without ${n('tls.no-handshake') === 1 ? 'its' : 'their'} handshake (not decryptable)`);
  const stopped = n('tls.undecryptable') + n('tls.decrypt-malformed');
  if (n('tls.decrypt-gap') > 0) parts.push(`${count('tls.decrypt-gap', 'gap')} in the ciphertext (${count('tls.records-lost-in-gap', 'record')} lost in ${n('tls.decrypt-gap') === 1 ? 'it' : 'them'})`);
  if (n('tls.resume-trial-limited') > 0) parts.push(`${n('tls.resume-trial-limited')} resumed ${n('tls.resume-trial-limited') === 1 ? 'session' : 'sessions'} tried against the last ${MAX_TRIED_MASTERS} master secrets of the key log only`);
  if (n('tls.resume-trial-budget') > 0) parts.push(`${count('tls.resume-trial-budget', 'resumed session')} not tried against all of the key log (${MAX_TRIALS} master secrets tried in this run already)`);
  if (n('tls.renegotiations') > 0) parts.push(`${count('tls.renegotiations', 'renegotiation')} followed`);
  if (n('tls.renegotiation-no-key') > 0) parts.push(`${count('tls.renegotiation-no-key', 'session')} renegotiated with a handshake whose secrets are not in the key log (not decrypted after it)`);
  if (n('tls.resumable-forgotten') > 0) parts.push(`${n('tls.resumable-forgotten')} earlier master secrets forgotten (more than ${MAX_RESUMABLE} kept for resumption)`);
  if (n('tls.handshake-gap') > 0) parts.push(`${count('tls.handshake-gap', 'gap')} in the clear handshake after the hellos (decrypted from ChangeCipherSpec on)`);
  const oneWay = n('tls.no-key-client-direction') + n('tls.no-key-server-direction');
  if (oneWay > 0) {
    const which = (['CLIENT', 'SERVER'] as const).filter((l) => n(`tls.no-key-${l.toLowerCase()}-direction`) > 0).map((l) => `no ${l}_TRAFFIC_SECRET_0: ${n(`tls.no-key-${l.toLowerCase()}-direction`)}`);
    parts.push(`${oneWay} TLS 1.3 ${oneWay === 1 ? 'session' : 'sessions'} whose key log lacks one direction's traffic secret: that direction not decrypted, the other one is (${which.join(', ')})`);
  }
  if (stopped > 0) parts.push(`${stopped} ${stopped === 1 ? 'direction' : 'directions'} stopped at an undecryptable record or a gap`);
  if (n('tls.null-cipher-unverified') > 0) parts.push(`${count('tls.null-cipher-unverified', 'session')} with a NULL cipher (not encrypted) read as ${n('tls.null-cipher-unverified') === 1 ? 'it is' : 'they are'}, MACs not checked (no key for them)`);
  if (n('tls.decrypt-unsupported-cipher') > 0) parts.push(`${n('tls.decrypt-unsupported-cipher')} with a cipher suite shark cannot decrypt${unsupportedSuites(counters)}`);
  if (n('tls.early-data-skipped') > 0) parts.push(`${count('tls.early-data-skipped', 'record')} of 0-RTT early data not decrypted`);
  if (n('tls.early-data-refused') > 0) parts.push(`${count('tls.early-data-refused', 'record')} of 0-RTT early data the server refused (sent again after the handshake)`);
  if (n('tls.decrypt-unsupported-version') > 0) parts.push(`${n('tls.decrypt-unsupported-version')} in SSL 3.0 (not decrypted)`);
  if (n('tls.decrypted-unknown-protocol') > 0) parts.push(`${n('tls.decrypted-unknown-protocol')} carrying a protocol shark does not know (kept as tls entries)`);
  return `TLS: ${parts.join('; ')}`;
}

/** Why sessions had no key, when the counters can tell (empty when they cannot). */
function noKeyHint(n: (k: string) => number): string {
  const incomplete = n('tls.no-key-incomplete');
  if (incomplete > 0) {
    const of = incomplete === n('tls.no-key') ? '' : `${incomplete} of them `;
    return ` (${of}named in the key log without the secrets ${incomplete === 1 ? 'its version needs' : 'their versions need'}: TLS 1.3 the four *_TRAFFIC_SECRET lines, TLS 1.2 CLIENT_RANDOM)`;
  }
  // Not one session of the capture is named in the log: the commonest mistake is a log of something else.
  if (n('tls.no-key-unnamed') === n('tls.no-key') && n('tls.decrypted-sessions') === 0 && n('tls.key-mismatch') === 0) {
    return ": no ClientHello random of this capture is in the key log (is it another capture's, or another client's? SSLKEYLOGFILE must be set for the process that made these connections)";
  }
  return '';
}

/** Counter of a session whose first encrypted record did not open under its logged secrets, by version and suite. */
export function keyMismatchCounter(version: number, suite: number): string {
  return `tls.key-mismatch.${version.toString(16).padStart(4, '0')}.${suite.toString(16).padStart(4, '0')}`;
}

const KEY_MISMATCH = /^tls\.key-mismatch\.([0-9a-f]{4})\.([0-9a-f]{4})$/;

/** Sessions named in the key log whose records the logged secrets did not open, with their versions and suites. */
function keyMismatches(counters: Record<string, number>): string | undefined {
  const total = counters['tls.key-mismatch'] ?? 0;
  const kinds: string[] = [];
  for (const [k, v] of Object.entries(counters)) {
    const m = KEY_MISMATCH.exec(k);
    if (!m || !v) continue;
    kinds.push(`${versionName(parseInt(m[1], 16))} ${cipherName(parseInt(m[2], 16))}: ${v}`);
  }
  if (total === 0) return undefined;
  return `${total} ${total === 1 ? 'session' : 'sessions'} in the key log whose first encrypted record did not decrypt with the logged secrets (${kinds.sort().join(', ')}): a damaged line or another run's secrets for the same client random, or keys shark derives wrongly for this version and suite (please report it)`;
}

/** Counter of a session whose cipher suite shark cannot decrypt, by suite. */
export function unsupportedSuiteCounter(suite: number): string {
  return `tls.decrypt-unsupported-cipher.${suite.toString(16).padStart(4, '0')}`;
}

const UNSUPPORTED_SUITE = /^tls\.decrypt-unsupported-cipher\.([0-9a-f]{4})$/;

/** " (TLS_RSA_WITH_3DES_EDE_CBC_SHA: 1, …)": which suites were not decrypted. */
function unsupportedSuites(counters: Record<string, number>): string {
  const kinds: string[] = [];
  for (const [k, v] of Object.entries(counters)) {
    const m = UNSUPPORTED_SUITE.exec(k);
    if (m && v) kinds.push(`${cipherName(parseInt(m[1], 16))}: ${v}`);
  }
  return kinds.length > 0 ? ` (${kinds.sort().join(', ')})` : '';
}

/** The same for QUIC connections (their TLS secrets come from the same key log); undefined when none was seen. */
export function describeQuicDecryption(counters: Record<string, number>): string | undefined {
  const n = (k: string): number => counters[k] ?? 0;
  const count = (k: string, one: string): string => `${n(k)} ${one}${n(k) === 1 ? '' : 's'}`;
  if (n('quic.connections') === 0) return undefined;
  const parts = [`${n('quic.decrypted_connections')} of ${n('quic.connections')} connection${n('quic.connections') === 1 ? '' : 's'} decrypted`];
  if (n('quic.no_key') > 0) parts.push(`${n('quic.no_key')} without a key in the key log`);
  if (n('quic.packets_undecrypted') > 0) parts.push(`${n('quic.packets_undecrypted')} packets not decrypted`);
  if (n('quic.decrypt_failed') > 0) parts.push(`${n('quic.decrypt_failed')} packets that did not authenticate`);
  if (n('quic.gso_batches_split') > 0) parts.push(`${count('quic.gso_batches_split', 'datagram')} that held a UDP GSO batch (captured before the kernel cut it) cut into its packets`);
  if (n('quic.decrypted_not_http3') > 0) parts.push(`${n('quic.decrypted_not_http3')} carrying a protocol other than HTTP/3 (kept as quic entries)`);
  return `QUIC: ${parts.join('; ')}`;
}
