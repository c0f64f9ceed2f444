// Expressions written by an attacker: catastrophic regexes, endless JSONata,
// absurd nesting. None may hang shark or crash it; each is a non-match, a
// usage error (exit 2) or a reported limit, and a signal still ends the run.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RE2JS } from 're2js';
import { LinearRegex } from '../../src/filter/linear-regex.js';
import { compileFilter } from '../../src/filter/index.js';
import { MAX_NESTING } from '../../src/filter/parser.js';
import { runCli } from '../helpers/cli.js';
import { cliBin } from '../helpers/paths.js';
import { childStarted } from '../helpers/process-state.js';

// A path on which `^/(a+)+$` backtracks 2^41 times on a backtracking engine.
const EVIL_PATH = `/${'a'.repeat(41)}b`;
const EVIL_REGEX = '^/(a+)+$';
let dir: string;
let entries: string;
let rules: string;

function entry(i: number, path: string): string {
  return JSON.stringify({
    id: String(i),
    protocol: 'http',
    timestamp: 1_700_000_000_000 + i,
    src: { ip: '198.18.0.1', port: 40000 + i },
    dst: { ip: '198.18.0.2', port: 80, name: `svc-${'a'.repeat(41)}b` },
    request: { method: 'GET', path },
    response: { status: 200 },
    summary: `GET ${path}`,
  });
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'shark-hostile-filter-'));
  entries = join(dir, 'entries.ndjson');
  // Evil paths, and paths the regex does match (so a test that only ever says "no match" could not pass).
  writeFileSync(entries, [entry(0, EVIL_PATH), entry(1, '/aaa'), entry(2, EVIL_PATH), entry(3, '/a'), entry(4, EVIL_PATH)].join('\n') + '\n');
  rules = join(dir, 'rules.yaml');
  writeFileSync(rules, `rules:\n  - name: evil-service\n    type: expect\n    service: "^svc-(a+)+$"\n    min: 0\n  - name: evil-path\n    type: expect\n    path: "${EVIL_REGEX}"\n    min: 2\n`);
});
after(() => rmSync(dir, { recursive: true, force: true }));

const PAIRS = ['/aaa', '/a'];

test('a catastrophic regex runs in linear time in KFL2 .matches(), KFL1 r"…" and JSONata /…/', async () => {
  for (const args of [
    [`request.path.matches("${EVIL_REGEX}")`],
    [`request.path == r"${EVIL_REGEX}"`],
    ['--jsonata', `$match(request.path, /${EVIL_REGEX.replace('/', '\\/')}/)`],
  ]) {
    // A backtracking engine takes hours on these entries; the kill after 20 s makes a hang a failure.
    const r = await runCli(['filter', ...args, entries], { timeoutMs: 20_000 });
    assert.equal(r.signal, null, `${args.join(' ')} hung`);
    assert.equal(r.code, 0, r.stderr);
    const paths = r.stdout.trim().split('\n').map((l) => JSON.parse(l).request.path);
    assert.deepEqual(paths, PAIRS, args.join(' '));
  }
});

test('rules-file regexes (path:, service:) run in linear time too', async () => {
  const r = await runCli(['stats', '--check', rules, entries], { timeoutMs: 20_000 });
  assert.equal(r.signal, null, 'stats --check hung');
  // evil-path matches the two short paths (min: 2): the check passes, so the regex really ran.
  assert.equal(r.code, 0, r.stdout + r.stderr);
});

test('the V8 fast path and RE2 agree on plain patterns; RE2 decides everything else', () => {
  const patterns = ['^/api/v[0-9]+/(orders|cart)$', 'a.c', '\\d+\\.\\d+', '[a-z-]+\\/x', 'x|y|', '\\bfoo\\b', '^$', '(a|ab)(c|bcd)(d*)'];
  const inputs = ['/api/v1/orders', '/api/v12/cart', 'abc', 'a\rc', 'a\u2028c', '1.25', 'zz-a/x', '', 'foo bar', 'abcd', '\u00e9t\u00e9', '\ud83d\ude00'];
  for (const p of patterns) {
    const ours = LinearRegex.compile(p);
    const re2 = RE2JS.compile(p);
    for (const s of inputs) assert.equal(ours.test(s), re2.test(s), `${p} on ${JSON.stringify(s)}`);
  }
  // RE2 syntax, not JavaScript's: Unicode classes and inline flags work; backreferences and lookaround are refused.
  assert.equal(LinearRegex.compile('^\\pL+$').test('\u00e9t\u00e9'), true);
  assert.equal(LinearRegex.compile('(?i)^GET$').test('get'), true);
  assert.throws(() => LinearRegex.compile('(a)\\1'));
  assert.throws(() => LinearRegex.compile('(?=a)a'));
});

test('a regex RE2 cannot run is a usage error with its column, in every dialect', async () => {
  for (const args of [['request.path.matches("(a)\\\\1")'], ['request.path == r"(?=a)"'], ['--jsonata', '$match(request.path, /(a)\\1/)']]) {
    const r = await runCli(['filter', ...args, entries]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /bad regular expression.* at column \d+/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});

test('nesting past the limit is a usage error (exit 2), not a stack overflow (exit 70)', async () => {
  const deep = MAX_NESTING * 20;
  const cases = [
    `${'('.repeat(deep)}http${')'.repeat(deep)}`,
    `${'!'.repeat(deep)}http`,
    // KFL1 groups and/or from the right: alternating them nests once per operator.
    Array(deep / 4).fill('http').map((t, i) => (i === 0 ? t : `${i % 2 ? 'and' : 'or'} ${t}`)).join(' '),
    `request${'.a'.repeat(deep / 2)}`,
  ];
  for (const expr of cases) {
    assert.throws(() => compileFilter(expr), (err: any) => err.exitCode === 2 && /nested deeper than \d+ levels at column \d+/.test(err.message), expr.slice(0, 40));
  }
  // A flat chain is one level however long: a generated filter of thousands of alternatives
  // (KFL1's right-grouped and KFL2's left-grouped) works, and its last term still counts.
  const alternatives = Array.from({ length: deep / 4 }, (_, i) => `src.port == ${50000 + i}`);
  const port = (p: number) => ({ ...JSON.parse(entry(9, '/x')), src: { ip: '198.18.0.1', port: p } });
  for (const join of [' or ', ' || ']) {
    const f = compileFilter(alternatives.join(join));
    assert.equal(f.predicate(port(50000 + deep / 4 - 1)), true, join);
    assert.equal(f.predicate(port(50000 + deep / 4)), false, join);
  }
  for (const join of [' and ', ' && ']) {
    const all = compileFilter(Array(deep / 4).fill('http').join(join));
    assert.equal(all.predicate(JSON.parse(entry(9, '/x'))), true, join);
    const lastFails = compileFilter([...Array(deep / 4).fill('http'), 'dns'].join(join));
    assert.equal(lastFails.predicate(JSON.parse(entry(9, '/x'))), false, join);
  }
  const r = await runCli(['filter', '--count', `${'('.repeat(deep)}http${')'.repeat(deep)}`, entries]);
  assert.equal(r.code, 2, r.stderr);
  const j = await runCli(['filter', '--jsonata', `${'('.repeat(deep)}1${')'.repeat(deep)}`, entries]);
  assert.equal(j.code, 2, j.stderr);
});

test('JSONata that never ends: each entry is cut at its time limit, and an expression that hits it on every entry is refused (exit 2)', async () => {
  const r = await runCli(['filter', '--jsonata-timeout', '100', '--jsonata', '($f := function($x){$f($x)}; $f(1))', entries], { timeoutMs: 30_000 });
  assert.equal(r.signal, null, 'hung');
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /hit its time limit \(100 ms per entry\) on every entry/);
  // Non-tail recursion hits the depth limit instead.
  const d = await runCli(['filter', '--jsonata', '($f := function($x){1 + $f($x)}; $f(1))', entries], { timeoutMs: 30_000 });
  assert.equal(d.code, 2, d.stderr);
  assert.match(d.stderr, /depth limit/);
});

test('JSONata that is slow on some entries only: those are non-matches, reported once; the others match', async () => {
  // Endless only for the long paths.
  const expr = '($f := function($x){$f($x)}; $length(request.path) > 10 ? $f(1) : true)';
  const r = await runCli(['filter', '--jsonata-timeout', '100', '--jsonata', expr, entries], { timeoutMs: 30_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n').map((l) => JSON.parse(l).request.path), PAIRS);
  assert.equal(r.stderr.match(/hit the expression's time limit/g)?.length, 1, r.stderr);
});

test('stats --by with an endless JSONata expression is refused, not hung', async () => {
  const r = await runCli(['stats', '--by', '($f := function($x){$f($x)}; $f(1))', entries], { timeoutMs: 30_000 });
  assert.equal(r.signal, null, 'hung');
  assert.equal(r.code, 2, r.stderr);
});

test('SIGTERM ends a run in the middle of an endless evaluation', async () => {
  // A one-minute limit per entry: only the signal can end this run early.
  const child = spawn(process.execPath, [cliBin, 'filter', '--jsonata-timeout', '60000', '--jsonata', '($f := function($x){$f($x)}; $f(1))', entries], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  // The endless evaluation runs in JSONata's child process, started once shark is past its start-up.
  await childStarted(child.pid!);
  await new Promise((r) => setTimeout(r, 500));
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
  clearTimeout(killer);
  assert.equal(signal, null, `SIGTERM was not handled: ${stderr}`);
  assert.equal(code, 0, stderr);
});

// One call of a built-in runs as long as its input makes it, with no evaluation step between
// where JSONata could check its time: quadratic `$spread`/`$string`, `$distinct`, a time limit
// hit inside `$eval`, a single allocation of 800 MB.
const LONG_BUILTIN = '$string($spread([1..100000]))';

test('a built-in call that runs past the time limit is cut there: slow on some entries only, the others match', async () => {
  const expr = '$length(request.path) > 10 ? $distinct([1..30000]) : true';
  const r = await runCli(['filter', '--jsonata-timeout', '100', '--jsonata', expr, entries], { timeoutMs: 60_000 });
  assert.equal(r.signal, null, 'hung');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n').map((l) => JSON.parse(l).request.path), PAIRS);
  assert.equal(r.stderr.match(/hit the expression's time limit \(100 ms per entry\)/g)?.length, 1, r.stderr);
  assert.match(r.stderr, /3 entries hit the expression's limits \(time limit: 3\)/);
});

test('built-ins over the time limit on every entry, a limit inside $eval too: refused (exit 2, one line)', async () => {
  for (const expr of [LONG_BUILTIN, '$distinct([1..60000])', '$eval("$eval(\\"[1..999999].$string()\\")")']) {
    const r = await runCli(['filter', '--jsonata-timeout', '100', '--jsonata', expr, entries], { timeoutMs: 60_000 });
    assert.equal(r.signal, null, `${expr} hung`);
    assert.equal(r.code, 2, `${expr}: ${r.stderr}`);
    assert.deepEqual(r.stderr.trim().split('\n'), ['filter: JSONata: the expression hit its time limit (100 ms per entry) on every entry (3 of 3); refusing to go on'], expr);
  }
  const s = await runCli(['stats', '--by', LONG_BUILTIN, entries], { timeoutMs: 60_000 });
  assert.equal(s.signal, null, 'stats --by hung');
  assert.equal(s.code, 2, s.stderr);
  assert.match(s.stderr, /--by: the expression hit its time limit \(500 ms per entry\) on every entry/);
});

test('an evaluation that fills its heap, even with one allocation, is cut at the memory limit; the run goes on', async () => {
  // A minute per entry: only the memory limit can cut these. The second asks for an 800 MB array at once.
  for (const expr of ['[1..999999].[1..999999]', '$count($split($pad("x", 100000000), ""))']) {
    const r = await runCli(['filter', '-c', '--jsonata-timeout', '60000', '--jsonata', `$length(request.path) > 10 ? ${expr} : true`, entries], { timeoutMs: 60_000 });
    assert.equal(r.signal, null, `${expr} hung`);
    assert.equal(r.code, 0, `${expr}: ${r.stderr}`);
    assert.equal(r.stdout.trim(), '2', expr);
    assert.match(r.stderr, /an entry hit the expression's memory limit \(64 MB\)/, expr);
  }
});

test('an entry with a body nested 5000 levels deep is evaluated, or at worst has no key; nothing crashes', async () => {
  const file = join(dir, 'deep.ndjson');
  const body = '['.repeat(5000) + ']'.repeat(5000);
  writeFileSync(file, entry(7, '/deep').replace('"response":', `"body":${body},"response":`) + '\n' + entry(8, '/flat') + '\n');
  const f = await runCli(['filter', '--no-redact', '-c', '--jsonata', 'protocol = "http"', file]);
  assert.equal(f.code, 0, f.stderr);
  assert.equal(f.stdout.trim(), '2');
  // stats hands entries over as objects: one too deep to pass is grouped as "(none)", but counted.
  const s = await runCli(['stats', '--no-redact', '--format', 'json', '--by', 'request.path', file]);
  assert.equal(s.code, 0, s.stderr);
  const snap = JSON.parse(s.stdout);
  assert.equal(snap.total.entries, 2);
  assert.equal(snap.rows.find((r: { name: string }) => r.name === '/flat')?.entries, 1);
});

/** Resolves once `pid` has a child process (the JSONata evaluation has started). */
async function childOf(pid: number): Promise<void> {
  const { readFileSync } = await import('node:fs');
  for (let i = 0; i < 400; i++) {
    try {
      if (readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim() !== '') return;
    } catch {
      // Not started yet, or no /proc: the wait below is all there is.
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

for (const [signal, args] of [
  ['SIGTERM', ['filter', '--jsonata-timeout', '60000', '--jsonata', LONG_BUILTIN]],
  ['SIGINT', ['filter', '--jsonata-timeout', '60000', '--jsonata', LONG_BUILTIN]],
  ['SIGTERM', ['stats', '--by', '$distinct([1..100000])']],
] as const) {
  test(`${signal} ends ${args[0]} within a second while a built-in call runs`, async () => {
    const child = spawn(process.execPath, [cliBin, ...args, entries], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const closed = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
    await childOf(child.pid!);
    await new Promise((r) => setTimeout(r, 1000));
    const sentAt = Date.now();
    child.kill(signal);
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const [code, sig] = await closed;
    clearTimeout(killer);
    const took = Date.now() - sentAt;
    assert.equal(sig, null, `${signal} was not handled: ${stderr}`);
    assert.equal(code, 0, stderr);
    assert.ok(took < 2000, `${signal} took ${took} ms`);
  });
}

test('a line giving `protocol` twice is what JSON.parse and jq read (the last), with one thread and with workers', async () => {
  const file = join(dir, 'twice.ndjson');
  const lines = [
    '{"id":"1-1","timestamp":1,"protocol":"dns","transport":"udp","protocol":"http","request":{"method":"GET","path":"/x"},"response":{"status":500},"summary":"s"}',
    '{"id":"2-1","timestamp":2,"protocol":"http","transport":"tcp","response":{"status":200},"summary":"s","\\u0070rotocol":"dns"}',
  ];
  writeFileSync(file, lines.join('\n') + '\n');
  for (const workers of ['1', '2']) {
    const dns = await runCli(['filter', '--workers', workers, 'dns', file]);
    assert.equal(dns.code, 0, dns.stderr);
    // Written as JSON.parse read it (redaction is on, and the line holds a key its entry does not).
    assert.deepEqual(dns.stdout.trim().split('\n'), [JSON.stringify(JSON.parse(lines[1]))], `--workers ${workers}`);
    const http = await runCli(['filter', '--workers', workers, '-c', 'http and response.status == 500', file]);
    assert.equal(http.stdout.trim(), '1', `--workers ${workers}: ${http.stderr}`);
  }
});

test('a secret in the first copy of a key given twice is not passed on: the line is written as its entry, as JSON.parse reads it', async () => {
  const file = join(dir, 'hidden.ndjson');
  const secret = 'Bearer hidden-s3cret-token';
  const lines = [
    `{"id":"1-1","timestamp":1,"protocol":"http","request":{"method":"GET","path":"/a","headers":{"Authorization":"${secret}"}},"request":{"method":"GET","path":"/a"},"summary":"GET /a"}`,
    `{"id":"1-2","timestamp":2,"protocol":"http","request":{"method":"GET","path":"/b","headers":{"x":"${secret}:1","x":"1"}},"summary":"GET /b"}`,
    `{"id":"1-3","timestamp":3,"protocol":"http","request":{"method":"GET","path":"/c"},"summary":"GET /c","summ\\u0061ry":"GET /c"}`,
    '{"id":"1-4","timestamp":4,"protocol":"http","request":{"method":"GET","path":"/d:e"},"summary":"GET /d:e → 200"}',
  ];
  writeFileSync(file, lines.join('\n') + '\n');
  for (const workers of ['1', '2']) {
    for (const expr of [['http'], ['--jsonata', 'protocol = "http"']]) {
      const r = await runCli(['filter', '--workers', workers, ...expr, file]);
      assert.equal(r.code, 0, r.stderr);
      const out = r.stdout.trim().split('\n');
      assert.equal(out.length, 4, `--workers ${workers} ${expr}`);
      assert.ok(!r.stdout.includes('s3cret'), `--workers ${workers} ${expr}: ${r.stdout}`);
      // Each line says what JSON.parse read in it, and a line with nothing hidden is passed on as it came.
      assert.deepEqual(out.map((l) => JSON.parse(l)), lines.map((l) => JSON.parse(l)));
      assert.equal(out[3], lines[3]);
    }
  }
  // --no-redact: lines as they came.
  const raw = await runCli(['filter', '--no-redact', 'http', file]);
  assert.deepEqual(raw.stdout.trim().split('\n'), lines);
});

test('a long literal list after in answers as item by item does (missing fields, types, null)', () => {
  // `x in [15,000 paths]` compared every entry with every item; the list is now a Set lookup.
  const items = ['"/a"', '""', '0', '200', 'true', 'null', '"200"', '"/b"', '"/c"', '"/d"'];
  const values: unknown[] = [undefined, '/a', '', 0, -0, 200, '200', true, false, null, '/z', 7, { a: 1 }, ['/a']];
  for (const dialect of ['kfl2'] as const) {
    for (const n of [items.length, 3]) {
      const list = items.slice(0, n);
      const inList = compileFilter(`request.x in [${list.join(', ')}]`, { dialect }).predicate;
      const orChain = compileFilter(list.map((i) => `request.x == ${i}`).join(' || '), { dialect }).predicate;
      for (const x of values) {
        const e = { id: '1', protocol: 'http', request: x === undefined ? {} : { x } } as never;
        assert.equal(inList(e), orChain(e), `${dialect} ${JSON.stringify(x)} in ${n} items`);
      }
    }
  }
});

test('CEL macros nested over an attacker-sized list stop at their step limit: a non-match, counted and told; a single pass still matches', async () => {
  const { MAX_MACRO_STEPS } = await import('../../src/filter/cel-macros.js');
  const { runFilter } = await import('../../src/filter/run.js');
  const { Writable } = await import('node:stream');
  // 400 answers: one pass is 400 steps, a macro inside a macro 160,000 (over the limit).
  const answers = Array.from({ length: 400 }, (_, i) => ({ name: 'a.example', type: 'A', data: `198.18.${i >> 8}.${i & 255}` }));
  const big = JSON.stringify({ id: 'big', protocol: 'dns', request: { questions: [{ name: 'a.example', type: 'A' }] }, response: { rcode: 0, answers } });
  const small = JSON.stringify({ id: 'small', protocol: 'dns', request: { questions: [{ name: 'b.example', type: 'A' }] }, response: { rcode: 0, answers: answers.slice(0, 3) } });
  const nested = 'dns_answers.all(a, size(dns_answers.filter(b, b == a)) == 1)';
  assert.ok(400 * 400 > MAX_MACRO_STEPS);
  assert.equal(compileFilter('dns_answers.exists(a, a == "198.18.1.143")').predicate(JSON.parse(big)), true);
  const file = join(dir, 'macros.ndjson');
  writeFileSync(file, `${big}\n${small}\n`);
  const warnings: string[] = [];
  let out = '';
  const stdout = new Writable({ write: (c, _e, cb) => ((out += String(c)), cb()) });
  await runFilter({ inputs: [file], expr: nested, stdout, onWarning: (m) => warnings.push(m) });
  assert.deepEqual(out.split('\n').filter(Boolean).map((l) => JSON.parse(l).id), ['small']);
  assert.deepEqual(warnings, [`warning: 1 entry took the expression's macros over 100,000 steps and did not match`]);
});
