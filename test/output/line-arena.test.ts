import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ArenaLine, LineArena } from '../../src/output/line-arena.js';

const SLAB = LineArena.SLAB_BYTES;

function bytesOf(line: ArenaLine): string {
  return line.buffer.toString('latin1', line.start, line.start + line.length);
}

/** A line of `n` bytes that says which it is (so a line moved or overwritten shows). */
function lineText(i: number, n: number): string {
  const head = `#${i}:`;
  return (head + String.fromCharCode(97 + (i % 26)).repeat(Math.max(0, n - head.length))).slice(0, Math.max(n, head.length));
}

test('lines keep their bytes through reuse and moves, in any release order', () => {
  const arena = new LineArena();
  let seed = 7;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const held: { line: ArenaLine; text: string }[] = [];
  for (let i = 0; i < 20_000; i++) {
    // Mostly small lines, some a slab eighth or more (buffers of their own).
    const n = rand(50) === 0 ? SLAB / 8 + rand(SLAB / 4) : 1 + rand(4000);
    const text = lineText(i, n);
    const src = Buffer.from(`<<${text}>>`, 'latin1');
    held.push({ line: arena.put(src, 2, src.length - 2), text });
    // Release a random one of the held, now and then several: out of order, as the reorder buffer does.
    for (let k = rand(3); k > 0 && held.length > 0; k--) {
      const j = rand(held.length);
      const [h] = held.splice(j, 1);
      assert.equal(bytesOf(h.line), h.text);
      arena.release(h.line);
    }
  }
  for (const h of held) assert.equal(bytesOf(h.line), h.text);
});

test('one line held long does not keep its slab: slabs in use stay within twice the live bytes', () => {
  const arena = new LineArena();
  const kept: { line: ArenaLine; text: string }[] = [];
  let live = 0;
  let worst = 0;
  const size = 1000;
  // A crafted pattern: per slab's worth of lines, one is held for good and the rest are written.
  for (let i = 0; i < 40 * (SLAB / size); i++) {
    const text = lineText(i, size);
    const line = arena.put(Buffer.from(text, 'latin1'), 0, size);
    if (i % 500 === 0) {
      kept.push({ line, text });
      live += size;
    } else arena.release(line);
    worst = Math.max(worst, arena.usedBytes - 2 * live);
  }
  // 40 slabs written; without moving, each would still be kept by its held lines.
  assert.ok(kept.length >= 80);
  assert.ok(worst <= SLAB, `slabs in use exceeded twice the live bytes by ${worst}`);
  for (const k of kept) assert.equal(bytesOf(k.line), k.text);
});
