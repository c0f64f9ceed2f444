// Protobuf messages built field by field from their .proto definitions, for readers tested on
// messages no real client here sends.

export function varint(n: number): number[] {
  const out: number[] = [];
  for (; n >= 0x80; n = Math.floor(n / 128)) out.push((n & 0x7f) | 0x80);
  out.push(n);
  return out;
}

/** A length-delimited field. */
export function len(field: number, body: Buffer | string): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body) : body;
  return Buffer.concat([Buffer.from([(field << 3) | 2, ...varint(b.length)]), b]);
}

/** A varint field. */
export function uint(field: number, value: number): Buffer {
  return Buffer.from([(field << 3) | 0, ...varint(value)]);
}
