// After a killed run (SIGKILL, power loss) a recording folder still holds its
// INCOMPLETE marker, whole files, and at most one `.partial` file per series.
// The next run salvages each partial file up to its last whole record (a pcap
// record, a pcapng block, an NDJSON line), checksums and counts everything,
// writes the manifest and removes the marker.

import { createHash } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, existsSync, fstatSync, openSync, readdirSync, readFileSync, readSync, unlinkSync, renameSync, ftruncateSync, fsyncSync } from 'node:fs';
import { join } from 'node:path';
import { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip, constants as zlibConstants } from 'node:zlib';
import { INCOMPLETE, MANIFEST, MANIFEST_VERSION, type IncompleteMarker, type Manifest, type ManifestFile } from './manifest.js';
import { PARTIAL_SUFFIX, syncDir, writeFileAtomic } from './safe-file.js';
import { listRecordings } from './retention.js';

export interface RecoveryReport {
  folder: string;
  /** pid of the run that was killed, when the marker said. */
  pid?: number;
  files: number;
  packets: number;
  entries: number;
  /** Partial files cut back to their last whole record and kept. */
  salvaged: string[];
  /** Partial files with nothing whole in them, removed. */
  removed: string[];
}

const CHUNK = 1 << 20;

function readAt(fd: number, pos: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  let got = 0;
  while (got < len) {
    const n = readSync(fd, b, got, len - got, pos + got);
    if (n === 0) break;
    got += n;
  }
  return got === len ? b : b.subarray(0, got);
}

/** Length of the longest prefix made of whole records, and how many records that is. */
export function wholeCaptureLength(path: string): { bytes: number; count: number; first?: number; last?: number } {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const head = readAt(fd, 0, 24);
    if (head.length < 4) return { bytes: 0, count: 0 };
    const magic = head.readUInt32LE(0);
    if (magic === 0x0a0d0d0a) return pcapngWhole(fd, size);
    if (head.length < 24) return { bytes: 0, count: 0 };
    const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
    const nano = magic === 0xa1b23c4d || magic === 0x4d3cb2a1;
    let pos = 24;
    let count = 0;
    let first: number | undefined;
    let last: number | undefined;
    while (pos + 16 <= size) {
      const rh = readAt(fd, pos, 16);
      const caplen = le ? rh.readUInt32LE(8) : rh.readUInt32BE(8);
      if (pos + 16 + caplen > size) break;
      const sec = le ? rh.readUInt32LE(0) : rh.readUInt32BE(0);
      const frac = le ? rh.readUInt32LE(4) : rh.readUInt32BE(4);
      const ms = sec * 1000 + (nano ? frac / 1e6 : frac / 1e3);
      first ??= ms;
      last = ms;
      pos += 16 + caplen;
      count++;
    }
    return { bytes: pos, count, first, last };
  } finally {
    closeSync(fd);
  }
}

function pcapngWhole(fd: number, size: number): { bytes: number; count: number } {
  let pos = 0;
  let count = 0;
  while (pos + 12 <= size) {
    const bh = readAt(fd, pos, 8);
    const type = bh.readUInt32LE(0);
    const len = bh.readUInt32LE(4);
    if (len < 12 || pos + len > size) break;
    if (type === 6 || type === 3) count++;
    pos += len;
  }
  return { bytes: pos, count };
}

function sha256File(path: string): { sha256: string; bytes: number } {
  const hash = createHash('sha256');
  const fd = openSync(path, 'r');
  let bytes = 0;
  try {
    const buf = Buffer.alloc(CHUNK);
    for (;;) {
      const n = readSync(fd, buf, 0, CHUNK, bytes);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
      bytes += n;
    }
  } finally {
    closeSync(fd);
  }
  return { sha256: hash.digest('hex'), bytes };
}

function countLines(text: Buffer): number {
  let n = 0;
  for (let i = text.indexOf(10); i >= 0; i = text.indexOf(10, i + 1)) n++;
  return n;
}

/** Lines of a plain NDJSON file, read in chunks (it may be large when not rotated). */
function countFileLines(path: string): number {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(CHUNK);
    let n = 0;
    for (let pos = 0; ; ) {
      const got = readSync(fd, buf, 0, CHUNK, pos);
      if (got === 0) return n;
      n += countLines(buf.subarray(0, got));
      pos += got;
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Calls `each` with a gzip entry file's text, chunk by chunk as it inflates: memory stays a chunk
 * whatever the file inflates to (a recording folder may hold a file of any size, or a gzip bomb).
 * A killed writer leaves a cut gzip member: what inflates is taken.
 */
async function inflateChunks(path: string, each: (chunk: Buffer) => void): Promise<void> {
  await pipeline(
    createReadStream(path),
    createGunzip({ finishFlush: zlibConstants.Z_SYNC_FLUSH }),
    new Writable({ write: (chunk: Buffer, _enc, done) => (each(chunk), done()) }),
  );
}

/** Lines of a gzip entry file and the inflated length up to its last newline (-1: none). */
async function gzipLines(path: string): Promise<{ count: number; wholeBytes: number }> {
  let count = 0;
  let seen = 0;
  let wholeBytes = -1;
  await inflateChunks(path, (chunk) => {
    count += countLines(chunk);
    const last = chunk.lastIndexOf(10);
    if (last >= 0) wholeBytes = seen + last + 1;
    seen += chunk.length;
  });
  return { count, wholeBytes };
}

/** Length of a plain file up to its last newline (0: none), read backwards in chunks. */
function plainWholeBytes(path: string): number {
  const fd = openSync(path, 'r');
  try {
    for (let end = fstatSync(fd).size; end > 0; ) {
      const start = Math.max(0, end - CHUNK);
      const last = readAt(fd, start, end - start).lastIndexOf(10);
      if (last >= 0) return start + last + 1;
      end = start;
    }
    return 0;
  } finally {
    closeSync(fd);
  }
}

/** Cut a gzip entry file to its first `bytes` inflated bytes, gzipped again, written to `to` and synced. */
async function rewriteGzipPrefix(from: string, to: string, bytes: number): Promise<void> {
  let left = bytes;
  // One pipeline end to end, so the inflating waits for the deflating and the disk (memory stays a few chunks).
  const prefix = new Transform({
    transform(chunk: Buffer, _enc, done) {
      const keep = Math.max(0, Math.min(left, chunk.length));
      left -= keep;
      done(null, keep > 0 ? chunk.subarray(0, keep) : undefined);
    },
  });
  await pipeline(createReadStream(from), createGunzip({ finishFlush: zlibConstants.Z_SYNC_FLUSH }), prefix, createGzip(), createWriteStream(to));
  const fd = openSync(to, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function kindOf(name: string): ManifestFile['kind'] | undefined {
  if (name.endsWith('.pcapng')) return 'pcapng';
  if (name.endsWith('.pcap')) return 'pcap';
  if (name.endsWith('.ndjson') || name.endsWith('.ndjson.gz')) return 'entries';
  return undefined;
}

/** Cut a partial file back to whole records and give it its final name; false when nothing whole was in it. */
async function salvage(folder: string, partial: string): Promise<boolean> {
  const finalName = partial.slice(0, -PARTIAL_SUFFIX.length);
  const path = join(folder, partial);
  const kind = kindOf(finalName);
  let keep: number;
  if (kind === 'pcap' || kind === 'pcapng') {
    const whole = wholeCaptureLength(path);
    if (whole.count === 0) return false;
    keep = whole.bytes;
  } else if (kind === 'entries' && finalName.endsWith('.gz')) {
    let whole: { wholeBytes: number };
    try {
      whole = await gzipLines(path);
    } catch {
      return false; // not gzip at all
    }
    if (whole.wholeBytes < 0) return false;
    // Written beside it, then renamed over the final name: a kill now leaves the partial file to salvage again.
    const temp = join(folder, `${finalName}.salvage`);
    await rewriteGzipPrefix(path, temp, whole.wholeBytes);
    renameSync(temp, join(folder, finalName));
    unlinkSync(path);
    return true;
  } else if (kind === 'entries') {
    keep = plainWholeBytes(path);
    if (keep === 0) return false;
  } else return false;
  const fd = openSync(path, 'r+');
  try {
    ftruncateSync(fd, keep);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(path, join(folder, finalName));
  return true;
}

export async function describeFile(folder: string, name: string): Promise<ManifestFile | undefined> {
  const kind = kindOf(name);
  if (!kind) return undefined;
  const path = join(folder, name);
  const { sha256, bytes } = sha256File(path);
  if (kind === 'entries') {
    const count = name.endsWith('.gz') ? (await gzipLines(path).catch(() => ({ count: 0 }))).count : countFileLines(path);
    return { name, kind, bytes, sha256, count };
  }
  const whole = wholeCaptureLength(path);
  const f: ManifestFile = { name, kind, bytes, sha256, count: whole.count };
  if (whole.first !== undefined) f.first = new Date(whole.first).toISOString();
  if (whole.last !== undefined) f.last = new Date(whole.last).toISOString();
  return f;
}

function readMarker(folder: string): Partial<IncompleteMarker> {
  try {
    return JSON.parse(readFileSync(join(folder, INCOMPLETE), 'utf8')) as Partial<IncompleteMarker>;
  } catch {
    return {};
  }
}

/** Complete one killed recording. */
export async function recoverFolder(path: string, folder: string, name: string, now: Date): Promise<RecoveryReport> {
  const marker = readMarker(path);
  const report: RecoveryReport = { folder, pid: marker.pid, files: 0, packets: 0, entries: 0, salvaged: [], removed: [] };
  for (const f of readdirSync(path).sort()) {
    if (!f.endsWith(PARTIAL_SUFFIX)) continue;
    if (await salvage(path, f)) report.salvaged.push(f.slice(0, -PARTIAL_SUFFIX.length));
    else {
      unlinkSync(join(path, f));
      report.removed.push(f);
    }
  }
  const files: ManifestFile[] = [];
  for (const f of readdirSync(path).sort()) {
    const d = await describeFile(path, f);
    if (!d) continue;
    files.push(d);
    if (d.kind === 'entries') report.entries += d.count;
    else report.packets += d.count;
  }
  report.files = files.length;
  const lasts = files.map((f) => f.last).filter((t): t is string => !!t).sort();
  const manifest: Manifest = {
    version: MANIFEST_VERSION,
    name,
    start: marker.start ?? now.toISOString(),
    end: lasts.at(-1) ?? marker.start ?? now.toISOString(),
    status: 'recovered',
    packets: report.packets,
    entries: report.entries,
    source: marker.source ?? { kind: 'live' },
    command: marker.command ?? [],
    files,
    recovered: {
      at: now.toISOString(),
      note: `the run${marker.pid ? ` (pid ${marker.pid})` : ''} ended without finishing; whole records kept, cut ones dropped`,
    },
  };
  writeFileAtomic(join(path, MANIFEST), JSON.stringify(manifest, null, 2) + '\n');
  unlinkSync(join(path, INCOMPLETE));
  syncDir(path);
  return report;
}

/** Recover every killed recording of `name` in `dir`. Call with the lock held. */
export async function recoverAll(dir: string, name: string, now: Date): Promise<RecoveryReport[]> {
  const out: RecoveryReport[] = [];
  for (const r of listRecordings(dir, name)) {
    if (existsSync(join(r.path, INCOMPLETE))) out.push(await recoverFolder(r.path, r.folder, name, now));
  }
  return out;
}
