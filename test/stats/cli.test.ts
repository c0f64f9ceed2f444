// `shark stats` as users run it: spawned, with files, pipes, signals and exit codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliBin, sharedCapture } from '../helpers/paths.js';
import { mixedEntries, http, ep } from './entries.js';
import { MAX_NAMED_IPS } from '../../src/stats/names.js';
import { Wire } from '../helpers/engine-wire.js';
import { writeRawPcap } from '../helpers/pcap-wire.js';
import { idle } from '../helpers/process-state.js';

const fixture = new URL('./fixtures/mixed.ndjson', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'shark-stats-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

function shark(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [cliBin, ...args], { input, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function file(name: string, text: string): string {
  const path = join(tmp, name);
  writeFileSync(path, text);
  return path;
}

// Spawning the CLI is slow on a shared machine: each test spawns as few times
// as it can; flag parsing details are covered by the library tests.

test('json from a file; usage errors are one line with exit 2', () => {
  const a = shark(['stats', '--format', 'json', fixture]);
  assert.equal(a.code, 0, a.stderr);
  const j = JSON.parse(a.stdout);
  assert.equal(j.total.entries, 183);
  assert.deepEqual(j.rows.map((r: any) => r.name), ['http', 'redis', 'dns']);

  const r = shark(['stats', '--sort', 'bogus', fixture]);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stderr, 'stats: --sort: unknown column "bogus" (one of name, entries, requests, ok, share, rate, in, out, errors, error%, err, avg, p50, p95, p99, max)\n');
  assert.equal(r.stdout, '');
});

test('--check: passing rules exit 0, a failing rule exits 1 with a JUnit report', () => {
  const good = file('good.yaml', 'rules:\n  - { name: dns-seen, type: expect, filter: dns, min: 5 }\n  - { name: reviews-fast, type: latency, service: reviews, latency: 25 }\n');
  const ok = shark(['stats', '--check', good, fixture]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /dns-seen\s+│ expect\s+│ PASS/);

  const bad = file(
    'bad.yaml',
    [
      'rules:',
      '  - name: Catalogue-Latency-SLO',
      '    type: latency',
      '    path: /catalogue',
      '    latency: 300',
      '    service: "catalogue.*"',
      '  - { name: "details <fast> & \\"quick\\"", type: latency, path: /details, latency: 50, percentile: p95 }',
      '  - { name: no-egress, type: forbid, filter: \'dst.namespace == ""\' }',
      '',
    ].join('\n'),
  );
  const report = join(tmp, 'report.xml');
  const failed = shark(['stats', '--check', bad, '--junit', report, '--format', 'json', fixture]);
  assert.equal(failed.code, 1, failed.stderr);
  const j = JSON.parse(failed.stdout);
  assert.deepEqual(j.rules.map((r: any) => [r.name, r.passed]), [
    ['Catalogue-Latency-SLO', true],
    ['details <fast> & "quick"', false],
    ['no-egress', false],
  ]);

  // Well-formed XML (xmllint parses it back) with the right counts and names.
  const lint = spawnSync('xmllint', ['--noout', report], { encoding: 'utf8' });
  assert.equal(lint.status, 0, lint.stderr);
  const xpath = (expr: string) => spawnSync('xmllint', ['--xpath', expr, report], { encoding: 'utf8' }).stdout.trim();
  assert.equal(xpath('count(//testcase)'), '3');
  assert.equal(xpath('count(//testcase/failure)'), '2');
  assert.equal(xpath('string(//testsuite/@failures)'), '2');
  assert.equal(xpath('string(//testcase[2]/@name)'), 'details <fast> & "quick"');
  assert.equal(xpath('string(//testcase[2]/@line)'), '7');
});

test('--check with a bad rules file: exit 2 and the line', () => {
  const bad = file('typo.yaml', 'rules:\n  - name: a\n    type: expect\n    filter: dns\n  - name: b\n    type: latncy\n');
  const r = shark(['stats', '--check', bad, fixture]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr.trim(), `stats: ${bad}: unknown rule type "latncy" (latency, error-rate, expect, forbid) at line 6`);
  assert.equal(r.stdout, '');
});

/** Spawn `stats` reading a pipe we control; resolve with its output once it exits. */
function live(args: string[]) {
  const child = spawn(process.execPath, [cliBin, 'stats', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<{ code: number | null }>((resolve) => child.on('close', (code) => resolve({ code })));
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  done.finally(() => clearTimeout(killer));
  /** Wait (bounded) until a JSON snapshot on stdout reports `n` entries. */
  const waitFor = async (n: number) => {
    for (let i = 0; i < 300; i++) {
      const lines = stdout.trim().split('\n').filter(Boolean);
      if (lines.length && JSON.parse(lines[lines.length - 1]).total.entries === n) return lines.length;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no snapshot with ${n} entries; got ${stdout.slice(-300)} ${stderr}`);
  };
  return { child, done, waitFor, out: () => stdout, err: () => stderr };
}

const lines = (n: number, from = 0) =>
  mixedEntries()
    .slice(from, from + n)
    .map((e) => JSON.stringify(e) + '\n')
    .join('');

test('live: snapshots are appended on a pipe; Ctrl-C prints the final table and exits 0', async () => {
  const run = live(['--interval', '200ms', '--format', 'json']);
  run.child.stdin.write(lines(50));
  const before = await run.waitFor(50);
  // The writer stays silent and never closes: Ctrl-C must still finish.
  run.child.kill('SIGINT');
  const { code } = await run.done;
  assert.equal(code, 0, run.err());
  const snaps = run.out().trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(snaps.length >= before, 'every snapshot is its own line');
  assert.equal(snaps[snaps.length - 1].total.entries, 50);
  assert.equal(run.err(), '');
  run.child.stdin.destroy();
});

test('Ctrl-C in a pipeline: entries the upstream flushes while finishing are counted', async () => {
  const run = live(['--interval', '200ms', '--format', 'json']);
  run.child.stdin.write(lines(40));
  await run.waitFor(40);
  run.child.kill('SIGINT');
  // Like `shark tap | shark stats`: the upstream got the same Ctrl-C, flushes, closes.
  run.child.stdin.end(lines(30, 40));
  const { code } = await run.done;
  assert.equal(code, 0, run.err());
  const last = run.out().trim().split('\n').pop()!;
  assert.equal(JSON.parse(last).total.entries, 70);
});

test('--interval on a terminal redraws in place (ANSI home + clear), final table last', () => {
  // script(1) gives stats a pseudo-terminal as stdout while stdin stays a pipe.
  const cmd = `(cat '${fixture}'; sleep 1.2) | '${process.execPath}' '${cliBin}' stats --interval 300ms --top 1`;
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe'] });
  assert.equal(r.status, 0, r.stderr);
  const frames = r.stdout.split('\u001b[H\u001b[2J');
  // How many redraws happen depends on the machine's speed; the final one always clears too.
  assert.ok(frames.length >= 2, `redrawn in place, got ${frames.length - 1} clears`);
  assert.equal(frames[0], '', 'nothing before the first clear');
  assert.match(frames[frames.length - 1], /│ http\s+│\s+170 │/);
  assert.match(frames[frames.length - 1], /│ total\s+│\s+183 │/);
});

test('a capture read by stats, map and filter: what dissecting it lost is said on stderr, as dissect says it, with one thread or workers', () => {
  const capture = sharedCapture('suricata-http-gap-simple.pcap');
  const dissect = shark(['dissect', capture]);
  const line = /31 packets, 3 entries; lost or damaged: http\.gap=1 tcp\.gap_bytes=14 tcp\.gaps=1$/m;
  assert.match(dissect.stderr, line);
  for (const workers of ['1', '2']) {
    for (const command of [['stats'], ['map'], ['filter', 'http']]) {
      const r = shark([...command, '--workers', workers, capture]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`^${command[0]}: ${capture.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: ${line.source}`, 'm'), `${command.join(' ')} --workers ${workers}`);
    }
  }
  // A clean capture says nothing.
  assert.equal(shark(['stats', sharedCapture('tcpdump-dns_udp.pcap')]).stderr, '');
});

test('stats with --tls-keylog says how decryption went, as dissect does', () => {
  const capture = sharedCapture('snet-tls12-ecdhe-rsa-aes128-gcm.pcap');
  const keys = sharedCapture('snet-tls12-ecdhe-rsa-aes128-gcm.keys');
  for (const workers of ['1', '2']) {
    const r = shark(['stats', '--workers', workers, '--tls-keylog', keys, capture]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^stats: \S+snet-tls12-ecdhe-rsa-aes128-gcm\.pcap: TLS: 1 session decrypted/m, `--workers ${workers}`);
  }
});

test('stats --workers 2 aggregates on the workers: every grouping and format is the one-thread table, and `dissect | stats` agrees', () => {
  const dir = mkdtempSync(join(tmpdir(), 'shark-stats-workers-'));
  try {
    // GraphQL answers whose errors are only in their bodies (the table reads no bodies otherwise), beside plain calls.
    const wire = new Wire();
    const post = (path: string, body: string) => `POST ${path} HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    const answer = (body: string) => `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    for (let i = 0; i < 6; i++) {
      const port = 41000 + i;
      wire.send(1000 + i * 10, 1, port, 8080, post('/graphql', JSON.stringify({ query: '{ pets { name } }' })));
      wire.send(1002 + i * 10, 2, 8080, port, answer(i % 2 ? '{"errors":[{"message":"boom"}]}' : '{"data":{"pets":[]}}'));
      wire.send(1004 + i * 10, 1, port, 8080, post('/orders', JSON.stringify({ item: i })));
      wire.send(1006 + i * 10, 2, 8080, port, answer('{"errors":["not graphql"]}'));
    }
    const gql = join(dir, 'graphql.pcap');
    writeRawPcap(gql, wire.packets);
    for (const capture of [gql, sharedCapture('lab-bookinfo-mix.pcap')]) {
      for (const by of ['protocol', 'service', 'endpoint', 'status', 'pod', 'namespace']) {
        const one = shark(['stats', '--by', by, '--format', 'json', '--workers', '1', capture]);
        assert.equal(one.code, 0, one.stderr);
        const two = shark(['stats', '--by', by, '--format', 'json', '--workers', '2', capture]);
        assert.equal(two.code, 0, two.stderr);
        assert.equal(two.stdout, one.stdout, `--by ${by} ${capture}`);
        assert.equal(two.stderr, one.stderr);
      }
    }
    const rows = (out: string) => Object.fromEntries(JSON.parse(out).rows.map((r: { name: string; entries: number; errors: number }) => [r.name, [r.entries, r.errors]]));
    const table = rows(shark(['stats', '--workers', '2', '--format', 'json', gql]).stdout);
    assert.deepEqual(table, { graphql: [6, 3], http: [6, 0] });
    const entries = shark(['dissect', gql]).stdout;
    assert.deepEqual(rows(shark(['stats', '--format', 'json'], entries).stdout), table);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Ctrl-C on stats --workers 2 reading a capture from a pipe that stays open: the workers hand back their tables, the table is printed', async () => {
  const capture = readFileSync(sharedCapture('lab-bookinfo-mix.pcap'));
  const whole = JSON.parse(shark(['stats', '--format', 'json', '--workers', '2', sharedCapture('lab-bookinfo-mix.pcap')]).stdout);
  const child = spawn(process.execPath, [cliBin, 'stats', '--format', 'json', '--workers', '2', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  // A stop that comes before the child has read everything must fail the assertions below, not crash the harness on EPIPE.
  child.stdin.on('error', () => {});
  // All of it, but the pipe is never closed: the read after the last byte waits for good. The write's callback says all but
  // the pipe's buffer has been read; the rest is read and handled once the run is idle on that read (every thread asleep,
  // no CPU used: a busy machine makes this wait longer, where a fixed 2 s could be too short or needlessly long).
  await new Promise((resolve) => child.stdin.write(capture, resolve));
  await idle(child.pid!);
  const started = Date.now();
  child.kill('SIGINT');
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const waited = Date.now() - started;
  assert.equal(code, 0, stderr);
  // The pipe's grace (1.5 s) and no more: the stopped run did not wait for the silent read.
  assert.ok(waited < 2900, `ended ${waited} ms after SIGINT`);
  const table = JSON.parse(stdout);
  // Every call was read before the stop, so the table is the whole capture's.
  assert.equal(table.total.entries, whole.total.entries);
  assert.ok(table.total.entries > 0);
  child.stdin.destroy();
});

test('a pcapng secrets block with a bad line: said once, the same with workers as with one thread, for stats and dissect', () => {
  const bytes = readFileSync(sharedCapture('ndpi-quic-v2-dsb.pcapng'));
  // The first client random gets a non-hex digit: that line is bad, the others still decrypt.
  const at = bytes.indexOf('CLIENT_HANDSHAKE_TRAFFIC_SECRET ') + 'CLIENT_HANDSHAKE_TRAFFIC_SECRET '.length;
  assert.ok(at > 100);
  const damaged = Buffer.from(bytes);
  damaged[at] = 'z'.charCodeAt(0);
  const path = file('dsb-bad-line.pcapng', '');
  writeFileSync(path, damaged);
  const said = (stderr: string) => stderr.split('\n').filter((l) => /decryption secrets block line/.test(l));
  for (const command of ['stats', 'dissect']) {
    const one = shark([command, '--workers', '1', path]);
    const two = shark([command, '--workers', '2', path]);
    assert.equal(one.code, 0, one.stderr);
    assert.equal(two.code, 0, two.stderr);
    assert.equal(said(one.stderr).length, 1, one.stderr);
    assert.match(said(one.stderr)[0], /^\w+: \S+dsb-bad-line\.pcapng: decryption secrets block line \d+: client random is not 32 bytes of hex; skipped$/);
    assert.deepEqual(said(two.stderr), said(one.stderr), command);
    assert.equal(two.stdout, one.stdout, command);
  }
});

test('past the name book\'s bound, stats says so on stderr (rows show addresses)', () => {
  const lines: string[] = [];
  for (let i = 0; i < MAX_NAMED_IPS + 5; i++) {
    const e = http(ep('198.18.0.1', 40000), ep(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 80), 'GET', '/', 200, 1, i, { host: 'svc.example' });
    lines.push(JSON.stringify(e));
  }
  const r = shark(['stats', '--by', 'protocol'], lines.join('\n') + '\n');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^stats: the name book was full \(50000 addresses\): 5 name\(s\) not kept, those rows show addresses$/m);
  assert.match(r.stdout, /│ http\s+│\s+50005 │/);
});

test('a --by that gives no entry a value (a misspelt grouping or field) warns on stderr and names the grouping it is close to', () => {
  for (const [by, hint] of [
    ['services', 'did you mean --by service?'],
    ['Service', 'did you mean --by service?'],
    ['request.nosuchfield', 'not one of protocol|service|endpoint|namespace|pod|status, so read as JSONata over each entry'],
  ]) {
    const r = shark(['stats', '--by', by, '--format', 'json', fixture]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).rows.map((row: any) => row.name), ['(none)']);
    assert.equal(r.stderr, `stats: --by ${by}: no entry has a value for it, so all 183 are in one "(none)" row (${hint})\n`);
  }
  // A field some entries have, and a built-in grouping: no warning.
  for (const by of ['request.method', 'protocol']) {
    const r = shark(['stats', '--by', by, fixture]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '', by);
  }
});

test('groups past the first 10,000 are counted in the (other) row, and stderr says how many entries went there', () => {
  const lines: string[] = [];
  // A JSONata grouping by the path keeps each path a row of its own (no templating): 10,050 groups.
  for (let i = 0; i < 10_050; i++) lines.push(JSON.stringify(http(ep('198.18.0.1', 40000), ep('198.18.0.2', 80), 'GET', `/p${i}`, 200, 1, 1000 + i)));
  const r = shark(['stats', '--by', 'request.path', '--top', '5', '--format', 'json', '-'], lines.join('\n') + '\n');
  assert.equal(r.code, 0, r.stderr);
  const other = JSON.parse(r.stdout).rows.find((row: any) => row.name === '(other)');
  assert.equal(other?.entries, 50);
  assert.match(r.stderr, /^stats: 50 entries of groups past the first 10000 counted in the \(other\) row$/m);
});

test('entries with no destination address (NDJSON from elsewhere) are grouped as (none): no endpoint name starts with a space, no service is empty', () => {
  const f = file(
    'no-dst.ndjson',
    [
      { id: '1', timestamp: 1795400000000, protocol: 'http', request: { method: 'GET', path: '/a' }, response: { status: 200 }, elapsedTime: 1 },
      { id: '2', timestamp: 1795400000001, protocol: 'http', dst: {}, request: { method: 'GET', path: '/b' }, response: { status: 200 }, elapsedTime: 1 },
    ]
      .map((e) => JSON.stringify(e))
      .join('\n') + '\n',
  );
  const rows = (by: string) =>
    JSON.parse(shark(['stats', '--by', by, '--format', 'json', f]).stdout)
      .rows.map((r: { name: string }) => r.name)
      .sort();
  assert.deepEqual(rows('endpoint'), ['(none) GET /a', '(none) GET /b']);
  assert.deepEqual(rows('service'), ['(none)']);
  assert.deepEqual(rows('pod'), ['(none)']);
});
