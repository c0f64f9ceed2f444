// `shark merge` from paths and flags to an exit code, independent of oclif:
// the oclif command and the oclif-free start (cli/fast-merge.ts) both call
// runMerge. Inputs are sniffed (pcap, pcapng, NDJSON), the output format is
// chosen, and captures go to the k-way capture merge, entries to the entry
// merge; damaged inputs are reported once each, the last as the error.

import { finished } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import { ExitCode, UserError } from '../cli/errors.js';
import { LineSink } from '../output/stdout-sink.js';
import { mergeCaptures } from './captures.js';
import { mergeEntries } from './entries.js';
import { openMergeInputs, type MergeInput } from './inputs.js';
import { readNdjson } from '../ndjson/read.js';
import { outputFromFlags } from '../cli/output-flag.js';
import type { LineFormatter } from '../output/formats/entry-format.js';
import { createRedactor, type Redactor } from '../redact/entry.js';
import { OutputFile } from './output-file.js';

export type MergeFormat = 'pcap' | 'pcapng' | 'ndjson';
export const MERGE_FORMATS: readonly MergeFormat[] = ['pcap', 'pcapng', 'ndjson'];

export interface MergeRunOptions {
  /** -w: a file, or "-"/undefined for stdout. */
  write?: string;
  format?: MergeFormat;
  /** Aborted by Ctrl-C or a closed stdout. */
  signal: AbortSignal;
  /** The output's reader went away (EPIPE). */
  onClosed: () => void;
  /** -o/--output and --color for merged entries (default: compact on a terminal, NDJSON otherwise). */
  output?: string;
  color?: string;
  /** Applied to merged entries (NDJSON inputs); the default redactor when not given. Captures are merged as captured. */
  redact?: Redactor;
}

export async function runMerge(paths: string[], opts: MergeRunOptions): Promise<number> {
  if (paths.length === 0) throw new UserError('no inputs: give the files to merge ("-" for stdin)');
  if (paths.filter((p) => p === '-').length > 1) throw new UserError('stdin ("-") can be given only once');
  const inputs = await openMergeInputs(paths, opts.signal);
  // Ctrl-C or a closed output: stop reading at once (stdin may block for ever), then finish the file.
  const interrupt = () => inputs.forEach((i) => i.interrupt());
  opts.signal.addEventListener('abort', interrupt, { once: true });
  try {
    // Like mergecap, refuse a file that is neither (before anything is written), rather than leave it out unsaid.
    const unknown = inputs.find((i) => i.kind === 'unknown');
    if (unknown) throw new UserError(`${unknown.name}: not a pcap/pcapng capture or NDJSON entries`, ExitCode.BAD_INPUT);
    const packetInputs = inputs.filter((i) => i.kind === 'pcap' || i.kind === 'pcapng');
    const entryInputs = inputs.filter((i) => i.kind === 'ndjson');
    const format = chooseFormat(opts.format, packetInputs, entryInputs);
    const toFile = opts.write !== undefined && opts.write !== '-';
    if (!toFile && format !== 'ndjson' && process.stdout.isTTY) {
      throw new UserError('refusing to write a binary capture to a terminal: use -w FILE or a pipe');
    }
    // A -w file takes its name only when the merge is done (output-file.ts): it may be one of the inputs.
    const file = toFile ? await openOutput(opts.write!) : undefined;
    const out: Writable = file?.stream ?? process.stdout;
    let damage: UserError[];
    try {
      if (format !== 'ndjson') damage = await mergePackets(packetInputs, out, format, opts);
      else {
        // A file gets NDJSON unless -o asks otherwise; stdout follows the terminal rule.
        const entryFormat = toFile && !opts.output ? undefined : outputFromFlags(opts, process.stdout).formatter;
        damage = await mergeNdjson(entryInputs, out, opts, entryFormat);
      }
    } catch (err) {
      if (file) {
        out.end();
        await finished(out).catch(() => undefined);
        file.discard();
      }
      throw outputError(err, opts.write ?? '<stdout>');
    }
    if (file) {
      out.end();
      // finished(), not once('close'): a stream that already failed closed before this line. A small
      // output is written only now, so a full disk shows here first: exit 6, never a silent 0.
      await finished(out).catch((err: unknown) => {
        file.discard();
        throw outputError(err, opts.write!);
      });
      file.commit();
    }
    // A damaged input: what was read of it is merged (and kept), then exit 3.
    return reportDamage(damage);
  } finally {
    opts.signal.removeEventListener('abort', interrupt);
    inputs.forEach((i) => i.close());
  }
}

async function mergePackets(inputs: MergeInput[], out: Writable, format: 'pcap' | 'pcapng', opts: MergeRunOptions): Promise<UserError[]> {
  const captures = inputs.map((i) => ({ name: i.name, open: (window: Buffer) => i.cursor(window) }));
  // `out` is process.stdout or a file stream of ours: both are done with a buffer when they call back.
  const result = await mergeCaptures(captures, out, { format, signal: opts.signal, onClosed: opts.onClosed, reuseOutputBuffers: true });
  return result.errors;
}

async function mergeNdjson(inputs: MergeInput[], out: Writable, opts: MergeRunOptions, format: LineFormatter | undefined): Promise<UserError[]> {
  const warn = (m: string) => process.stderr.write(`merge: ${m}\n`);
  const sources = inputs.map((i) => readNdjson(i.rest(), i.name, { prefix: i.head, onBadLine: warn }));
  const sink = new LineSink(out, { onClosed: opts.onClosed, format });
  const errors: UserError[] = [];
  await mergeEntries(sources, sink, {
    signal: opts.signal,
    redact: opts.redact ?? createRedactor(),
    onSourceError: (_source, err) => {
      if (err instanceof UserError) errors.push(err);
      else if (!opts.signal.aborted) throw err;
    },
  });
  return errors;
}

/** Every damaged input gets its line; the last one is the command's error (exit 3). */
function reportDamage(errors: UserError[]): number {
  if (errors.length === 0) return ExitCode.OK;
  for (const e of errors.slice(0, -1)) process.stderr.write(`merge: ${e.message}\n`);
  throw errors[errors.length - 1];
}

/** Open the -w file now, so a bad path is a one-line error before any input is read. */
async function openOutput(path: string): Promise<OutputFile> {
  try {
    return await OutputFile.open(path);
  } catch (err) {
    throw outputError(err, path);
  }
}

function chooseFormat(flag: MergeFormat | undefined, packets: MergeInput[], entries: MergeInput[]): MergeFormat {
  if (packets.length > 0 && entries.length > 0) {
    throw new UserError(
      `cannot merge packet captures (${packets[0].name}) with NDJSON entries (${entries[0].name}): dissect the captures first (shark dissect ${packets[0].name} > ${packets[0].name}.ndjson)`,
    );
  }
  if (entries.length > 0) {
    if (flag && flag !== 'ndjson') throw new UserError(`--format ${flag}: the inputs are NDJSON entries, which merge into NDJSON only`);
    return 'ndjson';
  }
  if (flag === 'ndjson') {
    if (packets.length > 0) throw new UserError('--format ndjson: the inputs are packet captures; use `shark dissect` to turn them into entries');
    return 'ndjson';
  }
  return flag ?? 'pcapng';
}

/** Failures writing the output are exit 6 with the file named; anything else passes through. */
function outputError(err: unknown, target: string): unknown {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (typeof code !== 'string' || code === 'EPIPE' || err instanceof UserError) return err;
  const what: Record<string, string> = {
    ENOSPC: 'no space left on device',
    EACCES: 'permission denied',
    ENOENT: 'no such directory',
    EISDIR: 'is a directory',
    EROFS: 'read-only file system',
    EDQUOT: 'disk quota exceeded',
  };
  return new UserError(`${target}: cannot write (${what[code] ?? code})`, ExitCode.OUTPUT);
}
