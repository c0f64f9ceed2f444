// `-o compact|wide|detail|json`: byte-exact golden files for each human
// format on lab and shared captures (TZ=UTC, no colour), NDJSON unchanged when
// piped, the JSON array a valid document, and traffic that carries terminal
// escapes shown escaped. Regenerate the goldens with UPDATE_GOLDEN=1 after a
// deliberate change, and read the diff.
/* eslint-disable no-control-regex -- these tests look for terminal control characters on purpose */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, runShell } from '../helpers/cli.js';
import { examplesDir, repoRoot, sharedCapture } from '../helpers/paths.js';
import { useColour } from '../../src/output/formats/colour.js';

const GOLDEN = join(repoRoot, 'test', 'golden', 'formats');
const ENV = { TZ: 'UTC', COLUMNS: '', NO_COLOR: '' };

const CASES: { name: string; args: string[] }[] = [
  { name: 'bookinfo-mix', args: [join(examplesDir, 'bookinfo-mix.pcap')] },
  { name: 'http-errors', args: [join(examplesDir, 'http-errors.pcap')] },
  { name: 'grpc-unary', args: [sharedCapture('packt-grpc-unary.pcapng')] },
  { name: 'http-gap', args: [sharedCapture('suricata-http-pipeline-files-with-gap.pcap')] },
  { name: 'dns-udp', args: [sharedCapture('tcpdump-dns_udp.pcap')] },
  { name: 'pgsql', args: [join(repoRoot, 'test', 'fixtures', 'captures', 'lab-pgsql.pcap')] },
  { name: 'kafka', args: [sharedCapture('deepflow-kafka-00-produce-v2.pcap')] },
  // NATS PUB and INFO expect no answer: `one-way`, not `unanswered`.
  { name: 'nats', args: [sharedCapture('deepflow-nats-headers.pcap')] },
];

for (const c of CASES) {
  for (const format of ['compact', 'wide', 'detail'] as const) {
    test(`-o ${format} on ${c.name} matches its golden file`, async () => {
      const count = format === 'detail' ? '6' : '40';
      const r = await runCli(['dissect', '-o', format, '--color', 'never', '-c', count, ...c.args], { env: ENV });
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.stdout.length > 0, 'no output');
      assert.doesNotMatch(r.stdout, /\x1b/, 'no escape sequences with --color never');
      const file = join(GOLDEN, `${c.name}.${format}.txt`);
      if (process.env.UPDATE_GOLDEN || !existsSync(file)) {
        mkdirSync(GOLDEN, { recursive: true });
        writeFileSync(file, r.stdout);
        if (!process.env.UPDATE_GOLDEN) assert.fail(`${file} was missing: written; check it in`);
      }
      assert.equal(r.stdout, readFileSync(file, 'utf8'));
    });
  }
}

test('compact has one line per entry, in the order of the NDJSON', async () => {
  const capture = join(examplesDir, 'bookinfo-mix.pcap');
  const nd = await runCli(['dissect', capture], { env: ENV });
  const compact = await runCli(['dissect', '-o', 'compact', capture], { env: ENV });
  const entries = nd.stdout.trim().split('\n').map((l) => JSON.parse(l));
  const lines = compact.stdout.trim().split('\n');
  assert.equal(lines.length, entries.length);
  entries.forEach((e, i) => {
    assert.ok(lines[i].endsWith(e.summary), `line ${i + 1} ends with the summary "${e.summary}": ${lines[i]}`);
    assert.ok(lines[i].includes(` ${e.protocol} `), `line ${i + 1} names the protocol`);
  });
});

test('piped output without -o is NDJSON, byte for byte what -o ndjson writes', async () => {
  const capture = join(examplesDir, 'bookinfo-mix.pcap');
  const plain = await runCli(['dissect', capture]);
  const explicit = await runCli(['dissect', '-o', 'ndjson', capture]);
  assert.equal(plain.stdout, explicit.stdout);
  for (const line of plain.stdout.trim().split('\n')) JSON.parse(line);
  const filtered = await runCli(['filter', 'http', capture]);
  for (const line of filtered.stdout.trim().split('\n')) assert.equal(JSON.parse(line).protocol, 'http');
});

test('-o json is one JSON array of the same entries, also when empty', async () => {
  const capture = join(examplesDir, 'http-errors.pcap');
  const nd = await runCli(['dissect', capture]);
  const arr = await runCli(['dissect', '-o', 'json', capture]);
  assert.equal(arr.code, 0);
  assert.deepEqual(JSON.parse(arr.stdout), nd.stdout.trim().split('\n').map((l) => JSON.parse(l)));
  const none = await runCli(['filter', '-o', 'json', 'request.path == "/nothing-here"', capture]);
  assert.deepEqual(JSON.parse(none.stdout), []);
});

test('filter and merge take -o too; --count and --packets refuse a human format', async () => {
  const capture = join(examplesDir, 'http-errors.pcap');
  const f = await runCli(['filter', '-o', 'compact', '--color', 'never', 'response.status >= 500', capture], { env: ENV });
  assert.equal(f.code, 0, f.stderr);
  const lines = f.stdout.trim().split('\n');
  assert.ok(lines.length > 0 && lines.every((l) => / 5\d\d /.test(l)), f.stdout);
  const nd = await runCli(['dissect', capture]);
  const m = await runCli(['merge', '-o', 'compact', '--color', 'never', '-'], { input: nd.stdout, env: ENV });
  assert.equal(m.code, 0, m.stderr);
  assert.equal(m.stdout.trim().split('\n').length, nd.stdout.trim().split('\n').length);
  const counted = await runCli(['filter', '-c', '-o', 'compact', 'http', capture]);
  assert.equal(counted.code, 2);
  assert.match(counted.stderr, /only entries have formats/);
  const packets = await runCli(['dissect', '--packets', '-o', 'detail', capture]);
  assert.equal(packets.code, 2);
});

test('escape sequences and bidi controls from traffic are shown escaped, never sent to the terminal', async () => {
  const evil = {
    id: '1-1',
    timestamp: 1_700_000_000_000,
    protocol: 'http',
    transport: 'tcp',
    elapsedTime: 1.5,
    src: { ip: '198.18.0.1', port: 40000, name: '', namespace: '', pod: 'pod\x1b]0;pwned\x07', service: '', node: '' },
    dst: { ip: '198.18.0.2', port: 80, name: '', namespace: '', pod: '', service: '', node: '' },
    request: { method: 'GET', path: '/a\x1b[2J\u202egnp.exe', headers: { 'x-evil': 'ok\x1b[31mred\r\nInjected: yes' }, httpVersion: 'HTTP/1.1' },
    response: { status: 200, statusText: 'OK\x9b31m', headers: {}, body: 'line1\n\x1b[1Aover\u200b', httpVersion: 'HTTP/1.1' },
    error: false,
    requestSize: 10,
    responseSize: 10,
    summary: 'GET /a\x1b[2J\u202egnp.exe → 200',
  };
  for (const format of ['compact', 'wide', 'detail'] as const) {
    const r = await runCli(['filter', '-o', format, '--color', 'never', '--no-redact', 'http', '-'], { input: JSON.stringify(evil) + '\n', env: ENV });
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b\u202e]/, `${format}: raw control characters reached the output`);
    assert.match(r.stdout, /\\x1b\[2J/, `${format}: the escape is shown`);
    assert.match(r.stdout, /\\u202e/, `${format}: the bidi override is shown`);
  }
  const detail = await runCli(['filter', '-o', 'detail', '--color', 'never', '--no-redact', 'http', '-'], { input: JSON.stringify(evil) + '\n', env: ENV });
  assert.match(detail.stdout, /x-evil: ok\\x1b\[31mred\\r\\nInjected: yes/, 'a header cannot forge a second header line');
});

test('COLUMNS fits compact lines to the width, counting wide characters as two columns', async () => {
  const capture = join(examplesDir, 'bookinfo-mix.pcap');
  const r = await runCli(['dissect', '-o', 'compact', '--color', 'always', capture], { env: { ...ENV, COLUMNS: '60' } });
  const lines = r.stdout.trim().split('\n');
  assert.ok(lines.some((l) => l.includes('\x1b[')), '--color always colours even into a pipe');
  for (const l of lines) {
    const visible = l.replace(/\x1b\[[0-9;]*m/g, '');
    assert.ok([...visible].length <= 60, `line longer than COLUMNS: ${visible}`);
  }
  assert.ok(lines.some((l) => l.replace(/\x1b\[[0-9;]*m/g, '').endsWith('…')), 'long lines are cut with an ellipsis');
});

test('narrow compact lines keep the outcome of each call and give up the middle of the path', async () => {
  const capture = join(examplesDir, 'http-errors.pcap');
  const nd = await runCli(['dissect', capture], { env: ENV });
  const entries = nd.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(entries.some((e) => e.response.status === 404) && entries.some((e) => e.response.status === 500), 'the capture has 404s and 500s');
  for (const columns of [40, 60, 80]) {
    const r = await runCli(['dissect', '-o', 'compact', '--color', 'never', capture], { env: { ...ENV, COLUMNS: String(columns) } });
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, entries.length);
    entries.forEach((e, i) => {
      assert.ok([...lines[i]].length <= columns, `${columns} columns: line ${i + 1} too long: ${lines[i]}`);
      assert.match(lines[i], new RegExp(` → ${e.response.status}( |$)`), `${columns} columns: line ${i + 1} shows its status ${e.response.status}: ${lines[i]}`);
      assert.ok(lines[i].includes(e.request.method), `${columns} columns: line ${i + 1} shows its method: ${lines[i]}`);
    });
  }
  // Where even the path cannot be whole, its middle goes: the start and the end stay.
  const narrow = await runCli(['dissect', '-o', 'compact', '--color', 'never', capture], { env: { ...ENV, COLUMNS: '40' } });
  assert.match(narrow.stdout, /GET \/api\S*…\S*ing → 404/, narrow.stdout);
});

/** Run the CLI on a pseudo-terminal (util-linux `script`), as a person at a terminal would. */
function onTerminal(args: string, env: Record<string, string> = {}) {
  const quoted = `${JSON.stringify(process.execPath)} bin/run.js ${args}`;
  return runShell(`cd ${JSON.stringify(repoRoot)} && ${Object.entries({ TZ: 'UTC', COLUMNS: '200', ...env }).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ')} script -qec ${JSON.stringify(quoted)} /dev/null`);
}

test('on a terminal the default is compact and coloured; NO_COLOR and --color never turn colour off', async () => {
  const capture = 'examples/http-errors.pcap';
  const tty = await onTerminal(`dissect ${capture}`, { TERM: 'xterm-256color' });
  assert.equal(tty.code, 0, tty.stderr);
  const lines = tty.stdout.replace(/\r/g, '').trim().split('\n');
  assert.ok(lines.length > 3);
  assert.ok(lines.every((l) => !l.startsWith('{')), 'not NDJSON on a terminal');
  assert.match(tty.stdout, /\x1b\[31m[^\n]*500/, 'a 500 is red');
  assert.match(tty.stdout, /\x1b\[32m200/, 'a 200 is green');
  const noColour = await onTerminal(`dissect ${capture}`, { TERM: 'xterm-256color', NO_COLOR: '1' });
  assert.doesNotMatch(noColour.stdout, /\x1b\[/);
  assert.equal(noColour.stdout.replace(/\r/g, '').trim().split('\n').length, lines.length);
  const never = await onTerminal(`dissect --color never ${capture}`, { TERM: 'xterm-256color' });
  assert.doesNotMatch(never.stdout, /\x1b\[/);
  const nd = await onTerminal(`dissect -o ndjson ${capture}`);
  for (const l of nd.stdout.replace(/\r/g, '').trim().split('\n')) JSON.parse(l);
});

test('FORCE_COLOR colours a pipe as Node and chalk users expect; FORCE_COLOR=0 keeps a terminal plain; --color beats both', async () => {
  assert.equal(useColour('auto', false, { FORCE_COLOR: '1' }), true);
  assert.equal(useColour('auto', false, { FORCE_COLOR: '' }), true);
  assert.equal(useColour('auto', false, { FORCE_COLOR: '3', NO_COLOR: '1' }), true, 'FORCE_COLOR wins over NO_COLOR, as in Node');
  assert.equal(useColour('auto', true, { FORCE_COLOR: '0' }), false);
  assert.equal(useColour('auto', true, { FORCE_COLOR: 'false' }), false);
  assert.equal(useColour('auto', true, {}), true);
  assert.equal(useColour('auto', false, {}), false);
  assert.equal(useColour('never', true, { FORCE_COLOR: '1' }), false);
  assert.equal(useColour('always', false, { FORCE_COLOR: '0' }), true);
  const r = await runCli(['dissect', '-o', 'compact', join(examplesDir, 'http-errors.pcap')], { env: { ...ENV, FORCE_COLOR: '1' } });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\x1b\[31m[^\n]*500/, 'a 500 is red in a pipe under FORCE_COLOR');
});

test('compact output into `head -1` ends at once with status 0', async () => {
  const r = await runShell(`cd ${JSON.stringify(repoRoot)} && node bin/run.js dissect -o compact examples/bookinfo-mix.pcap | head -1; echo "status=\${PIPESTATUS[0]}"`);
  assert.match(r.stdout, /status=0/);
  assert.equal(r.stdout.trim().split('\n').length, 2);
});

test('-o detail on a terminal wraps its line of facts between facts to the width, losing none; into a pipe it is one line', async () => {
  const { outputFromFlags } = await import('../../src/cli/output-flag.js');
  const pods = {
    id: '17-3', timestamp: 1_795_400_000_000, protocol: 'http', transport: 'tcp', elapsedTime: 2.5, requestSize: 210, responseSize: 4200,
    src: { ip: '198.18.0.20', port: 48212, name: '', namespace: 'bookinfo', pod: 'productpage-v1-5c9f8d6b7d-x2xq9', service: '', node: '' },
    dst: { ip: '198.18.0.21', port: 9080, name: '', namespace: 'bookinfo', pod: 'reviews-v2-7bf8c9648f-abcde', service: 'reviews', node: '' },
    request: { method: 'GET', path: '/reviews/0', httpVersion: 'HTTP/1.1', headers: { host: 'reviews:9080' } },
    response: { status: 200, statusText: 'OK', httpVersion: 'HTTP/1.1', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: '0', reviews: [{ reviewer: 'Reviewer1', text: 'An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!' }] }) },
    error: false, summary: 'GET /reviews/0 → 200',
  };
  const one = (columns: number, isTTY: boolean, color: string) => {
    const { formatter } = outputFromFlags({ output: 'detail', color }, { isTTY, columns });
    return ([] as string[]).concat(formatter!.line(JSON.stringify(pods)));
  };
  const plain = (l: string) => l.replace(/\x1b\[[0-9;]*m/g, '');
  const piped = one(0, false, 'never');
  const facts = piped[1];
  assert.ok(facts.length > 90 && facts.endsWith('id 17-3'), `the facts of a call between pods: ${facts}`);
  for (const width of [40, 80]) {
    const lines = one(width, true, 'always').map(plain);
    const wrapped = lines.slice(1, lines.findIndex((l, i) => i > 0 && !l.startsWith('   ')));
    assert.ok(wrapped.length >= 2, `${width}: the facts wrap: ${wrapped.join('|')}`);
    // A fact wider than the line (a pod name at 40) has one to itself; others fit.
    for (const l of wrapped) assert.ok(l.length <= width || !l.trimStart().includes('  '), `${width}: ${l}`);
    const words = (t: string) => t.trim().split(/ +/);
    assert.deepEqual(wrapped.flatMap(words), words(facts), `${width}: every fact, in order, none cut`);
    // The body is the call in full: not cut to the terminal.
    assert.ok(lines.some((l) => l.length > width && l.includes('refreshing!')), `${width}: the body is not cut`);
  }
});
