// Shared behaviour of every shark command: one-line errors with documented exit
// codes, stack traces only with DEBUG, Ctrl-C that finishes (first) or stops
// (second), and stdout closing (`| head`) treated as a normal end.

import { Command, Interfaces } from '@oclif/core';

// oclif's parser output shapes (not exported from its public index).
type FlagOutput = { [name: string]: any };
type ArgOutput = { [name: string]: any };
import { ExitCode, UserError, isEpipe } from './errors.js';

export abstract class SharkCommand extends Command {
  /** Aborted on the first SIGINT/SIGTERM or when stdout's reader goes away. */
  protected readonly stop = new AbortController();
  private signalCount = 0;
  private readonly onSignal = (sig: NodeJS.Signals) => {
    this.signalCount++;
    if (this.signalCount > 1) process.exit(ExitCode.INTERRUPTED);
    this.stopReason = sig === 'SIGTERM' ? 'sigterm' : 'sigint';
    this.stop.abort();
  };
  protected stopReason: 'sigint' | 'sigterm' | 'epipe' | undefined;
  /** A non-EPIPE error writing stdout (disk full): reported once, exit 6. */
  private outputFailure: NodeJS.ErrnoException | undefined;

  /** Subclasses do their work here and return the exit code. */
  protected abstract execute(): Promise<number>;

  async run(): Promise<void> {
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
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
    let code: number;
    try {
      code = await this.execute();
    } catch (err) {
      code = this.report(err);
    }
    if (this.outputFailure && code !== ExitCode.OUTPUT) {
      code = this.report(new UserError(`cannot write output: ${this.outputFailure.message}`, ExitCode.OUTPUT));
    }
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
    await drainStdout();
    if (code !== 0) process.exitCode = code;
    // Let Node exit naturally when nothing else is pending, but never hang on a
    // stray handle (a capture socket, a watch): exit explicitly.
    process.exit(code);
  }

  /**
   * oclif reads a piped stdin as the first missing argument (for 10 ms, through
   * readline), which would swallow the head of a capture or entry stream piped
   * into shark. Every shark argument opts out of that.
   */
  protected override async parse<F extends FlagOutput, B extends FlagOutput, A extends ArgOutput>(
    options?: Interfaces.Input<F, B, A>,
    argv?: string[],
  ): Promise<Interfaces.ParserOutput<F, B, A>> {
    const input = options ?? (this.constructor as unknown as Interfaces.Input<F, B, A>);
    for (const arg of Object.values(input.args ?? {})) (arg as { ignoreStdin?: boolean }).ignoreStdin = true;
    return super.parse(input, argv);
  }

  /** Call when stdout's reader closed: stop producing, exit 0. */
  protected outputClosed(): void {
    this.stopReason ??= 'epipe';
    this.stop.abort();
  }

  /** Print a one-line error and pick the exit code. */
  protected report(err: unknown): number {
    if (isEpipe(err)) return ExitCode.OK;
    if (err instanceof UserError) {
      process.stderr.write(`${this.id ?? 'shark'}: ${err.message}\n`);
      if (process.env.DEBUG) process.stderr.write(`${err.stack}\n`);
      return err.exitCode;
    }
    // oclif's own flag/arg parsing errors are usage errors.
    const e = err as { oclif?: { exit?: number }; message?: string; stack?: string };
    if (e && e.oclif) {
      process.stderr.write(`${this.id ?? 'shark'}: ${oneLine(e.message)}\n`);
      return ExitCode.USAGE;
    }
    process.stderr.write(
      `${this.id ?? 'shark'}: internal error: ${firstLine(e?.message ?? String(err))} (a bug: run with DEBUG=1 and report it)\n`,
    );
    if (process.env.DEBUG) process.stderr.write(`${e?.stack}\n`);
    return ExitCode.BUG;
  }

  /** Parse errors from oclif arrive here before run's try/catch sees them. */
  protected override async catch(err: Error & { exitCode?: number }): Promise<any> {
    const code = this.report(err);
    process.exit(code);
  }
}

/** oclif's multi-line parse errors ("The following errors occurred: …") as one line. */
function oneLine(s: string | undefined): string {
  const lines = (s ?? '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^The following errors occurred:?$/.test(l) && !/^See more help with/.test(l));
  return lines.join('; ') + ' (see --help)';
}

function firstLine(s: string | undefined): string {
  return (s ?? '').split('\n')[0].trim();
}

/** Wait until stdout's buffered data reached the OS (or the reader left). */
function drainStdout(): Promise<void> {
  return new Promise((resolve) => {
    if (process.stdout.writableLength === 0 || process.stdout.destroyed) return resolve();
    process.stdout.write('', () => resolve());
    process.stdout.once('error', () => resolve());
  });
}
