// Shared behaviour of every shark command: one-line errors with documented exit
// codes, stack traces only with DEBUG, Ctrl-C that finishes (first) or stops
// (second), and stdout closing (`| head`) treated as a normal end — all in
// CommandRuntime (runtime.ts), which the oclif-free `merge` start shares.

import { Command, Interfaces } from '@oclif/core';

// oclif's parser output shapes (not exported from its public index).
type FlagOutput = { [name: string]: any };
type ArgOutput = { [name: string]: any };
import { CommandRuntime } from './runtime.js';

export abstract class SharkCommand extends Command {
  private readonly runtime = new CommandRuntime(() => this.id ?? 'shark');
  /** Aborted on the first SIGINT/SIGTERM or when stdout's reader goes away. */
  protected readonly stop = this.runtime.stop;

  /** Subclasses do their work here and return the exit code. */
  protected abstract execute(): Promise<number>;

  async run(): Promise<void> {
    await this.runtime.run(() => this.execute());
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
    this.runtime.outputClosed();
  }

  /** Print a one-line error and pick the exit code. */
  protected report(err: unknown): number {
    return this.runtime.report(err);
  }

  /** Parse errors from oclif arrive here before run's try/catch sees them. */
  protected override async catch(err: Error & { exitCode?: number }): Promise<any> {
    const code = this.report(err);
    process.exit(code);
  }
}
