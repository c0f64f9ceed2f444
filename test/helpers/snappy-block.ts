// A Snappy block of literals only: the uncompressed length, then literals of at most 60 bytes. It is
// what a compressor emits for input with nothing to repeat, and any reader must take it; tests that
// need real compression use python-snappy.

import { varint } from './protobuf-wire.js';

export function snappyBlock(data: Buffer): Buffer {
  return Buffer.concat([Buffer.from(varint(data.length)), ...snappyLiterals(data)]);
}

/** Snappy literal elements (60 bytes each at most) for `data`. */
export function snappyLiterals(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < data.length; at += 60) {
    const piece = data.subarray(at, at + 60);
    out.push(Buffer.from([(piece.length - 1) << 2]), piece);
  }
  return out;
}
