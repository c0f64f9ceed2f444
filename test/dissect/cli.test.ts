// `shark dissect` as a user runs it: files and stdin, bad input, `| head`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, runShell } from '../helpers/cli.js';
import { sharedCapture } from '../helpers/paths.js';

const mix = sharedCapture('lab-bookinfo-mix.pcap');

test('a capture on stdin gives the same entries as the file', async () => {
  const fromFile = await runCli(['dissect', mix]);
  const fromStdin = await runCli(['dissect'], { input: readFileSync(mix) });
  assert.equal(fromFile.code, 0, fromFile.stderr);
  assert.equal(fromStdin.code, 0, fromStdin.stderr);
  const lines = fromFile.stdout.trim().split('\n');
  assert.ok(lines.length > 100);
  assert.deepEqual(fromStdin.stdout, fromFile.stdout);
});

test('| head -1 ends the run at once, quietly, with status 0', async () => {
  // A large input: the same capture 20 times through stdin.
  const r = await runShell(`for i in $(seq 20); do cat '${mix}'; done | node bin/run.js dissect --packets | head -1; echo "status=\${PIPESTATUS[1]}"`);
  const [first, status] = r.stdout.trim().split('\n');
  assert.ok(JSON.parse(first).frame === 1);
  assert.equal(status, 'status=0');
  assert.equal(r.stderr.trim(), '');
  const r2 = await runShell(`node bin/run.js dissect '${mix}' | head -1 >/dev/null; echo "status=\${PIPESTATUS[0]}"`);
  assert.equal(r2.stdout.trim(), 'status=0');
  assert.equal(r2.stderr.trim(), '');
});

test('a truncated capture: entries before the damage, then one line naming the byte offset, exit 3', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'shark-trunc-'));
  try {
    const whole = readFileSync(mix);
    const cut = join(dir, 'cut.pcap');
    writeFileSync(cut, whole.subarray(0, Math.floor(whole.length / 2)));
    const r = await runCli(['dissect', cut]);
    assert.equal(r.code, 3);
    const errLines = r.stderr.trim().split('\n');
    assert.equal(errLines.length, 1, r.stderr);
    assert.match(errLines[0], /cut\.pcap: .*at byte \d+/);
    assert.ok(r.stdout.trim().split('\n').length > 10, 'entries before the damage are printed');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('garbage on stdin is refused with one line and exit 3', async () => {
  const r = await runCli(['dissect'], { input: 'this is not a capture\n' });
  assert.equal(r.code, 3);
  assert.match(r.stderr, /^dissect: <stdin>: not a pcap\/pcapng capture/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+/);
});

test('a missing file and an unknown protocol are usage errors (exit 2)', async () => {
  const missing = await runCli(['dissect', 'nope.pcap']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /nope\.pcap: no such file/);
  const bad = await runCli(['dissect', '--protocols', 'http,gopher', mix]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown protocol 'gopher'/);
});

test('--protocols keeps only those protocols; -c stops after N entries', async () => {
  const r = await runCli(['dissect', '--protocols', 'dns,redis', '-c', '5', mix]);
  assert.equal(r.code, 0, r.stderr);
  const entries = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(entries.length, 5);
  for (const e of entries) assert.ok(['dns', 'redis'].includes(e.protocol));
});

test('--packets prints one line per frame, agreeing with tshark on frame count', async () => {
  const r = await runCli(['dissect', '--packets', sharedCapture('tcpdump-dns_tcp.pcap')]);
  assert.equal(r.code, 0, r.stderr);
  const frames = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  const t = await runShell(`tshark -r '${sharedCapture('tcpdump-dns_tcp.pcap')}' -T fields -e frame.number 2>/dev/null | wc -l`);
  assert.equal(frames.length, Number(t.stdout.trim()));
  assert.ok(frames.every((f) => f.transport === 'tcp'));
});

test('a full disk on stdout is one line and exit 6, not a stack trace', async () => {
  const r = await runShell(`node bin/run.js dissect '${mix}' > /dev/full`);
  assert.equal(r.code, 6);
  assert.match(r.stderr.trim(), /^dissect: cannot write output: ENOSPC/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
});

test('flag errors from the parser are one line with exit 2', async () => {
  const r = await runCli(['dissect', '--bogus', mix]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /^dissect: Nonexistent flag: --bogus/);
  const missing = await runCli(['record']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr.trim(), /^record: Missing required flag name; Missing required flag out/);
});

test('progress shows on a terminal only: a spinner with the input and counts on a TTY stderr, nothing in a pipe', async () => {
  // util-linux `script` gives the command a pseudo-terminal; stdout still goes to a file.
  const dir = mkdtempSync(join(tmpdir(), 'shark-tty-'));
  try {
    const big = join(dir, 'big.pcap');
    // Long enough to be seen: the spinner's module loads (~0.1 s) and it redraws every 250 ms while
    // dissection runs, and the lab capture's packets 4 times over take seconds (40 times, as this
    // once used, took ~20 s of CPU per run for nothing more).
    const whole = readFileSync(mix);
    writeFileSync(big, Buffer.concat([whole, ...Array.from({ length: 3 }, () => whole.subarray(24))]));
    const tty = await runShell(`script -qec "stty cols 100; node bin/run.js dissect '${big}' > '${dir}/out.ndjson'" /dev/null`);
    assert.equal(tty.code, 0, tty.stderr);
    assert.match(tty.stdout, /big\.pcap \d+% · \d+ entries|reading…/, 'spinner text on the terminal');
    assert.ok(readFileSync(join(dir, 'out.ndjson'), 'utf8').split('\n').length > 100, 'entries still go to stdout');
    const piped = await runCli(['dissect', big]);
    // The 4 copies repeat every datagram at its own time, as a capture on two interfaces would: read once, and said so.
    const lines = piped.stderr.split('\n').filter((l) => l && !/captured more than once/.test(l));
    assert.deepEqual(lines, [], 'no progress when stderr is not a terminal');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a missing input after a good one: every reading command says so in one line, exit 2, before any output', async () => {
  const commands = [['dissect'], ['filter', 'http'], ['stats'], ['map'], ['catalog'], ['export', '--har'], ['diff']];
  for (const argv of commands) {
    const r = await runCli([...argv, mix, 'typo.pcap']);
    assert.equal(r.code, 2, `${argv.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '', `${argv.join(' ')} wrote before the error`);
    assert.match(r.stderr.trim(), new RegExp(`^${argv[0]}: typo\\.pcap: no such file$`), argv.join(' '));
  }
});
