// A capture stream (already sniffed as pcap/pcapng) dissected into entries.
// Packets of a link type shark cannot decode are counted and, after every
// entry of the rest, reported as bad input (exit 3): a capture of an unknown
// link type must not look like a capture with no traffic.
import type { Entry } from '../model/entry.js';
import type { PacketBatch } from '../model/packet-batch.js';
import type { DissectionEngine, EngineOptions, Held } from '../dissect/engine.js';
import { dissectPackets } from '../dissect/dissect-packets.js';
import { dissectionNotes } from './dissect-summary.js';
import { dissectsLinkType } from '../dissect/decode/link.js';
import { InputError } from '../cli/errors.js';
import { openCapture } from '../capture/reader.js';
import { SECRETS_TLS_KEYLOG } from '../capture/pcapng-parser.js';
import { TlsKeyLog } from '../dissect/tls/keylog.js';
import { aggregateSpec, type EntrySourceOptions } from './entries.js';
import { projectObject, specToWire } from '../ndjson/project-object.js';

export async function* dissectStream(
  head: Buffer,
  rest: AsyncIterable<Buffer>,
  name: string,
  opts: EntrySourceOptions,
): AsyncGenerator<Entry[]> {
  // A consumer that reads a few fields (opts.project) gets only those, as from NDJSON; workers project before serialising.
  const fields = opts.project;
  if ((opts.workers ?? 1) > 1 && opts.parallel) {
    const { parallelEntries } = await import('./parallel-entries.js');
    const aggregate = opts.aggregate;
    // Aggregating on the workers: they redact (as the consumer would) and keep their entries.
    const spec = aggregate
      ? aggregateSpec(opts.parallel, aggregate, fields)
      : fields
        ? { ...opts.parallel, project: specToWire(fields) }
        : opts.parallel;
    const numbering = (opts.dissect as Partial<EngineOptions> | undefined)?.numbering;
    yield* parallelEntries(head, rest, name, { workers: opts.workers as number, spec, signal: opts.signal, onWarning: opts.onWarning ?? (() => {}), onAggregate: aggregate?.into, numbering });
    return;
  }
  const engine = opts.dissect as Partial<EngineOptions> | undefined;
  // Secrets a pcapng carries (Decryption Secrets Blocks) join the --tls-keylog ones; an empty log decrypts nothing.
  const tlsKeys = engine?.tlsKeys ?? new TlsKeyLog();
  const onSecrets = (type: number, data: Buffer): void => {
    if (type === SECRETS_TLS_KEYLOG) tlsKeys.addText(data.toString('latin1'), (line, why) => opts.onWarning?.(`${name}: decryption secrets block line ${line}: ${why}; skipped`));
  };
  const reader = openCapture(head, rest, name, { onSecrets });
  const unknown = new UnknownLinkTypes();
  let run: DissectionEngine | undefined;
  let entries = 0;
  // A caller that asks for the engine (dissect's own run, dissect-run.ts) sums and reports the totals itself.
  const callerRef = (engine as { engineRef?: (e: DissectionEngine) => void } | undefined)?.engineRef;
  const engineRef = (e: DissectionEngine): void => {
    run = e;
    callerRef?.(e);
  };
  const options = { ...engine, tlsKeys, signal: opts.signal, engineRef };
  try {
    if (fields) {
      // Projected as emitted: only the few fields wait for their place in request order (EngineOptions.hold).
      const hold = (e: Entry): Held => new HeldFields(e.timestamp, projectObject(e, fields));
      for await (const batch of dissectPackets(unknown.watch(reader.packetBatches()), { ...options, hold })) {
        entries += batch.length;
        yield batch.map((h) => (h as unknown as HeldFields).fields as unknown as Entry);
      }
    } else {
      for await (const batch of dissectPackets(unknown.watch(reader.packetBatches()), options)) {
        entries += batch.length;
        yield batch;
      }
    }
  } finally {
    // Also when stopped or damaged: what was lost up to there is still news.
    const e = run as DissectionEngine | undefined;
    if (e && !callerRef) for (const note of dissectionNotes(name, { packets: e.packets, entries, counters: e.summary() }, engine?.tlsKeys !== undefined)) opts.onWarning?.(note);
  }
  unknown.throwIfSeen(name);
}

/** An entry's wanted fields, held for ordering by the entry's time. */
class HeldFields {
  constructor(
    readonly timestamp: number,
    readonly fields: Record<string, unknown>,
  ) {}
}

export class UnknownLinkTypes {
  private count = 0;
  private firstFrame = 0;
  private readonly types = new Set<number>();

  async *watch<B extends PacketBatch>(batches: AsyncIterable<B>): AsyncGenerator<B> {
    // Captures hold one link type, or a few: remember the last one checked.
    let known = -1;
    for await (const batch of batches) {
      for (let i = 0; i < batch.length; i++) {
        const type = batch.linkType(i);
        if (type === known) continue;
        if (dissectsLinkType(type)) known = type;
        else this.seen(type, batch.packet(i).frame);
      }
      yield batch;
    }
  }

  private seen(linkType: number, frame: number): void {
    if (this.count++ === 0) this.firstFrame = frame;
    this.types.add(linkType);
  }

  throwIfSeen(name: string): void {
    if (this.count === 0) return;
    const types = [...this.types].sort((a, b) => a - b).join(', ');
    throw new InputError(name, `(first at frame ${this.firstFrame})`, `${this.count} packet(s) of link type ${types}, which shark cannot dissect,`);
  }
}
