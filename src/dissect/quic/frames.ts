// QUIC frames (RFC 9000 §19, RFC 9221's DATAGRAM, and the extension frames
// stacks send today) in a decrypted packet payload: CRYPTO and STREAM data
// with their offsets, stream resets, and the connection's close; every other
// frame type is read past by its own layout. An unknown frame
// type cannot be skipped (frames carry no length), so the rest of the packet
// is given up and said so. Never throws: a frame cut short ends the packet.

/** A QUIC variable-length integer at `off`: its value and length, or undefined past the end. */
export function readVarint(b: Buffer, off: number): { value: number; length: number } | undefined {
  if (off >= b.length) return undefined;
  const length = 1 << (b[off] >> 6);
  if (off + length > b.length) return undefined;
  let value = b[off] & 0x3f;
  for (let i = 1; i < length; i++) value = value * 256 + b[off + i];
  return { value, length };
}

/**
 * Stream and CRYPTO offsets beyond this are refused as malformed: QUIC allows
 * 2^62, but no capture holds a terabyte of one stream, and larger numbers
 * lose precision in JavaScript (a hostile offset would count as an absurd gap).
 */
const MAX_OFFSET = 2 ** 40;

export interface FrameHandler {
  crypto(offset: number, data: Buffer): void;
  stream(id: number, offset: number, data: Buffer, fin: boolean): void;
  resetStream(id: number, code: number): void;
  connectionClose(code: number, frameType: number | undefined, reason: string, application: boolean): void;
}

/** Cursor over a payload; `ok` turns false when a field runs past the end. */
class Cursor {
  ok = true;
  constructor(readonly b: Buffer, public off: number) {}

  varint(): number {
    const v = this.ok ? readVarint(this.b, this.off) : undefined;
    if (!v) {
      this.ok = false;
      return 0;
    }
    this.off += v.length;
    return v.value;
  }

  bytes(n: number): Buffer {
    if (!this.ok || n > this.b.length - this.off) {
      this.ok = false;
      return Buffer.alloc(0);
    }
    const out = this.b.subarray(this.off, this.off + n);
    this.off += n;
    return out;
  }
}

/** Read every frame of `payload`; the result says why reading stopped early, if it did. */
export function readFrames(payload: Buffer, h: FrameHandler): string | undefined {
  const c = new Cursor(payload, 0);
  while (c.ok && c.off < payload.length) {
    const type = c.varint();
    if (type >= 0x08 && type <= 0x0f) {
      // STREAM: OFF (0x04), LEN (0x02) and FIN (0x01) bits say which fields follow.
      const id = c.varint();
      const offset = type & 0x04 ? c.varint() : 0;
      const length = type & 0x02 ? c.varint() : payload.length - c.off;
      const data = c.bytes(length);
      if (c.ok && offset + data.length > MAX_OFFSET) return 'stream offset out of range';
      if (c.ok) h.stream(id, offset, data, (type & 0x01) !== 0);
      continue;
    }
    switch (type) {
      case 0x00: // PADDING
      case 0x01: // PING
      case 0x1e: // HANDSHAKE_DONE
        break;
      case 0x02:
      case 0x03: {
        // ACK: largest, delay, range count, first range, the ranges; ECN counts for 0x03.
        c.varint();
        c.varint();
        const ranges = c.varint();
        c.varint();
        for (let i = 0; i < ranges && c.ok; i++) {
          c.varint();
          c.varint();
        }
        if (type === 0x03) for (let i = 0; i < 3; i++) c.varint();
        break;
      }
      case 0x04: {
        const id = c.varint();
        const code = c.varint();
        c.varint(); // final size
        if (c.ok) h.resetStream(id, code);
        break;
      }
      case 0x05: // STOP_SENDING: stream, code
        c.varint();
        c.varint();
        break;
      case 0x06: {
        const offset = c.varint();
        const data = c.bytes(c.varint());
        if (c.ok && offset + data.length > MAX_OFFSET) return 'crypto offset out of range';
        if (c.ok) h.crypto(offset, data);
        break;
      }
      case 0x07: // NEW_TOKEN
        c.bytes(c.varint());
        break;
      case 0x10: // MAX_DATA
      case 0x12: // MAX_STREAMS (bidi)
      case 0x13: // MAX_STREAMS (uni)
      case 0x14: // DATA_BLOCKED
      case 0x16: // STREAMS_BLOCKED (bidi)
      case 0x17: // STREAMS_BLOCKED (uni)
      case 0x19: // RETIRE_CONNECTION_ID
        c.varint();
        break;
      case 0x11: // MAX_STREAM_DATA
      case 0x15: // STREAM_DATA_BLOCKED
        c.varint();
        c.varint();
        break;
      case 0x18: {
        // NEW_CONNECTION_ID: sequence, retire prior to, a length byte, the id, a 16-byte reset token.
        c.varint();
        c.varint();
        const length = c.bytes(1)[0] ?? 0;
        c.bytes(length + 16);
        break;
      }
      case 0x1a: // PATH_CHALLENGE
      case 0x1b: // PATH_RESPONSE
        c.bytes(8);
        break;
      case 0x1c:
      case 0x1d: {
        const code = c.varint();
        const frameType = type === 0x1c ? c.varint() : undefined;
        const reason = c.bytes(c.varint());
        if (c.ok) h.connectionClose(code, frameType, reason.toString('utf8', 0, Math.min(reason.length, 256)), type === 0x1d);
        break;
      }
      case 0x30: // DATAGRAM to the packet's end
        c.off = payload.length;
        break;
      case 0x31: // DATAGRAM with a length
        c.bytes(c.varint());
        break;
      // Extensions real stacks send (frames carry no length, so each is read by its own layout):
      case 0xaf: // ACK_FREQUENCY (draft-ietf-quic-ack-frequency): sequence, threshold, max delay, reordering threshold (early drafts: a byte, read alike)
        for (let i = 0; i < 4; i++) c.varint();
        break;
      case 0x1f: // IMMEDIATE_ACK (the same draft; 0xac in its early versions)
      case 0xac:
        break;
      case 0x2f5: // TIME_STAMP (draft-huitema-quic-ts, picoquic): a timestamp
        c.varint();
        break;
      case 0x24: { // RESET_STREAM_AT (draft-ietf-quic-reliable-stream-reset): stream, code, final size, reliable size
        const id = c.varint();
        const code = c.varint();
        c.varint();
        c.varint();
        if (c.ok) h.resetStream(id, code);
        break;
      }
      default:
        return `unknown frame type 0x${type.toString(16)}`;
    }
  }
  return c.ok ? undefined : 'frame cut short';
}
