// Shared by the capture and merge tests: run tshark, feed files in chunks,
// summarise packets as comparable rows.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openCapture } from '../../src/capture/reader.js';
import type { CaptureInterface, Packet } from '../../src/model/packet.js';
import { sharedCaptures } from '../helpers/paths.js';

export interface TsharkResult {
  rows: string[][];
  code: number;
  stderr: string;
}

/** `tshark -r FILE -T fields -e …` (only the frame dissector; the fields asked for are frame's). */
export function tsharkFields(file: string, fields: string[], extra: string[] = []): Promise<TsharkResult> {
  const args = ['-r', file, ...extra, '-T', 'fields', ...fields.flatMap((f) => ['-e', f])];
  return new Promise((resolve, reject) => {
    execFile('tshark', args, { maxBuffer: 256 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      if (err && typeof (err as { code?: unknown }).code !== 'number') return reject(err);
      const rows = stdout
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => l.split('\t'));
      resolve({ rows, code, stderr: stderr.replace(/Running as user "root".*\n?/g, '') });
    });
  });
}

/** Run `fn` over `items` with at most `limit` at once (tshark start-up dominates; 2 cores). */
export async function pool<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export function sharedCaptureFiles(): string[] {
  return readdirSync(sharedCaptures)
    .filter((n) => /\.pcap(ng)?$/.test(n))
    .sort();
}

/** A buffer as an async stream of `size`-byte chunks. */
export async function* chunked(buf: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

export interface ReadResult {
  packets: Packet[];
  interfaces: CaptureInterface[];
  error?: Error;
  format: string;
}

/** Read a whole capture with openCapture, `head` = first `headBytes`, rest in `chunk`-byte pieces. */
export async function readCapture(path: string, chunk = 1 << 20, headBytes = chunk): Promise<ReadResult> {
  const buf = readFileSync(path);
  const reader = openCapture(buf.subarray(0, headBytes), chunked(buf.subarray(headBytes), chunk), path.split('/').pop()!);
  const packets: Packet[] = [];
  try {
    for await (const batch of reader.batches()) packets.push(...batch);
  } catch (error) {
    return { packets, error: error as Error, format: reader.format, interfaces: reader.interfaces };
  }
  return { packets, format: reader.format, interfaces: reader.interfaces };
}

export function sharedPath(name: string): string {
  return join(sharedCaptures, name);
}

/** tshark's frame.time_epoch ("sec.nnnnnnnnn", digits beyond 9 kept as tshark prints them) → [sec, nsec]. */
export function parseEpoch(text: string): [number, number] {
  const [sec, frac = '0'] = text.split('.');
  return [Number(sec), Number(frac.length < 9 ? frac.padEnd(9, '0') : frac)];
}
