import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs, { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileBounded } from '../../src/input/bounded-file.js';

test('a file a flag names is read no further than its bound: /dev/zero and a FIFO too, whose size stat gives as 0', async () => {
  const dir = mkdtempSync(join(tmpdir(), 's4k-bounded-'));
  try {
    const small = join(dir, 'small.txt');
    writeFileSync(small, 'x'.repeat(100_000));
    assert.equal(readFileBounded(small, 100_000)?.length, 100_000);
    assert.equal(readFileBounded(small, 99_999), undefined);
    assert.equal(readFileBounded('/dev/zero', 1024 * 1024), undefined);
    const fifo = join(dir, 'keys.fifo');
    execFileSync('mkfifo', [fifo]);
    const writer = spawn('sh', ['-c', `printf 'CLIENT_RANDOM aa bb\\n' > ${fifo}`]);
    assert.equal(readFileBounded(fifo, 1024)?.toString(), 'CLIENT_RANDOM aa bb\n');
    await new Promise((resolve) => writer.on('close', resolve));
    assert.throws(() => readFileBounded(join(dir, 'missing'), 10), { code: 'ENOENT' });
    assert.throws(() => readFileBounded(dir, 10), { code: 'EISDIR' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a regular file larger than the bound is refused before a byte of it is read', () => {
  const dir = mkdtempSync(join(tmpdir(), 's4k-bounded-'));
  const reads = { n: 0 };
  const realRead = fs.readSync;
  try {
    const big = join(dir, 'big.keys');
    writeFileSync(big, 'CLIENT_RANDOM aa bb\n'.repeat(10_000));
    // Count the reads the module makes (its `readSync` import follows the builtin once synced).
    fs.readSync = ((...args: Parameters<typeof fs.readSync>) => {
      reads.n++;
      return realRead(...args);
    }) as typeof fs.readSync;
    syncBuiltinESMExports();
    assert.equal(readFileBounded(big, 1000), undefined);
    assert.equal(reads.n, 0);
    assert.equal(readFileBounded(big, 200_000)?.length, 200_000);
    assert.ok(reads.n > 0);
  } finally {
    fs.readSync = realRead;
    syncBuiltinESMExports();
    rmSync(dir, { recursive: true, force: true });
  }
});
