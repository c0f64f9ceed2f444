// `shark filter --workers N` of an NDJSON file filters its lines on the
// workers (src/input/parallel-ndjson.ts, filterNdjson): each block's kept
// lines and bad-line warnings come back and are written in the file's order.
// Everything must be what one thread gives: stdout byte for byte, every
// warning in order, the exit code, redaction. Needs `npm run build`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { execFileSync, spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, runShell } from '../helpers/cli.js';
import { cliBin } from '../helpers/paths.js';
import { writeDamagedEntries } from '../helpers/damaged-ndjson.js';

const SECRET = 'sk_live_PLANTED_7f3a9c';

/** `shark filter ARGS` running: its output so far, and its exit code (or a note that it was still running after `ms`, then killed). */
function startFilter(args: string[]) {
  const child = spawn(process.execPath, [cliBin, 'filter', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
  const exit = async (ms: number): Promise<number | null | string> => {
    const code = await Promise.race([closed, new Promise<string>((resolve) => setTimeout(() => resolve(`still running after ${ms} ms`), ms))]);
    if (typeof code === 'string') child.kill('SIGKILL');
    return code;
  };
  return { child, exit, stdout: () => stdout, stderr: () => stderr };
}

/** Another process writes `file`, then `tail`, into the FIFO and keeps it open (until killed). */
function fifoWriter(fifo: string, file: string, tail: string) {
  return spawn('sh', ['-c', 'exec 3>"$1"; cat "$2" >&3; printf "%s" "$3" >&3; exec sleep 60', 'sh', fifo, file, tail], { stdio: 'ignore' });
}

/** HTTP calls that match `response.status >= 400` and carry a secret in a header, a cookie and the query. */
function secretEntries(): string[] {
  return [0, 1, 2].map((i) =>
    JSON.stringify({
      id: `${900000 + i}-1`,
      timestamp: 1_700_000_000_000 + i,
      protocol: 'http',
      transport: 'tcp',
      src: { ip: '198.18.0.1', port: 40000 + i },
      dst: { ip: '198.18.0.2', port: 80 },
      request: { method: 'GET', path: '/pay', url: `/pay?api_key=${SECRET}`, headers: { authorization: `Bearer ${SECRET}`, cookie: `session=${SECRET}` }, query: { api_key: SECRET } },
      response: { status: 503, headers: {} },
      error: true,
      summary: 'GET /pay → 503',
    }),
  );
}

const FILTERS: string[][] = [
  ['http and response.status >= 400'],
  ['--count', 'http or dns'],
  ['--invert', 'http'],
  ['--first', '7', 'dns'],
  ['http && path.contains("/")'],
  ['--count', '--invert', 'kafka'],
  // KFL1's own redaction and limit.
  ['http and redact("request.path") and limit(40)'],
  // Nothing to project: every line is parsed (and every bad one reported).
  [''],
];

test('filter --workers 2 and 3 of a damaged NDJSON file: one thread\'s output, warnings and exit code, secrets redacted', { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'shark-filter-lines-'));
  try {
    const file = join(dir, 'entries.ndjson');
    await writeDamagedEntries(file, secretEntries());
    for (const f of FILTERS) {
      const one = await runCli(['filter', '--workers', '1', ...f, file], { timeoutMs: 60_000 });
      assert.equal(one.code, 0, `${f.join(' ')}: ${one.stderr}`);
      assert.ok(one.stdout.length > 0, `${f.join(' ')}: nothing to compare`);
      for (const workers of ['2', '3']) {
        const many = await runCli(['filter', '--workers', workers, ...f, file], { timeoutMs: 60_000 });
        assert.equal(many.code, one.code, many.stderr);
        assert.equal(many.stdout, one.stdout, `${f.join(' ')} --workers ${workers}: stdout`);
        assert.equal(many.stderr, one.stderr, `${f.join(' ')} --workers ${workers}: the warnings, in order`);
        assert.ok(!many.stdout.includes(SECRET), `${f.join(' ')}: a planted secret reached stdout`);
      }
    }
    // The planted calls are kept, redacted (so the check above is not vacuous).
    const kept = await runCli(['filter', '--workers', '2', 'response.status == 503 and request.path == "/pay"', file]);
    const keptLines = kept.stdout.trim().split('\n');
    assert.ok(keptLines.length >= 3, kept.stderr);
    assert.ok(keptLines.every((l) => l.includes('[REDACTED]')), keptLines[0]);
    // The lines are filtered on the workers: workers that cannot live fail the run (one line, exit 70).
    const dying = await runCli(['filter', '--workers', '2', 'http', file], { env: { SHARK_WORKER_HEAP_MB: '2' }, timeoutMs: 60_000 });
    assert.equal(dying.code, 70, dying.stderr);
    assert.match(dying.stderr.trim(), /^filter: worker \d failed: .*memory/);
    // --strict ends at the first bad line: one thread, as before (the dying workers are not started).
    const strict1 = await runCli(['filter', '--strict', '--workers', '1', 'http', file]);
    const strict2 = await runCli(['filter', '--strict', '--workers', '2', 'http', file], { env: { SHARK_WORKER_HEAP_MB: '2' } });
    assert.equal(strict1.code, 3, strict1.stderr);
    assert.deepEqual([strict2.code, strict2.stdout, strict2.stderr], [strict1.code, strict1.stdout, strict1.stderr]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('filter --workers 2 of an NDJSON file into `head -1`: ends at once, the first kept line printed', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'shark-filter-head-'));
  try {
    const file = join(dir, 'entries.ndjson');
    await writeDamagedEntries(file);
    // Many copies: far more than the pipe and the workers' rings hold, so an early end is visible.
    execFileSync('bash', ['-c', `for i in $(seq 20); do cat '${file}'; echo; done > '${file}.big'`]);
    const whole = await runCli(['filter', '--workers', '1', '--first', '1', 'http', `${file}.big`]);
    const all = await runCli(['filter', '--workers', '2', '--count', 'http', `${file}.big`]);
    const r = await runShell(`node '${cliBin}' filter --workers 2 http '${file}.big' 2>'${file}.err' | head -1; echo "status \${PIPESTATUS[0]}"; wc -l < '${file}.err'`);
    const [line, status, warned] = r.stdout.trim().split('\n');
    assert.equal(`${line}\n`, whole.stdout);
    assert.equal(status, 'status 0');
    // It stopped reading: the file's bad lines are told as it goes, and only the first copies' were.
    const allWarned = all.stderr.trim().split('\n').length;
    assert.ok(Number(warned) < allWarned / 4, `${warned} warnings of ${allWarned}: it read on after head -1 had its line`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Ctrl-C on filter --workers 2 reading an NDJSON file that is a FIFO left open: every whole line read is filtered, the cut one is not read', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'shark-filter-fifo-'));
  try {
    const source = join(dir, 'entries.ndjson');
    await writeDamagedEntries(source);
    const expected = await runCli(['filter', '--workers', '1', 'http or dns', source]);
    const fifo = join(dir, 'fifo.ndjson');
    execFileSync('mkfifo', [fifo]);
    const run = startFilter(['--workers', '2', 'http or dns', fifo]);
    // The whole file (its last line ended), then the start of one more, and the FIFO stays open:
    // written by another process, so the filter's own pace (its stdout read here) sets the writer's.
    const writer = fifoWriter(fifo, source, '\n{"protocol":"http","cut sh');
    // The stop comes once every whole line has been filtered (a busy machine may take longer than a
    // fixed wait for that), or after 30 s, when the assertions below say what was missing.
    const expectedErr = expected.stderr.replaceAll(source, fifo);
    for (let waited = 0; waited < 30_000 && (run.stdout() !== expected.stdout || run.stderr() !== expectedErr); waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    run.child.kill('SIGINT');
    const code = await run.exit(10_000);
    writer.kill('SIGKILL');
    assert.equal(code, 0, run.stderr());
    assert.equal(run.stdout(), expected.stdout, 'every kept line before the stop, in order');
    assert.equal(run.stderr(), expectedErr, 'the same warnings, none for the line the stop cut');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('filter --workers 2 --first 1 of a FIFO left open: exits once the first match is out, without waiting for the writer', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'shark-filter-first-'));
  try {
    const source = join(dir, 'entries.ndjson');
    await writeDamagedEntries(source);
    const expected = await runCli(['filter', '--workers', '1', '--first', '1', 'dns', source]);
    const fifo = join(dir, 'fifo.ndjson');
    execFileSync('mkfifo', [fifo]);
    const run = startFilter(['--workers', '2', '--first', '1', 'dns', fifo]);
    // Everything, and the FIFO stays open: the next read would wait for ever.
    const writer = fifoWriter(fifo, source, '');
    const code = await run.exit(20_000);
    writer.kill('SIGKILL');
    assert.equal(code, 0, run.stderr());
    assert.equal(run.stdout(), expected.stdout);
    assert.equal(run.stderr(), expected.stderr.replaceAll(source, fifo));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
