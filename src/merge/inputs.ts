// Opening `merge`'s inputs: each file's first bytes tell what it holds
// (pcap, pcapng, NDJSON). A capture file is then walked by a RecordCursor
// reading the same descriptor synchronously; NDJSON continues as a stream
// from where the sniffing read stopped; stdin ("-"), named pipes and gzip
// files are streams either way (a synchronous read of a silent pipe would block the
// thread, and Ctrl-C with it).

import { createReadStream, openSync, readSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { ExitCode, UserError } from '../cli/errors.js';
import { FileSource, RecordCursor, StreamSource } from '../capture/record-cursor.js';
import { detectKind, inputName, isFifo, openInput, sniff, withoutBom, type InputKind } from '../input/entries.js';
import { compressionOf } from '../input/compressed.js';
import { inputReadError } from '../input/read-error.js';
import { checkStdin } from '../input/stdin.js';

/** Bytes read to tell the format (NDJSON may open with whitespace). */
const SNIFF_BYTES = 64 * 1024;
const NDJSON_CHUNK_BYTES = 256 * 1024;

export interface MergeInput {
  name: string;
  kind: InputKind;
  /** Capture inputs: the record walker, reading into `window`. */
  cursor(window?: Buffer): RecordCursor;
  /** NDJSON inputs: the first bytes and the stream of the rest. */
  head: Buffer;
  rest(): AsyncIterable<Buffer>;
  /** Ctrl-C or a closed output: unblock a stream that may wait for ever (stdin); files are read synchronously and need nothing. */
  interrupt(): void;
  /** Release the file. */
  close(): void;
}

/** Stopped (`signal`) while a pipe has not written yet, that input is empty. */
export async function openMergeInputs(paths: string[], signal?: AbortSignal, stdin: Readable = process.stdin): Promise<MergeInput[]> {
  const opened: MergeInput[] = [];
  try {
    for (const path of paths) {
      if (path === '-') {
        checkStdin(stdin);
        opened.push(await openStream(stdin, path, signal));
      }
      else if (isFifo(path)) opened.push(await openStream(openInput(path), path, signal));
      else opened.push(openFile(path) ?? (await openStream(openInput(path), path, signal)));
    }
  } catch (err) {
    for (const i of opened) i.close();
    throw err;
  }
  return opened;
}

async function openStream(stream: Readable, path: string, signal?: AbortSignal): Promise<MergeInput> {
  const name = inputName(path);
  const { head, rest } = await sniff(stream, name, signal);
  const close = () => stream.destroy();
  return {
    name,
    kind: detectKind(head),
    head,
    cursor: (window) => new RecordCursor(name, new StreamSource(rest, close), head, window),
    rest: () => ({ [Symbol.asyncIterator]: () => rest }),
    interrupt: close,
    close,
  };
}

/** A regular file, walked with synchronous reads; undefined for a compressed file (read decompressed, as a stream). */
function openFile(path: string): MergeInput | undefined {
  let fd: number;
  let head: Buffer;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw openError(err, path);
  }
  const source = new FileSource(fd);
  try {
    const buf = Buffer.allocUnsafe(SNIFF_BYTES);
    head = buf.subarray(0, readSync(fd, buf, 0, SNIFF_BYTES, null));
  } catch (err) {
    source.close();
    throw openError(err, path);
  }
  if (compressionOf(head)) {
    source.close();
    return undefined;
  }
  head = withoutBom(head);
  let stream: Readable | undefined;
  return {
    name: inputName(path),
    kind: detectKind(head),
    head,
    cursor: (window) => new RecordCursor(path, source, head, window),
    // The descriptor's position is just past the head: the stream carries on from there.
    rest: () => (stream = createReadStream('', { fd, highWaterMark: NDJSON_CHUNK_BYTES })),
    interrupt: () => stream?.destroy(),
    close: () => (stream ? stream.destroy() : source.close()),
  };
}

/** The same one-line messages as the streaming inputs of the other commands. */
function openError(err: unknown, path: string): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  // Every input stays open for the k-way merge: more inputs than descriptors is a usage limit, said as such.
  if (code === 'EMFILE' || code === 'ENFILE') {
    return new UserError(
      `${path}: cannot open: too many open files (the merge holds every input open; raise \`ulimit -n\` or merge in groups: shark merge a*.pcap -w a.pcapng, then merge the groups)`,
      ExitCode.USAGE,
    );
  }
  // Nothing was read yet: a failing read (EIO) is at byte 0.
  return inputReadError(err, path, 0);
}
