// `--workers N` on the commands that dissect captures on the fly (filter,
// stats, map): the entries they see come from the worker pool
// (src/input/parallel-entries.ts), and must be the ones one thread gives, so
// each command's output is byte-identical with --workers 1 and 2. Real
// captures from the shared corpus (TLS with its key log, HTTP, DNS, a mix).
// Needs `npm run build` (workers run the built JavaScript).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { sharedCaptures } from '../helpers/paths.js';
import { writeDamagedEntries } from '../helpers/damaged-ndjson.js';
import { dissectedOnce, runCliOnce } from '../helpers/dissected.js';
import { idle } from '../helpers/process-state.js';

const CAPTURES = ['lab-bookinfo-mix.pcap', 'zeek-http-methods.pcap', 'hotplace-tls13-aes128gcm-http2.pcapng', 'tcpdump-dns_udp.pcap'];

function keyFlags(name: string): string[] {
  const keys = join(sharedCaptures, name.replace(/\.pcap(ng)?$/, '.keys'));
  return existsSync(keys) ? ['--tls-keylog', keys] : [];
}

const COMMANDS: { what: string; args: string[] }[] = [
  { what: 'stats --format json', args: ['stats', '--format', 'json'] },
  { what: 'stats --by endpoint', args: ['stats', '--format', 'json', '--by', 'endpoint'] },
  { what: 'filter', args: ['filter', 'http or dns or http2 or grpc'] },
  { what: 'map --format json', args: ['map', '--format', 'json'] },
];

for (const name of CAPTURES) {
  const path = join(sharedCaptures, name);
  test(`filter/stats/map: --workers 2 gives one thread's output on ${name}`, { skip: !existsSync(path) && 'shared capture missing' }, async () => {
    for (const c of COMMANDS) {
      // Run once per process: the test of capture against NDJSON below compares the same runs.
      const one = await runCliOnce([...c.args, '--workers', '1', ...keyFlags(name), path]);
      const two = await runCliOnce([...c.args, '--workers', '2', ...keyFlags(name), path]);
      assert.equal(one.code, 0, `${c.what} ${name}: ${one.stderr}`);
      assert.equal(two.code, one.code, `${c.what} ${name} --workers 2: ${two.stderr}`);
      assert.ok(one.stdout.length > 0, `${c.what} ${name}: no output to compare`);
      assert.equal(two.stdout, one.stdout, `${c.what} ${name}: --workers 2 differs`);
    }
  });
}

test('filter --workers 2 --first stops the pool and exits', async () => {
  const r = await runCli(['filter', 'http', '--workers', '2', '--first', '2', join(sharedCaptures, 'lab-bookinfo-mix.pcap')], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim().split('\n').length, 2);
});

test('stats/map/filter: --workers lots is a usage error naming the flag', async () => {
  for (const args of [['stats'], ['map'], ['filter', 'http']]) {
    const bad = await runCli([...args, '--workers', 'lots', join(sharedCaptures, 'tcpdump-dns_udp.pcap')]);
    assert.equal(bad.code, 2, `${args[0]}: ${bad.stderr}`);
    assert.match(bad.stderr, /--workers: 'lots' is not auto or a number/);
  }
});

// catalog, export and diff read captures through the same pool (src/catalog/read.ts → consumeEntries).
for (const name of ['lab-bookinfo-mix.pcap', 'hotplace-tls13-aes128gcm-http2.pcapng']) {
  const path = join(sharedCaptures, name);
  test(`catalog/export/diff: --workers 2 gives one thread's output on ${name}`, { skip: !existsSync(path) && 'shared capture missing' }, async () => {
    for (const args of [['catalog', '--format', 'json'], ['export', '--har'], ['diff', path]]) {
      const one = await runCli([...args, '--workers', '1', ...keyFlags(name), path], { timeoutMs: 60_000 });
      const two = await runCli([...args, '--workers', '2', ...keyFlags(name), path], { timeoutMs: 60_000 });
      assert.equal(one.code, 0, `${args[0]} ${name}: ${one.stderr}`);
      assert.ok(one.stdout.length > 0, `${args.join(' ')} ${name}: no output to compare`);
      assert.equal(two.code, one.code, `${args[0]} ${name} --workers 2: ${two.stderr}`);
      assert.equal(two.stdout, one.stdout, `${args.join(' ')} ${name}: --workers 2 differs`);
    }
  });
}

// A consumer projects a capture's entries as they are emitted (src/input/dissect-stream.ts):
// it must see what it sees of the same entries as NDJSON, `dissect X | stats` (issue 16).
test('stats/map of a capture equal stats/map of its dissected NDJSON, one thread and two', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'shark-project-'));
  try {
    for (const name of ['lab-bookinfo-mix.pcap', 'zeek-http-methods.pcap']) {
      const path = join(sharedCaptures, name);
      if (!existsSync(path)) continue;
      const ndjson = join(dir, `${name}.ndjson`);
      writeFileSync(ndjson, await dissectedOnce(path));
      for (const args of [['stats', '--format', 'json', '--by', 'endpoint'], ['stats', '--format', 'json', '--by', 'service'], ['map', '--format', 'json']]) {
        const fromLines = await runCli([...args, ndjson], { timeoutMs: 60_000 });
        assert.equal(fromLines.code, 0, fromLines.stderr);
        for (const workers of ['1', '2']) {
          // The same runs as the --workers 2 test above (run once per process).
          const fromCapture = await runCliOnce([...args, '--workers', workers, path]);
          assert.equal(fromCapture.code, 0, fromCapture.stderr);
          assert.equal(fromCapture.stdout, fromLines.stdout, `${args.join(' ')} --workers ${workers} ${name}`);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// `stats --workers N` of an NDJSON entry file reads its lines on the workers
// (src/input/parallel-ndjson.ts): each builds a table of its share, the tables
// merge, and bad lines are told in the file's order. Everything must be as one
// thread gives it: the table, every warning, the exit code.
test('stats --workers 2 and 3 of an NDJSON file: the lines are read on the workers, with one thread\'s table and warnings', { timeout: 180_000 }, async () => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'shark-lines-'));
  try {
    const file = join(dir, 'entries.ndjson');
    await writeDamagedEntries(file);
    for (const by of ['service', 'endpoint']) {
      const one = await runCli(['stats', '--format', 'json', '--by', by, '--workers', '1', file], { timeoutMs: 60_000 });
      assert.equal(one.code, 0, one.stderr);
      const warnings = one.stderr.trim().split('\n');
      // Every line said is a bad line skipped, but for the long values some damaged lines group by (rows are named by their start).
      assert.ok(warnings.length > 20 && warnings.every((w) => /: line \d+: .*; skipped$/.test(w) || /entries grouped by a value longer than 1024 characters/.test(w)), one.stderr.slice(0, 500));
      for (const workers of ['2', '3']) {
        const many = await runCli(['stats', '--format', 'json', '--by', by, '--workers', workers, file], { timeoutMs: 60_000 });
        assert.equal(many.code, one.code, many.stderr);
        assert.equal(many.stdout, one.stdout, `--by ${by} --workers ${workers}: the table`);
        assert.equal(many.stderr, one.stderr, `--by ${by} --workers ${workers}: the warnings, in order`);
      }
    }
    // The lines are read on the workers: workers that cannot live fail the run (one line, exit 70), where one thread would not.
    const dying = await runCli(['stats', '--workers', '2', file], { env: { SHARK_WORKER_HEAP_MB: '2' }, timeoutMs: 60_000 });
    assert.equal(dying.code, 70, dying.stderr);
    assert.match(dying.stderr.trim(), /^stats: worker \d failed: .*memory/);
    // --strict stops at the first bad line: read on one thread, as before.
    const strict1 = await runCli(['stats', '--strict', '--workers', '1', file]);
    const strict2 = await runCli(['stats', '--strict', '--workers', '2', file], { env: { SHARK_WORKER_HEAP_MB: '2' } });
    assert.equal(strict1.code, 3, strict1.stderr);
    assert.deepEqual([strict2.code, strict2.stdout, strict2.stderr], [strict1.code, strict1.stdout, strict1.stderr]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Ctrl-C on stats --workers 2 reading an NDJSON file that is a FIFO left open: the workers\' tables are printed, the cut line is not read', { timeout: 60_000 }, async () => {
  const { mkdtempSync, rmSync, openSync, writeSync, closeSync } = await import('node:fs');
  const { execFileSync, spawn } = await import('node:child_process');
  const { tmpdir } = await import('node:os');
  const { cliBin } = await import('../helpers/paths.js');
  const dir = mkdtempSync(join(tmpdir(), 'shark-fifo-'));
  try {
    const dissected = { stdout: await dissectedOnce(join(sharedCaptures, 'lab-bookinfo-mix.pcap')) };
    const lines = dissected.stdout.trim().split('\n');
    const fifo = join(dir, 'entries.ndjson');
    execFileSync('mkfifo', [fifo]);
    const child = spawn(process.execPath, [cliBin, 'stats', '--format', 'json', '--workers', '2', fifo], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    // Every line, then the start of one more, and the FIFO stays open: the read after it waits.
    const fd = openSync(fifo, 'w');
    writeSync(fd, `${lines.join('\n')}\n{"id":"cut sh`);
    // stats prints only at the end: every line is handled once the run waits, idle, on the silent
    // read (every thread asleep, no CPU used; however busy the machine, instead of a fixed 5 s).
    await idle(child.pid!);
    child.kill('SIGINT');
    // The stop, not the pipe's end, ends the run: the table comes with the FIFO still open (up to 1 s, as before).
    for (let waited = 0; waited < 1000 && stdout === '' && child.exitCode === null; waited += 50) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // The writer goes away (a pipe's reader finishes once it does, on one thread as on the workers).
    closeSync(fd);
    const code = await closed;
    assert.equal(code, 0, stderr);
    assert.equal(stderr, '', 'no warning: the line a stop cut is not a line of the file');
    const whole = JSON.parse((await runCli(['stats', '--format', 'json', '--workers', '1'], { input: dissected.stdout })).stdout);
    assert.equal(JSON.parse(stdout).total.entries, whole.total.entries, 'every whole line read before the stop is in the table');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
