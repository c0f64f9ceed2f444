// `shark record` around other people's files and processes: retention deletes
// only shark's own recordings (a manifest or an in-progress marker of that
// name), a lock left by a dead run whose pid now belongs to another process is
// recognised as stale (pid + start time), a live run's lock still gives exit 5,
// and paths or sizes it cannot use are one clear line with the documented code.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliBin } from '../helpers/paths.js';
import { Wire, httpRequest, httpResponse } from '../helpers/engine-wire.js';
import { lockPath, processStart } from '../../src/record/lock.js';

let dir: string;
let capture: Buffer;
const env = { ...process.env, HOME: tmpdir(), KUBECONFIG: '' };

function record(args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [cliBin, 'record', ...args], { encoding: 'utf8', env, input: capture, timeout: 60_000 });
  return { status: r.status, stderr: r.stderr };
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'shark-record-safety-'));
  const w = new Wire();
  for (let i = 0; i < 5; i++) {
    w.send(1_700_000_000_000 + i * 10, 1, 40000, 80, httpRequest(`/r/${i}`));
    w.send(1_700_000_000_000 + i * 10 + 2, 2, 80, 40000, httpResponse);
  }
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(65535, 16);
  header.writeUInt32LE(101, 20);
  const records = w.packets.map((p) => {
    const r = Buffer.alloc(16 + p.data.length);
    r.writeUInt32LE(p.tsSec, 0);
    r.writeUInt32LE(p.tsNsec / 1000, 4);
    r.writeUInt32LE(p.data.length, 8);
    r.writeUInt32LE(p.data.length, 12);
    p.data.copy(r, 16);
    return r;
  });
  capture = Buffer.concat([header, ...records]);
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('--keep deletes only shark recordings of that name: a look-alike folder without a manifest or marker stays', () => {
  const out = join(dir, 'keep');
  mkdirSync(out);
  // A real recording made "long ago", and user folders that only look like recordings.
  assert.equal(record(['--name', 'nightly', '--out', out, '--now', '2025-01-02T00:00:00Z', '--quiet']).status, 0);
  const old = readdirSync(out).filter((f) => f.startsWith('nightly-'));
  assert.equal(old.length, 1);
  const mine = join(out, 'nightly-20250101T000000Z');
  mkdirSync(mine);
  writeFileSync(join(mine, 'notes.txt'), 'my notes\n');
  const fake = join(out, 'nightly-20250101T000001Z');
  mkdirSync(fake);
  writeFileSync(join(fake, 'manifest.json'), '{"name":"someone-else","version":1}\n');
  const trashLike = join(out, '.deleting-mine');
  mkdirSync(trashLike);
  writeFileSync(join(trashLike, 'keep.txt'), 'x\n');
  const r = record(['--name', 'nightly', '--out', out, '--keep', '1d']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`removed old recording ${old[0]} \\(retention\\)`));
  assert.ok(!existsSync(join(out, old[0])), 'the old shark recording is deleted');
  assert.ok(existsSync(join(mine, 'notes.txt')), "the user's folder is kept");
  assert.ok(existsSync(join(fake, 'manifest.json')), 'a manifest of another name is not ours');
  assert.ok(existsSync(join(trashLike, 'keep.txt')), 'a dot-folder that is not our trash is kept');
});

test('a lock whose pid now belongs to another process is stale; a live run of the same name still gives exit 5', async () => {
  const out = join(dir, 'lock');
  mkdirSync(out);
  // A process that is alive, but is not the run that wrote the lock (it started at another time).
  const other = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 100));
    const start = processStart(other.pid!);
    assert.ok(start !== undefined, '/proc is readable');
    writeFileSync(lockPath(out, 'n'), `${other.pid} ${start! - 1000}\n`);
    const reused = record(['--name', 'n', '--out', out]);
    assert.equal(reused.status, 0, reused.stderr);
    assert.match(reused.stderr, new RegExp(`took over the lock of a run that is gone \\(pid ${other.pid}\\)`));
    // The same pid with its real start time is a live owner.
    writeFileSync(lockPath(out, 'n'), `${other.pid} ${start}\n`);
    const live = record(['--name', 'n', '--out', out]);
    assert.equal(live.status, 5, live.stderr);
    assert.match(live.stderr, new RegExp(`another run \\(pid ${other.pid}\\) is recording 'n'`));
  } finally {
    other.kill();
  }
});

test('paths and sizes record cannot use: one line, documented code, never exit 70', (t) => {
  const long = record(['--name', 'x'.repeat(300), '--out', join(dir, 'long')]);
  assert.equal(long.status, 2, long.stderr);
  assert.equal(long.stderr, 'record: --name: at most 200 characters (got 300)\n');
  const notDir = record(['--name', 'n', '--out', '/dev/null']);
  assert.equal(notDir.status, 6, notDir.stderr);
  assert.equal(notDir.stderr, 'record: /dev/null: cannot create the output folder (exists and is not a folder)\n');
  const zero = record(['--name', 'n', '--out', join(dir, 'zero'), '--rotate-size', '0']);
  assert.equal(zero.status, 2, zero.stderr);
  assert.equal(zero.stderr, 'record: --rotate-size: must be more than 0\n');
  const mnt = join(dir, 'ro');
  mkdirSync(mnt);
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', mnt], { encoding: 'utf8' });
  if (mount.status !== 0) return t.skip(`cannot mount a read-only tmpfs: ${mount.stderr}`);
  try {
    const ro = record(['--name', 'n', '--out', mnt]);
    assert.equal(ro.status, 6, ro.stderr);
    assert.equal(ro.stderr, `record: ${lockPath(mnt, 'n')}: cannot create the lock file (read-only file system)\n`);
  } finally {
    spawnSync('umount', [mnt]);
  }
});

test('an entry stream with a line of the wrong shape: the line is reported even with --quiet, the rest recorded', () => {
  const out = join(dir, 'entries');
  const good = '{"id":"1-0","timestamp":1700000000000,"protocol":"http"}';
  const r = spawnSync(process.execPath, [cliBin, 'record', '--name', 'e', '--out', out, '--quiet'], {
    encoding: 'utf8',
    env,
    input: `${good}\n{"protocol":"http","src":{"ip":5}}\n`,
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, 'record: <stdin>: line 2: field src.ip is a number, expected a string; skipped\n');
});
