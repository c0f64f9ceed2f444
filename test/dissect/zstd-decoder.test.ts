// The pure-TypeScript zstd decoder (src/dissect/protocols/util/zstd-decoder.ts): what the real `zstd`
// command compresses (levels 1 to 22, long windows, small blocks, with and without checksum or content
// size, from a file or stdin) comes back byte for byte; hand-made frames cover the header fields zstd
// rarely writes; bombs stop at the bound, quickly; truncated, corrupted and fuzzed input only ever
// gives a Buffer within the bound or a ZstdError. Seeded: reproducible.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ZstdError, zstdDecompress } from '../../src/dissect/protocols/util/zstd-decoder.js';
import { mulberry32 as rng } from '../helpers/random.js';


/** JSON lines with varying numbers and names: compressible the way logs and API bodies are. */
function textLike(size: number, seed: number): Buffer {
  const r = rng(seed);
  const kinds = ['GET', 'POST', 'PUT', 'DELETE'];
  const parts: string[] = [];
  let n = 0;
  while (n < size) {
    const line =
      JSON.stringify({
        id: Math.floor(r() * 1e6),
        method: kinds[Math.floor(r() * 4)],
        path: `/api/v1/users/${Math.floor(r() * 5000)}/orders`,
        status: r() < 0.9 ? 200 : 503,
        latencyMs: Math.round(r() * 100000) / 100,
      }) + '\n';
    parts.push(line);
    n += line.length;
  }
  return Buffer.from(parts.join('')).subarray(0, size);
}

function randomBytes(size: number, seed: number): Buffer {
  const r = rng(seed);
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = (r() * 256) | 0;
  return b;
}

let dir = '';
let fileCount = 0;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'shark-zstd-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** zstd reading stdin: the frame header has no content size. */
function zstdStdin(data: Uint8Array, args: string[] = []): Buffer {
  return execFileSync('zstd', ['-q', '-c', ...args], { input: data, maxBuffer: 1 << 28 });
}

/** zstd reading a file: the frame header says the content size (unless --no-content-size). */
function zstdFile(data: Uint8Array, args: string[] = []): Buffer {
  const path = join(dir, `in-${fileCount++}`);
  writeFileSync(path, data);
  const out = execFileSync('zstd', ['-q', '-c', ...args, path], { maxBuffer: 1 << 28 });
  rmSync(path);
  return out;
}

function roundTrip(data: Buffer, compressed: Buffer, what: string): void {
  const out = zstdDecompress(compressed, data.length + 10);
  assert.equal(out.length, data.length, `${what}: length`);
  assert.ok(out.equals(data), `${what}: content`);
}

/** Calls `f`; anything thrown must be a ZstdError. Returns the result or the error. */
function onlyZstdError(f: () => Buffer): Buffer | ZstdError {
  try {
    return f();
  } catch (e) {
    if (!(e instanceof ZstdError)) throw new Error(`not a ZstdError: ${String(e)}`, { cause: e });
    return e;
  }
}

const text = textLike(1_000_000, 1);
const random = randomBytes(1_000_000, 2);

test('small inputs: empty, one byte, short text, from stdin and from a file', () => {
  const samples = [Buffer.alloc(0), Buffer.from('x'), Buffer.from('hello, zstd! hello, zstd! hello again')];
  for (const data of samples) {
    for (const args of [[], ['--no-check'], ['-19']]) {
      roundTrip(data, zstdStdin(data, args), `stdin ${data.length} ${args.join(' ')}`);
      roundTrip(data, zstdFile(data, args), `file ${data.length} ${args.join(' ')}`);
    }
  }
  // No frame at all is no content.
  assert.equal(zstdDecompress(new Uint8Array(0), 0).length, 0);
});

test('1 MB of text at levels 1, 3, 9, 19 and --ultra -22, from a file and from stdin', () => {
  for (const level of ['-1', '-3', '-9', '-19']) {
    roundTrip(text, zstdFile(text, [level]), `file ${level}`);
  }
  roundTrip(text, zstdStdin(text, ['-3']), 'stdin -3');
  roundTrip(text, zstdStdin(text, ['-19', '--no-check']), 'stdin -19 --no-check');
  const part = text.subarray(0, 300_000);
  roundTrip(part, zstdFile(part, ['--ultra', '-22']), '--ultra -22');
});

test('random bytes (raw blocks), runs of one byte (RLE blocks), mixed', () => {
  roundTrip(random, zstdFile(random, ['-3']), 'random -3');
  roundTrip(random, zstdStdin(random, ['-19']), 'random -19');
  const runs = Buffer.concat([Buffer.alloc(300_000, 0x61), Buffer.alloc(5, 0x62), Buffer.alloc(400_000, 0), Buffer.from('end')]);
  roundTrip(runs, zstdFile(runs, ['-3']), 'runs -3');
  roundTrip(runs, zstdStdin(runs, ['-1']), 'runs -1');
  const mixed = Buffer.concat([text.subarray(0, 100_000), random.subarray(0, 100_000), Buffer.alloc(200_000, 7), text.subarray(0, 50_000)]);
  for (const level of ['-1', '-6', '-19']) roundTrip(mixed, zstdStdin(mixed, [level]), `mixed ${level}`);
});

test('long-distance repeats: --long=24 matches 3 MB back, across many blocks', () => {
  const a = randomBytes(2_000_000, 3);
  const data = Buffer.concat([a, randomBytes(1_000_000, 4), a]);
  const compressed = zstdStdin(data, ['--long=24', '-3']);
  assert.ok(compressed.length < 3_200_000, `the repeat was found (${compressed.length} bytes)`);
  roundTrip(data, compressed, '--long=24');
  // Repeats just inside the default window.
  const near = Buffer.concat([text.subarray(0, 200_000), random.subarray(0, 500_000), text.subarray(0, 200_000)]);
  roundTrip(near, zstdFile(near, ['-9']), 'repeats at 700 KB');
});

test('offsets over 16 MiB (--long=25), blocks of literals only, and over 32,512 sequences in a block', () => {
  const a = randomBytes(300_000, 9);
  const far = Buffer.concat([a, Buffer.alloc(17_000_000, 0x20), a]);
  const compressed = zstdStdin(far, ['--long=25', '-1']);
  assert.ok(compressed.length < 400_000, `the repeat 17 MB back was found (${compressed.length} bytes)`);
  roundTrip(far, compressed, '--long=25');
  // Random letters: Huffman-coded literals, no match worth its offset.
  const r = rng(10);
  const letters = Buffer.alloc(300_000);
  for (let i = 0; i < letters.length; i++) letters[i] = 0x30 + ((r() * 64) | 0);
  roundTrip(letters, zstdStdin(letters, ['-1']), 'literals only');
  // 3-byte words from a set of 1,024: nearly every word is a 3-byte match, 40,000 sequences a block.
  const words = Array.from({ length: 1024 }, () => randomBytes(3, Math.floor(r() * 1e9)));
  const short = Buffer.concat(Array.from({ length: 140_000 }, () => words[Math.floor(r() * words.length)]));
  roundTrip(short, zstdStdin(short, ['-19']), 'short matches');
});

test('small blocks and small windows: --target-compressed-block-size, wlog=10 (1 KiB blocks), -B jobs', () => {
  const part = text.subarray(0, 200_000);
  roundTrip(part, zstdFile(part, ['--target-compressed-block-size=1340']), 'target block size');
  roundTrip(part, zstdStdin(part, ['--zstd=wlog=10', '-19']), 'wlog=10');
  roundTrip(text, zstdFile(text, ['-T2', '-B524288', '-3']), '-B 512 KiB jobs');
});

test('checksum and content size options: --no-check, default check, --no-content-size', () => {
  const part = text.subarray(0, 70_000);
  const withCheck = zstdFile(part);
  const noCheck = zstdFile(part, ['--no-check']);
  assert.equal(withCheck.length, noCheck.length + 4);
  assert.ok(withCheck[4] & 0x04, 'checksum flag set');
  assert.ok(!(noCheck[4] & 0x04), 'checksum flag clear');
  roundTrip(part, withCheck, 'check');
  roundTrip(part, noCheck, 'no check');
  const noSize = zstdFile(part, ['--no-content-size']);
  assert.equal(noSize[4] >> 6, 0, 'no content size field');
  roundTrip(part, noSize, '--no-content-size');
});

test('frames back to back, and skippable frames before, between and after', () => {
  const a = text.subarray(0, 50_000);
  const b = Buffer.from('second frame, second frame, second frame');
  const skippable = (n: number, size: number) => {
    const h = Buffer.alloc(8 + size, 0xee);
    h.writeUInt32LE(0x184d2a50 + n, 0);
    h.writeUInt32LE(size, 4);
    return h;
  };
  const both = Buffer.concat([zstdFile(a), zstdStdin(b)]);
  assert.ok(zstdDecompress(both, 1e6).equals(Buffer.concat([a, b])));
  const skipped = Buffer.concat([skippable(0, 10), zstdStdin(a), skippable(15, 0), zstdFile(b), skippable(3, 3)]);
  assert.ok(zstdDecompress(skipped, 1e6).equals(Buffer.concat([a, b])));
  // A skippable frame longer than the input, and a trailing piece of a magic number.
  assert.throws(() => zstdDecompress(Buffer.concat([zstdStdin(b), skippable(0, 10).subarray(0, 12)]), 1e6), ZstdError);
  assert.throws(() => zstdDecompress(Buffer.concat([zstdStdin(b), Buffer.from([0x28, 0xb5])]), 1e6), ZstdError);
  // The second frame's matches may not reach into the first's content.
  const reused = Buffer.concat([a, a]);
  const twoFrames = Buffer.concat([zstdFile(a), zstdFile(a)]);
  assert.ok(zstdDecompress(twoFrames, 1e6).equals(reused));
});

// A hang or an unbounded loop fails by the timeout; how fast the decoder is belongs to the benchmarks, not here.
test('the output bound: a 50 MB bomb stops at 4 MB; exactly the bound is accepted', { timeout: 30_000 }, () => {
  const zeros = Buffer.alloc(50_000_000);
  for (const [how, compressed] of [
    ['stdin', zstdStdin(zeros, ['-3'])],
    ['file', zstdFile(zeros, ['-19'])],
  ] as const) {
    assert.ok(compressed.length < 10_000, `${how}: tiny input`);
    const over = (e: unknown) => e instanceof ZstdError && /output over 4000000 bytes/.test(e.message);
    assert.throws(() => zstdDecompress(compressed, 4_000_000), over);
  }
  const data = text.subarray(0, 123_457);
  for (const compressed of [zstdStdin(data), zstdFile(data)]) {
    assert.ok(zstdDecompress(compressed, data.length).equals(data));
    assert.throws(() => zstdDecompress(compressed, data.length - 1), /output over 123456 bytes/);
  }
  // Several frames: the bound is for all of them together.
  const twice = Buffer.concat([zstdStdin(data), zstdStdin(data)]);
  assert.equal(zstdDecompress(twice, 2 * data.length).length, 2 * data.length);
  assert.throws(() => zstdDecompress(twice, 2 * data.length - 1), ZstdError);
  assert.throws(() => zstdDecompress(zstdStdin(Buffer.from('abc')), Number.NaN), ZstdError);
});

/** A frame made by hand: header fields given as bytes, then blocks. */
function handFrame(descriptor: number, fields: number[], blocks: Buffer[], checksum = false): Buffer {
  const magic = Buffer.alloc(4);
  magic.writeUInt32LE(0xfd2fb528);
  return Buffer.concat([magic, Buffer.from([descriptor, ...fields]), ...blocks, checksum ? Buffer.alloc(4) : Buffer.alloc(0)]);
}

/** A block: header (Last_Block, Block_Type, Block_Size) and content. */
function handBlock(last: boolean, type: number, size: number, content: Buffer | number[]): Buffer {
  const h = (last ? 1 : 0) | (type << 1) | (size << 3);
  return Buffer.concat([Buffer.from([h & 0xff, (h >> 8) & 0xff, h >> 16]), Buffer.from(content)]);
}

test('hand-made frames: every header field size, raw and RLE blocks', () => {
  const hi = Buffer.from('hello');
  // Single segment, 8-byte content size.
  assert.ok(zstdDecompress(handFrame(0xe0, [5, 0, 0, 0, 0, 0, 0, 0], [handBlock(true, 0, 5, hi)]), 100).equals(hi));
  // Single segment, 2-byte content size (value + 256).
  const big = Buffer.alloc(300, 9);
  assert.ok(zstdDecompress(handFrame(0x60, [300 - 256, 0], [handBlock(true, 1, 300, [9])]), 1000).equals(big));
  // Window descriptor, a 4-byte Dictionary_ID of 0, a 4-byte content size, a checksum; an empty raw block first.
  const frame = handFrame(0x87, [0x00, 0, 0, 0, 0, 10, 0, 0, 0], [handBlock(false, 0, 0, []), handBlock(true, 1, 10, [0x41])], true);
  assert.equal(zstdDecompress(frame, 100).toString(), 'AAAAAAAAAA');
  // No content size, window descriptor only.
  assert.equal(zstdDecompress(handFrame(0x00, [0x00], [handBlock(true, 0, 5, hi)]), 100).toString(), 'hello');
  // Content size that does not match.
  assert.throws(() => zstdDecompress(handFrame(0x20, [6], [handBlock(true, 0, 5, hi)]), 100), /header says 6/);
  // Reserved bit, reserved block type, block over the window (a 1 KiB window takes 1 KiB blocks at most).
  assert.throws(() => zstdDecompress(handFrame(0x28, [5], [handBlock(true, 0, 5, hi)]), 100), /reserved bit/);
  assert.throws(() => zstdDecompress(handFrame(0x00, [0x00], [handBlock(true, 3, 5, hi)]), 100), /reserved block type/);
  assert.throws(() => zstdDecompress(handFrame(0x00, [0x00], [handBlock(true, 1, 1025, [1])]), 10_000), /maximum size/);
  assert.equal(zstdDecompress(handFrame(0x00, [0x00], [handBlock(true, 1, 1024, [1])]), 10_000).length, 1024);
  // Window over 2 GiB; a content size over the bound is refused before any block.
  assert.throws(() => zstdDecompress(handFrame(0x00, [0xb0], [handBlock(true, 0, 5, hi)]), 100), /window/);
  assert.throws(() => zstdDecompress(handFrame(0xe0, [0, 0, 0, 0, 0, 0, 0, 1], []), 100), /output over 100 bytes/);
  // Not a zstd frame at all.
  assert.throws(() => zstdDecompress(Buffer.from('not zstd at all'), 100), /not a zstd frame/);
});

/** A compressed block with raw literals and one sequence whose three codes are RLE_Mode, then its bitstream. */
function oneSequenceBlock(last: boolean, literals: string, codes: [number, number, number], bitstream: number[], modes = 0x54): Buffer {
  const sequences = Buffer.from([1, modes, ...codes, ...bitstream]);
  const content = Buffer.concat([Buffer.from([literals.length << 3]), Buffer.from(literals), sequences]);
  return handBlock(last, 2, content.length, content);
}

test('hand-made sequences: an offset over 32 MiB, repeat offsets, and refusals', () => {
  // 8 bytes, 32 MiB of zeros in RLE blocks, 2 literals, then a match of 8 at offset 2^25 + 10 (back to
  // the 'A'): offset value 2^25 + 13, offset code 25 with 25 extra bits (13), then the end mark (bit 25).
  const rle = Array.from({ length: 256 }, () => handBlock(false, 1, 128 * 1024, [0]));
  const first = handBlock(false, 0, 8, Buffer.from('ABCDEFGH'));
  const big = handFrame(0x00, [0x80], [first, ...rle, oneSequenceBlock(true, 'xy', [2, 25, 5], [13, 0, 0, 0x02])]);
  const out = zstdDecompress(big, 40 * 1024 * 1024);
  assert.equal(out.length, 8 + 2 ** 25 + 2 + 8);
  assert.equal(out.subarray(-10).toString(), 'xyABCDEFGH');

  // "abcdef", then one sequence on the repeat offsets (initially 1, 4, 8).
  const lead = handBlock(false, 0, 6, Buffer.from('abcdef'));
  const decode = (literals: string, codes: [number, number, number], bits: number, modes = 0x54) =>
    zstdDecompress(handFrame(0x00, [0x00], [lead, oneSequenceBlock(true, literals, codes, [bits], modes)]), 100).toString();
  // Offset value 1 (code 0) with literals: repeat offset 1 (= 1).
  assert.equal(decode('gh', [2, 0, 0], 0x01), 'abcdefghhhh');
  // Offset code 1 reads 1 extra bit (0 here): value 2, with 1 literal: repeat offset 2 (= 4).
  assert.equal(decode('g', [1, 1, 1], 0x02), 'abcdefgdefg');
  // No literals: offset value 1 is repeat offset 2 (= 4); value 3 is repeat offset 1 minus one: 0, refused.
  assert.equal(decode('', [0, 0, 0], 0x01), 'abcdefcde');
  assert.throws(() => decode('', [0, 1, 0], 0x03), /repeat offset 0/);
  // Value 3 with literals: repeat offset 3 (= 8), before the frame's start.
  assert.throws(() => decode('a', [1, 1, 0], 0x03), /before the start/);
  // Reserved mode bits; Repeat_Mode with no previous table; a zero last byte; unused bits left.
  assert.throws(() => decode('a', [1, 0, 0], 0x01, 0x55), /reserved/);
  assert.throws(() => decode('a', [1, 0, 0], 0x01, 0xd4), /previous/);
  assert.throws(() => decode('a', [1, 0, 0], 0x00), /end mark/);
  assert.throws(() => decode('a', [1, 0, 0], 0x02), /exactly/);
  // Treeless literals with no previous Huffman tree.
  const treeless = Buffer.from([0x03 | (4 << 4), 0x40, 0x00, 0x80, 0x00]);
  assert.throws(() => zstdDecompress(handFrame(0x00, [0x00], [lead, handBlock(true, 2, treeless.length, treeless)]), 100), /treeless/);
});

test('frames needing a dictionary are refused with ZstdError', () => {
  // Hand-made: a 1-byte Dictionary_ID of 7.
  assert.throws(
    () => zstdDecompress(handFrame(0x01, [0x00, 7], [handBlock(true, 0, 2, [1, 2])]), 100),
    (e: unknown) => e instanceof ZstdError && e.message === 'dictionary not supported',
  );
  // A trained dictionary: its ID is in the frame header.
  const r = rng(5);
  const samples: string[] = [];
  for (let i = 0; i < 200; i++) {
    const path = join(dir, `sample-${i}`);
    writeFileSync(path, textLike(300 + Math.floor(r() * 300), 100 + i));
    samples.push(path);
  }
  const dict = join(dir, 'dict');
  execFileSync('zstd', ['-q', '--train', ...samples, '-o', dict, '--maxdict=4096']);
  const compressed = zstdStdin(textLike(500, 999), ['-D', dict]);
  assert.throws(() => zstdDecompress(compressed, 10_000), /dictionary not supported/);
  // Raw content as a dictionary has no ID: its matches reach before the frame's start.
  const rawDict = join(dir, 'raw-dict');
  writeFileSync(rawDict, text.subarray(0, 20_000));
  const withRaw = zstdStdin(text.subarray(1000, 3000), ['-D', rawDict]);
  assert.throws(() => zstdDecompress(withRaw, 10_000), ZstdError);
});

/** Compressed samples for the damage tests: small, so that thousands of decodes stay fast. */
function damageSamples(): Buffer[] {
  const small = text.subarray(0, 20_000);
  return [
    zstdFile(small, ['-3']),
    zstdStdin(small, ['-19', '--no-check']),
    zstdStdin(textLike(3000, 7), ['-1']),
    zstdFile(Buffer.concat([randomBytes(1500, 8), Buffer.alloc(3000, 1), small.subarray(0, 2000)]), ['-9']),
    zstdStdin(small, ['--zstd=wlog=10', '-6']),
    Buffer.concat([zstdStdin(Buffer.from('a')), zstdFile(small.subarray(0, 4000), ['-12'])]),
  ];
}

test('truncated input: every cut of a frame is a ZstdError', () => {
  for (const sample of damageSamples()) {
    const whole = zstdDecompress(sample, 1e6);
    const cuts = new Set([0, 1, 3, 4, 5, 6, 8, 10, 12, 20, sample.length >> 2, sample.length >> 1, sample.length - 5, sample.length - 1]);
    for (let i = 13; i < sample.length; i += 97) cuts.add(i);
    for (const cut of cuts) {
      if (cut <= 0 || cut >= sample.length) continue;
      const r = onlyZstdError(() => zstdDecompress(sample.subarray(0, cut), 1e6));
      // The sample of two frames may be cut right after its first.
      if (r instanceof Buffer) assert.ok(whole.subarray(0, r.length).equals(r), `cut ${cut} decodes a prefix`);
    }
  }
});

test('corrupted input: each byte of a header and payload altered: a Buffer or a ZstdError', () => {
  for (const sample of damageSamples().slice(0, 3)) {
    for (let i = 0; i < sample.length; i += i < 64 ? 1 : 41) {
      for (const value of [0, 0xff, sample[i] ^ 1, sample[i] ^ 0x80]) {
        const bad = Buffer.from(sample);
        bad[i] = value;
        const r = onlyZstdError(() => zstdDecompress(bad, 100_000));
        if (r instanceof Buffer) assert.ok(r.length <= 100_000);
      }
    }
  }
});

test('fuzz: thousands of seeded mutations, each a Buffer within the bound or a ZstdError', { timeout: 60_000 }, () => {
  const samples = damageSamples();
  const r = rng(2024);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
  const maxOutput = 64 * 1024;
  let errors = 0;
  for (let iter = 0; iter < 4000; iter++) {
    let data = Buffer.from(pick(samples));
    const rounds = 1 + Math.floor(r() * 3);
    for (let k = 0; k < rounds; k++) {
      const kind = Math.floor(r() * 5);
      if (kind === 0) {
        const flips = 1 + Math.floor(r() * 6);
        for (let j = 0; j < flips; j++) data[Math.floor(r() * data.length)] ^= 1 << Math.floor(r() * 8);
      } else if (kind === 1) {
        data = data.subarray(0, Math.floor(r() * data.length));
      } else if (kind === 2) {
        // Splice: a piece of another sample somewhere in this one.
        const other = pick(samples);
        const from = Math.floor(r() * other.length);
        const piece = other.subarray(from, from + 1 + Math.floor(r() * 200));
        const at = Math.floor(r() * data.length);
        data = Buffer.concat([data.subarray(0, at), piece, data.subarray(at + Math.floor(r() * 50))]);
      } else if (kind === 3 && data.length > 0) {
        // Bytes forced to extremes within the first blocks' headers and tables.
        const at = Math.floor(r() * Math.min(data.length, 200));
        data[at] = r() < 0.5 ? 0 : 0xff;
      } else if (data.length > 0) {
        data[Math.floor(r() * data.length)] = Math.floor(r() * 256);
      }
      if (data.length === 0) break;
    }
    const result = onlyZstdError(() => zstdDecompress(data, maxOutput));
    if (result instanceof Buffer) assert.ok(result.length <= maxOutput);
    else errors++;
  }
  assert.ok(errors > 1000, `most mutations are refused (${errors})`);
});

test('partial: a stream cut short gives the blocks before the cut, a prefix of the content; bad data still throws', () => {
  // Small blocks, so that a cut anywhere leaves whole blocks before it.
  const data = text.subarray(0, 200_000);
  const packed = zstdStdin(data, ['-3', '--zstd=wlog=12']);
  let previous = 0;
  for (let cut = 0; cut <= packed.length; cut += Math.max(1, Math.floor(packed.length / 97))) {
    const part = zstdDecompress(packed.subarray(0, cut), data.length, { partial: true });
    assert.ok(data.subarray(0, part.length).equals(part), `cut at ${cut}: a prefix`);
    assert.ok(part.length >= previous, `cut at ${cut}: no shorter than an earlier cut`);
    previous = part.length;
    if (cut > 0 && cut < packed.length) assert.throws(() => zstdDecompress(packed.subarray(0, cut), data.length), ZstdError);
  }
  assert.ok(previous > data.length / 2, 'most of the content comes out before the last blocks');
  assert.ok(zstdDecompress(packed, data.length, { partial: true }).equals(data));
  // A raw block cut short keeps what there is of it.
  const noise = random.subarray(0, 5000);
  const raw = zstdStdin(noise, ['-1']);
  assert.ok(raw.length > noise.length, 'incompressible: a raw block');
  const rawPart = zstdDecompress(raw.subarray(0, raw.length - 1000), noise.length, { partial: true });
  assert.ok(rawPart.length > 3000 && noise.subarray(0, rawPart.length).equals(rawPart), `${rawPart.length} bytes`);
  // Damage is not truncation: a reserved block type right after the frame header (6 bytes: from stdin,
  // no content size) still throws.
  assert.equal(packed[4] & 0xe0, 0, 'no content size, not single segment');
  const damaged = Buffer.concat([packed.subarray(0, 6), Buffer.from([0x07, 0x00, 0x00])]);
  assert.throws(() => zstdDecompress(damaged, data.length, { partial: true }), ZstdError);
  // The bound holds in partial mode too.
  assert.throws(() => zstdDecompress(packed.subarray(0, packed.length - 10), 1000, { partial: true }), /output over 1000 bytes/);
});
