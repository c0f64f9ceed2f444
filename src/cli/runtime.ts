// What every shark command does around its work, without oclif: one-line
// errors with documented exit codes (stack traces only with DEBUG), Ctrl-C
// that finishes (first) or stops (second), stdout closing (`| head`) treated
// as a normal end, and an explicit exit once stdout drained. SharkCommand
// (oclif) uses it, and so does the oclif-free start of `merge` (fast-merge.ts),
// so both behave the same.

import { ExitCode, UserError, isEpipe } from './errors.js';

export type StopReason = 'sigint' | 'sigterm' | 'epipe';

/**
 * A signal this soon after the first is the same interruption, not a second
 * Ctrl-C: `timeout -s INT` sends its signal to the command and then to the
 * command's process group (which holds the command), so one stop arrives
 * twice, microseconds apart. Whether the two were merged by the kernel or
 * reached Node as two depended on which thread took the first; with worker
 * threads they were sometimes two, and the second cut the output short.
 */
const SAME_SIGNAL_MS = 300;

/** Whether stderr's 'error' listener is installed (once a process: fast-merge and SharkCommand may both install). */
let stderrWatched = false;

export class CommandRuntime {
  /** Aborted on the first SIGINT/SIGTERM or when stdout's reader goes away. */
  readonly stop = new AbortController();
  stopReason: StopReason | undefined;
  /** When the first SIGINT/SIGTERM came (performance.now()). */
  private firstSignalAt: number | undefined;
  /** A non-EPIPE error writing stdout (disk full): reported once, exit 6. */
  private outputFailure: NodeJS.ErrnoException | undefined;
  private readonly onSignal = (sig: NodeJS.Signals) => {
    const now = performance.now();
    if (this.firstSignalAt !== undefined) {
      // A second Ctrl-C stops at once; the first one's copy (SAME_SIGNAL_MS) does nothing more.
      if (now - this.firstSignalAt >= SAME_SIGNAL_MS) process.exit(ExitCode.INTERRUPTED);
      return;
    }
    this.firstSignalAt = now;
    this.stopReason = sig === 'SIGTERM' ? 'sigterm' : 'sigint';
    this.stop.abort();
  };

  /** `name` gives the command's name for error lines ("merge: …"). */
  constructor(private readonly name: () => string) {}

  /** Take over SIGINT/SIGTERM and stdout's errors for the run. */
  install(): void {
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
    this.watchStdout();
    this.watchStderr();
  }

  /**
   * stderr's reader leaving is no failure of the run: `export --har 2>&1 | head -1`
   * closes both at once, and the summary written to stderr afterwards raised an
   * 'error' nobody listened to, which ended the process with status 1 and a stack
   * trace nobody could read. Messages for a reader that left are dropped; the
   * data (stdout) decides the exit code.
   */
  watchStderr(): void {
    if (stderrWatched) return;
    stderrWatched = true;
    process.stderr.on('error', () => {
      // Nowhere left to report to, whatever the error: stdout's own handling decides the exit code.
    });
  }

  /** Take over stdout's errors: its reader leaving stops the run (exit 0), a failed write is reported once at exit (6). */
  watchStdout(): void {
    // oclif's own stdout 'error' listener rethrows anything but EPIPE as an
    // uncaught exception (a stack trace for a full disk): replace it.
    process.stdout.removeAllListeners('error');
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (isEpipe(err)) this.outputClosed();
      else {
        this.outputFailure ??= err;
        this.stop.abort();
      }
    });
  }

  /** Run `work`, report its failure, wait for stdout, exit with its code. */
  async run(work: () => Promise<number>): Promise<never> {
    this.install();
    let code: number;
    try {
      code = await work();
    } catch (err) {
      code = this.report(err);
    }
    return this.exit(code);
  }

  /** Call when stdout's reader closed: stop producing, exit 0. */
  outputClosed(): void {
    this.stopReason ??= 'epipe';
    this.stop.abort();
  }

  /** Print a one-line error and pick the exit code. */
  report(err: unknown): number {
    if (isEpipe(err)) return ExitCode.OK;
    if (err instanceof UserError) {
      process.stderr.write(`${this.name()}: ${err.message}\n`);
      if (process.env.DEBUG) process.stderr.write(`${err.stack}\n`);
      return err.exitCode;
    }
    // oclif's own flag/arg parsing errors are usage errors.
    const e = err as { oclif?: { exit?: number }; message?: string; stack?: string; args?: unknown };
    if (e && e.oclif) {
      process.stderr.write(`${this.name()}: ${missingArgs(e.args) ?? oneLine(e.message)}\n`);
      return ExitCode.USAGE;
    }
    process.stderr.write(`${this.name()}: internal error: ${firstLine(e?.message ?? String(err))} (a bug: run with DEBUG=1 and report it)\n`);
    if (process.env.DEBUG) process.stderr.write(`${e?.stack}\n`);
    return ExitCode.BUG;
  }

  /** Finish: a stdout failure overrides success, signals are released, stdout drains, the process exits. */
  async exit(code: number): Promise<never> {
    // Drain first: a write that failed (disk full) reports it only on a later tick.
    await drainStdout();
    const failure = this.outputFailure ?? stdoutFailure();
    if (failure && code !== ExitCode.OUTPUT) {
      code = this.report(new UserError(`cannot write output: ${failure.message}`, ExitCode.OUTPUT));
    }
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
    if (code !== 0) process.exitCode = code;
    // Let Node exit naturally when nothing else is pending, but never hang on a
    // stray handle (a capture socket, a watch): exit explicitly.
    process.exit(code);
  }
}

/**
 * oclif's multi-line parse errors ("The following errors occurred: …") as one
 * line, without its advice on flags that take several values (a note on
 * `--decode-as` under every missing argument) and its "see more help" line.
 */
function oneLine(s: string | undefined): string {
  const lines = (s ?? '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^The following errors occurred:?$/.test(l) && !/^See more help with/.test(l) && !/^Note: .* allows? multiple values/.test(l) && !/^Alternatively, you can use "--"/.test(l));
  return lines.join('; ') + ' (see --help)';
}

/** oclif's "Missing 1 required arg" (a RequiredArgsError: the arguments it lacks) as one line naming them. */
function missingArgs(args: unknown): string | undefined {
  if (!Array.isArray(args) || args.length === 0) return undefined;
  const named = args.filter((a): a is { name: string; description?: string } => typeof a?.name === 'string');
  if (named.length !== args.length) return undefined;
  const what = named.map((a) => (a.description ? `${a.name.toUpperCase()} (${a.description})` : a.name.toUpperCase())).join(', ');
  return `missing argument${named.length === 1 ? '' : 's'} ${what} (see --help)`;
}

function firstLine(s: string | undefined): string {
  return (s ?? '').split('\n')[0].trim();
}

/** Wait until stdout's buffered data reached the OS (or the reader left, or writing failed). */
function drainStdout(): Promise<void> {
  return new Promise((resolve) => {
    // Even with nothing buffered, let a pending 'error' of the last write be emitted.
    if (process.stdout.writableLength === 0 || process.stdout.destroyed) return setImmediate(resolve);
    process.stdout.write('', () => resolve());
    process.stdout.once('error', () => resolve());
  });
}

/** A write to stdout that failed for another reason than its reader leaving (EPIPE). */
function stdoutFailure(): NodeJS.ErrnoException | undefined {
  const err = process.stdout.errored as NodeJS.ErrnoException | null;
  return err && !isEpipe(err) ? err : undefined;
}
