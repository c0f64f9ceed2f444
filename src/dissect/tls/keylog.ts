// TLS secrets in the NSS key log format (what SSLKEYLOGFILE makes OpenSSL,
// BoringSSL, NSS, Go and curl write, and what Wireshark reads):
//   CLIENT_RANDOM <client random, 64 hex> <TLS 1.2 master secret, 96 hex>
//   CLIENT_HANDSHAKE_TRAFFIC_SECRET / SERVER_HANDSHAKE_TRAFFIC_SECRET /
//   CLIENT_TRAFFIC_SECRET_0 / SERVER_TRAFFIC_SECRET_0 <client random> <secret>  (TLS 1.3)
// Secrets are keyed by the ClientHello's random, which the capture shows.
// A key log is input too: lines that are not key log lines are counted and
// the first few reported with their line number, never fatal.

import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { ExitCode, UserError } from '../../cli/errors.js';

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
]);

/** More sessions than any real key log holds; past it lines are counted, not kept (memory bound). */
export const MAX_SESSIONS = 1_000_000;

/**
 * Labels of the NSS format that give no secret shark needs: OpenSSL logs an
 * `RSA` line (the premaster secret by its encryption's first bytes) next to
 * the CLIENT_RANDOM line of every RSA key exchange. Skipped without a warning;
 * a session logged only that way is counted as having no key.
 */
const UNUSED_LABELS = new Set(['RSA', 'PMS_CLIENT_RANDOM']);

const HEX = /^[0-9a-fA-F]+$/;

export class TlsKeyLog {
  private readonly sessions = new Map<string, SessionSecrets>();
  /** Lines that were not key log lines (bad label, length or hex). */
  badLines = 0;
  /** Sessions left out because the log held more than MAX_SESSIONS. */
  dropped = 0;

  /** Reads what was appended to the file since last time; true when it read something (followKeyLog). */
  private follower: ((now: boolean) => boolean) | undefined;
  /** Live: ciphertext held by connections waiting for their keys to be logged, all together (bounded). */
  awaitingBytes = 0;

  get size(): number {
    return this.sessions.size;
  }

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
    for (const raw of text.split('\n')) {
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

  private addLine(line: string): string | undefined {
    const parts = line.split(/\s+/);
    if (parts.length !== 3) return 'not "LABEL CLIENT_RANDOM SECRET"';
    const [written, random, secret] = parts;
    // Early QUIC stacks (quicly, ngtcp2 drafts) wrote the TLS 1.3 labels with a QUIC_ prefix; Wireshark reads both.
    const label = written.startsWith('QUIC_') && LABELS.has(written.slice(5)) ? written.slice(5) : written;
    if (UNUSED_LABELS.has(label)) return undefined;
    if (!LABELS.has(label)) return `unknown label ${JSON.stringify(label.slice(0, 40))}`;
    if (random.length !== 64 || !HEX.test(random)) return 'client random is not 32 bytes of hex';
    if (secret.length < 32 || secret.length > 256 || secret.length % 2 !== 0 || !HEX.test(secret)) return 'secret is not hex of a sane length';
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
    s.set(label, Buffer.from(secret, 'hex'));
    return undefined;
  }
}

/** Larger than any honest key log (a line per session, ~200 bytes). */
const MAX_KEYLOG_BYTES = 256 * 1024 * 1024;

/** Read `--tls-keylog FILE`: a missing or oversized file is a usage error; bad lines are warnings with their line number. */
export function loadKeyLogFile(path: string, warn: (message: string) => void, log = new TlsKeyLog(), follow = false): TlsKeyLog {
  if (follow) return followKeyLog(path, warn, log);
  let text: string;
  try {
    if (statSync(path).size > MAX_KEYLOG_BYTES) throw new UserError(`--tls-keylog ${path}: larger than ${MAX_KEYLOG_BYTES / 1024 / 1024} MB, not a key log`, ExitCode.USAGE);
    text = readFileSync(path, 'latin1');
  } catch (err) {
    if (err instanceof UserError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(`--tls-keylog ${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (err as Error).message}`, ExitCode.USAGE);
  }
  log.addText(text, (line, why) => warn(`${path}:${line}: not a key log line (${why}); skipped`));
  if (log.badLines > 3) warn(`${path}: ${log.badLines} lines in all were not key log lines`);
  if (log.size === 0) warn(`${path}: no TLS secrets in this file; nothing will be decrypted`);
  return log;
}

/** Wall-clock ms between two looks at a followed key log (a look is a stat, and a read when it grew). */
const FOLLOW_EVERY_MS = 20;
/** A followed key log's unfinished last line is kept up to this many characters. */
const MAX_PARTIAL_LINE = 4096;

/**
 * A key log that is still being written: read now, then again (what was
 * appended) whenever a session's secrets are looked for and not found, at
 * most every FOLLOW_EVERY_MS. A file not there yet is read once it appears;
 * one truncated or replaced is read from its start again.
 */
function followKeyLog(path: string, warn: (message: string) => void, log: TlsKeyLog): TlsKeyLog {
  let offset = 0;
  let partial = '';
  let tooLarge = false;
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
    return any;
  };
  const pull = (): boolean => {
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
    offset += got;
    const text = partial + chunk.toString('latin1', 0, got);
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
  let there: ReturnType<typeof statSync> | undefined;
  try {
    there = statSync(path);
  } catch {
    warn(`${path}: not there yet; read as it appears (--tls-keylog on a live capture follows the file)`);
  }
  if (there?.isDirectory()) throw new UserError(`--tls-keylog ${path}: is a directory`, ExitCode.USAGE);
  read();
  log.follow(read);
  return log;
}

/** One human line about decryption, from the run's counters. */
export function describeDecryption(counters: Record<string, number>): string {
  const n = (k: string): number => counters[k] ?? 0;
  const count = (k: string, one: string, many = `${one}s`): string => `${n(k)} ${n(k) === 1 ? one : many}`;
  const parts = [`${count('tls.decrypted-sessions', 'session')} decrypted`];
  if (n('tls.no-key') > 0) parts.push(`${n('tls.no-key')} without a key in the key log`);
  if (n('tls.no-handshake') > 0) parts.push(`${n('tls.no-handshake')} captured without ${n('tls.no-handshake') === 1 ? 'its' : 'their'} handshake (not decryptable)`);
  const stopped = n('tls.undecryptable') + n('tls.decrypt-malformed');
  if (n('tls.decrypt-gap') > 0) parts.push(`${count('tls.decrypt-gap', 'gap')} in the ciphertext (${count('tls.records-lost-in-gap', 'record')} lost in ${n('tls.decrypt-gap') === 1 ? 'it' : 'them'})`);
  if (stopped > 0) parts.push(`${stopped} ${stopped === 1 ? 'direction' : 'directions'} stopped at an undecryptable record or a gap`);
  if (n('tls.decrypt-unsupported-cipher') > 0) parts.push(`${n('tls.decrypt-unsupported-cipher')} with a cipher suite shark cannot decrypt`);
  if (n('tls.early-data-skipped') > 0) parts.push(`${count('tls.early-data-skipped', 'record')} of 0-RTT early data not decrypted`);
  if (n('tls.early-data-refused') > 0) parts.push(`${count('tls.early-data-refused', 'record')} of 0-RTT early data the server refused (sent again after the handshake)`);
  if (n('tls.decrypt-unsupported-version') > 0) parts.push(`${n('tls.decrypt-unsupported-version')} in SSL 3.0 (not decrypted)`);
  if (n('tls.decrypted-unknown-protocol') > 0) parts.push(`${n('tls.decrypted-unknown-protocol')} carrying a protocol shark does not know (kept as tls entries)`);
  return `TLS: ${parts.join('; ')}`;
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
