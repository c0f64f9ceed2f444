// HTTP/2 built by hand for tests: frames, HPACK representations (no Huffman),
// gRPC messages, and the crafted connections of the hostile-input cases
// (issue 22), as Wire packets or a pcap file.
import { CONNECTION_PREFACE } from '../../src/dissect/protocols/http2.js';
import type { Packet } from '../../src/model/packet.js';
import { Wire } from './engine-wire.js';

export const FrameType = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, CONTINUATION: 9 } as const;
export const Flags = { END_STREAM: 0x1, END_HEADERS: 0x4 } as const;

export function h2frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}

export const settings = (): Buffer => h2frame(FrameType.SETTINGS, 0, 0, Buffer.alloc(0));

/** RFC 7541 5.1 integer with an N-bit prefix, `bits` holding the representation's leading flags (QPACK's too). */
export function hpackInt(value: number, prefixBits: number, bits: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([bits | value]);
  const out = [bits | max];
  value -= max;
  while (value >= 128) {
    out.push((value % 128) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return Buffer.from(out);
}

function hpackString(s: string): Buffer {
  const raw = Buffer.from(s, 'latin1');
  return Buffer.concat([hpackInt(raw.length, 7, 0), raw]);
}

export const hpack = {
  /** Indexed field (static 1..61, dynamic 62..). */
  indexed: (index: number): Buffer => hpackInt(index, 7, 0x80),
  /** Literal with incremental indexing, new name: inserted in the dynamic table. */
  insert: (name: string, value: string): Buffer => Buffer.concat([Buffer.from([0x40]), hpackString(name), hpackString(value)]),
  /** Literal without indexing, new name. */
  literal: (name: string, value: string): Buffer => Buffer.concat([Buffer.from([0x00]), hpackString(name), hpackString(value)]),
  /** Literal without indexing whose name is table entry `index`. */
  literalNamed: (index: number, value: string): Buffer => Buffer.concat([hpackInt(index, 4, 0x00), hpackString(value)]),
};

/** :method GET, :scheme http, :path `path`, :authority svc. */
export function getRequest(path: string): Buffer {
  return Buffer.concat([hpack.indexed(2), hpack.indexed(6), hpack.literalNamed(4, path), hpack.literalNamed(1, 'svc')]);
}

/** :method POST, :scheme http, :path `path`, content-type application/grpc. */
export function grpcRequest(path: string): Buffer {
  return Buffer.concat([hpack.indexed(3), hpack.indexed(6), hpack.literalNamed(4, path), hpack.literalNamed(1, 'svc'), hpack.literalNamed(31, 'application/grpc')]);
}

/** :status 200, content-type application/grpc. */
export const grpcResponseHeaders = (): Buffer => Buffer.concat([hpack.indexed(8), hpack.literalNamed(31, 'application/grpc')]);

/** grpc-status and grpc-message as literals with new names (decodable without the dynamic table). */
export const grpcTrailers = (status = 0, message = ''): Buffer =>
  Buffer.concat([hpack.literal('grpc-status', String(status)), hpack.literal('grpc-message', message)]);

/** `payload` as one length-prefixed, uncompressed gRPC message. */
export function grpcFrame(payload: Buffer): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(payload.length, 1);
  return Buffer.concat([prefix, payload]);
}

/** One length-prefixed gRPC message holding protobuf field 1 = `text` (a string). */
export function grpcMessage(text: string): Buffer {
  const value = Buffer.from(text, 'latin1');
  return grpcFrame(Buffer.concat([Buffer.from([0x0a, value.length]), value]));
}

export const preface = (): Buffer => Buffer.concat([CONNECTION_PREFACE, settings()]);

/**
 * The issue-22 case: `requests` unanswered requests on one connection, each
 * naming one ~4 KB header (inserted once in the dynamic table) `repeats` times.
 */
export function hpackBombPackets(requests = 300, repeats = 990): Packet[] {
  const w = new Wire();
  let t = 1_000;
  w.send(t, 1, 41000, 8080, preface());
  w.send(t, 2, 8080, 41000, settings());
  const big = hpack.insert('x-big', 'a'.repeat(4000));
  for (let i = 0; i < requests; i++) {
    const refs = Buffer.alloc(repeats, 0xbe); // index 62: the big header
    const block = Buffer.concat([getRequest(`/r/${i}`), i === 0 ? big : Buffer.alloc(0), refs]);
    w.send((t += 1), 1, 41000, 8080, h2frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 2 * i + 1, block));
  }
  return w.packets;
}

