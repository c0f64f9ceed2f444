// `shark record` end to end: a capture or entries on stdin in, a folder of
// whole, checksummed files out; two runs at once; kill -9 then recovery;
// retention with an injected clock; a full disk on a 1 MB tmpfs.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { cliBin, sharedCapture } from '../helpers/paths.js';
import type { Manifest } from '../../src/record/manifest.js';
import { capinfosCounts } from '../live/netns.js';

const SOURCE = sharedCapture('lab-bookinfo-mix.pcap');
const env = { ...process.env, HOME: tmpdir(), KUBECONFIG: '' };

function tshark(file: string): { count: number; stderr: string; status: number | null } {
  const r = spawnSync('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8' });
  return { count: r.stdout.split('\n').filter(Boolean).length, stderr: r.stderr, status: r.status };
}

function record(args: string[], stdinFile?: string): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [cliBin, 'record', ...args], {
    encoding: 'utf8',
    env,
    input: stdinFile ? readFileSync(stdinFile) : '',
    timeout: 120_000,
  });
  return { status: r.status, stderr: r.stderr };
}

function startRecord(args: string[]): ChildProcess {
  return spawn(process.execPath, [cliBin, 'record', ...args], { env, stdio: ['pipe', 'ignore', 'pipe'] });
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  return new Promise((resolve) => {
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

async function until(what: string, test: () => boolean, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Whole records of a little-endian pcap (or its first bytes): the header, then records while whole. */
function wholePcapRecords(buf: Buffer): number {
  let n = 0;
  for (let off = 24; off + 16 <= buf.length; n++) {
    const end = off + 16 + buf.readUInt32LE(off + 8);
    if (end > buf.length) break;
    off = end;
  }
  return n;
}

function recordings(dir: string, name: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.startsWith(`${name}-`))
    .sort();
}

function manifestOf(folder: string): Manifest {
  return JSON.parse(readFileSync(join(folder, 'manifest.json'), 'utf8')) as Manifest;
}

function sha256sumCheck(folder: string, m: Manifest): void {
  const r = spawnSync('sha256sum', ['-c', '--strict'], { cwd: folder, input: m.files.map((f) => `${f.sha256}  ${f.name}\n`).join(''), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.equal(r.stdout.split('\n').filter((l) => l.endsWith(': OK')).length, m.files.length);
}

describe('shark record', { timeout: 300_000 }, () => {
  let dir: string;
  let sourcePackets: number;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'shark-record-'));
    sourcePackets = tshark(SOURCE).count;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('records a pcap stream: rotated pcaps tshark reads, gzip entries, manifest checksums that sha256sum accepts', () => {
    const out = join(dir, 'a');
    const r = record(['--name', 'nightly', '--out', out, '--rotate-size', '500KB', '--gzip'], SOURCE);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /^record: nightly-\d{8}T\d{6}Z: 12731 packets, \d+ entries in \d+ files \(.*\), .* stopped: end-of-input$/);
    const [folder] = recordings(out, 'nightly');
    const path = join(out, folder);
    const m = manifestOf(path);
    assert.equal(m.status, 'complete');
    assert.equal(m.packets, sourcePackets);
    assert.ok(!existsSync(join(path, 'INCOMPLETE')));
    assert.deepEqual(readdirSync(path).filter((f) => f.endsWith('.partial')), []);
    sha256sumCheck(path, m);
    const pcaps = m.files.filter((f) => f.kind === 'pcap');
    assert.ok(pcaps.length >= 4, `expected rotation, got ${pcaps.length} files`);
    for (const f of pcaps) assert.ok(f.bytes <= 500 * 1024, `${f.name} passed --rotate-size: ${f.bytes}`);
    const counts = capinfosCounts(pcaps.map((f) => join(path, f.name)));
    assert.deepEqual(counts, pcaps.map((f) => f.count));
    assert.equal(counts.reduce((a, b) => a + b, 0), sourcePackets);
    // And tshark dissects one of them without complaint.
    const t = tshark(join(path, pcaps[1].name));
    assert.equal(t.status, 0, t.stderr);
    assert.equal(t.count, pcaps[1].count);
    const entryFiles = m.files.filter((f) => f.kind === 'entries');
    assert.ok(entryFiles.every((f) => f.name.endsWith('.ndjson.gz')));
    const entryLines = entryFiles.flatMap((f) => gunzipSync(readFileSync(join(path, f.name))).toString().split('\n').filter(Boolean));
    assert.equal(entryLines.length, m.entries);
    assert.ok(m.entries > 100);
    assert.ok(entryLines.every((l) => typeof JSON.parse(l).protocol === 'string'));
    assert.deepEqual(m.command.slice(1), ['record', '--name', 'nightly', '--out', out, '--rotate-size', '500KB', '--gzip']);
    assert.equal(m.cluster, undefined);
  });

  it('the summary line counts in English: 1 entry in 1 file, not 1 entries in 1 files', () => {
    const out = join(dir, 'one');
    const input = join(dir, 'one.ndjson');
    writeFileSync(input, JSON.stringify({ id: '1', timestamp: 1_700_000_000_000, protocol: 'http', summary: 'GET /' }) + '\n');
    const r = record(['--name', 'one', '--out', out], input);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^record: one-\d{8}T\d{6}Z: 0 packets, 1 entry in 1 file \(.*\), .* stopped: end-of-input\n$/);
    const two = record(['--name', 'two', '--out', out], sharedCapture('tcpdump-dns_udp.pcap'));
    assert.equal(two.status, 0, two.stderr);
    assert.match(two.stderr, /: 2 packets, 1 entry in 2 files \(/);
  });

  it('records an NDJSON entry stream as entry files only, --packets bounding it', () => {
    const out = join(dir, 'b');
    const input = join(dir, 'in.ndjson');
    const lines = Array.from({ length: 50 }, (_, i) => JSON.stringify({ id: `${i}`, timestamp: 1_700_000_000_000 + i, protocol: 'http', summary: `GET /${i}` }));
    writeFileSync(input, lines.join('\n') + '\n');
    const r = record(['--name', 'ent', '--out', out, '--packets', '30', '--quiet'], input);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    const path = join(out, recordings(out, 'ent')[0]);
    const m = manifestOf(path);
    assert.equal(m.source.kind, 'ndjson');
    assert.equal(m.packets, 0);
    assert.equal(m.entries, 30);
    assert.equal(m.stopReason, 'packets');
    assert.deepEqual(m.files.map((f) => f.name), ['ent-entries-00001.ndjson']);
    assert.equal(readFileSync(join(path, 'ent-entries-00001.ndjson'), 'utf8'), lines.slice(0, 30).join('\n') + '\n');
    sha256sumCheck(path, m);
  });

  it('a second run while the first records exits 5; kill -9 mid-write leaves whole files that the next run completes', async () => {
    const out = join(dir, 'c');
    mkdirSync(out);
    const first = startRecord(['--name', 'cron', '--out', out, '--rotate-size', '200KB']);
    const firstDone = exited(first);
    // Feed ~1 MB of the capture, cut in the middle of a record, and keep stdin open.
    const feed = createReadStream(SOURCE, { start: 0, end: 1_000_000 });
    first.stdin!.on('error', () => {}); // EPIPE once it is killed
    feed.pipe(first.stdin!, { end: false });
    const lock = join(out, '.shark-record-cron.lock');
    await until('the first run to take the lock', () => existsSync(lock));
    const second = record(['--name', 'cron', '--out', out, '--duration', '1s']);
    assert.equal(second.status, 5, second.stderr);
    assert.equal(
      second.stderr.trim(),
      `record: ${lock}: another run (pid ${first.pid}) is recording 'cron'; not starting a second one`,
    );
    const folderOf = () => recordings(out, 'cron')[0];
    await until('whole files and a partial one', () => {
      const f = folderOf();
      if (!f) return false;
      const names = readdirSync(join(out, f));
      return names.filter((n) => n.endsWith('.pcap')).length >= 2 && names.some((n) => n.endsWith('.pcap.partial'));
    });
    // Every whole record fed reaches the disk within about a second though stdin stays open and quiet
    // (what was buffered waited for the next batch, so a kill during a pause lost up to 256 KB).
    const fed = wholePcapRecords(readFileSync(SOURCE).subarray(0, 1_000_001));
    const onDisk = () => readdirSync(join(out, folderOf())).filter((n) => /\.pcap(\.partial)?$/.test(n)).reduce((sum, n) => sum + wholePcapRecords(readFileSync(join(out, folderOf(), n))), 0);
    await until(`the ${fed} records fed on disk before the kill`, () => onDisk() === fed, 10_000).catch((err) => {
      first.kill('SIGKILL'); // its stdin stays open: the runner would wait for it
      throw err;
    });
    feed.unpipe();
    feed.destroy();
    first.kill('SIGKILL');
    const killed = await firstDone;
    assert.equal(killed.signal, 'SIGKILL');
    const path = join(out, folderOf());
    assert.ok(existsSync(join(path, 'INCOMPLETE')));
    assert.ok(!existsSync(join(path, 'manifest.json')));
    // Every file under its final name is whole (capinfos fails on a cut one).
    capinfosCounts(readdirSync(path).filter((n) => n.endsWith('.pcap')).map((n) => join(path, n)));

    const next = record(['--name', 'cron', '--out', out, '--packets', '10'], SOURCE);
    assert.equal(next.status, 0, next.stderr);
    assert.match(next.stderr, new RegExp(`took over the lock of a run that is gone \\(pid ${first.pid}\\)`));
    assert.match(next.stderr, new RegExp(`record: ${folderOf()}: completed a run that was killed \\(pid ${first.pid}\\): \\d+ whole files? kept`));
    assert.ok(!existsSync(join(path, 'INCOMPLETE')));
    assert.deepEqual(readdirSync(path).filter((n) => n.endsWith('.partial')), []);
    const m = manifestOf(path);
    assert.equal(m.status, 'recovered');
    sha256sumCheck(path, m);
    const recovered = m.files.filter((x) => x.kind === 'pcap');
    const counts = capinfosCounts(recovered.map((f) => join(path, f.name)));
    assert.deepEqual(counts, recovered.map((f) => f.count));
    assert.equal(counts.reduce((a, b) => a + b, 0), m.packets);
    const last = tshark(join(path, recovered.at(-1)!.name));
    assert.equal(last.status, 0, last.stderr);
    assert.equal(m.packets, fed, 'every record fed before the kill is kept');
    // The next run's own recording is complete too.
    const newest = recordings(out, 'cron').at(-1)!;
    assert.equal(manifestOf(join(out, newest)).packets, 10);
    assert.ok(!existsSync(lock));
  });

  it('--until-idle ends a recording whose stdin stays open but quiet', async () => {
    const out = join(dir, 'idle');
    const child = startRecord(['--name', 'idle', '--out', out, '--until-idle', '1s', '--no-entries']);
    const done = exited(child);
    child.stdin!.on('error', () => {});
    // A pcap header and the first records of the capture, then silence (stdin is never closed).
    child.stdin!.write(readFileSync(SOURCE).subarray(0, 24 + 5000));
    const r = await done;
    child.stdin!.destroy();
    assert.equal(r.code, 0, r.stderr);
    const m = manifestOf(join(out, recordings(out, 'idle')[0]));
    assert.equal(m.stopReason, 'idle');
    assert.ok(m.packets > 0);
    const pcap = join(out, recordings(out, 'idle')[0], m.files[0].name);
    assert.equal(tshark(pcap).count, m.packets);
  });

  it('--keep and --max-total delete the oldest recordings of this name only (clock injected with --now)', () => {
    const out = join(dir, 'd');
    const make = (folder: string, end: string, bytes: number) => {
      mkdirSync(join(out, folder), { recursive: true });
      writeFileSync(join(out, folder, 'x.pcap'), Buffer.alloc(bytes));
      writeFileSync(join(out, folder, 'manifest.json'), JSON.stringify({ version: 1, name: folder.split('-')[0], end }));
    };
    make('ret-20261101T000000Z', '2026-11-01T00:00:00.000Z', 100_000); // 8 days before --now: too old
    make('ret-20261103T000000Z', '2026-11-02T00:00:00.000Z', 100_000); // exactly 7 days: kept by --keep …
    make('ret-20261105T000000Z', '2026-11-05T00:00:00.000Z', 100_000);
    make('other-20200101T000000Z', '2020-01-01T00:00:00.000Z', 100_000);
    const r = record(
      ['--name', 'ret', '--out', out, '--keep', '7d', '--max-total', '150KB', '--now', '2026-11-09T00:00:00Z', '--packets', '10', '--no-entries'],
      SOURCE,
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /removed old recording ret-20261101T000000Z \(retention\)/);
    // … but with the new recording (a few kB) the rest passes 150 KB: the oldest left goes too.
    assert.match(r.stderr, /removed old recording ret-20261103T000000Z \(retention\)/);
    const left = readdirSync(out).sort();
    assert.deepEqual(left.filter((f) => /^ret-2026110[1-5]/.test(f)), ['ret-20261105T000000Z']);
    assert.ok(left.includes('other-20200101T000000Z'));
    assert.ok(left.some((f) => f.startsWith('ret-20261109T')));
  });

  it('disk full: exit 6 with one clear line, every file kept is whole', async (t) => {
    const mnt = join(dir, 'tmpfs');
    mkdirSync(mnt);
    const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt], { encoding: 'utf8' });
    if (mount.status !== 0) {
      t.skip(`cannot mount tmpfs: ${mount.stderr}`);
      return;
    }
    try {
      const r = record(['--name', 'full', '--out', mnt, '--rotate-size', '300KB'], SOURCE);
      assert.equal(r.status, 6, r.stderr);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], /^record: .*full-\d{8}T\d{6}Z.*: disk full after \d+ packets; \d+ complete files? kept/);
      const path = join(mnt, recordings(mnt, 'full')[0]);
      const names = readdirSync(path);
      assert.deepEqual(names.filter((n) => n.endsWith('.partial')), []);
      const pcaps = names.filter((n) => n.endsWith('.pcap'));
      // Capture and entry files share the disk (entries are written as calls finish), so which
      // kind rotated first depends on their sizes: at least one of each, and a rotation.
      assert.ok(pcaps.length >= 1, names.join(' '));
      assert.ok(names.filter((n) => /\.(pcap|ndjson)$/.test(n)).length >= 3, names.join(' '));
      for (const n of capinfosCounts(pcaps.map((f) => join(path, f)))) assert.ok(n > 0);
      if (names.includes('manifest.json')) {
        const m = manifestOf(path);
        assert.equal(m.status, 'disk-full');
        sha256sumCheck(path, m);
      } else assert.ok(names.includes('INCOMPLETE'));
    } finally {
      spawnSync('umount', [mnt]);
    }
  });
});
