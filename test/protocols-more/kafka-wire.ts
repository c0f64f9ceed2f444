// Kafka messages built field by field, as the message definitions lay them out
// (classic or flexible encoding by api key and version), for the versions no lab
// client here sends; fed to the parser, and optionally written as a capture.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CallRecord, ProtocolDissector } from '../../src/dissect/api.js';
import { isFlexible } from '../../src/dissect/protocols/kafka.js';
import { Wire } from '../helpers/engine-wire.js';
import { writeRawPcap } from '../helpers/pcap-wire.js';
import { makeContext } from './helpers.js';

export class KafkaWriter {
  private parts: Buffer[] = [];
  constructor(readonly flexible: boolean) {}
  private fixed(n: number, write: (b: Buffer) => void): this {
    const b = Buffer.alloc(n);
    write(b);
    this.parts.push(b);
    return this;
  }
  i8(v: number): this {
    return this.fixed(1, (b) => b.writeInt8(v));
  }
  i16(v: number): this {
    return this.fixed(2, (b) => b.writeInt16BE(v));
  }
  i32(v: number): this {
    return this.fixed(4, (b) => b.writeInt32BE(v));
  }
  i64(v: bigint | number): this {
    return this.fixed(8, (b) => b.writeBigInt64BE(BigInt(v)));
  }
  uvarint(n: number): this {
    const out: number[] = [];
    while (n >= 0x80) {
      out.push((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    out.push(n);
    this.parts.push(Buffer.from(out));
    return this;
  }
  private length(n: number | null): this {
    // Compact lengths are n + 1 (0 for null); classic strings' are int16, arrays' and bytes' int32.
    return this.flexible ? this.uvarint(n === null ? 0 : n + 1) : this.i32(n === null ? -1 : n);
  }
  str(s: any): this {
    return this.nstr(s as string);
  }
  nstr(s: any): this {
    if (s === null) return this.flexible ? this.uvarint(0) : this.i16(-1);
    const b = Buffer.from(s as string);
    if (this.flexible) this.uvarint(b.length + 1);
    else this.i16(b.length);
    this.parts.push(b);
    return this;
  }
  bytes(b: Buffer | null): this {
    this.length(b === null ? null : b.length);
    if (b) this.parts.push(b);
    return this;
  }
  arr<T>(items: readonly T[] | null, each: (w: this, item: any) => unknown): this {
    this.length(items === null ? null : items.length);
    for (const item of items ?? []) each(this, item);
    return this;
  }
  uuid(): this {
    this.parts.push(Buffer.from('5f0c9e3a7d1b4c2e8a6f0b1c2d3e4f50', 'hex'));
    return this;
  }
  /** No tagged fields (flexible versions only). */
  tags(): this {
    return this.flexible ? this.uvarint(0) : this;
  }
  done(): Buffer {
    return Buffer.concat(this.parts);
  }
}

export type Exchange =
  | {
      apiKey: number;
      version: number;
      request: (w: KafkaWriter) => unknown;
      response: (w: KafkaWriter) => unknown;
    }
  /** Bare size-prefixed bytes each way (SASL tokens after a SaslHandshake v0). */
  | { raw: [Buffer, Buffer] };

function sized(body: Buffer): Buffer {
  const size = Buffer.alloc(4);
  size.writeInt32BE(body.length);
  return Buffer.concat([size, body]);
}

/** A request (header v1, or v2 when flexible) and its response (header v0, or v1 when flexible). */
function messages(x: Exchange, correlationId: number): { request: Buffer; response: Buffer } {
  if ('raw' in x) return { request: sized(x.raw[0]), response: sized(x.raw[1]) };
  const flexible = isFlexible(x.apiKey, x.version);
  const head = new KafkaWriter(false).i16(x.apiKey).i16(x.version).i32(correlationId).nstr('shark-test').done();
  const req = new KafkaWriter(flexible);
  if (flexible) req.tags();
  x.request(req);
  const res = new KafkaWriter(flexible).i32(correlationId);
  if (flexible && x.apiKey !== 18) res.tags();
  x.response(res);
  return { request: sized(Buffer.concat([head, req.done()])), response: sized(res.done()) };
}

/** The calls `dissector` makes of one connection carrying `exchanges` in turn; with `pcap`, that connection as a capture too. */
export function feedConversation(dissector: ProtocolDissector, exchanges: Exchange[], opts: { pcap?: boolean } = {}): { calls: CallRecord[]; pcap: string } {
  const calls: CallRecord[] = [];
  const counters: Record<string, number> = {};
  const ctx = makeContext(calls, counters);
  const parser = dissector.createTcpParser!(ctx);
  const wire = new Wire();
  exchanges.forEach((x, i) => {
    const { request, response } = messages(x, 100 + i);
    ctx.now = 1_000 + i * 10;
    ctx.frame = 2 * i + 1;
    parser.onData('c2s', request);
    wire.send(ctx.now, 1, 40000, 9092, request);
    ctx.now += 1;
    ctx.frame++;
    parser.onData('s2c', response);
    wire.send(ctx.now, 2, 9092, 40000, response);
  });
  parser.onEnd('eof');
  let pcap = '';
  if (opts.pcap) {
    pcap = join(mkdtempSync(join(tmpdir(), 'shark-kafka-')), 'kafka.pcap');
    writeRawPcap(pcap, wire.packets);
  }
  return { calls, pcap };
}
