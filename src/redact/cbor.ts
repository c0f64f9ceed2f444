// CBOR (RFC 8949) bodies: `application/cbor`, WebAuthn and COSE messages, IoT APIs. A map's keys are
// text strings framed by a length byte that is often a letter (`hpassword` is a key of 8), so a search
// of the bytes as text reads key and value as one run and finds nothing. This walks the items
// instead: the value of a map key whose name is sensitive is replaced by the text "[REDACTED]", the
// rest copied as it came. Only bytes that are CBOR from the first to the last byte (one item or a
// sequence of them) are rewritten; anything else is left to the text search. One walk, each byte
// read once; nesting is bounded.

import { REDACTED } from './urls.js';

/** Deeper nesting is not walked: the body is not taken for CBOR (the text search still reads it). */
const MAX_DEPTH = 64;
const REDACTED_ITEM = Buffer.concat([Buffer.from([0x60 | REDACTED.length]), Buffer.from(REDACTED)]);

/** Could these bytes start a CBOR body worth walking: a map, an array or a tag (the self-describe tag 55799 included)? */
export function mayBeCbor(bytes: Buffer): boolean {
  if (bytes.length < 2) return false;
  const major = bytes[0] >> 5;
  return major === 4 || major === 5 || major === 6;
}

/**
 * `bytes` with the value of each sensitive map key redacted; undefined when they are not CBOR to the
 * end, or nothing changed. `onSecret` hears each text value taken out.
 */
export function redactCbor(bytes: Buffer, isSecretName: (name: string) => boolean, onSecret: (s: string) => void = () => {}): Buffer | undefined {
  const w = new CborWalk(bytes, isSecretName, onSecret);
  try {
    while (w.at < bytes.length) w.item(0);
  } catch {
    return undefined;
  }
  return w.changed ? w.result() : undefined;
}

class NotCbor extends Error {}

class CborWalk {
  at = 0;
  changed = false;
  private readonly parts: Buffer[] = [];
  private copied = 0;

  constructor(
    private readonly b: Buffer,
    private readonly isSecretName: (name: string) => boolean,
    private readonly onSecret: (s: string) => void,
  ) {}

  result(): Buffer {
    this.parts.push(this.b.subarray(this.copied));
    return Buffer.concat(this.parts);
  }

  /** Reads one item; returns its text when it is a definite text string (a map key's name). */
  item(depth: number): string | undefined {
    if (depth > MAX_DEPTH) throw new NotCbor();
    const first = this.byte();
    const major = first >> 5;
    const info = first & 0x1f;
    if (major === 7) {
      // Simple values and floats: their argument is their payload.
      if (info === 31) throw new NotCbor(); // a break outside an indefinite item
      this.argument(info);
      return undefined;
    }
    if (info === 31) {
      if (major === 0 || major === 1 || major === 6) throw new NotCbor();
      this.indefinite(major, depth);
      return undefined;
    }
    const n = this.argument(info);
    switch (major) {
      case 0:
      case 1:
        return undefined;
      case 2:
      case 3: {
        const end = this.at + n;
        if (end > this.b.length) throw new NotCbor();
        this.at = end;
        return major === 3 && n <= 256 ? this.b.toString('utf8', end - n, end) : undefined;
      }
      case 4:
        for (let i = 0; i < n; i++) this.item(depth + 1);
        return undefined;
      case 5:
        for (let i = 0; i < n; i++) this.pair(depth);
        return undefined;
      default:
        // A tag: the item it tags.
        this.item(depth + 1);
        return undefined;
    }
  }

  /** An indefinite-length string (chunks of its own kind), array or map, to its break byte. */
  private indefinite(major: number, depth: number): void {
    while (true) {
      if (this.at >= this.b.length) throw new NotCbor();
      if (this.b[this.at] === 0xff) {
        this.at++;
        return;
      }
      if (major === 5) this.pair(depth);
      else {
        if ((major === 2 || major === 3) && this.b[this.at] >> 5 !== major) throw new NotCbor();
        this.item(depth + 1);
      }
    }
  }

  /** A map's key and value: the value replaced when the key names a secret. */
  private pair(depth: number): void {
    const name = this.item(depth + 1);
    const from = this.at;
    this.item(depth + 1);
    if (name === undefined || !this.isSecretName(name)) return;
    const value = this.b.subarray(from, this.at);
    if (value.equals(REDACTED_ITEM) || value.length === 1) return; // already redacted; null, true, false, a small number
    const text = value[0] >> 5 === 3 ? this.textOf(value) : undefined;
    if (text !== undefined && text.length > 0) this.onSecret(text);
    this.parts.push(this.b.subarray(this.copied, from), REDACTED_ITEM);
    this.copied = this.at;
    this.changed = true;
  }

  /** A definite text string item's text. */
  private textOf(item: Buffer): string | undefined {
    const info = item[0] & 0x1f;
    const header = info < 24 ? 1 : info === 24 ? 2 : info === 25 ? 3 : info === 26 ? 5 : info === 27 ? 9 : 0;
    return header === 0 ? undefined : item.toString('utf8', header);
  }

  private byte(): number {
    if (this.at >= this.b.length) throw new NotCbor();
    return this.b[this.at++];
  }

  /** The argument after the initial byte (a length, a count, a number); lengths past the body are caught by their readers. */
  private argument(info: number): number {
    if (info < 24) return info;
    const size = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0;
    if (size === 0 || this.at + size > this.b.length) throw new NotCbor();
    let n = 0;
    for (let i = 0; i < size; i++) n = n * 256 + this.b[this.at + i];
    this.at += size;
    // A count past the bytes left cannot be CBOR (each item takes a byte at least): refused before it is looped over.
    if (n > this.b.length) n = this.b.length + 1;
    return n;
  }
}
