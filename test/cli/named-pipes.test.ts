// A named pipe as an input (`mkfifo p; tcpdump -w p & shark dissect p`), stopped
// by Ctrl-C or SIGTERM at the two moments a pipe can leave a reader waiting:
// before its writer has written anything, and after a writer wrote a whole
// capture and then stays silent with the pipe open. Every command ends at once
// (never waiting for the writer), exits 0, and prints all it was given.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliBin, repoRoot } from '../helpers/paths.js';

const capture = join(repoRoot, 'examples', 'bookinfo-mix.pcap');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** How long a stopped run may take to end (a run that waits for the writer never does). */
const END_WITHIN_MS = 5_000;

interface Stopped {
  code: number | null;
  stdout: Buffer;
  stderr: string;
  tookMs: number;
}

/**
 * `shark <args> <fifo>`; `feed` bytes are written into the pipe (and it is kept
 * open), then after `settleMs` the run gets `signal`. The pipe's writer is closed
 * only after the run ended (or was killed for not ending).
 */
async function stopOnPipe(args: string[], feed: Buffer | undefined, signal: NodeJS.Signals, settleMs: number): Promise<Stopped> {
  const dir = mkdtempSync(join(tmpdir(), 'shark-named-pipe-'));
  const fifo = join(dir, 'in');
  execFileSync('mkfifo', [fifo]);
  let writer: number | undefined;
  try {
    const child = spawn(process.execPath, [cliBin, ...args, fifo], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    if (feed) {
      // Opening for writing waits for the reader: the run has the pipe open then.
      writer = openSync(fifo, 'w');
      const before = bytesRead(child.pid as number);
      writeSync(writer, feed);
      // The pipe holds 64 KB: the run may not have read it yet. A stop before it has would rightly cut it short.
      await untilRead(child.pid as number, before + feed.length);
    } else {
      // Not before the run has the pipe open (its signal handlers are in place by then:
      // a loaded machine can take over a second to start seven runs).
      await untilOpen(child.pid as number, fifo);
    }
    await sleep(settleMs);
    child.kill(signal);
    const stoppedAt = Date.now();
    const killer = setTimeout(() => child.kill('SIGKILL'), END_WITHIN_MS * 2);
    const code = await closed;
    clearTimeout(killer);
    return { code, stdout: Buffer.concat(out), stderr, tookMs: Date.now() - stoppedAt };
  } finally {
    if (writer !== undefined) closeSync(writer);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Bytes process `pid` has read so far (rchar in /proc/PID/io: files and pipes alike). */
function bytesRead(pid: number): number {
  try {
    return Number(/rchar: (\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'latin1'))?.[1] ?? 0);
  } catch {
    return Infinity; // gone: the exit code tells
  }
}

/** Waits (up to 30 s) until process `pid` has read `total` bytes and then nothing more for 300 ms. */
async function untilRead(pid: number, total: number): Promise<void> {
  const until = Date.now() + 30_000;
  let last = -1;
  let since = Date.now();
  while (Date.now() < until) {
    const now = bytesRead(pid);
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (now >= total && Date.now() - since >= 300) return;
    await sleep(50);
  }
}

/** Waits (up to 30 s) until process `pid` has `path` open. */
async function untilOpen(pid: number, path: string): Promise<void> {
  const until = Date.now() + 30_000;
  while (Date.now() < until) {
    try {
      if (readdirSync(`/proc/${pid}/fd`).some((fd) => readlinkOrEmpty(`/proc/${pid}/fd/${fd}`) === path)) return;
    } catch {
      return; // gone: the exit code tells
    }
    await sleep(50);
  }
}

function readlinkOrEmpty(link: string): string {
  try {
    return readlinkSync(link);
  } catch {
    return '';
  }
}

/** Each command as the pipe's reader, and what it prints for the whole capture read from a file. */
const COMMANDS: { args: string[]; binary?: boolean }[] = [
  { args: ['dissect', '--workers', '1'] },
  { args: ['dissect', '--workers', '2'] },
  { args: ['dissect', '--packets'] },
  { args: ['stats', '--format', 'json', '--workers', '1'] },
  { args: ['map', '--format', 'json'] },
  { args: ['filter', 'http', '--workers', '1'] },
  { args: ['merge', '-F', 'pcap'], binary: true },
];

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} while a named pipe's writer has not written yet: every command ends at once, exit 0`, { timeout: 120_000 }, async () => {
    const runs = await Promise.all(COMMANDS.map((c) => stopOnPipe(c.args, undefined, signal, 500)));
    runs.forEach((r, i) => {
      const what = COMMANDS[i].args.join(' ');
      assert.ok(r.tookMs < END_WITHIN_MS, `${what}: ended ${r.tookMs} ms after ${signal} (${r.stderr})`);
      assert.equal(r.code, 0, `${what}: ${r.stderr}`);
      assert.equal(r.stderr, '', what);
    });
  });
}

test('Ctrl-C after a writer wrote a whole capture and stays silent: every command ends at once with everything the capture holds', { timeout: 120_000 }, async () => {
  const feed = readFileSync(capture);
  const args = (c: (typeof COMMANDS)[number]): string[] => (c.binary ? [...c.args, '-w', '-'] : c.args);
  // What each prints for the capture read from a file.
  const fromFile = COMMANDS.map((c) => execFileSync(process.execPath, [cliBin, ...args(c), capture], { cwd: repoRoot, maxBuffer: 1 << 26 }));
  const runs = await Promise.all(COMMANDS.map((c) => stopOnPipe(args(c), feed, 'SIGINT', 1_000)));
  runs.forEach((r, i) => {
    const what = COMMANDS[i].args.join(' ');
    assert.ok(r.tookMs < END_WITHIN_MS, `${what}: ended ${r.tookMs} ms after SIGINT (${r.stderr})`);
    assert.equal(r.code, 0, `${what}: ${r.stderr}`);
    assert.ok(fromFile[i].length > 0, what);
    assert.ok(r.stdout.equals(fromFile[i]), `${what}: ${r.stdout.length} bytes, ${fromFile[i].length} from the file`);
  });
});
