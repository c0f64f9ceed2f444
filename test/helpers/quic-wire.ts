// A QUIC v1 (or v2) connection written packet by packet, as a client and a
// server would protect it (RFC 9001: Initial keys from the client's first
// Destination Connection ID, the other levels from TLS secrets this helper
// makes up and writes as a key log), carrying HTTP/3. No QUIC stack is in
// Debian 12, so the bytes are written here; tshark, given the key log,
// decrypts them to the same streams and frames (test/protocols-more/quic.test.ts),
// which shows the protection and framing are what real stacks send.

import { createHash } from 'node:crypto';
import { headerMask, initialKeys, nextPhase, openPayload, packetKeys, QUIC_V1, QUIC_V2, type PacketKeys, type QuicSuite } from '../../src/dissect/quic/packet-protection.js';
import { createCipheriv } from 'node:crypto';
import { udpPacket } from './pcap-wire.js';
import { hpackInt } from './http2-wire.js';
import type { Packet } from '../../src/model/packet.js';

export const CHACHA20: QuicSuite = { aead: 'chacha20-poly1305', hash: 'sha256', keyLen: 32 };
export const AES_128_GCM: QuicSuite = { aead: 'aes-128-gcm', hash: 'sha256', keyLen: 16 };

/** A QUIC variable-length integer in the shortest form that holds it (up to 2^30). */
export function varint(v: number): Buffer {
  if (v < 64) return Buffer.from([v]);
  if (v < 16384) return Buffer.from([0x40 | (v >> 8), v & 0xff]);
  const b = Buffer.alloc(4);
  b.writeUInt32BE((0x80000000 | v) >>> 0);
  return b;
}

const bytes = (seed: string, n: number): Buffer => createHash('sha256').update(seed).digest().subarray(0, n);

function handshake(type: number, body: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h[0] = type;
  h.writeUIntBE(body.length, 1, 3);
  return Buffer.concat([h, body]);
}

function ext(type: number, body: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt16BE(type, 0);
  h.writeUInt16BE(body.length, 2);
  return Buffer.concat([h, body]);
}

const u16 = (n: number): Buffer => Buffer.from([n >> 8, n & 0xff]);
const vec16 = (b: Buffer): Buffer => Buffer.concat([u16(b.length), b]);

/** A TLS 1.3 ClientHello for QUIC: SNI, ALPN (h3 unless told), supported_versions, transport parameters. */
const alpnList = (alpn: string): Buffer => vec16(Buffer.concat([Buffer.from([alpn.length]), Buffer.from(alpn)]));

export function clientHello(random: Buffer, sni: string, suites: number[], alpn = 'h3'): Buffer {
  const name = Buffer.from(sni);
  const extensions = Buffer.concat([
    ext(0, vec16(Buffer.concat([Buffer.from([0]), vec16(name)]))),
    ext(16, alpnList(alpn)),
    ext(43, Buffer.from([2, 0x03, 0x04])),
    ext(0x39, Buffer.from([0x04, 0x04, 0x80, 0x10, 0x00, 0x00])), // initial_max_data
  ]);
  const body = Buffer.concat([u16(0x0303), random, Buffer.from([0]), vec16(Buffer.concat(suites.map(u16))), Buffer.from([1, 0]), vec16(extensions)]);
  return handshake(1, body);
}

export function serverHello(random: Buffer, suite: number): Buffer {
  const extensions = ext(43, u16(0x0304));
  return handshake(2, Buffer.concat([u16(0x0303), random, Buffer.from([0]), u16(suite), Buffer.from([0]), vec16(extensions)]));
}

export function encryptedExtensionsH3(earlyData = false, alpn = 'h3'): Buffer {
  const list = Buffer.concat([ext(16, alpnList(alpn)), earlyData ? ext(42, Buffer.alloc(0)) : Buffer.alloc(0)]);
  return handshake(8, vec16(list));
}

// ---- frames
export const crypto = (offset: number, data: Buffer): Buffer => Buffer.concat([Buffer.from([0x06]), varint(offset), varint(data.length), data]);
export function stream(id: number, offset: number, data: Buffer, fin = false): Buffer {
  return Buffer.concat([Buffer.from([0x08 | 0x04 | 0x02 | (fin ? 1 : 0)]), varint(id), varint(offset), varint(data.length), data]);
}
export const resetStream = (id: number, code: number, finalSize: number): Buffer => Buffer.concat([Buffer.from([0x04]), varint(id), varint(code), varint(finalSize)]);
export const ack = (largest: number): Buffer => Buffer.concat([Buffer.from([0x02]), varint(largest), varint(0), varint(0), varint(0)]);
export const ping = Buffer.from([0x01]);
export const handshakeDone = Buffer.from([0x1e]);
export const connectionClose = (code: number, reason: string): Buffer => Buffer.concat([Buffer.from([0x1d]), varint(code), varint(reason.length), Buffer.from(reason)]);

// ---- HTTP/3
export const h3Frame = (type: number, payload: Buffer): Buffer => Buffer.concat([varint(type), varint(payload.length), payload]);
export const h3Headers = (section: Buffer): Buffer => h3Frame(0x01, section);
export const h3Data = (data: Buffer | string): Buffer => h3Frame(0x00, Buffer.from(data));
export const h3Settings = (pairs: Array<[number, number]>): Buffer => h3Frame(0x04, Buffer.concat(pairs.flatMap(([k, v]) => [varint(k), varint(v)])));

/** A QPACK string literal without Huffman (H=0) and a `bits`-bit length prefix. */
function qpackString(s: string, bits: number, flags = 0): Buffer {
  const data = Buffer.from(s, 'latin1');
  return Buffer.concat([qpackInt(data.length, bits, flags), data]);
}

/** QPACK's prefixed integers are HPACK's (RFC 9204 §4.1.1). */
const qpackInt = hpackInt;

/** A QPACK field line: a static-table name reference with a literal value (01NT xxxx). */
export const qpackLiteral = (staticIndex: number, value: string): Buffer => Buffer.concat([qpackInt(staticIndex, 4, 0x50), qpackString(value, 7)]);
/** An indexed static field line (1T xxxxxx). */
export const qpackStatic = (index: number): Buffer => qpackInt(index, 6, 0xc0);
/** A field line with a literal name and value (001N H xxx). */
export const qpackLiteralName = (name: string, value: string): Buffer => Buffer.concat([qpackString(name, 3, 0x20), qpackString(value, 7)]);
/** An indexed dynamic field line, relative to the base (10 xxxxxx). */
export const qpackDynamic = (relative: number): Buffer => qpackInt(relative, 6, 0x80);
/** A field section prefix: Required Insert Count (encoded) and a delta base of 0. */
export const qpackPrefix = (encodedInsertCount: number): Buffer => Buffer.from([encodedInsertCount, 0x00]);
/** Encoder stream: Set Dynamic Table Capacity, then Insert With Literal Name. */
export const qpackSetCapacity = (n: number): Buffer => qpackInt(n, 5, 0x20);
export const qpackInsertLiteral = (name: string, value: string): Buffer => Buffer.concat([qpackString(name, 5, 0x40), qpackString(value, 7)]);

export interface Connection {
  version: number;
  clientCid: Buffer;
  serverCid: Buffer;
  originalDcid: Buffer;
  clientRandom: Buffer;
  initial: { client: PacketKeys; server: PacketKeys };
  handshake: { client: PacketKeys; server: PacketKeys };
  application: { client: PacketKeys; server: PacketKeys };
  early: PacketKeys;
  keylog: string;
  pn: Record<string, number>;
}

/** A connection's ids, secrets and keys; `seed` makes each different and repeatable. */
export function newConnection(seed: string, suite: QuicSuite = AES_128_GCM, version = QUIC_V1): Connection {
  const secret = (label: string) => bytes(`${seed}/${label}`, suite.hash === 'sha384' ? 48 : 32);
  const clientRandom = bytes(`${seed}/random`, 32);
  const labels = ['CLIENT_HANDSHAKE_TRAFFIC_SECRET', 'SERVER_HANDSHAKE_TRAFFIC_SECRET', 'CLIENT_TRAFFIC_SECRET_0', 'SERVER_TRAFFIC_SECRET_0', 'CLIENT_EARLY_TRAFFIC_SECRET'];
  const secrets = Object.fromEntries(labels.map((l) => [l, secret(l)]));
  const originalDcid = bytes(`${seed}/odcid`, 8);
  return {
    version,
    clientCid: bytes(`${seed}/ccid`, 8),
    serverCid: bytes(`${seed}/scid`, 8),
    originalDcid,
    clientRandom,
    initial: { client: initialKeys(version, originalDcid, 'client')!, server: initialKeys(version, originalDcid, 'server')! },
    handshake: { client: packetKeys(suite, version, secrets.CLIENT_HANDSHAKE_TRAFFIC_SECRET), server: packetKeys(suite, version, secrets.SERVER_HANDSHAKE_TRAFFIC_SECRET) },
    application: { client: packetKeys(suite, version, secrets.CLIENT_TRAFFIC_SECRET_0), server: packetKeys(suite, version, secrets.SERVER_TRAFFIC_SECRET_0) },
    early: packetKeys(suite, version, secrets.CLIENT_EARLY_TRAFFIC_SECRET),
    keylog: labels.map((l) => `${l} ${clientRandom.toString('hex')} ${secrets[l].toString('hex')}`).join('\n') + '\n',
    pn: {},
  };
}

/** The next key phase's keys, as a key update makes them. */
export const updated = (k: PacketKeys): PacketKeys => nextPhase(k);

type LongType = 'initial' | 'early' | 'handshake';

function longTypeBits(version: number, type: LongType): number {
  if (version === QUIC_V2) return { initial: 1, early: 2, handshake: 3 }[type];
  return { initial: 0, early: 1, handshake: 2 }[type];
}

/** Apply AEAD and header protection to a packet whose header ends with a 2-byte packet number. */
function protect(keys: PacketKeys, header: Buffer, pn: number, payload: Buffer, long: boolean): Buffer {
  const nonce = Buffer.from(keys.iv);
  nonce.writeUInt32BE((nonce.readUInt32BE(8) ^ pn) >>> 0, 8);
  const c = createCipheriv(keys.suite.aead as 'aes-128-gcm', keys.key, nonce, { authTagLength: 16 });
  c.setAAD(header);
  const sealed = Buffer.concat([c.update(payload), c.final(), c.getAuthTag()]);
  const packet = Buffer.concat([header, sealed]);
  const pnOffset = header.length - 2;
  const mask = headerMask(keys, packet.subarray(pnOffset + 4, pnOffset + 20));
  packet[0] ^= mask[0] & (long ? 0x0f : 0x1f);
  packet[pnOffset] ^= mask[1];
  packet[pnOffset + 1] ^= mask[2];
  // Check it opens as a reader will open it (the helper's own bugs should fail here, not in the test).
  if (openPayload(keys, pn, header, sealed) === null) throw new Error('quic-wire: packet does not open');
  return packet;
}

/** Frames padded so a header-protection sample exists (and to `minimum` bytes in all). */
function padded(frames: Buffer[], minimum = 0): Buffer {
  const payload = Buffer.concat(frames);
  const target = Math.max(4, minimum);
  return payload.length >= target ? payload : Buffer.concat([payload, Buffer.alloc(target - payload.length)]);
}

/** A long-header packet (Initial, 0-RTT, Handshake) from `from`. */
export function longPacket(c: Connection, type: LongType, from: 'client' | 'server', frames: Buffer[], opts: { pn?: number; keys?: PacketKeys; pad?: number } = {}): Buffer {
  const space = `${type === 'early' ? 'application' : type}:${from}`;
  const pn = opts.pn ?? (c.pn[space] = (c.pn[space] ?? -1) + 1);
  const keys = opts.keys ?? (type === 'early' ? c.early : c[type][from]);
  // Until the server's first Initial, a client sends to the id it made up (its Initial keys come from it).
  const dcid = from === 'client' ? (c.pn['initial:server'] === undefined ? c.originalDcid : c.serverCid) : c.clientCid;
  const scid = from === 'client' ? c.clientCid : c.serverCid;
  const payload = padded(frames, opts.pad ?? 0);
  const fields = [Buffer.from([0xc0 | (longTypeBits(c.version, type) << 4) | 0x01]), Buffer.alloc(4), Buffer.from([dcid.length]), dcid, Buffer.from([scid.length]), scid];
  fields[1].writeUInt32BE(c.version);
  if (type === 'initial') fields.push(varint(0));
  const length = Buffer.alloc(2);
  length.writeUInt16BE(0x4000 | (2 + payload.length + 16));
  const header = Buffer.concat([...fields, length, u16(pn & 0xffff)]);
  return protect(keys, header, pn, payload, true);
}

/** A 1-RTT (short header) packet from `from`, under `keys` (default: the first key phase). */
export function shortPacket(c: Connection, from: 'client' | 'server', frames: Buffer[], opts: { pn?: number; keys?: PacketKeys; phase?: number } = {}): Buffer {
  const space = `application:${from}`;
  const pn = opts.pn ?? (c.pn[space] = (c.pn[space] ?? -1) + 1);
  const keys = opts.keys ?? c.application[from];
  const dcid = from === 'client' ? c.serverCid : c.clientCid;
  const header = Buffer.concat([Buffer.from([0x40 | ((opts.phase ?? 0) << 2) | 0x01]), dcid, u16(pn & 0xffff)]);
  return protect(keys, header, pn, padded(frames), false);
}

/** Datagrams as capture packets between 198.18.0.1:50000 (client) and 198.18.0.2:443, 1 ms apart from `startMs`. */
export function datagrams(list: Array<{ from: 'client' | 'server'; data: Buffer }>, startMs = 1_700_000_000_000): Packet[] {
  return list.map((d, i) => udpPacket(startMs + i, i + 1, d.from === 'client' ? 1 : 2, d.from === 'client' ? 50000 : 443, d.from === 'client' ? 443 : 50000, d.data));
}
