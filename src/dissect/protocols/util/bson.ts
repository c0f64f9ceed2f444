// BSON (MongoDB's document format) to plain JSON values, bounded: nesting,
// element count and string length are capped so a hostile document cannot
// grow memory or the stack. Types JSON lacks are written the way MongoDB's
// relaxed Extended JSON writes them ({"$oid": …}, {"$date": …}).
// Spec: https://bsonspec.org/spec.html

const MAX_DEPTH = 32;
const MAX_ELEMENTS = 5000;
const MAX_STRING = 4096;

export class BsonError extends Error {}

interface Budget {
  elements: number;
}

/** Decode the document at `off`; returns it and its length. Throws BsonError on malformed input. */
export function decodeBson(buf: Buffer, off = 0): { doc: Record<string, unknown>; length: number } {
  const budget: Budget = { elements: 0 };
  const doc = readDocument(buf, off, 0, budget, false) as Record<string, unknown>;
  return { doc, length: buf.readInt32LE(off) };
}

function need(buf: Buffer, off: number, n: number): void {
  if (n < 0 || off + n > buf.length) throw new BsonError('truncated');
}

function cstring(buf: Buffer, off: number, end: number): { s: string; next: number } {
  const z = buf.indexOf(0, off);
  if (z < 0 || z >= end) throw new BsonError('unterminated name');
  return { s: buf.toString('utf8', off, Math.min(z, off + MAX_STRING)), next: z + 1 };
}

function readDocument(buf: Buffer, off: number, depth: number, budget: Budget, array: boolean): Record<string, unknown> | unknown[] {
  need(buf, off, 5);
  const len = buf.readInt32LE(off);
  if (len < 5) throw new BsonError('bad length');
  need(buf, off, len);
  const end = off + len - 1;
  if (buf[end] !== 0) throw new BsonError('no terminator');
  if (depth >= MAX_DEPTH) return array ? ['…'] : { $truncated: true };
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  const list: unknown[] = [];
  let p = off + 4;
  while (p < end) {
    const type = buf[p];
    const name = cstring(buf, p + 1, end);
    p = name.next;
    const r = readValue(buf, p, end, type, depth, budget);
    p = r.next;
    if (++budget.elements > MAX_ELEMENTS) {
      if (array) list.push('…');
      else out.$truncated = true;
      break;
    }
    if (array) list.push(r.value);
    else out[name.s] = r.value;
  }
  if (p !== end && budget.elements <= MAX_ELEMENTS) throw new BsonError('element overruns document');
  return array ? list : { ...out };
}

function int64(buf: Buffer, off: number): number | { $numberLong: string } {
  const v = buf.readBigInt64LE(off);
  return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : { $numberLong: v.toString() };
}

function bsonString(buf: Buffer, off: number, end: number): { s: string; next: number } {
  need(buf, off, 4);
  const n = buf.readInt32LE(off);
  if (n < 1 || off + 4 + n > end) throw new BsonError('bad string');
  return { s: buf.toString('utf8', off + 4, off + 4 + Math.min(n - 1, MAX_STRING)), next: off + 4 + n };
}

function readValue(buf: Buffer, p: number, end: number, type: number, depth: number, budget: Budget): { value: unknown; next: number } {
  const fixed = (n: number): void => {
    if (p + n > end) throw new BsonError('truncated value');
  };
  switch (type) {
    case 0x01:
      fixed(8);
      return { value: finite(buf.readDoubleLE(p)), next: p + 8 };
    case 0x02:
    case 0x0d:
    case 0x0e: {
      const s = bsonString(buf, p, end);
      return { value: type === 0x0d ? { $code: s.s } : s.s, next: s.next };
    }
    case 0x03:
    case 0x04: {
      need(buf, p, 4);
      const len = buf.readInt32LE(p);
      if (len < 5 || p + len > end) throw new BsonError('bad subdocument');
      return { value: readDocument(buf, p, depth + 1, budget, type === 0x04), next: p + len };
    }
    case 0x05: {
      fixed(5);
      const len = buf.readInt32LE(p);
      if (len < 0 || p + 5 + len > end) throw new BsonError('bad binary');
      const bytes = buf.subarray(p + 5, p + 5 + Math.min(len, MAX_STRING));
      return { value: { $binary: { base64: bytes.toString('base64'), subType: buf[p + 4].toString(16).padStart(2, '0') } }, next: p + 5 + len };
    }
    case 0x06:
      return { value: { $undefined: true }, next: p };
    case 0x07:
      fixed(12);
      return { value: { $oid: buf.toString('hex', p, p + 12) }, next: p + 12 };
    case 0x08:
      fixed(1);
      return { value: buf[p] !== 0, next: p + 1 };
    case 0x09: {
      fixed(8);
      const ms = Number(buf.readBigInt64LE(p));
      const d = new Date(ms);
      return { value: { $date: Number.isNaN(d.getTime()) ? ms : d.toISOString() }, next: p + 8 };
    }
    case 0x0a:
      return { value: null, next: p };
    case 0x0b: {
      const pattern = cstring(buf, p, end);
      const options = cstring(buf, pattern.next, end);
      return { value: { $regularExpression: { pattern: pattern.s, options: options.s } }, next: options.next };
    }
    case 0x0c: {
      const s = bsonString(buf, p, end);
      if (s.next + 12 > end) throw new BsonError('bad dbpointer');
      return { value: { $dbPointer: { $ref: s.s, $id: { $oid: buf.toString('hex', s.next, s.next + 12) } } }, next: s.next + 12 };
    }
    case 0x0f: {
      fixed(4);
      const len = buf.readInt32LE(p);
      if (len < 14 || p + len > end) throw new BsonError('bad code with scope');
      const code = bsonString(buf, p + 4, p + len);
      const scope = readDocument(buf, code.next, depth + 1, budget, false);
      return { value: { $code: code.s, $scope: scope }, next: p + len };
    }
    case 0x10:
      fixed(4);
      return { value: buf.readInt32LE(p), next: p + 4 };
    case 0x11:
      fixed(8);
      return { value: { $timestamp: { t: buf.readUInt32LE(p + 4), i: buf.readUInt32LE(p) } }, next: p + 8 };
    case 0x12:
      fixed(8);
      return { value: int64(buf, p), next: p + 8 };
    case 0x13:
      fixed(16);
      return { value: { $numberDecimal: `0x${buf.toString('hex', p, p + 16)}` }, next: p + 16 };
    case 0xff:
      return { value: { $minKey: 1 }, next: p };
    case 0x7f:
      return { value: { $maxKey: 1 }, next: p };
    default:
      throw new BsonError(`unknown type 0x${type.toString(16)}`);
  }
}

function finite(n: number): number | { $numberDouble: string } {
  return Number.isFinite(n) ? n : { $numberDouble: String(n) };
}
