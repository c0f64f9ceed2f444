// `shark merge` for packets: k-way merge of capture readers into one pcap or
// pcapng stream. Interfaces follow mergecap's default ("-I all"): when every
// input describes the same interfaces they are written once and shared,
// otherwise each (input, interface) gets its own output interface. pcap output
// holds one link type, so mixed link types are refused as mergecap does.

import type { Writable } from 'node:stream';
import { ExitCode, InputError, UserError } from '../cli/errors.js';
import type { CaptureInterface, Packet } from '../model/packet.js';
import type { CaptureReader } from './capture/reader.js';
import { PcapWriter, PcapngWriter, type PacketWriter } from './capture/writer.js';
import { mergeOrdered } from './merge.js';

export interface CaptureInput {
  name: string;
  reader: CaptureReader;
}

export interface MergeCapturesOptions {
  format: 'pcap' | 'pcapng';
  signal?: AbortSignal;
  /** The output's reader went away (EPIPE): stop quietly. */
  onClosed?: () => void;
}

export interface MergeCapturesResult {
  packets: number;
  /** One per damaged input, in input order (each input's good packets were merged). */
  errors: InputError[];
}

export function comparePacketTime(a: Packet, b: Packet): number {
  return a.tsSec - b.tsSec || a.tsNsec - b.tsNsec;
}

export async function mergeCaptures(inputs: CaptureInput[], out: Writable, opts: MergeCapturesOptions): Promise<MergeCapturesResult> {
  const failures = new Map<number, unknown>();
  const merged = mergeOrdered(
    inputs.map((i) => i.reader.batches()),
    comparePacketTime,
    { signal: opts.signal, onSourceError: (source, err) => failures.set(source, err) },
  );
  let output: PacketOutput | undefined;
  let packets = 0;
  try {
    for await (const { items, sources } of merged) {
      output ??= PacketOutput.create(inputs, out, opts);
      for (let i = 0; i < items.length; i++) {
        const wait = output.write(items[i], sources[i]);
        if (wait) await wait;
      }
      packets += items.length;
      if (output.closed) break;
    }
    output ??= PacketOutput.create(inputs, out, opts);
    await output.end();
  } finally {
    await merged.return(undefined);
  }
  const errors: InputError[] = [];
  for (const [source, err] of [...failures].sort((a, b) => a[0] - b[0])) {
    if (err instanceof InputError) errors.push(err);
    else if (err instanceof UserError) errors.push(new InputError(inputs[source].name, '', err.message));
    else if (!opts.signal?.aborted) throw err; // stopping destroys the inputs: their read errors are expected
  }
  return { packets, errors };
}

/** Chooses the writer and maps (input, interface) to output interfaces. */
class PacketOutput {
  /** outIds[input][interfaceId] → output interface id (pcapng). */
  private readonly outIds: number[][];

  private constructor(
    private readonly inputs: CaptureInput[],
    private readonly writer: PacketWriter,
    private readonly shared: boolean,
    private readonly pcapLinkType: number | undefined,
  ) {
    this.outIds = inputs.map(() => []);
    if (writer instanceof PcapngWriter) {
      // Describe every interface known now, in input order, as mergecap does up front.
      inputs.forEach((input, source) => input.reader.interfaces.forEach((_, id) => this.interfaceFor(source, id)));
    }
  }

  static create(inputs: CaptureInput[], out: Writable, opts: MergeCapturesOptions): PacketOutput {
    const all = inputs.flatMap((i) => i.reader.interfaces);
    if (opts.format === 'pcap') {
      const linkTypes = new Set(all.map((i) => i.linkType));
      if (linkTypes.size > 1) throw mixedLinkTypes(inputs);
      const linkType = all[0]?.linkType ?? 1;
      const writer = new PcapWriter(out, {
        linkType,
        snaplen: Math.max(0, ...all.map((i) => i.snaplen)) || undefined,
        nanosecond: all.some((i) => i.tsUnitsPerSec > 1e6),
        onClosed: opts.onClosed,
      });
      return new PacketOutput(inputs, writer, true, linkType);
    }
    const signature = (list: CaptureInterface[]) => JSON.stringify(list.map((i) => [i.linkType, i.snaplen, i.tsUnitsPerSec, i.name ?? '']));
    const first = signature(inputs[0]?.reader.interfaces ?? []);
    const shared = inputs.every((i) => signature(i.reader.interfaces) === first);
    return new PacketOutput(inputs, new PcapngWriter(out, { onClosed: opts.onClosed }), shared, undefined);
  }

  get closed(): boolean {
    return this.writer.closed;
  }

  write(p: Packet, source: number): Promise<void> | void {
    if (this.writer instanceof PcapngWriter) {
      const id = this.outIds[source][p.interfaceId] ?? this.interfaceFor(source, p.interfaceId);
      return this.writer.write(p, id);
    }
    if (p.linkType !== this.pcapLinkType) throw mixedLinkTypes(this.inputs);
    return this.writer.write(p);
  }

  end(): Promise<void> {
    return this.writer.end();
  }

  private interfaceFor(source: number, interfaceId: number): number {
    const writer = this.writer as PcapngWriter;
    const iface = this.inputs[source].reader.interfaces[interfaceId];
    const key = this.shared ? `shared:${interfaceId}` : `${source}:${interfaceId}`;
    const id = writer.addInterface(iface, key);
    this.outIds[source][interfaceId] = id;
    return id;
  }
}

function mixedLinkTypes(inputs: CaptureInput[]): UserError {
  const list = inputs
    .map((i) => `${i.name}: ${[...new Set(i.reader.interfaces.map((f) => f.linkType))].join('/')}`)
    .join(', ');
  return new UserError(`cannot write pcap: the inputs have different link types (${list}); use --format pcapng`, ExitCode.USAGE);
}
