// Compressed inputs: a capture or entry file saved as .gz, .zst, .xz, .bz2 or
// .lz4 is read as the file itself, as Wireshark 4.2+ reads gzip, zstd and lz4.
// Gzip is inflated in process (node:zlib). The others have no decoder in
// Node 20, so their own command (`zstd -dc`, …) decompresses them in a child
// process, as a stream: memory stays flat however far the data expands.
// Without that command the input is refused in one line that says which
// package provides it. Damage (a file cut short, a bad checksum) is bad input,
// said once with the file's name, after every entry decoded before it.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Readable, type Writable } from 'node:stream';
import { InputError } from '../cli/errors.js';
import { gunzipped, isGzip } from './gzip.js';

interface Format {
  /** Its name in messages ("zstd data"). */
  name: string;
  /** The command that decompresses it to stdout, its arguments, and the Debian package that has it. */
  command: string;
  args: string[];
  pkg: string;
  magic: number[];
}

/** The formats read through their command; magic numbers from each format's spec. */
const BY_COMMAND: Format[] = [
  // The file's header says how large a window to decode with: bounded, since the file may be an
  // attacker's (zstd's default is this bound already; xz has none by default, up to 1.5 GB).
  { name: 'zstd', command: 'zstd', args: ['-dc', '--memory=128MB'], pkg: 'zstd', magic: [0x28, 0xb5, 0x2f, 0xfd] },
  { name: 'xz', command: 'xz', args: ['-dc', '--memlimit-decompress=256MiB'], pkg: 'xz-utils', magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00] },
  // lz4 frames and bzip2 blocks are at most 4 MB and 900 KB.
  { name: 'lz4', command: 'lz4', args: ['-dc'], pkg: 'lz4', magic: [0x04, 0x22, 0x4d, 0x18] },
];

/** bzip2: "BZh" and a block size digit 1–9. */
const BZIP2: Format = { name: 'bzip2', command: 'bzip2', args: ['-dc'], pkg: 'bzip2', magic: [0x42, 0x5a, 0x68] };

/** The compression `head` opens with, if any. */
export function compressionOf(head: Buffer): 'gzip' | Format | undefined {
  if (isGzip(head)) return 'gzip';
  for (const f of BY_COMMAND) if (startsWith(head, f.magic)) return f;
  if (startsWith(head, BZIP2.magic) && head.length > 3 && head[3] >= 0x31 && head[3] <= 0x39) return BZIP2;
  return undefined;
}

/** The decompressed bytes of `head` followed by `rest`, as a stream. */
export function decompressed(format: 'gzip' | Format, head: Buffer, rest: AsyncIterator<Buffer>, name: string): Readable {
  if (format === 'gzip') return gunzipped(head, rest, name);
  return Readable.from(throughCommand(format, head, rest, name), { objectMode: false });
}

function startsWith(head: Buffer, magic: number[]): boolean {
  return head.length >= magic.length && magic.every((b, i) => head[i] === b);
}

/** What is kept of the command's stderr for the one-line message. */
const STDERR_KEPT = 4096;

async function* throughCommand(format: Format, head: Buffer, rest: AsyncIterator<Buffer>, name: string): AsyncGenerator<Buffer> {
  // Its own process group: Ctrl-C reaches shark, which stops reading and flushes, not the command,
  // which would otherwise die first and make the input look damaged. It is killed when reading ends.
  const child = spawn(format.command, format.args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < STDERR_KEPT) stderr += d.toString('utf8');
  });
  // The command stops reading when the data is damaged: the rest of the input is not needed.
  child.stdin.on('error', () => {});
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  try {
    await once(child, 'spawn');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') {
      throw new InputError(name, '', `${format.name}-compressed: reading it needs the \`${format.command}\` command (Debian package ${format.pkg}), which is not on PATH; or decompress it first`);
    }
    throw err;
  }
  let stopped = false;
  let readError: unknown;
  const feeding = feed(child.stdin, head, rest, () => stopped).catch((err: unknown) => {
    readError = err;
    child.stdin.end();
  });
  try {
    for await (const chunk of child.stdout) yield chunk as Buffer;
    await feeding;
    // The compressed file could not be read (EIO, EISDIR): said as such, not as damaged data.
    if (readError !== undefined) throw readError;
    const { code, signal } = await exited;
    if (code !== 0) {
      const said = firstLine(stderr, format.command) ?? (signal ? `killed by ${signal}` : `exit ${code}`);
      throw new InputError(name, '', `cannot decompress the ${format.name} data (${format.command}: ${said})`);
    }
  } finally {
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) child.kill();
    child.stdout.destroy();
    await rest.return?.();
  }
}

/** The command's first line of complaint, without the prefixes that repeat its name or say "stdin". */
function firstLine(stderr: string, command: string): string | undefined {
  let line = stderr.split('\n').map((l) => l.trim()).find((l) => l !== '');
  if (line === undefined) return undefined;
  for (const prefix of [`${command}: `, '(stdin): ', '/*stdin*\\ : ']) if (line.startsWith(prefix)) line = line.slice(prefix.length);
  return line.slice(0, 200);
}

/** Write the compressed bytes to the command as it takes them (its pipe's backpressure), then close its stdin. */
async function feed(stdin: Writable, head: Buffer, rest: AsyncIterator<Buffer>, stopped: () => boolean): Promise<void> {
  let chunk: Buffer | undefined = head;
  while (chunk !== undefined && !stopped() && !stdin.destroyed) {
    if (!stdin.write(chunk)) await drained(stdin);
    const r = await rest.next();
    chunk = r.done ? undefined : r.value;
  }
  stdin.end();
}

/** Until `stdin` takes more, or is closed (the command exited). */
function drained(stdin: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stdin.off('drain', done);
      stdin.off('close', done);
      resolve();
    };
    stdin.on('drain', done);
    stdin.on('close', done);
  });
}
