// A bounded walk over protobuf's wire format for readers that count a few
// fields of a known message (remote write, Loki pushes) without a schema
// library: each field's number, wire type and, for length-delimited fields,
// its bytes. It stops at the first malformed byte and says so.

export const VARINT = 0;
export const I64 = 1;
export const LEN = 2;
export const I32 = 5;

/**
 * Call `visit` for each top-level field of a message: its bytes for a length-delimited field (else
 * empty), and for a varint its value (NaN past 35 bits: the counters read here never are). False when
 * the message is malformed or `visit` said stop.
 */
export function walk(buf: Buffer, visit: (field: number, wire: number, value: Buffer, n: number) => boolean): boolean {
  let p = 0;
  while (p < buf.length) {
    const key = varint(buf, p);
    if (!key) return false;
    p = key.next;
    const wire = key.value & 7;
    const field = Math.floor(key.value / 8);
    let value: Buffer = EMPTY;
    let n = NaN;
    if (wire === VARINT) {
      const v = varint(buf, p);
      if (v) {
        n = v.value;
        p = v.next;
      } else {
        const next = skipVarint(buf, p);
        if (next < 0) return false;
        p = next;
      }
    } else if (wire === I64) p += 8;
    else if (wire === I32) p += 4;
    else if (wire === LEN) {
      const len = varint(buf, p);
      if (!len || len.next + len.value > buf.length) return false;
      value = buf.subarray(len.next, len.next + len.value);
      p = len.next + len.value;
    } else return false; // groups are not in these messages
    if (p > buf.length) return false;
    if (!visit(field, wire, value, n)) return false;
  }
  return true;
}

const EMPTY = Buffer.alloc(0);

/** A varint of up to 35 bits (keys, lengths and symbol references all fit); null past that or at the end. */
export function varint(buf: Buffer, p: number): { value: number; next: number } | null {
  let value = 0;
  for (let shift = 0; shift <= 28; shift += 7) {
    if (p >= buf.length) return null;
    const b = buf[p++];
    value += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return { value, next: p };
  }
  return null;
}

/** Past a varint of any length protobuf allows (ten bytes: a negative int64); -1 when malformed. */
function skipVarint(buf: Buffer, p: number): number {
  for (let i = 0; i < 10 && p < buf.length; i++) if ((buf[p++] & 0x80) === 0) return p;
  return -1;
}

export function packedVarints(buf: Buffer): number[] | null {
  const out: number[] = [];
  let p = 0;
  while (p < buf.length) {
    const v = varint(buf, p);
    if (!v) return null;
    out.push(v.value);
    p = v.next;
  }
  return out;
}
