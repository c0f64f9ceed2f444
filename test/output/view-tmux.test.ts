// `shark view` driven as a person would: in a real terminal (tmux), keys
// typed with send-keys, the screen read with capture-pane. Asserts on what is
// visible: the counter bar, the list narrowed by a filter typed in the box,
// an error with its column for a half-typed filter, the detail pane of the
// selected call, and a clean exit on `q` back to the shell's own screen (the
// view draws on the alternate screen) — also with the calls on stdin, and
// after another program of the pipeline put the terminal back to line mode;
// at 60 and 40 columns each listed call still shows its status.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { examplesDir, repoRoot } from '../helpers/paths.js';

// One tmux server per test (a server killed and restarted on one socket can race).
let socket = '';
const sockets: string[] = [];
const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
const screen = () => tmux('capture-pane', '-p', '-t', 'view');
const keys = (...k: string[]) => tmux('send-keys', '-t', 'view', ...k);
const literally = (text: string) => tmux('send-keys', '-t', 'view', '-l', text);

/** Poll the screen until `ok` holds (the machine may be busy: generous, bounded). */
async function waitFor(what: string, ok: (s: string) => boolean, timeoutMs = 60_000): Promise<string> {
  const until = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < until) {
    last = screen();
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`timed out waiting for ${what}; screen:\n${last}`);
}

function start(command: string, size = { columns: 80, rows: 24 }): void {
  socket = `shark-view-test-${process.pid}-${sockets.length}`;
  sockets.push(socket);
  // ink draws only a final frame under CI=true; a person's terminal has no CI variable. Set for the
  // whole command line: every program of a pipeline sees them.
  const shell = `cd ${JSON.stringify(repoRoot)} && unset CI; export TZ=UTC NO_COLOR=1; ${command}; echo "EXIT=$?"; sleep 60`;
  tmux('new-session', '-d', '-s', 'view', '-x', String(size.columns), '-y', String(size.rows), shell);
}

function stopAll(): void {
  for (const s of sockets) spawnSync('tmux', ['-L', s, 'kill-server']);
}

let entries: { protocol: string; summary: string; request: any; response: any }[] = [];
before(async () => {
  const r = await runCli(['dissect', join(examplesDir, 'bookinfo-mix.pcap')]);
  entries = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
});
after(stopAll);

test('view at 80×24: counts, a filter typed in the box narrows the list, errors show their column, the detail pane follows the selection, q quits', async () => {
  start(`node bin/run.js view ${join('examples', 'bookinfo-mix.pcap')}`);
  const total = entries.length;
  let s = await waitFor('all calls read', (t) => t.includes(`${total} calls`) && t.includes('[done'));
  const lines = s.trimEnd().split('\n');
  assert.ok(lines.length <= 24, 'fits 24 rows');
  assert.ok(lines.every((l) => [...l].length <= 80), 'fits 80 columns');
  const counts = new Map<string, number>();
  for (const e of entries) counts.set(e.protocol, (counts.get(e.protocol) ?? 0) + 1);
  for (const [p, n] of counts) assert.ok(s.includes(`${p} ${n}`), `counter bar shows ${p} ${n}`);
  assert.match(s, /q quit/, 'help line');
  // Follow mode: the newest call is selected and shown in the detail pane.
  assert.ok(s.includes(`━━ ${entries[total - 1].protocol}  ${entries[total - 1].summary}`.slice(0, 70)), 'detail of the newest call');

  keys('/');
  await waitFor('the filter box', (t) => t.includes('/█'));
  literally('dns');
  const dnsCount = counts.get('dns')!;
  s = await waitFor('the list narrowed to dns while typing', (t) => t.includes(`${dnsCount} of ${total} calls`));
  const listed = s.split('\n').filter((l) => /^[ ›] \d\d:\d\d:\d\d\.\d{3} /.test(l));
  assert.ok(listed.length > 0);
  assert.ok(listed.every((l) => l.includes(' dns ')), `only dns calls listed:\n${listed.join('\n')}`);
  keys('Enter');
  await waitFor('the filter kept', (t) => t.includes('filter: dns'));

  keys('g');
  const firstDns = entries.find((e) => e.protocol === 'dns')!;
  await waitFor('the first dns call in the detail pane', (t) => t.includes(`━━ dns  ${firstDns.summary}`.slice(0, 70)));

  // A half-typed expression: the error and its column, the last good filter stays.
  keys('/');
  literally(' and (');
  s = await waitFor('the parse error', (t) => /✗ .*column \d+/.test(t));
  // NO_COLOR (set for the view's shell): the error is not painted red (ink's chalk ignores NO_COLOR).
  // eslint-disable-next-line no-control-regex -- looks for a colour escape on purpose
  assert.doesNotMatch(tmux('capture-pane', '-p', '-e', '-t', 'view'), /\x1b\[(?:[0-9;]*;)?31m/, 'no red under NO_COLOR');
  assert.ok(s.includes(`${dnsCount} of ${total} calls`), 'the last good filter still applies');
  keys('Escape');
  await waitFor('Esc restores the filter', (t) => t.includes('filter: dns') && !t.includes('✗'));

  // A 500 from nginx: path and status in the detail pane.
  const failed = entries.find((e) => e.protocol === 'http' && e.response?.status === 500)!;
  keys('/');
  keys('C-u');
  literally(`request.path == "${failed.request.path}" and response.status == 500`);
  keys('Enter');
  s = await waitFor('the failed call selected', (t) => t.includes(`> GET ${failed.request.path} HTTP/1.1`) && t.includes('< HTTP/1.1 500'));
  assert.ok(s.includes(`${failed.request.path} → 500`), 'path and status in the list line');

  keys('q');
  await waitFor('a clean exit', (t) => t.includes('EXIT=0'), 30_000);
});

test('view reads calls from stdin and its keys from the terminal', async () => {
  start(`cat ${join('examples', 'http-errors.pcap')} | node bin/run.js view`);
  const r = await runCli(['dissect', join(examplesDir, 'http-errors.pcap')]);
  const n = r.stdout.trim().split('\n').length;
  await waitFor('calls from stdin', (t) => t.includes(`${n} calls`));
  keys('k');
  keys('q');
  await waitFor('a clean exit', (t) => t.includes('EXIT=0'), 30_000);
});

/** The node processes of the tmux pane's session (the pipeline and their children), with their command lines. */
function pipeline(): { pid: number; args: string }[] {
  const shell = tmux('list-panes', '-t', 'view', '-F', '#{pane_pid}').trim();
  const r = spawnSync('ps', ['-o', 'pid=,args=', '-s', shell], { encoding: 'utf8' });
  return r.stdout
    .split('\n')
    .map((l) => l.trim().match(/^(\d+)\s+(.*)$/))
    .filter((m): m is RegExpMatchArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), args: m[2] }))
    .filter((p) => p.args.startsWith('node '));
}

/** Wait until no process of the pane runs a command line containing `what`. */
async function gone(what: string): Promise<void> {
  const until = Date.now() + 30_000;
  while (pipeline().some((p) => p.args.includes(what))) {
    assert.ok(Date.now() < until, `${what.trim()} did not exit`);
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(pipeline().some((p) => p.args.includes(' view')), 'view still runs');
}

// The upstream shark has the terminal on its stderr; Node puts back the terminal mode it found at
// start when it exits (cooked), under a view that had made it raw: keys were echoed, never read.
test('view fed by another shark command still takes its keys after that command exits', async () => {
  start(`node bin/run.js dissect ${join('examples', 'bookinfo-mix.pcap')} | node bin/run.js view`);
  const total = entries.length;
  await waitFor('all calls read', (t) => t.includes(`${total} calls`) && t.includes('[done'));
  await gone(' dissect ');
  keys('g');
  await waitFor('g selects the first call', (t) => t.includes(`━━ ${entries[0].protocol}  ${entries[0].summary}`.slice(0, 70)) && t.includes('[done]'), 10_000);
  keys('j');
  await waitFor('j moves to the second call', (t) => t.includes(`━━ ${entries[1].protocol}  ${entries[1].summary}`.slice(0, 70)), 10_000);
  keys('q');
  await waitFor('a clean exit on q', (t) => t.includes('EXIT=0'), 10_000);
});

// A program of the pipeline that restores the terminal seconds after view read its input to the end
// (as `shark tap` behind `grep -m1` does at its next write): no end of input announces it.
test('view keeps its keys when a program of the pipeline exits seconds after the input ended', async () => {
  const linger = `node -e 'setTimeout(() => {}, 6000)' >/dev/null &`;
  start(`{ ${linger} node bin/run.js dissect ${join('examples', 'http-errors.pcap')}; exec >&-; wait; } | node bin/run.js view`);
  const r = await runCli(['dissect', join(examplesDir, 'http-errors.pcap')]);
  const calls = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  await waitFor('all calls read', (t) => t.includes(`${calls.length} calls`) && t.includes('[done'));
  await gone('setTimeout');
  keys('g');
  await waitFor('g selects the first call', (t) => t.includes(`━━ ${calls[0].protocol}  ${calls[0].summary}`.slice(0, 70)) && t.includes('[done]'), 10_000);
  keys('q');
  await waitFor('a clean exit on q', (t) => t.includes('EXIT=0'), 10_000);
});

test('view at 60 and 40 columns still shows each call with its status in the list', async () => {
  const r = await runCli(['dissect', join(examplesDir, 'http-errors.pcap')]);
  const calls = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  for (const columns of [60, 40]) {
    start(`node bin/run.js view ${join('examples', 'http-errors.pcap')}`, { columns, rows: 30 });
    const s = await waitFor(`all calls read at ${columns} columns`, (t) => t.includes(`${calls.length} calls`) && t.includes('[done'));
    const listed = s.split('\n').slice(1, 1 + calls.length);
    calls.forEach((c, i) => {
      assert.ok([...listed[i]].length <= columns, `fits ${columns} columns: ${listed[i]}`);
      assert.match(listed[i], new RegExp(`${c.request.method} .* → ${c.response.status}( |$)`), `${columns} columns: call ${i + 1} shows its method and status ${c.response.status}:\n${s}`);
    });
    keys('q');
    await waitFor('a clean exit', (t) => t.includes('EXIT=0'), 30_000);
  }
});

test('view draws on the alternate screen: after q the shell screen is back as it was, no list left over', async () => {
  start(`echo BEFORE-VIEW; node bin/run.js view ${join('examples', 'http-errors.pcap')}`);
  const s = await waitFor('the view', (t) => t.includes('calls [done'));
  assert.ok(!s.includes('BEFORE-VIEW'), 'the view has the whole screen');
  keys('q');
  const after = await waitFor('a clean exit', (t) => t.includes('EXIT=0'), 30_000);
  const shown = after.trimEnd().split('\n');
  assert.deepEqual(shown, ['BEFORE-VIEW', 'EXIT=0'], `the screen after quitting:\n${after}`);
});

test('view refuses to draw into a pipe, pointing at -o compact', async () => {
  const r = await runCli(['view', join(examplesDir, 'http-errors.pcap')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /-o compact/);
});

test('view: ] scrolls the detail pane to its end and no further, so one [ scrolls back at once', async () => {
  start(`node bin/run.js view ${join('examples', 'bookinfo-mix.pcap')}`);
  const total = entries.length;
  await waitFor('all calls read', (t) => t.includes(`${total} calls`) && t.includes('[done'));
  // An HTTP call with a body: a detail longer than its pane.
  keys('/');
  literally('http and response.status == 200 and request.path == "/productpage"');
  keys('Enter');
  const detailOf = (t: string) => t.split('\n').slice(12, 22).join('\n');
  const top = detailOf(await waitFor('the filter applied', (t) => t.includes('filter: http')));
  for (let i = 0; i < 8; i++) keys(']');
  await new Promise((r) => setTimeout(r, 1500));
  const end = detailOf(screen());
  assert.notEqual(end, top, 'the detail pane scrolled');
  keys('[');
  await waitFor('one [ scrolls back from the end', (t) => detailOf(t) !== end, 10_000);
  keys('q');
  await waitFor('a clean exit', (t) => t.includes('EXIT=0'), 30_000);
});
