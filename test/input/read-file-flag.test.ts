// `-r FILE` as tshark and tcpdump take it: the same as naming the file, before
// any files named as arguments; a missing one is the usual usage error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { cliBin, repoRoot } from '../helpers/paths.js';

const capture = join(repoRoot, 'examples', 'bookinfo-mix.pcap');
const other = join(repoRoot, 'examples', 'node-b.pcap');

function shark(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cliBin, ...args], { cwd: repoRoot, maxBuffer: 1 << 26 });
  return { code: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

test('-r FILE gives what naming the file gives, for every command that reads captures', () => {
  const runs: [string[], string[]][] = [
    [['dissect', capture], ['dissect', '-r', capture]],
    [['dissect', capture, other], ['dissect', '-r', capture, other]],
    [['stats', '--format', 'json', capture], ['stats', '--format', 'json', '-r', capture]],
    [['map', '--format', 'json', capture], ['map', '-r', capture, '--format', 'json']],
    [['filter', 'http', capture], ['filter', '-r', capture, 'http']],
    [['filter', 'http', capture], ['filter', 'http', '--read-file', capture]],
    [['catalog', '--format', 'json', capture], ['catalog', '--format', 'json', '-r', capture]],
    [['export', '--har', capture], ['export', '--har', '-r', capture]],
  ];
  // The same named run twice (-r and --read-file against it) is run once.
  const wants = new Map<string, ReturnType<typeof shark>>();
  for (const [named, flagged] of runs) {
    const want = wants.get(named.join('\0')) ?? shark(named);
    wants.set(named.join('\0'), want);
    const got = shark(flagged);
    assert.equal(want.code, 0, `${named.join(' ')}: ${want.stderr}`);
    assert.ok(want.stdout.length > 0, named.join(' '));
    assert.equal(got.code, 0, `${flagged.join(' ')}: ${got.stderr}`);
    assert.equal(got.stdout, want.stdout, flagged.join(' '));
  }
});

test('-r with a missing file is the usual usage error', () => {
  const r = shark(['dissect', '-r', 'no-such.pcap']);
  assert.equal(r.code, 2);
  assert.equal(r.stderr, 'dissect: no-such.pcap: no such file\n');
});
