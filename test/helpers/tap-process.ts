// `shark tap` run as a child process by the cluster tests: its output as it comes, a wait for a
// condition on it, and its exit (killed if it does not come).
import { spawn, type ChildProcess } from 'node:child_process';
import { cliBin } from './paths.js';

export interface Tap {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
}

/** `shark tap ARGS`, with `env` added to this process's environment. */
export function spawnTap(args: string[], env: Record<string, string> = {}): Tap {
  const child = spawn(process.execPath, [cliBin, 'tap', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exit = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  return { child, stdout: () => out, stderr: () => err, exit };
}

/** Polls `cond` every 50 ms; throws after `ms`, with the tap's stderr when given. */
export async function until(cond: () => boolean, what: string, ms: number, tap?: Tap): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${tap ? `\nstderr:\n${tap.stderr()}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The tap's exit code; it is killed afterwards either way (a test that failed must not leave it running). */
export async function exited(tap: Tap, ms = 30_000): Promise<number | null> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([tap.exit, new Promise<never>((_, rej) => (t = setTimeout(() => rej(new Error(`tap did not exit\n${tap.stderr()}`)), ms)))]);
  } finally {
    clearTimeout(t);
    tap.child.kill('SIGKILL');
  }
}

/**
 * An agent for the API-server fixture's exec that captures nothing: it says it captures (so the tap
 * counts it running), echoes what the CLI tells it on stderr (`told: …`), and ends at "stop".
 */
export function echoAgent(command: string[]): ChildProcess {
  const script = `process.stderr.write('agent: capturing on any\\n');
    process.stdin.setEncoding('utf8').on('data', (d) => { process.stderr.write('told: ' + d); if (d.includes('"stop"')) process.exit(0); });
    process.stdin.on('end', () => process.exit(0));`;
  return spawn(process.execPath, ['-e', script, '--', ...command], { stdio: ['pipe', 'pipe', 'pipe'] });
}
