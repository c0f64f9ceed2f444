// `shark filter` as users run it: files and stdin, bad lines, exit codes,
// `| head -1`, count/invert/first, JSONata, huge lines.

import { createRedactor } from '../../src/redact/entry.js';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliBin, repoRoot } from '../helpers/paths.js';

const FIXTURE = join(repoRoot, 'test', 'filter', 'fixtures', 'entries.ndjson');
const fixtureLines = readFileSync(FIXTURE, 'utf8').split('\n').filter(Boolean);
let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'shark-filter-cli-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function shark(args: string[], input?: string) {
  return spawnSync(process.execPath, [cliBin, 'filter', ...args], { encoding: 'utf8', input, timeout: 60_000 });
}

test('matching entries come out unchanged (byte for byte) when nothing needs redacting', () => {
  const r = shark(['dns', FIXTURE]);
  assert.equal(r.status, 0, r.stderr);
  const want = fixtureLines.filter((l) => JSON.parse(l).protocol === 'dns');
  assert.deepEqual(r.stdout.split('\n').filter(Boolean), want);
});

test('stdin, --count, --invert, --first, limit()', () => {
  const all = fixtureLines.length;
  const http = fixtureLines.filter((l) => JSON.parse(l).protocol === 'http').length;
  assert.equal(shark(['--count', 'http'], readFileSync(FIXTURE, 'utf8')).stdout, `${http}\n`);
  assert.equal(shark(['--count', '-v', 'http', FIXTURE]).stdout, `${all - http}\n`);
  assert.equal(shark(['--first', '3', 'http', FIXTURE]).stdout.split('\n').filter(Boolean).length, 3);
  assert.equal(shark(['--count', 'http and limit(4)', FIXTURE]).stdout, '4\n');
  assert.equal(shark(['--count', '', FIXTURE, FIXTURE]).stdout, `${2 * all}\n`);
  assert.equal(shark(['--count', '--dialect', 'kfl2', 'http && status_code >= 500', FIXTURE]).stdout, shark(['--count', 'http and response.status >= 500', FIXTURE]).stdout);
});

test('a bad line is reported with its number and skipped; --strict makes it exit 3', () => {
  const file = join(dir, 'bad.ndjson');
  writeFileSync(file, [fixtureLines[0], '{"protocol": "http", broken', fixtureLines[1], '[1,2]', '{"id":"9","protocol":"dns","request":{"questions":[', ''].join('\n'));
  const r = shark(['--count', '', file]);
  assert.equal(r.status, 0);
  assert.equal(r.stdout, '2\n');
  assert.match(r.stderr, /^filter: .*bad\.ndjson: line 2: not JSON .*; skipped$/m);
  assert.match(r.stderr, /^filter: .*bad\.ndjson: line 4: not a JSON object; skipped$/m);
  // Skipped by the projection fast path too: the line is parsed in full when the scanner cannot walk it.
  const fast = shark(['--count', 'http', file]);
  assert.match(fast.stderr, /line 2: not JSON/);
  // A line cut short is reported even when its protocol alone decides it does not match.
  assert.match(fast.stderr, /line 5: not JSON/);
  const strict = shark(['--strict', 'http', file]);
  assert.equal(strict.status, 3);
  assert.match(strict.stderr, /^filter: .*bad\.ndjson: not JSON .* at line 2\n$/);
});

test('a bad expression exits 2 with one line naming the column, no stack trace', () => {
  const r = shark(['http and )', FIXTURE]);
  assert.equal(r.status, 2);
  assert.equal(r.stderr, "filter: unexpected ')' at column 10\n");
  assert.equal(r.stdout, '');
  const k2 = shark(['http && status_code >=', FIXTURE]);
  assert.equal(k2.status, 2);
  assert.equal(k2.stderr, 'filter: unexpected end of expression at column 23\n');
  const missing = shark([join(dir, 'no-such.ndjson')]);
  assert.equal(missing.status, 2);
  assert.doesNotMatch(missing.stderr, /\n\s+at /);
});

test('the and/or grouping warning goes to stderr', () => {
  const r = shark(['--count', 'http and response.status == 200 or dns', FIXTURE]);
  assert.equal(r.status, 0);
  assert.match(r.stderr, /warning: .*read as http and \(response\.status == 200 or dns\)/);
});

test('--jsonata', () => {
  const want = fixtureLines.filter((l) => {
    const e = JSON.parse(l);
    return e.response?.status >= 500 && String(e.request?.path).includes('/api');
  }).length;
  assert.ok(want > 0);
  const r = shark(['--count', '--jsonata', 'response.status >= 500 and $contains(request.path, "/api")', FIXTURE]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `${want}\n`);
  const bad = shark(['--jsonata', 'response.status = ', FIXTURE]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /^filter: JSONata: .* at column \d+\n$/);
});

test('a 10 MB line does not break the reader', () => {
  const file = join(dir, 'huge.ndjson');
  const huge = JSON.stringify({ ...JSON.parse(fixtureLines[0]), summary: 'x'.repeat(10 * 1024 * 1024) });
  writeFileSync(file, [fixtureLines[1], huge, fixtureLines[2], ''].join('\n'));
  const r = shark(['--count', '', file]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '3\n');
});

test('| head -1: exits 0 quickly, without error output, on a large input', async () => {
  const file = join(dir, 'many.ndjson');
  const text = fixtureLines.join('\n') + '\n';
  writeFileSync(file, text.repeat(3000)); // ~180k entries
  const res = await new Promise<{ code: number | null; out: string; err: string }>((resolve, reject) => {
    const inner = spawn(process.execPath, [cliBin, 'filter', '', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    inner.stdout.once('data', (d: Buffer) => {
      out += d.toString().split('\n')[0];
      inner.stdout.destroy(); // the reader goes away, as `head -1` does
    });
    inner.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => {
      inner.kill('SIGKILL');
      reject(new Error('filter kept running after its reader left'));
    }, 30_000);
    inner.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
  assert.equal(res.code, 0, res.err);
  assert.equal(res.err, '');
  // The line comes out redacted (the fixture's x-api-key).
  assert.deepEqual(JSON.parse(res.out), createRedactor()(JSON.parse(fixtureLines[0])));
});

test('SIGINT finishes: what was matched so far is flushed and the exit is 0', async () => {
  const p = spawn(process.execPath, [cliBin, 'filter', 'dns'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  const want = fixtureLines.filter((l) => JSON.parse(l).protocol === 'dns').length;
  // stdin stays open (a live stream); send the entries, wait for the matches, then Ctrl-C.
  p.stdin.write(fixtureLines.join('\n') + '\n');
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no output; got ${out.length} chars`)), 30_000);
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.split('\n').filter(Boolean).length >= want) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  p.kill('SIGINT');
  const code = await new Promise<number | null>((resolve) => p.on('exit', resolve));
  assert.equal(code, 0);
  assert.equal(out.split('\n').filter(Boolean).length, want);
});
