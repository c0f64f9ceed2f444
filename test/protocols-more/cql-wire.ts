// CQL frames and bodies as bytes, for the byte-level tests (cql.test.ts,
// cql-compressed.test.ts): a client and server written by hand, since
// Cassandra is not in Debian.

export function frame(version: number, stream: number, opcode: number, body: Buffer, flags = 0): Buffer {
  const h = Buffer.alloc(9);
  h[0] = version;
  h[1] = flags;
  h.writeInt16BE(stream, 2);
  h[4] = opcode;
  h.writeInt32BE(body.length, 5);
  return Buffer.concat([h, body]);
}
export const short = (n: number): Buffer => Buffer.from([n >> 8, n & 255]);
export const int = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
export const str = (s: string): Buffer => Buffer.concat([short(Buffer.byteLength(s)), Buffer.from(s)]);
export const longStr = (s: string): Buffer => Buffer.concat([int(Buffer.byteLength(s)), Buffer.from(s)]);
export const map = (m: Record<string, string>): Buffer => Buffer.concat([short(Object.keys(m).length), ...Object.entries(m).flatMap(([k, v]) => [str(k), str(v)])]);
export const query = (q: string, v: number): Buffer => Buffer.concat([longStr(q), short(1), v >= 5 ? int(0) : Buffer.from([0])]);
export const rowsResult = (n: number): Buffer => Buffer.concat([int(2), int(1), int(1), str('ks'), str('t'), str('k'), short(0x0d), int(n)]);
export const syntaxError = (m: string): Buffer => Buffer.concat([int(0x2000), str(m)]);
