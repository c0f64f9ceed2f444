// Gzip-compressed inputs are read as tshark reads them: every command gives
// for `x.gz` what it gives for `x`, from a file, a pipe or stdin; a gzip file
// cut short or damaged gives the entries before the damage, then one line
// naming the file, exit 3.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { cliBin, repoRoot } from '../helpers/paths.js';

const capture = join(repoRoot, 'examples', 'bookinfo-mix.pcap');
let dir = '';
let gz = '';
/** `dissect FILE` of the plain capture: what several checks below compare with (run once). */
let plainEntries: Buffer = Buffer.alloc(0);

function shark(args: string[], input?: Buffer): { code: number | null; stdout: Buffer; stderr: string } {
  const r = spawnSync(process.execPath, [cliBin, ...args], { cwd: repoRoot, input, maxBuffer: 1 << 26 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'shark-gzip-'));
  gz = join(dir, 'bookinfo-mix.pcap.gz');
  writeFileSync(gz, gzipSync(readFileSync(capture)));
  const plain = shark(['dissect', capture]);
  assert.equal(plain.code, 0, plain.stderr);
  plainEntries = plain.stdout;
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('every command reads a .gz as the file itself', () => {
  const ndjson = join(dir, 'entries.ndjson');
  writeFileSync(ndjson, plainEntries);
  writeFileSync(`${ndjson}.gz`, gzipSync(readFileSync(ndjson)));
  const runs: [string[], string, string][] = [
    [['dissect', '--workers', '1'], capture, gz],
    [['dissect', '--workers', '2'], capture, gz],
    [['dissect', '--packets'], capture, gz],
    [['stats', '--format', 'json'], capture, gz],
    [['map', '--format', 'json'], capture, gz],
    [['filter', 'http'], capture, gz],
    [['merge', '-F', 'pcap', '-w', '-'], capture, gz],
    [['stats', '--format', 'json', '--workers', '2'], ndjson, `${ndjson}.gz`],
    [['filter', 'dns', '--workers', '2'], ndjson, `${ndjson}.gz`],
  ];
  for (const [args, plain, compressed] of runs) {
    const want = shark([...args, plain]);
    const got = shark([...args, compressed]);
    assert.equal(want.code, 0, `${args.join(' ')}: ${want.stderr}`);
    assert.ok(want.stdout.length > 0, args.join(' '));
    assert.equal(got.code, 0, `${args.join(' ')} of the .gz: ${got.stderr}`);
    assert.ok(got.stdout.equals(want.stdout), `${args.join(' ')}: the .gz gives ${got.stdout.length} bytes, the file ${want.stdout.length}`);
  }
  // From stdin, and through a pipe (process substitution is a pipe too).
  assert.ok(shark(['dissect', '-'], readFileSync(gz)).stdout.equals(plainEntries));
  const piped = execFileSync('bash', ['-c', `node ${cliBin} dissect <(cat ${gz})`], { cwd: repoRoot, maxBuffer: 1 << 26 });
  assert.ok(piped.equals(plainEntries));
});

test('a .gz cut short: the entries before the cut, then one line naming the file, exit 3', () => {
  const whole = readFileSync(gz);
  const cut = join(dir, 'cut.pcap.gz');
  writeFileSync(cut, whole.subarray(0, Math.floor(whole.length / 2)));
  const all = plainEntries.toString().trim().split('\n');
  for (const args of [['dissect', '--workers', '1'], ['dissect', '--workers', '2']]) {
    const r = shark([...args, cut]);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /^dissect: .*cut\.pcap\.gz: damaged gzip data \(unexpected end of file\)\n$/);
    const lines = r.stdout.toString().trim().split('\n');
    assert.ok(lines.length > 10 && lines.length < all.length, `${lines.length} of ${all.length} entries`);
  }
  const merged = shark(['merge', '-F', 'pcap', '-w', '-', cut]);
  assert.equal(merged.code, 3, merged.stderr);
  assert.ok(merged.stdout.length > 24, 'the packets before the cut are merged');
});

test('a .gz whose data is damaged, or that holds neither a capture nor entries: one line, exit 3', () => {
  const whole = Buffer.from(readFileSync(gz));
  whole[whole.length - 6] ^= 0xff; // the CRC-32 of the data
  const crc = join(dir, 'crc.pcap.gz');
  writeFileSync(crc, whole);
  const r = shark(['dissect', crc]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /crc\.pcap\.gz: damaged gzip data \(incorrect data check\)/);
  const garbage = join(dir, 'garbage.gz');
  writeFileSync(garbage, gzipSync(Buffer.from('hello, not a capture\u0000\u0001'.repeat(10))));
  for (const cmd of ['dissect', 'stats', 'map', 'filter']) {
    const g = shark(cmd === 'filter' ? [cmd, 'http', garbage] : [cmd, garbage]);
    assert.equal(g.code, 3, `${cmd}: ${g.stderr}`);
    assert.match(g.stderr, /garbage\.gz: not a pcap\/pcapng capture or NDJSON entries/, cmd);
    assert.equal(g.stderr.trim().split('\n').length, 1, cmd);
  }
});
