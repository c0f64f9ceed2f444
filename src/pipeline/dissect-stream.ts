// A capture stream (already sniffed as pcap/pcapng) dissected into entries.
import type { Entry } from '../model/entry.js';
import { dissectPackets, type EngineOptions } from '../dissect/engine.js';
import { openCapture } from './capture/reader.js';
import type { EntrySourceOptions } from './entry-source.js';

export async function* dissectStream(
  head: Buffer,
  rest: AsyncIterable<Buffer>,
  name: string,
  opts: EntrySourceOptions,
): AsyncGenerator<Entry[]> {
  const reader = openCapture(head, rest, name);
  yield* dissectPackets(reader.batches(), { ...(opts.dissect as Partial<EngineOptions>), signal: opts.signal });
}
