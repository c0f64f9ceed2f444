import { Args, Flags } from '@oclif/core';
import { createReadStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { SharkCommand } from '../cli/base-command.js';
import { ExitCode, UserError } from '../cli/errors.js';
import { LineSink } from '../output/stdout-sink.js';
import { openCapture } from '../pipeline/capture/reader.js';
import { detectKind, inputName, sniff, type InputKind } from '../pipeline/entry-source.js';
import { mergeCaptures } from '../pipeline/merge-captures.js';
import { mergeEntries } from '../pipeline/merge-entries.js';
import { readNdjson } from '../pipeline/ndjson.js';

type Format = 'pcap' | 'pcapng' | 'ndjson';

const READ_CHUNK_BYTES = 256 * 1024;

interface OpenedInput {
  name: string;
  kind: InputKind;
  stream: Readable;
  head: Buffer;
  rest: AsyncIterable<Buffer>;
}

export default class Merge extends SharkCommand {
  static override description = `Merge captures or entry streams from several nodes into one, in timestamp order.

Packet captures (pcap, pcapng, any mix) merge like mergecap: the earliest
packet first, equal timestamps in the order the inputs were given. The output
is pcapng by default (as mergecap's), with the inputs' interfaces written once
when every input has the same ones, else one interface per input interface;
--format pcap works only when all inputs share one link type.
NDJSON entry streams merge by their "timestamp" field into NDJSON.
Captures and NDJSON cannot be mixed. Output goes to stdout unless -w is given
(binary output is not written to a terminal). A damaged input is merged up to
the damage, then one line on stderr says where, and the exit code is 3.`;

  static override examples = [
    '<%= config.bin %> merge -w both.pcapng examples/node-a.pcap examples/node-b.pcap',
    '<%= config.bin %> merge --format pcap examples/node-a.pcap examples/node-b.pcap | tshark -r - | head',
    '<%= config.bin %> dissect examples/node-a.pcap > a.ndjson; <%= config.bin %> dissect examples/node-b.pcap | <%= config.bin %> merge a.ndjson - | head -3',
  ];

  static override strict = false;
  static override args = {
    file: Args.string({ description: 'inputs: pcap, pcapng or NDJSON files; "-" for stdin', required: false }),
  };

  static override flags = {
    write: Flags.string({ char: 'w', description: 'write to this file instead of stdout ("-" for stdout)' }),
    format: Flags.string({
      char: 'F',
      description: 'output format: pcapng (default for captures), pcap, or ndjson (for NDJSON inputs)',
      options: ['pcap', 'pcapng', 'ndjson'],
    }),
  };

  protected async execute(): Promise<number> {
    const { argv, flags } = await this.parse(Merge);
    const paths = argv as string[];
    if (paths.length === 0) throw new UserError('no inputs: give the files to merge ("-" for stdin)');
    if (paths.filter((p) => p === '-').length > 1) throw new UserError('stdin ("-") can be given only once');
    const inputs = await openAll(paths);
    // Ctrl-C or a closed output: stop reading at once (stdin may block for ever), then finish the file.
    const stopReading = () => inputs.forEach((i) => i.stream.destroy());
    this.stop.signal.addEventListener('abort', stopReading, { once: true });
    try {
      const packetInputs = inputs.filter((i) => i.kind === 'pcap' || i.kind === 'pcapng');
      const entryInputs = inputs.filter((i) => i.kind === 'ndjson');
      const format = chooseFormat(flags.format as Format | undefined, packetInputs, entryInputs);
      const toFile = flags.write !== undefined && flags.write !== '-';
      if (!toFile && format !== 'ndjson' && process.stdout.isTTY) {
        throw new UserError('refusing to write a binary capture to a terminal: use -w FILE or a pipe');
      }
      const out: Writable = toFile ? await openOutput(flags.write!) : process.stdout;
      try {
        return format === 'ndjson'
          ? await this.mergeNdjson(entryInputs, out)
          : await this.mergePackets(packetInputs, out, format);
      } catch (err) {
        throw outputError(err, flags.write ?? '<stdout>');
      } finally {
        if (toFile) {
          out.end();
          await Promise.race([once(out, 'close'), once(out, 'error')]).catch(() => undefined);
        }
      }
    } finally {
      this.stop.signal.removeEventListener('abort', stopReading);
      stopReading();
    }
  }

  private async mergePackets(inputs: OpenedInput[], out: Writable, format: 'pcap' | 'pcapng'): Promise<number> {
    const readers = inputs.map((i) => ({ name: i.name, reader: openCapture(i.head, i.rest, i.name) }));
    const result = await mergeCaptures(readers, out, { format, signal: this.stop.signal, onClosed: () => this.outputClosed() });
    return this.reportDamage(result.errors);
  }

  private async mergeNdjson(inputs: OpenedInput[], out: Writable): Promise<number> {
    const warn = (m: string) => process.stderr.write(`merge: ${m}\n`);
    const sources = inputs.map((i) => readNdjson(i.rest, i.name, { prefix: i.head, onBadLine: warn }));
    const sink = new LineSink(out, { onClosed: () => this.outputClosed() });
    const errors: UserError[] = [];
    await mergeEntries(sources, sink, {
      signal: this.stop.signal,
      onSourceError: (_source, err) => {
        if (err instanceof UserError) errors.push(err);
        else if (!this.stop.signal.aborted) throw err;
      },
    });
    return this.reportDamage(errors);
  }

  /** Every damaged input gets its line; the last one is the command's error (exit 3). */
  private reportDamage(errors: UserError[]): number {
    if (errors.length === 0) return ExitCode.OK;
    for (const e of errors.slice(0, -1)) process.stderr.write(`merge: ${e.message}\n`);
    throw errors[errors.length - 1];
  }
}

/** Open the -w file now, so a bad path is a one-line error before any input is read. */
async function openOutput(path: string): Promise<Writable> {
  const out = createWriteStream(path);
  try {
    await once(out, 'open');
  } catch (err) {
    throw outputError(err, path);
  }
  return out;
}

async function openAll(paths: string[]): Promise<OpenedInput[]> {
  const opened: OpenedInput[] = [];
  try {
    for (const path of paths) {
      // 256 KiB reads: one chunk per input is held while merging, so smaller chunks keep RSS low.
      const stream = path === '-' ? process.stdin : createReadStream(path, { highWaterMark: READ_CHUNK_BYTES });
      const name = inputName(path);
      const { head, rest } = await sniff(stream);
      opened.push({ name, kind: detectKind(head), stream, head, rest: { [Symbol.asyncIterator]: () => rest } });
    }
  } catch (err) {
    for (const i of opened) i.stream.destroy();
    throw err;
  }
  return opened;
}

function chooseFormat(flag: Format | undefined, packets: OpenedInput[], entries: OpenedInput[]): Format {
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
