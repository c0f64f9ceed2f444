// The crafted captures of issue 22's memory rows, written on demand (streamed
// to disk, never held whole) so the figures in docs/security.md and
// `npm run bench -- --only hostile` can be reproduced. Not committed: they are
// tens of megabytes each and a few seconds to make.
//   npx tsx bench/hostile-captures.ts [--out DIR] [--only syn200k,dns300k,…]
// Each capture is Ethernet-framed classic pcap (µs), addresses from 198.18.0.0/15.
import { closeSync, existsSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from '../test/helpers/paths.js';
import { Flags, FrameType, h2frame, hpack, preface } from '../test/helpers/http2-wire.js';
import { clientHello, crypto, longPacket, newConnection } from '../test/helpers/quic-wire.js';

export const hostileDir = join(repoRoot, 'bench', '.cache', 'hostile');

/** Streams pcap records to a file in 1 MB writes. */
class PcapStream {
  private readonly fd: number;
  private buf = Buffer.alloc(1 << 20);
  private used = 0;
  count = 0;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'w');
    const h = Buffer.alloc(24);
    h.writeUInt32LE(0xa1b2c3d4, 0);
    h.writeUInt16LE(2, 4);
    h.writeUInt16LE(4, 6);
    h.writeUInt32LE(262144, 16);
    h.writeUInt32LE(1, 20); // Ethernet
    writeSync(this.fd, h);
  }

  /** One Ethernet/IPv4 frame at capture time `ms`. */
  ipv4(ms: number, ipPacket: Buffer): void {
    const need = 16 + 14 + ipPacket.length;
    if (this.used + need > this.buf.length) this.flush();
    if (need > this.buf.length) this.buf = Buffer.alloc(need);
    const b = this.buf;
    let o = this.used;
    const sec = Math.floor(ms / 1000);
    b.writeUInt32LE(sec, o);
    b.writeUInt32LE(Math.round((ms - sec * 1000) * 1000), o + 4);
    b.writeUInt32LE(need - 16, o + 8);
    b.writeUInt32LE(need - 16, o + 12);
    o += 16;
    b.fill(0x02, o, o + 12); // locally administered MACs
    b.writeUInt16BE(0x0800, o + 12);
    ipPacket.copy(b, o + 14);
    this.used += need;
    this.count++;
  }

  private flush(): void {
    writeSync(this.fd, this.buf, 0, this.used);
    this.used = 0;
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

/** 198.18.0.0/15 host number `n` (0 … 131,071). */
function addr(n: number): number[] {
  return [198, 18 + ((n >> 16) & 1), (n >> 8) & 0xff, n & 0xff];
}

function ipv4(proto: number, src: number[], dst: number[], payload: Buffer, id: number): Buffer {
  const b = Buffer.alloc(20 + payload.length);
  b[0] = 0x45;
  b.writeUInt16BE(b.length, 2);
  b.writeUInt16BE(id & 0xffff, 4);
  b[6] = 0x40; // DF
  b[8] = 61;
  b[9] = proto;
  b.set(src, 12);
  b.set(dst, 16);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += b.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  b.writeUInt16BE(~sum & 0xffff, 10);
  payload.copy(b, 20);
  return b;
}

function tcp(sport: number, dport: number, seq: number, ack: number, flags: number, body: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(20 + body.length);
  b.writeUInt16BE(sport, 0);
  b.writeUInt16BE(dport, 2);
  b.writeUInt32BE(seq >>> 0, 4);
  b.writeUInt32BE(ack >>> 0, 8);
  b[12] = 0x50;
  b[13] = flags;
  b.writeUInt16BE(64240, 14);
  body.copy(b, 20);
  return b;
}

function udp(sport: number, dport: number, body: Buffer): Buffer {
  const b = Buffer.alloc(8 + body.length);
  b.writeUInt16BE(sport, 0);
  b.writeUInt16BE(dport, 2);
  b.writeUInt16BE(b.length, 4);
  body.copy(b, 8);
  return b;
}

const SYN = 0x02;
const ACK = 0x10;
const PSH_ACK = 0x18;
const T0 = 1_767_225_600_000; // 2026-01-01

/** `n` SYNs at `perSecond`, each from its own address and port to one of 16 servers; none answered. */
function synFlood(path: string, n: number, perSecond: number): number {
  const w = new PcapStream(path);
  for (let i = 0; i < n; i++) {
    const src = addr(i % 100_000 + 1024);
    const sport = 1024 + Math.floor(i / 100_000) * 7 + (i % 13);
    const dst = [198, 19, 255, i & 15];
    w.ipv4(T0 + (i * 1000) / perSecond, ipv4(6, src, dst, tcp(sport, 443, i * 2_654_435_761, 0, SYN), i));
  }
  w.close();
  return w.count;
}

function dnsName(i: number): Buffer {
  const labels = [`h${i.toString(36)}`, 'svc', 'cluster', 'local'];
  return Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')])), Buffer.from([0])]);
}

/** `n` DNS queries spread evenly over `seconds`, each from its own port (and one of 4,096 clients); none answered. */
function dnsFlood(path: string, n: number, seconds: number): number {
  const w = new PcapStream(path);
  for (let i = 0; i < n; i++) {
    const name = dnsName(i);
    const q = Buffer.alloc(12 + name.length + 4);
    q.writeUInt16BE((i * 40503) & 0xffff, 0);
    q.writeUInt16BE(0x0100, 2);
    q.writeUInt16BE(1, 4);
    name.copy(q, 12);
    q.writeUInt16BE(i % 3 === 0 ? 28 : 1, 12 + name.length);
    q.writeUInt16BE(1, 14 + name.length);
    const src = addr(2048 + (i & 4095));
    const sport = 10_000 + ((i >> 12) % 50_000);
    w.ipv4(T0 + (i * seconds * 1000) / n, ipv4(17, src, [198, 19, 0, 10], udp(sport, 53, q), i));
  }
  w.close();
  return w.count;
}

/** A TCP client sending in order after a three-way handshake. */
class Conn {
  private seq = [1000, 900_000];
  constructor(
    private readonly w: PcapStream,
    private readonly client: number[],
    private readonly server: number[],
    private readonly cport: number,
    private readonly sport: number,
  ) {}
  handshake(ms: number): void {
    this.w.ipv4(ms, ipv4(6, this.client, this.server, tcp(this.cport, this.sport, this.seq[0]! - 1, 0, SYN), 1));
    this.w.ipv4(ms + 0.1, ipv4(6, this.server, this.client, tcp(this.sport, this.cport, this.seq[1]! - 1, this.seq[0]!, SYN | ACK), 1));
    this.w.ipv4(ms + 0.2, ipv4(6, this.client, this.server, tcp(this.cport, this.sport, this.seq[0]!, this.seq[1]!, ACK), 2));
  }
  send(ms: number, body: Buffer): void {
    this.w.ipv4(ms, ipv4(6, this.client, this.server, tcp(this.cport, this.sport, this.seq[0]!, this.seq[1]!, PSH_ACK, body), 3));
    this.seq[0]! += body.length;
  }
}

/** `flows` connections, each sending `kb` KB of an HTTP request head that never ends, interleaved. */
function endlessHeads(path: string, flows: number, kb: number): number {
  const w = new PcapStream(path);
  const conns = Array.from({ length: flows }, (_, i) => new Conn(w, addr(8192 + i), [198, 19, 0, 80], 30_000 + i, 80));
  let t = T0;
  conns.forEach((c) => c.handshake((t += 0.5)));
  const segment = 1448;
  const first = Buffer.from(`POST /upload HTTP/1.1\r\nHost: api\r\nX-Fill: `, 'latin1');
  const fill = Buffer.alloc(segment, 'q');
  const segments = Math.ceil((kb * 1024) / segment);
  for (let s = 0; s < segments; s++) {
    for (const c of conns) c.send((t += 0.05), s === 0 ? Buffer.concat([first, fill.subarray(first.length)]) : fill);
  }
  w.close();
  return w.count;
}

/**
 * `requests` unanswered HTTP/2 requests on one connection; the first inserts a
 * 4 KB header in the dynamic table (4,078 of its 4,096 bytes), every request then names it `repeats`
 * times (one byte each): a few hundred KB on the wire, gigabytes decoded.
 */
function hpackBomb(path: string, requests: number, repeats: number): number {
  const w = new PcapStream(path);
  const c = new Conn(w, [198, 18, 77, 1], [198, 19, 0, 81], 45_000, 8443);
  let t = T0;
  c.handshake(t);
  c.send((t += 1), preface());
  const big = hpack.insert('x-blob', 'z'.repeat(4040));
  for (let i = 0; i < requests; i++) {
    // :method GET, :scheme http, :path, :authority.
    const head = Buffer.concat([hpack.indexed(3), hpack.indexed(6), hpack.literalNamed(4, `/v1/items/${i}`), hpack.literalNamed(1, 'api')]);
    const refs = Buffer.alloc(repeats, 0xbe); // dynamic index 62
    const block = Buffer.concat([head, i === 0 ? big : Buffer.alloc(0), refs]);
    c.send((t += 1), h2frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 2 * i + 1, block));
  }
  w.close();
  return w.count;
}

/**
 * `n` QUIC client Initials (a scan, or a flood of handshakes), each its own
 * connection with its own random connection id (so its own keys to derive)
 * from its own address and port, none answered; `perSecond` of them.
 */
function quicFlood(path: string, n: number, perSecond: number): number {
  const w = new PcapStream(path);
  for (let i = 0; i < n; i++) {
    const c = newConnection(`flood${i}`);
    const initial = longPacket(c, 'initial', 'client', [crypto(0, clientHello(c.clientRandom, `h${i.toString(36)}.example`, [0x1301, 0x1303]))], { pad: 1162 });
    const src = addr(4096 + (i % 100_000));
    w.ipv4(T0 + (i * 1000) / perSecond, ipv4(17, src, [198, 19, 0, 43], udp(1024 + Math.floor(i / 100_000), 443, initial), i));
  }
  w.close();
  return w.count;
}

/**
 * One datagram's last fragment, then `n` one-byte fragments at offset 8 that never fill the hole at
 * 0 (each made the reassembler sort every piece it held), `datagrams` times.
 */
function tinyFragments(path: string, datagrams: number, n: number): number {
  const w = new PcapStream(path);
  let t = T0;
  for (let d = 0; d < datagrams; d++) {
    const frag = (units: number, more: boolean, data: Buffer): Buffer => {
      const b = ipv4(17, addr(1), addr(2), data, d);
      b.writeUInt16BE((more ? 0x2000 : 0) | units, 6);
      let sum = 0;
      b.writeUInt16BE(0, 10);
      for (let i = 0; i < 20; i += 2) sum += b.readUInt16BE(i);
      while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
      b.writeUInt16BE(~sum & 0xffff, 10);
      return b;
    };
    w.ipv4((t += 0.01), frag(8, false, Buffer.alloc(8)));
    for (let i = 0; i < n; i++) w.ipv4((t += 0.01), frag(1, true, Buffer.alloc(1)));
  }
  w.close();
  return w.count;
}

export interface HostileCapture {
  name: string;
  file: string;
  /** what it is, for the bench table */
  what: string;
  /** the target for `dissect` on it */
  target: string;
  targetMb: number;
  make: (path: string) => number;
}

export const hostileCaptures: HostileCapture[] = [
  { name: 'hpack', file: 'hpack-300x990.pcap', what: '300 HTTP/2 requests × 990 refs to a 4 KB header', target: '< 300 MB', targetMb: 300, make: (p) => hpackBomb(p, 300, 990) },
  { name: 'heads', file: 'heads-1000x200k.pcap', what: '1,000 flows × 200 KB of an unfinished HTTP head', target: '< 400 MB, loss said', targetMb: 400, make: (p) => endlessHeads(p, 1000, 200) },
  { name: 'syn200k', file: 'syn-200k.pcap', what: '200,000 unanswered SYNs (20k/s)', target: '< 200 MB', targetMb: 200, make: (p) => synFlood(p, 200_000, 20_000) },
  { name: 'syn1m', file: 'syn-1m.pcap', what: '1,000,000 unanswered SYNs (20k/s)', target: '< 200 MB, < 10 s', targetMb: 200, make: (p) => synFlood(p, 1_000_000, 20_000) },
  // Its own target: the bound issue 16 sets a run with a worker thread (every Initial is decrypted, as tshark does, for its server name).
  { name: 'quic100k', file: 'quic-100k.pcap', what: '100,000 unanswered QUIC Initials (10k/s)', target: '< 256 MB', targetMb: 256, make: (p) => quicFlood(p, 100_000, 10_000) },
  { name: 'frags', file: 'frags-4x30k.pcap', what: '4 datagrams × 30,000 one-byte IP fragments after their last', target: '< 200 MB, seconds', targetMb: 200, make: (p) => tinyFragments(p, 4, 30_000) },
  { name: 'dns300k', file: 'dns-300k.pcap', what: '300,000 unanswered DNS queries over 300 s', target: '< 200 MB', targetMb: 200, make: (p) => dnsFlood(p, 300_000, 300) },
];

/** Make the captures not yet on disk; returns their paths by name. */
export function ensureHostileCaptures(names?: string[], log: (m: string) => void = () => {}): Map<string, string> {
  mkdirSync(hostileDir, { recursive: true });
  const out = new Map<string, string>();
  for (const c of hostileCaptures) {
    if (names && !names.includes(c.name)) continue;
    const path = join(hostileDir, c.file);
    if (!existsSync(path)) {
      const tmp = `${path}.part`;
      const n = c.make(tmp);
      renameSync(tmp, path);
      log(`wrote ${path} (${n} packets)`);
    }
    out.set(c.name, path);
  }
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const only = args.includes('--only') ? args[args.indexOf('--only') + 1]!.split(',') : undefined;
  for (const [name, path] of ensureHostileCaptures(only, (m) => process.stderr.write(`${m}\n`))) process.stdout.write(`${name}\t${path}\n`);
}
