// Dissect a capture file in-process (no CLI), collecting entries and the
// error a damaged file ends with.
import { createReadStream } from 'node:fs';
import type { EngineOptions } from '../../src/dissect/engine.js';
import { dissectPackets } from '../../src/dissect/dissect-packets.js';
import { openCapture } from '../../src/capture/reader.js';
import type { Entry } from '../../src/model/entry.js';

export async function dissectFile(path: string, opts: Partial<EngineOptions> = {}): Promise<{ entries: Entry[]; error?: Error }> {
  const entries: Entry[] = [];
  const reader = openCapture(Buffer.alloc(0), createReadStream(path, { highWaterMark: 1 << 16 }), path);
  try {
    for await (const batch of dissectPackets(reader.batches(), opts)) entries.push(...batch);
    return { entries };
  } catch (error) {
    return { entries, error: error as Error };
  }
}
