// Captures and entry files compressed with zstd, xz, bzip2 or lz4 are read as
// the file itself, through the format's own command (src/input/compressed.ts);
// cut short: the entries before the cut, one line naming the file, exit 3;
// without the command: one line naming its package, exit 3; a reader that
// stops early (`| head -1`) leaves no decompressor running.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliBin, repoRoot } from '../helpers/paths.js';

const capture = join(repoRoot, 'examples', 'bookinfo-mix.pcap');
const FORMATS = [
  { ext: 'zst', command: ['zstd', '-q', '-c'], name: 'zstd' },
  { ext: 'xz', command: ['xz', '-c'], name: 'xz' },
  { ext: 'bz2', command: ['bzip2', '-c'], name: 'bzip2' },
  { ext: 'lz4', command: ['lz4', '-q', '-c'], name: 'lz4' },
];
let dir = '';

function shark(args: string[], opts: { input?: Buffer; env?: NodeJS.ProcessEnv } = {}): { code: number | null; stdout: Buffer; stderr: string } {
  const r = spawnSync(process.execPath, [cliBin, ...args], { cwd: repoRoot, input: opts.input, env: opts.env, maxBuffer: 1 << 26 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

function compress(command: string[], path: string, out: string): void {
  writeFileSync(out, execFileSync(command[0], [...command.slice(1), path], { maxBuffer: 1 << 26 }));
}

/** The decompressors running now (a leftover one would still be in this list). */
function decompressors(): string[] {
  const ps = execFileSync('ps', ['-eo', 'args='], { encoding: 'utf8' });
  return ps.split('\n').filter((l) => /^(zstd|xz|bzip2|lz4) -dc/.test(l.trim()));
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'shark-compressed-'));
  const ndjson = join(dir, 'entries.ndjson');
  writeFileSync(ndjson, shark(['dissect', capture]).stdout);
  for (const f of FORMATS) {
    compress(f.command, capture, join(dir, `capture.pcap.${f.ext}`));
    compress(f.command, ndjson, join(dir, `entries.ndjson.${f.ext}`));
  }
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('zstd, xz, bzip2 and lz4 files read as the file itself: dissect (1 and 2 workers), stdin, filter, stats, merge', () => {
  const ndjson = join(dir, 'entries.ndjson');
  // Every command once per format (the decompressor is the input's, whatever reads it next); dissect
  // with one worker on half the formats and two on the others, each against the plain file with one.
  const runs: [string[], string, (ext: string) => string, (ext: string) => string[]][] = [
    [['dissect', '--workers', '1'], capture, (ext) => join(dir, `capture.pcap.${ext}`), (ext) => ['dissect', '--workers', ext === 'xz' || ext === 'lz4' ? '2' : '1']],
    [['merge', '-F', 'pcap', '-w', '-'], capture, (ext) => join(dir, `capture.pcap.${ext}`), () => ['merge', '-F', 'pcap', '-w', '-']],
    [['filter', 'dns'], ndjson, (ext) => join(dir, `entries.ndjson.${ext}`), () => ['filter', 'dns']],
    [['stats', '--format', 'json', '--workers', '2'], ndjson, (ext) => join(dir, `entries.ndjson.${ext}`), () => ['stats', '--format', 'json', '--workers', '2']],
  ];
  const workers = new Set<string>();
  for (const [args, plain, compressedAs, argsFor] of runs) {
    const want = shark([...args, plain]);
    assert.equal(want.code, 0, `${args.join(' ')}: ${want.stderr}`);
    assert.ok(want.stdout.length > 0, args.join(' '));
    for (const f of FORMATS) {
      const gotArgs = argsFor(f.ext);
      if (gotArgs[0] === 'dissect') workers.add(gotArgs[2]);
      const got = shark([...gotArgs, compressedAs(f.ext)]);
      assert.equal(got.code, 0, `${gotArgs.join(' ')} ${f.ext}: ${got.stderr}`);
      assert.equal(got.stderr, want.stderr, `${gotArgs.join(' ')} ${f.ext}`);
      assert.ok(got.stdout.equals(want.stdout), `${gotArgs.join(' ')}: the .${f.ext} gives ${got.stdout.length} bytes, the file ${want.stdout.length}`);
    }
  }
  assert.deepEqual([...workers].sort(), ['1', '2'], 'dissect read compressed files with one worker and with two');
  // The file's own entries were written by before() (`dissect FILE`, the same run).
  const fromStdin = shark(['dissect', '-'], { input: readFileSync(join(dir, 'capture.pcap.zst')) });
  assert.ok(fromStdin.stdout.equals(readFileSync(ndjson)), 'zstd from stdin');
});

test('cut short: the entries before the cut, then one line naming the file and what the command said, exit 3', () => {
  const all = readFileSync(join(dir, 'entries.ndjson'), 'utf8').trim().split('\n');
  // xz streams out what it has decoded: the entries before the cut must come out.
  const xz = join(dir, 'cut.pcap.xz');
  const whole = execFileSync('xz', ['-c', '-0', capture]);
  writeFileSync(xz, whole.subarray(0, Math.floor(whole.length * 0.6)));
  for (const workers of ['1', '2']) {
    const r = shark(['dissect', '--workers', workers, xz]);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /^dissect: .*cut\.pcap\.xz: cannot decompress the xz data \(xz: Unexpected end of input\)\n$/);
    const lines = r.stdout.toString().trim().split('\n');
    assert.ok(lines.length > 10 && lines.length < all.length, `${lines.length} of ${all.length} entries`);
    // All but the calls the cut left open are the whole file's, byte for byte.
    const whole = new Set(all);
    assert.ok(lines.filter((l) => whole.has(l)).length >= lines.length - 5, `${lines.filter((l) => !whole.has(l)).length} entries differ`);
  }
  for (const f of FORMATS) {
    const path = join(dir, `capture.pcap.${f.ext}`);
    const cut = join(dir, `cut-${f.ext}.pcap.${f.ext}`);
    writeFileSync(cut, readFileSync(path).subarray(0, Math.floor(statSync(path).size / 2)));
    const r = shark(['dissect', cut]);
    assert.equal(r.code, 3, `${f.ext}: ${r.stderr}`);
    assert.equal(r.stderr.split('\n').length, 2, r.stderr);
    assert.ok(r.stderr.startsWith(`dissect: ${cut}: cannot decompress the ${f.name} data (${f.name}: `), r.stderr);
  }
});

test('a file whose header asks for a larger window than the bound: refused in one line, exit 3', () => {
  // zstd from a pipe does not know the size, so it writes the 1 GB window asked for into the frame header.
  const wide = join(dir, 'wide.pcap.zst');
  writeFileSync(wide, execFileSync('bash', ['-c', `zstd -q --long=30 -c < ${capture}`], { maxBuffer: 1 << 26 }));
  const r = shark(['dissect', wide]);
  assert.equal(r.code, 3, r.stderr);
  assert.equal(r.stdout.length, 0);
  assert.equal(r.stderr, `dissect: ${wide}: cannot decompress the zstd data (zstd: Decoding error (36) : Frame requires too much memory for decoding)\n`);
});

test('without the command on PATH: one line that names it and its package, exit 3, nothing on stdout', () => {
  const empty = join(dir, 'empty-bin');
  mkdirSync(empty, { recursive: true });
  const packages: Record<string, string> = { zst: 'zstd', xz: 'xz-utils', bz2: 'bzip2', lz4: 'lz4' };
  for (const f of FORMATS) {
    const path = join(dir, `capture.pcap.${f.ext}`);
    const r = shark(['dissect', path], { env: { PATH: empty } });
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout.length, 0);
    assert.equal(r.stderr, `dissect: ${path}: ${f.name}-compressed: reading it needs the \`${f.name}\` command (Debian package ${packages[f.ext]}), which is not on PATH; or decompress it first\n`);
  }
});

test('a reader that stops early (| head -1) ends the run at once and leaves no decompressor behind', () => {
  const before = decompressors().length;
  // Large enough that the decompressor is still writing when head exits.
  const many = join(dir, 'many.pcap');
  const one = readFileSync(capture);
  const records = one.subarray(24);
  writeFileSync(many, Buffer.concat([one.subarray(0, 24), ...Array.from({ length: 200 }, () => records)]));
  const zst = join(dir, 'many.pcap.zst');
  compress(['zstd', '-q', '-c'], many, zst);
  const out = execFileSync('bash', ['-c', `set -o pipefail; node ${cliBin} dissect ${zst} | head -1; echo "rc=\${PIPESTATUS[0]}"`], { cwd: repoRoot, encoding: 'utf8', timeout: 30_000 });
  const [first, rc] = out.trim().split('\n');
  assert.equal(JSON.parse(first).id, JSON.parse(readFileSync(join(dir, 'entries.ndjson'), 'utf8').split('\n')[0]).id);
  assert.equal(rc, 'rc=0');
  assert.equal(decompressors().length, before);
});
