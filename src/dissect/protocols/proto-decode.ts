// Protobuf decoding with a schema (from --proto): field names, scalar types,
// enums by name, nested messages, maps and packed repeated fields, as
// protobuf's canonical JSON mapping writes them (64-bit integers as strings,
// bytes as base64). Fields the schema does not know are kept by number. Never
// throws: a message that does not match its schema yields null.

import type { FieldDef, MessageDef, ProtoSchema } from './proto-schema.js';

const MAX_DEPTH = 16;
const MAX_FIELDS = 2000;

class Reader {
  pos = 0;
  constructor(
    readonly buf: Buffer,
    readonly end = buf.length,
  ) {}

  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      const b = this.buf[this.pos++];
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
    throw new Error('varint too long');
  }

  take(n: number): Buffer {
    if (n < 0 || this.pos + n > this.end) throw new Error('truncated field');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

const int64Json = (v: bigint): string => v.toString();

/** Wire type of each scalar (0, varint, for the rest). */
const WIRE_OF: Record<string, number> = {
  double: 1, fixed64: 1, sfixed64: 1, float: 5, fixed32: 5, sfixed32: 5, string: 2, bytes: 2,
};


/** Read one scalar of `type`; a wire type that does not fit the declared type means the schema is wrong. */
function scalar(type: string, wire: number, r: Reader): unknown {
  if (wire !== (WIRE_OF[type] ?? 0)) throw new Error(`wire type ${wire} for ${type}`);
  switch (type) {
    case 'int32':
      return Number(BigInt.asIntN(32, r.varint()));
    case 'int64':
      return int64Json(BigInt.asIntN(64, r.varint()));
    case 'uint32':
      return Number(BigInt.asUintN(32, r.varint()));
    case 'uint64':
      return int64Json(BigInt.asUintN(64, r.varint()));
    case 'sint32':
    case 'sint64': {
      const v = r.varint();
      const z = (v >> 1n) ^ -(v & 1n);
      return type === 'sint32' ? Number(z) : int64Json(z);
    }
    case 'bool':
      return r.varint() !== 0n;
    case 'fixed32':
      return r.take(4).readUInt32LE(0);
    case 'sfixed32':
      return r.take(4).readInt32LE(0);
    case 'float':
      return r.take(4).readFloatLE(0);
    case 'fixed64':
      return int64Json(r.take(8).readBigUInt64LE(0));
    case 'sfixed64':
      return int64Json(r.take(8).readBigInt64LE(0));
    case 'double':
      return r.take(8).readDoubleLE(0);
    case 'string':
      return r.take(Number(r.varint())).toString('utf8');
    case 'bytes':
      return r.take(Number(r.varint())).toString('base64');
    default:
      throw new Error(`wire type ${wire} for ${type}`);
  }
}

function skip(wire: number, r: Reader): unknown {
  switch (wire) {
    case 0:
      return int64Json(r.varint());
    case 1:
      return int64Json(r.take(8).readBigUInt64LE(0));
    case 2:
      return r.take(Number(r.varint())).toString('base64');
    case 5:
      return r.take(4).readUInt32LE(0);
    default:
      throw new Error(`unsupported wire type ${wire}`);
  }
}

function value(field: FieldDef, type: string, resolved: string | undefined, wire: number, r: Reader, schema: ProtoSchema, depth: number): unknown {
  if (resolved && schema.enums.has(resolved)) {
    const n = Number(BigInt.asIntN(32, r.varint()));
    return schema.enums.get(resolved)!.values.get(n) ?? n;
  }
  if (resolved && schema.messages.has(resolved)) {
    const bytes = r.take(Number(r.varint()));
    return decodeMessage(bytes, schema.messages.get(resolved)!, schema, depth + 1);
  }
  if (!resolved && !WIRE_OF[type] && type !== 'bool' && !/int|fixed/.test(type)) {
    // A type the schema could not resolve (an import outside --proto): keep the raw value.
    return skip(wire, r);
  }
  return scalar(type, wire, r);
}

function decodeMessage(buf: Buffer, def: MessageDef, schema: ProtoSchema, depth: number): Record<string, unknown> {
  if (depth > MAX_DEPTH) throw new Error('nested too deep');
  const out: Record<string, unknown> = {};
  const r = new Reader(buf);
  let count = 0;
  while (r.pos < r.end) {
    if (++count > MAX_FIELDS) throw new Error('too many fields');
    const key = Number(r.varint());
    const number = key >>> 3;
    const wire = key & 7;
    const field = def.fields.get(number);
    if (!field) {
      const unknown = (out._unknown ??= {}) as Record<string, unknown[]>;
      (unknown[number] ??= []).push(skip(wire, r));
      continue;
    }
    if (field.map) {
      const entry = new Reader(r.take(Number(r.varint())));
      let k: unknown = '';
      let v: unknown = null;
      while (entry.pos < entry.end) {
        const ek = Number(entry.varint());
        if (ek >>> 3 === 1) k = scalar(field.map.key, ek & 7, entry);
        else if (ek >>> 3 === 2) v = value(field, field.map.value, field.resolved, ek & 7, entry, schema, depth);
        else skip(ek & 7, entry);
      }
      ((out[field.name] ??= {}) as Record<string, unknown>)[String(k)] = v;
      continue;
    }
    // Packed repeated scalars and enums arrive as one length-delimited run.
    const numeric = field.resolved ? schema.enums.has(field.resolved) : !['string', 'bytes'].includes(field.type);
    if (wire === 2 && field.repeated && numeric) {
      const inner = new Reader(r.take(Number(r.varint())));
      const list = (out[field.name] ??= []) as unknown[];
      while (inner.pos < inner.end) list.push(value(field, field.type, field.resolved, WIRE_OF[field.type] ?? 0, inner, schema, depth));
      continue;
    }
    const v = value(field, field.type, field.resolved, wire, r, schema, depth);
    if (field.repeated) ((out[field.name] ??= []) as unknown[]).push(v);
    else out[field.name] = v;
  }
  return out;
}

/** Decode `buf` as message `typeName`; null when the type is unknown or the bytes do not fit it. */
export function decodeWithSchema(buf: Buffer, typeName: string, schema: ProtoSchema): Record<string, unknown> | null {
  const def = schema.messages.get(typeName);
  if (!def) return null;
  try {
    return decodeMessage(buf, def, schema, 0);
  } catch {
    return null;
  }
}
