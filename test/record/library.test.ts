// The record library without the CLI: rotation and retention boundaries with
// an injected clock, locks, and recovery of a folder a killed run left behind.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSeries } from '../../src/record/rotation.js';
import { applyRetention, folderStamp, listRecordings, parseStamp, planRetention, type Recording } from '../../src/record/retention.js';
import { acquireLock, lockPath, processStart } from '../../src/record/lock.js';
import { recoverFolder } from '../../src/record/recovery.js';
import { pcapEncoding } from '../../src/record/pcap-encoding.js';
import { INCOMPLETE, MANIFEST, type Manifest } from '../../src/record/manifest.js';
import { ExitCode, UserError } from '../../src/cli/errors.js';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { Packet } from '../../src/model/packet.js';

const DAY = 86_400_000;

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'shark-rec-'));
}

function packet(ms: number, size: number, frame = 1): Packet {
  return {
    tsSec: Math.floor(ms / 1000),
    tsNsec: (ms % 1000) * 1e6,
    linkType: 1,
    data: Buffer.alloc(size, frame & 0xff),
    origLen: size,
    interfaceId: 0,
    frame,
  };
}

function tsharkCount(file: string): number {
  const r = spawnSync('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean).length;
}

describe('rotation', () => {
  const enc = pcapEncoding({ linkType: 1, snaplen: 65535, tsUnitsPerSec: 1e9 });

  it('cuts by size exactly at the boundary: a file may reach the limit but never pass it', () => {
    const dir = tmp();
    try {
      // header 24 + 3 records of (16 + 84) = 324 bytes: exactly the limit.
      const s = new FileSeries({ dir, base: 'n', extension: 'pcap', header: () => enc.header(), rotateBytes: 324 });
      for (let i = 0; i < 7; i++) s.add(enc.record(packet(1000 + i, 84, i + 1)), 1000 + i);
      const files = s.close();
      assert.deepEqual(
        files.map((f) => [f.name, f.bytes, f.count]),
        [
          ['n-00001.pcap', 324, 3],
          ['n-00002.pcap', 324, 3],
          ['n-00003.pcap', 124, 1],
        ],
      );
      for (const f of files) assert.equal(tsharkCount(join(dir, f.name)), f.count);
      // One byte less and only 2 records fit.
      const d2 = join(dir, 'less');
      mkdirSync(d2);
      const s2 = new FileSeries({ dir: d2, base: 'n', extension: 'pcap', header: () => enc.header(), rotateBytes: 323 });
      for (let i = 0; i < 3; i++) s2.add(enc.record(packet(1000 + i, 84, i + 1)), 1000 + i);
      assert.deepEqual(s2.close().map((f) => f.count), [2, 1]);
      // A record bigger than the limit still gets a file of its own (never lost).
      const d3 = join(dir, 'big');
      mkdirSync(d3);
      const s3 = new FileSeries({ dir: d3, base: 'n', extension: 'pcap', header: () => enc.header(), rotateBytes: 100 });
      s3.add(enc.record(packet(1, 500)), 1);
      s3.add(enc.record(packet(2, 500)), 2);
      assert.deepEqual(s3.close().map((f) => f.count), [1, 1]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('cuts by capture time: a record exactly --rotate-every after the first starts a new file', () => {
    const dir = tmp();
    try {
      const s = new FileSeries({ dir, base: 'n', extension: 'pcap', header: () => enc.header(), rotateEveryMs: 1000 });
      for (const t of [5000, 5999, 6000, 6999.999, 7000, 20000]) s.add(enc.record(packet(Math.floor(t), 60)), t);
      const files = s.close();
      assert.deepEqual(
        files.map((f) => [f.count, f.firstTime, f.lastTime]),
        [
          [2, 5000, 5999],
          [2, 6000, 6999.999],
          [1, 7000, 7000],
          [1, 20000, 20000],
        ],
      );
      assert.deepEqual(readdirSync(dir).sort(), ['n-00001.pcap', 'n-00002.pcap', 'n-00003.pcap', 'n-00004.pcap']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('retention', () => {
  const now = Date.UTC(2026, 10, 23, 3, 0, 0);
  const rec = (ageDays: number, bytes: number, folder = `n-${folderStamp(new Date(now - ageDays * DAY))}`): Recording => ({
    folder,
    path: `/x/${folder}`,
    start: now - ageDays * DAY,
    end: now - ageDays * DAY,
    bytes,
    complete: true,
  });

  it('--keep: exactly the age is kept, a millisecond more is deleted', () => {
    const exact = rec(7, 1);
    const older = { ...rec(7, 1, 'n-older'), end: now - 7 * DAY - 1 };
    const fresh = rec(1, 1);
    const doomed = planRetention([older, exact, fresh], { keepMs: 7 * DAY }, now);
    assert.deepEqual(doomed.map((r) => r.folder), ['n-older']);
  });

  it('--max-total: oldest first until the rest fits; the recording being written is never chosen', () => {
    const list = [rec(3, 100), rec(2, 200), rec(1, 300)];
    assert.deepEqual(planRetention(list, { maxTotalBytes: 600 }, now), []);
    assert.deepEqual(planRetention(list, { maxTotalBytes: 500 }, now).map((r) => r.bytes), [100]);
    assert.deepEqual(planRetention(list, { maxTotalBytes: 499 }, now).map((r) => r.bytes), [100, 200]);
    assert.deepEqual(planRetention(list, { maxTotalBytes: 1 }, now, list[2].folder).map((r) => r.bytes), [100, 200]);
    // Both rules: age first, then size among the rest.
    assert.deepEqual(planRetention(list, { keepMs: 2.5 * DAY, maxTotalBytes: 300 }, now).map((r) => r.bytes), [100, 200]);
  });

  it('folder stamps round-trip; listing reads manifest end times; applying deletes only the planned folders', () => {
    const stamp = folderStamp(new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678)));
    assert.equal(stamp, '20260102T030405Z');
    assert.equal(parseStamp(stamp), Date.UTC(2026, 0, 2, 3, 4, 5));
    assert.equal(parseStamp('20260102T030405Z-2'), Date.UTC(2026, 0, 2, 3, 4, 5));
    assert.equal(parseStamp('yesterday'), undefined);
    const dir = tmp();
    try {
      const make = (folder: string, end?: string, size = 10) => {
        mkdirSync(join(dir, folder));
        writeFileSync(join(dir, folder, 'data.pcap'), Buffer.alloc(size));
        const name = folder.split('-')[0];
        // Shark's own: a manifest of this name, or (still being written / killed) the INCOMPLETE marker.
        if (end) writeFileSync(join(dir, folder, MANIFEST), JSON.stringify({ version: 1, name, end }));
        else writeFileSync(join(dir, folder, INCOMPLETE), JSON.stringify({ pid: 1, name }));
      };
      make('n-20261101T000000Z', '2026-11-01T00:10:00Z');
      make('n-20261120T000000Z', '2026-11-20T00:10:00Z');
      make('n-20261122T000000Z'); // no manifest: aged by its name
      make('other-20201101T000000Z', '2020-11-01T00:10:00Z'); // another name: never touched
      mkdirSync(join(dir, 'n-notastamp'));
      mkdirSync(join(dir, 'n-20201101T000000Z')); // a look-alike holding neither file: not a recording
      const list = listRecordings(dir, 'n');
      assert.deepEqual(list.map((r) => [r.folder, r.complete]), [
        ['n-20261101T000000Z', true],
        ['n-20261120T000000Z', true],
        ['n-20261122T000000Z', false],
      ]);
      assert.equal(list[0].end, Date.parse('2026-11-01T00:10:00Z'));
      assert.ok(list[0].bytes >= 10);
      const doomed = planRetention(list, { keepMs: 7 * DAY }, Date.parse('2026-11-23T00:00:00Z'));
      assert.deepEqual(applyRetention(dir, doomed), ['n-20261101T000000Z']);
      assert.deepEqual(readdirSync(dir).sort(), ['n-20201101T000000Z', 'n-20261120T000000Z', 'n-20261122T000000Z', 'n-notastamp', 'other-20201101T000000Z']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('lock', () => {
  it('a live owner blocks (exit 5); a dead owner is taken over', () => {
    const dir = tmp();
    try {
      const first = acquireLock(dir, 'n');
      // The pid and its start time (/proc/PID/stat), so a reused pid is not mistaken for this run.
      assert.equal(readFileSync(lockPath(dir, 'n'), 'utf8').trim(), `${process.pid} ${processStart(process.pid)}`);
      assert.throws(
        () => acquireLock(dir, 'n', process.pid + 1_000_000),
        (err: unknown) => err instanceof UserError && err.exitCode === ExitCode.LOCKED && /another run \(pid \d+\) is recording 'n'/.test(err.message),
      );
      first.release();
      assert.equal(existsSync(lockPath(dir, 'n')), false);
      // pid 2^22+1 is above Linux's pid_max default range: not running.
      writeFileSync(lockPath(dir, 'n'), '4194305\n');
      const second = acquireLock(dir, 'n');
      assert.equal(second.staleFrom, 4194305);
      second.release();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('recovery', () => {
  it('cuts partial files back to whole records, checksums everything and writes the manifest', async () => {
    const dir = tmp();
    try {
      const folder = 'n-20261123T010000Z';
      const path = join(dir, folder);
      mkdirSync(path);
      const enc = pcapEncoding({ linkType: 1, snaplen: 65535, tsUnitsPerSec: 1e9 });
      const whole = Buffer.concat([enc.header(), ...[1, 2, 3].map((i) => enc.record(packet(1000 * i, 70, i)))]);
      writeFileSync(join(path, 'n-00001.pcap'), whole);
      const cut = Buffer.concat([enc.header(), enc.record(packet(5000, 70)), enc.record(packet(6000, 70)).subarray(0, 30)]);
      writeFileSync(join(path, 'n-00002.pcap.partial'), cut);
      writeFileSync(join(path, 'n-00003.pcap.partial'), enc.header().subarray(0, 10)); // nothing whole
      writeFileSync(join(path, 'n-entries-00001.ndjson.partial'), '{"id":"1"}\n{"id":"2"}\n{"id":');
      writeFileSync(join(path, INCOMPLETE), JSON.stringify({ pid: 4242, name: 'n', start: '2026-11-23T01:00:00.000Z', command: ['record'], source: { kind: 'live' } }));
      const report = await recoverFolder(path, folder, 'n', new Date('2026-11-23T02:00:00Z'));
      assert.deepEqual(report.salvaged, ['n-00002.pcap', 'n-entries-00001.ndjson']);
      assert.deepEqual(report.removed, ['n-00003.pcap.partial']);
      assert.equal(report.packets, 4);
      assert.equal(report.entries, 2);
      assert.deepEqual(readdirSync(path).sort(), ['manifest.json', 'n-00001.pcap', 'n-00002.pcap', 'n-entries-00001.ndjson']);
      assert.equal(tsharkCount(join(path, 'n-00002.pcap')), 1);
      const m = JSON.parse(readFileSync(join(path, MANIFEST), 'utf8')) as Manifest;
      assert.equal(m.status, 'recovered');
      assert.equal(m.start, '2026-11-23T01:00:00.000Z');
      assert.match(m.recovered!.note, /pid 4242/);
      const check = spawnSync('sha256sum', ['-c', '--strict'], {
        cwd: path,
        input: m.files.map((f) => `${f.sha256}  ${f.name}\n`).join(''),
        encoding: 'utf8',
      });
      assert.equal(check.status, 0, check.stdout + check.stderr);
      assert.equal(readFileSync(join(path, 'n-entries-00001.ndjson'), 'utf8'), '{"id":"1"}\n{"id":"2"}\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('salvages entry files read in pieces: a plain one whose cut line spans two read chunks, a gzip one inflating past one', async () => {
    // Recovery reads a file by the megabyte (backwards for a plain file, inflating as it goes for gzip), never whole.
    const dir = tmp();
    try {
      const folder = 'n-20261123T010000Z';
      const path = join(dir, folder);
      mkdirSync(path);
      const whole = Array.from({ length: 30_000 }, (_, i) => JSON.stringify({ id: `${i}`, pad: 'x'.repeat(100) }) + '\n').join('');
      writeFileSync(join(path, 'n-entries-00001.ndjson.partial'), whole + '{"id":"cut","pad":"' + 'y'.repeat(1_500_000));
      writeFileSync(join(path, 'n-entries-00002.ndjson.gz.partial'), gzipSync(whole + '{"id":"cut"').subarray(0, -4));
      writeFileSync(join(path, INCOMPLETE), '{}');
      const report = await recoverFolder(path, folder, 'n', new Date('2026-11-23T02:00:00Z'));
      assert.deepEqual(report.salvaged, ['n-entries-00001.ndjson', 'n-entries-00002.ndjson.gz']);
      assert.equal(report.entries, 60_000);
      assert.equal(readFileSync(join(path, 'n-entries-00001.ndjson'), 'utf8'), whole);
      assert.equal(gunzipSync(readFileSync(join(path, 'n-entries-00002.ndjson.gz'))).toString(), whole);
      assert.deepEqual(readdirSync(path).sort(), ['manifest.json', 'n-entries-00001.ndjson', 'n-entries-00002.ndjson.gz']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('salvages a cut gzip entry file: every whole line that inflates is kept, and the result is valid gzip', async () => {
    const dir = tmp();
    try {
      const folder = 'n-20261123T010000Z';
      const path = join(dir, folder);
      mkdirSync(path);
      const lines = (from: number, n: number) => Array.from({ length: n }, (_, i) => JSON.stringify({ id: `${from + i}` }) + '\n').join('');
      const third = gzipSync(lines(20, 200));
      // What the recorder writes: an empty member, then one member per flushed run of lines.
      const cut = Buffer.concat([gzipSync(Buffer.alloc(0)), gzipSync(lines(0, 10)), gzipSync(lines(10, 10)), third.subarray(0, third.length - 40)]);
      writeFileSync(join(path, 'n-entries-00001.ndjson.gz.partial'), cut);
      writeFileSync(join(path, INCOMPLETE), '{}');
      const report = await recoverFolder(path, folder, 'n', new Date('2026-11-23T02:00:00Z'));
      assert.deepEqual(report.salvaged, ['n-entries-00001.ndjson.gz']);
      const text = gunzipSync(readFileSync(join(path, 'n-entries-00001.ndjson.gz'))).toString();
      assert.ok(text.startsWith(lines(0, 20)));
      assert.ok(text.endsWith('\n'));
      const ids = text.split('\n').filter(Boolean).map((l) => Number(JSON.parse(l).id));
      assert.deepEqual(ids, Array.from({ length: ids.length }, (_, i) => i));
      assert.equal(report.entries, ids.length);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
