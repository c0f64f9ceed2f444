// An entry file that opens with a UTF-8 byte order mark (PowerShell 5's
// Out-File, Notepad) is read as the same file without it, by every command
// that reads entries, from a file or stdin, plain or gzip-compressed.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { cliBin, repoRoot } from '../helpers/paths.js';

let dir = '';
let plain = '';
let bom = '';

function shark(args: string[], input?: Buffer): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cliBin, ...args], { cwd: repoRoot, input, maxBuffer: 1 << 26 });
  return { code: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'shark-bom-'));
  plain = join(dir, 'entries.ndjson');
  bom = join(dir, 'bom.ndjson');
  const entries = shark(['dissect', join(repoRoot, 'examples', 'bookinfo-mix.pcap')]).stdout;
  writeFileSync(plain, entries);
  writeFileSync(bom, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(entries)]));
  writeFileSync(`${bom}.gz`, gzipSync(readFileSync(bom)));
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('a byte order mark before the first entry is ignored by every command', () => {
  const wants = new Map<string, string>();
  for (const args of [['filter', 'true'], ['stats', '--format', 'json'], ['map', '--format', 'json'], ['merge'], ['catalog', '--format', 'json'], ['export', '--har']]) {
    const want = shark([...args, plain]);
    wants.set(args.join(' '), want.stdout);
    assert.equal(want.code, 0, `${args.join(' ')}: ${want.stderr}`);
    for (const input of [bom, `${bom}.gz`]) {
      const got = shark([...args, input]);
      assert.equal(got.code, 0, `${args.join(' ')} ${input}: ${got.stderr}`);
      assert.equal(got.stderr, want.stderr, `${args.join(' ')} ${input}`);
      assert.equal(got.stdout, want.stdout, `${args.join(' ')} ${input}`);
    }
  }
  const piped = shark(['filter', 'true'], readFileSync(bom));
  assert.equal(piped.stdout, wants.get('filter true'));
});
