// compileFilter: the one entry point every command uses for KFL expressions
// (filter, stats --check rules, map --filter, record/tap scoping). Parse once,
// compile once, then call `predicate(entry)` per entry.

import type { Entry } from '../model/entry.js';
import { compileKfl1, compileKfl2, type CompileContext } from './compile.js';
import { detectDialect } from './dialect.js';
import { parse, type Dialect } from './parser.js';
import { requiredProtocols } from './prefilter.js';
import { makeProjector, neededFields } from './projection.js';

export { FilterSyntaxError } from './errors.js';
export type { Dialect } from './parser.js';

export interface CompileFilterOptions {
  /** Default 'auto': told apart from the expression itself. */
  dialect?: Dialect | 'auto';
  /** KFL2's now() (Unix ms); default: when compileFilter is called. */
  now?: number;
  /** Told about non-fatal notes (e.g. how a KFL1 and/or mix was grouped). Default: none. */
  onWarning?: (message: string) => void;
}

export interface CompiledFilter {
  /** True when the entry matches. Pure; never throws for any entry shape. */
  predicate: (e: Entry) => boolean;
  dialect: Dialect;
  /** From KFL1 limit(N): stop after N matches. */
  limit?: number;
  /** From KFL1 redact("path", …): field paths to replace with [REDACTED]. */
  redactions?: string[];
  /**
   * When set, the predicate can only be true for entries whose `protocol` is one
   * of these: lets readers skip lines cheaply before parsing them.
   */
  protocols?: string[];
  /**
   * Reads only the fields the predicate needs out of a raw NDJSON line (much
   * cheaper than JSON.parse); `predicate(project(line))` equals
   * `predicate(JSON.parse(line))`. Undefined result: parse the line in full.
   */
  project?: (line: string) => Entry | undefined;
  /** The same for lines read as binary (latin1) strings: readRawLines(…, { binary: true }). */
  projectBinary?: (line: string) => Entry | undefined;
  /** The notes also passed to onWarning. */
  warnings: string[];
  /** With a KFL2 macro: the entries so far that took more than its step limit (cel-macros.ts) and were not matched. */
  entriesOverLimit?: () => number;
  /** KFL2: the entries so far whose evaluation met CEL's error (`x / 0`, `1 + "a"`) and were not matched, and the first error (cel-errors.ts). */
  evalErrors?: () => { entries: number; first: string | undefined };
}

/** Compile a KFL1 or KFL2 expression; throws FilterSyntaxError (exit code 2) with the column. An empty expression matches everything. */
export function compileFilter(expr: string, opts: CompileFilterOptions = {}): CompiledFilter {
  const dialect: Dialect = !opts.dialect || opts.dialect === 'auto' ? detectDialect(expr) : opts.dialect;
  const { ast, warnings } = parse(expr, dialect);
  const ctx: CompileContext = { now: opts.now ?? Date.now(), redactions: [], warnings: [...warnings] };
  const predicate = dialect === 'kfl1' ? compileKfl1(ast, ctx) : compileKfl2(ast, ctx);
  for (const w of ctx.warnings) opts.onWarning?.(w);
  const result: CompiledFilter = { predicate, dialect, warnings: ctx.warnings };
  if (ctx.limit !== undefined) result.limit = ctx.limit;
  if (ctx.redactions.length > 0) result.redactions = ctx.redactions;
  const macros = ctx.macros;
  if (macros) result.entriesOverLimit = () => macros.entriesOver;
  const errors = ctx.errors;
  if (errors && errors.sites > 0) result.evalErrors = () => ({ entries: errors.entries, first: errors.first });
  const protocols = ast ? requiredProtocols(ast) : undefined;
  if (protocols) result.protocols = protocols;
  const fields = neededFields(ast, dialect);
  if (fields) {
    result.project = makeProjector(fields, false, protocols);
    result.projectBinary = makeProjector(fields, true, protocols);
  }
  return result;
}
