// KFL expressions (stats rules, map --filter) compiled through src/filter.
// Loaded lazily so that `stats` without rules never pays for the compiler.

import { UserError, ExitCode } from '../cli/errors.js';
import type { Entry } from '../model/entry.js';

export type EntryPredicate = (e: Entry) => boolean;

type CompileFilter = (expr: string, opts?: Record<string, unknown>) => { predicate(e: Entry): boolean };

let compiler: Promise<CompileFilter> | undefined;

async function loadCompiler(): Promise<CompileFilter> {
  // Module paths in variables: the filter package is built by another part of
  // the project and its entry file name is looked up rather than assumed.
  for (const path of ['../filter/index.js', '../filter/compile.js']) {
    try {
      const mod = (await import(path)) as { compileFilter?: CompileFilter };
      if (typeof mod.compileFilter === 'function') return mod.compileFilter;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err;
    }
  }
  throw new UserError('KFL filters are not available in this build', ExitCode.USAGE);
}

/** Compile a KFL expression; syntax errors are UserErrors whose message ends "at column N". */
export async function compileKfl(expr: string): Promise<EntryPredicate> {
  compiler ??= loadCompiler();
  const compile = await compiler;
  const compiled = compile(expr);
  return (e) => compiled.predicate(e);
}
