// An NDJSON entry file with every kind of damage one thread reports or skips,
// spread through real entries (dissected corpus captures): broken JSON, wrong
// types, blank and whitespace lines, CRLF, lines longer than a worker's block
// (256 KB) and ring (1 MB), and a last line without its newline. The tests of
// entry files read on workers (parallel-ndjson.ts) compare against one thread on it.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { dissectedOnce } from './dissected.js';
import { sharedCaptures } from './paths.js';

/** Writes the file to `path`; `extra` lines are mixed in too (every 50th place). */
export async function writeDamagedEntries(path: string, extra: string[] = []): Promise<void> {
  const lines: string[] = [];
  for (const name of ['lab-bookinfo-mix.pcap', 'zeek-http-methods.pcap', 'tcpdump-dns_udp.pcap', 'ndpi-kafka.pcapng']) {
    // The same captures for every call: dissected once per test process.
    lines.push(...(await dissectedOnce(join(sharedCaptures, name))).trim().split('\n'));
  }
  assert.ok(lines.length > 1000, `${lines.length} entries`);
  const long = (n: number): string => {
    const e = JSON.parse(lines[1]);
    e.request.path = `/${'x'.repeat(n)}`;
    return JSON.stringify(e);
  };
  const mixed: string[] = [];
  lines.forEach((l, i) => {
    if (i % 97 === 5) mixed.push('{"broken": ');
    if (i % 131 === 7) mixed.push('', '   ', 'not json');
    if (i % 151 === 9) mixed.push('{"id":"1-1","timestamp":"yesterday"}');
    if (i % 50 === 25 && extra.length > 0) mixed.push(extra[(i / 50) % extra.length | 0]);
    if (i === 300) mixed.push(long(300_000)); // longer than a block (256 KB): in pieces, to one worker
    if (i === 700) mixed.push(long(1_500_000)); // longer than a worker's ring (1 MB)
    mixed.push(i % 173 === 11 ? `${l}\r` : l);
  });
  mixed.push('{"last line without a newline": ');
  writeFileSync(path, mixed.join('\n'));
}
