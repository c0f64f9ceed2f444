// Schema-less protobuf decoding: without the .proto, the wire format still
// tells field numbers, wire types and values. Length-delimited fields are
// ambiguous (string, bytes or a nested message); they are shown as a nested
// message when the bytes parse cleanly as one, as text when they read as
// UTF-8, else as base64. Never throws.

import { looksLikeText } from './util/text.js';

export type WireTypeName = 'varint' | 'i64' | 'len' | 'sgroup' | 'egroup' | 'i32';
const WIRE_NAMES: Array<WireTypeName | undefined> = ['varint', 'i64', 'len', 'sgroup', 'egroup', 'i32'];

export interface ProtoField {
  field: number;
  wireType: WireTypeName;
  /** varint: unsigned value (string when beyond 2^53); i32/i64: unsigned integer; len: text. */
  value?: number | string;
  /** varint: the zigzag (sint) reading when it differs in sign. */
  sint?: number | string;
  /** i32/i64: the IEEE float reading. */
  float?: number;
  /** len: parsed as a nested message. */
  message?: ProtoField[];
  /** len: neither text nor a message. */
  bytes?: string;
}

const MAX_DEPTH = 8;
const MAX_FIELDS = 500;

/** Decode a whole message; null when the bytes are not a well-formed message. */
export function decodeProtobuf(buf: Buffer, depth = 0): ProtoField[] | null {
  const fields: ProtoField[] = [];
  let pos = 0;
  while (pos < buf.length) {
    if (fields.length >= MAX_FIELDS) return fields;
    const key = readVarint(buf, pos);
    if (!key) return null;
    pos = key.next;
    const keyValue = Number(key.value);
    const field = Math.floor(keyValue / 8);
    const wire = WIRE_NAMES[keyValue & 7];
    if (field < 1 || field > 536870911 || wire === undefined) return null;
    switch (wire) {
      case 'varint': {
        const v = readVarint(buf, pos);
        if (!v) return null;
        pos = v.next;
        const out: ProtoField = { field, wireType: wire, value: bigToJson(v.value) };
        if (v.value & 1n) out.sint = bigToJson(-((v.value + 1n) >> 1n));
        fields.push(out);
        break;
      }
      case 'i64': {
        if (pos + 8 > buf.length) return null;
        fields.push({
          field,
          wireType: wire,
          value: bigToJson(buf.readBigUInt64LE(pos)),
          float: buf.readDoubleLE(pos),
        });
        pos += 8;
        break;
      }
      case 'i32': {
        if (pos + 4 > buf.length) return null;
        fields.push({ field, wireType: wire, value: buf.readUInt32LE(pos), float: buf.readFloatLE(pos) });
        pos += 4;
        break;
      }
      case 'len': {
        const len = readVarint(buf, pos);
        if (!len || len.value > BigInt(buf.length - len.next)) return null;
        pos = len.next;
        const body = buf.subarray(pos, pos + Number(len.value));
        pos += body.length;
        fields.push(describeBytes(field, body, depth));
        break;
      }
      case 'sgroup':
      case 'egroup':
        // Deprecated groups: shown as markers, their content follows as fields.
        fields.push({ field, wireType: wire });
        break;
    }
  }
  return fields;
}

function describeBytes(field: number, body: Buffer, depth: number): ProtoField {
  // Printable text wins over a nested guess: short strings often happen to parse as messages.
  if (body.length > 0 && looksLikeText(body) && isMostlyPrintable(body)) {
    return { field, wireType: 'len', value: body.toString('utf8') };
  }
  if (depth < MAX_DEPTH && body.length > 0) {
    const nested = decodeProtobuf(body, depth + 1);
    if (nested && nested.length > 0) return { field, wireType: 'len', message: nested };
  }
  if (body.length === 0) return { field, wireType: 'len', value: '' };
  return { field, wireType: 'len', bytes: body.toString('base64') };
}

function isMostlyPrintable(body: Buffer): boolean {
  // looksLikeText accepts tab/CR/LF; a protobuf message rarely consists only of
  // bytes >= 0x20, so requiring that keeps nested messages from reading as text.
  for (const c of body) if (c < 0x20 && c !== 0x0a && c !== 0x09 && c !== 0x0d) return false;
  return true;
}

function readVarint(buf: Buffer, pos: number): { value: bigint; next: number } | null {
  let result = 0n;
  let shift = 0n;
  for (let i = 0; i < 10; i++) {
    if (pos + i >= buf.length) return null;
    const b = buf[pos + i];
    result |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return { value: result, next: pos + i + 1 };
    shift += 7n;
  }
  return null;
}

function bigToJson(v: bigint): number | string {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
}
