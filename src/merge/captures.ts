// `shark merge` for packets: k-way merge of capture readers into one pcap or
// pcapng stream. Interfaces follow mergecap's default ("-I all"): when every
// input describes the same interfaces they are written once and shared,
// otherwise each (input, interface) gets its own output interface. pcap output
// holds one link type, so mixed link types are refused as mergecap does.

import type { Writable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { ExitCode, InputError, UserError } from '../cli/errors.js';
import type { CaptureInterface, Packet } from '../model/packet.js';
import type { RecordCursor } from '../capture/record-cursor.js';
import type { RecordInfo } from '../capture/record-parser.js';
import type { Staging } from '../capture/byte-sink.js';
import { PcapWriter, PcapngWriter } from '../capture/writer.js';
import { RecordHeap } from './record-heap.js';

export interface CaptureInput {
  name: string;
  /** The input's record cursor, reading into `window`. */
  open(window: Buffer): RecordCursor;
}

export interface MergeCapturesOptions {
  format: 'pcap' | 'pcapng';
  signal?: AbortSignal;
  /** The output's reader went away (EPIPE): stop quietly. */
  onClosed?: () => void;
  /** Output buffer size (one stream write each). */
  bufferBytes?: number;
  /** `out` is done with a buffer once its write called back (a file or process.stdout): reuse output buffers. */
  reuseOutputBuffers?: boolean;
}

export interface MergeCapturesResult {
  packets: number;
  /** One per damaged input, in input order (each input's good packets were merged). */
  errors: InputError[];
}

/** Output is written in buffers of this size: few stream writes, little memory. */
const OUTPUT_BUFFER_BYTES = 1 << 20;
/** Each input's read window: large reads, but bounded memory with many inputs. */
const WINDOW_BYTES = 1 << 20;
const MIN_WINDOW_BYTES = 64 * 1024;
const ALL_WINDOWS_BYTES = 16 << 20;
/** Packets between turns of the event loop, so Ctrl-C and a closed pipe are noticed while reads and writes are synchronous. */
const PACKETS_PER_TURN = 16384;

export function comparePacketTime(a: Packet, b: Packet): number {
  return a.tsSec - b.tsSec || a.tsNsec - b.tsNsec;
}

/**
 * The k-way merge: a heap of inputs keyed by their current record's time (ties:
 * the input given first), each record copied straight from its input's
 * window into the output buffer. No object is made per packet.
 */
export async function mergeCaptures(inputs: CaptureInput[], out: Writable, opts: MergeCapturesOptions): Promise<MergeCapturesResult> {
  const failures = new Map<number, unknown>();
  // One ArrayBuffer holds the output buffer and every input's window, so each
  // record is copied with one copyWithin (ByteSink.copyIn).
  const outBytes = opts.bufferBytes ?? OUTPUT_BUFFER_BYTES;
  const windowBytes = Math.max(MIN_WINDOW_BYTES, Math.min(WINDOW_BYTES, Math.floor(ALL_WINDOWS_BYTES / Math.max(1, inputs.length))));
  // Two output buffers: one is filled while the stream writes the other.
  const arena = Buffer.allocUnsafe(2 * outBytes + inputs.length * windowBytes);
  const staging = { buffers: [arena.subarray(0, outBytes), arena.subarray(outBytes, 2 * outBytes)], reuseAfterWrite: opts.reuseOutputBuffers ?? false };
  const windowsAt = 2 * outBytes;
  const cursors = inputs.map((input, i) => input.open(arena.subarray(windowsAt + i * windowBytes, windowsAt + (i + 1) * windowBytes)));
  const opened = inputs.map((input, i) => ({ name: input.name, cursor: cursors[i] }));
  /** Next record of input `i`; false when it ended or failed (failures are kept for the report). */
  const advance = (i: number): boolean | Promise<boolean> => {
    try {
      const r = cursors[i].advance();
      return typeof r === 'boolean' ? r : r.catch((err: unknown) => (failures.set(i, err), false));
    } catch (err) {
      failures.set(i, err);
      return false;
    }
  };
  const heap = new RecordHeap(cursors.length);
  const first = await Promise.all(cursors.map((_, i) => advance(i)));
  first.forEach((live, i) => {
    if (live) heap.push(i, cursors[i].rec.tsSec, cursors[i].rec.tsNsec);
  });

  const output = PacketOutput.create(opened, out, opts, staging);
  let packets = 0;
  while (heap.size > 0 && !opts.signal?.aborted) {
    const i = heap.top;
    const cursor = cursors[i];
    const wait = output.write(cursor.buf, cursor.rec, i);
    packets++;
    if (wait) {
      await wait;
      if (output.closed) break;
    }
    let live = advance(i);
    if (typeof live !== 'boolean') live = await live;
    if (live) heap.replaceTop(cursor.rec.tsSec, cursor.rec.tsNsec);
    else heap.pop();
    if (packets % PACKETS_PER_TURN === 0) {
      await nextTurn();
      if (output.closed) break;
    }
  }
  await output.end();

  const errors: InputError[] = [];
  for (const [source, err] of [...failures].sort((a, b) => a[0] - b[0])) {
    if (err instanceof InputError) errors.push(err);
    else if (err instanceof UserError) errors.push(new InputError(inputs[source].name, '', err.message));
    else if (!opts.signal?.aborted) throw err; // stopping destroys the inputs: their read errors are expected
  }
  return { packets, errors };
}

interface OpenInput {
  name: string;
  cursor: RecordCursor;
}

/** Chooses the writer and maps (input, interface) to output interfaces. */
class PacketOutput {
  /** outIds[input][interfaceId] → output interface id (pcapng). */
  private readonly outIds: number[][];

  private readonly pcapng: PcapngWriter | undefined;
  private readonly pcap: PcapWriter | undefined;

  private constructor(
    private readonly inputs: OpenInput[],
    writer: PcapWriter | PcapngWriter,
    private readonly shared: boolean,
    private readonly pcapLinkType: number | undefined,
  ) {
    this.outIds = inputs.map(() => []);
    if (writer instanceof PcapngWriter) {
      this.pcapng = writer;
      // Describe every interface known now, in input order, as mergecap does up front.
      inputs.forEach((input, source) => input.cursor.interfaces.forEach((_, id) => this.interfaceFor(source, id)));
    } else {
      this.pcap = writer;
    }
  }

  static create(inputs: OpenInput[], out: Writable, opts: MergeCapturesOptions, staging: Staging): PacketOutput {
    const all = inputs.flatMap((i) => i.cursor.interfaces);
    if (opts.format === 'pcap') {
      const linkTypes = new Set(all.map((i) => i.linkType));
      if (linkTypes.size > 1) throw mixedLinkTypes(inputs);
      const linkType = all[0]?.linkType ?? 1;
      const writer = new PcapWriter(out, {
        linkType,
        snaplen: Math.max(0, ...all.map((i) => i.snaplen)) || undefined,
        nanosecond: all.some((i) => i.tsUnitsPerSec > 1e6),
        onClosed: opts.onClosed,
        staging,
      });
      return new PacketOutput(inputs, writer, true, linkType);
    }
    const signature = (list: CaptureInterface[]) => JSON.stringify(list.map((i) => [i.linkType, i.snaplen, i.tsUnitsPerSec, i.name ?? '']));
    const first = signature(inputs[0]?.cursor.interfaces ?? []);
    const shared = inputs.every((i) => signature(i.cursor.interfaces) === first);
    return new PacketOutput(inputs, new PcapngWriter(out, { onClosed: opts.onClosed, staging }), shared, undefined);
  }

  get closed(): boolean {
    return (this.pcapng ?? this.pcap!).closed;
  }

  /** Copy record `rec` (its bytes in `buf`) of input `source` to the output. */
  write(buf: Buffer, rec: RecordInfo, source: number): Promise<void> | undefined {
    if (this.pcapng) {
      const id = this.outIds[source][rec.interfaceId] ?? this.interfaceFor(source, rec.interfaceId);
      return this.pcapng.writeRecord(buf, rec.dataOff, rec.caplen, rec.origLen, rec.tsSec, rec.tsNsec, id);
    }
    if (rec.linkType !== this.pcapLinkType) throw mixedLinkTypes(this.inputs);
    return this.pcap!.writeRecord(buf, rec.dataOff, rec.caplen, rec.origLen, rec.tsSec, rec.tsNsec);
  }

  end(): Promise<void> {
    return (this.pcapng ?? this.pcap!).end();
  }

  private interfaceFor(source: number, interfaceId: number): number {
    const writer = this.pcapng!;
    const iface = this.inputs[source].cursor.interfaces[interfaceId];
    const key = this.shared ? `shared:${interfaceId}` : `${source}:${interfaceId}`;
    const id = writer.addInterface(iface, key);
    this.outIds[source][interfaceId] = id;
    return id;
  }
}

function mixedLinkTypes(inputs: OpenInput[]): UserError {
  const list = inputs
    .map((i) => `${i.name}: ${[...new Set(i.cursor.interfaces.map((f) => f.linkType))].join('/')}`)
    .join(', ');
  return new UserError(`cannot write pcap: the inputs have different link types (${list}); use --format pcapng`, ExitCode.USAGE);
}
