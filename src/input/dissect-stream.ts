// A capture stream (already sniffed as pcap/pcapng) dissected into entries.
// Packets of a link type shark cannot decode are counted and, after every
// entry of the rest, reported as bad input (exit 3): a capture of an unknown
// link type must not look like a capture with no traffic.
import type { Entry } from '../model/entry.js';
import type { Packet } from '../model/packet.js';
import { dissectPackets, type EngineOptions } from '../dissect/engine.js';
import { dissectsLinkType } from '../dissect/decode/link.js';
import { InputError } from '../cli/errors.js';
import { openCapture } from '../capture/reader.js';
import { SECRETS_TLS_KEYLOG } from '../capture/pcapng-parser.js';
import { TlsKeyLog } from '../dissect/tls/keylog.js';
import type { EntrySourceOptions } from './entries.js';

export async function* dissectStream(
  head: Buffer,
  rest: AsyncIterable<Buffer>,
  name: string,
  opts: EntrySourceOptions,
): AsyncGenerator<Entry[]> {
  if ((opts.workers ?? 1) > 1 && opts.parallel) {
    const { parallelEntries } = await import('./parallel-entries.js');
    yield* parallelEntries(head, rest, name, { workers: opts.workers as number, spec: opts.parallel, signal: opts.signal, onWarning: opts.onWarning ?? (() => {}) });
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
  yield* dissectPackets(unknown.watch(reader.batches()), { ...engine, tlsKeys, signal: opts.signal });
  unknown.throwIfSeen(name);
}

export class UnknownLinkTypes {
  private count = 0;
  private firstFrame = 0;
  private readonly types = new Set<number>();

  async *watch(batches: AsyncIterable<Packet[]>): AsyncGenerator<Packet[]> {
    // Captures hold one link type, or a few: remember the last one checked.
    let known = -1;
    for await (const batch of batches) {
      for (const p of batch) {
        if (p.linkType === known) continue;
        if (dissectsLinkType(p.linkType)) known = p.linkType;
        else this.seen(p);
      }
      yield batch;
    }
  }

  private seen(p: Packet): void {
    if (this.count++ === 0) this.firstFrame = p.frame;
    this.types.add(p.linkType);
  }

  throwIfSeen(name: string): void {
    if (this.count === 0) return;
    const types = [...this.types].sort((a, b) => a - b).join(', ');
    throw new InputError(name, `(first at frame ${this.firstFrame})`, `${this.count} packet(s) of link type ${types}, which shark cannot dissect,`);
  }
}
