// DNS (RFC 1035 and successors) over UDP and over TCP (2-byte length prefix,
// RFC 7766); mDNS (5353) and LLMNR (5355) share the wire format. Queries and
// responses pair by message id within a conversation; a response without its
// query is still emitted; a zone transfer's many answer messages are one call.
// Names follow compression pointers with loop and
// length protection, so crafted packets become "malformed" marks.
import type {
  CallRecord,
  ConnectionContext,
  Direction,
  Probe,
  ProtocolDissector,
  TcpStreamParser,
  UdpDatagramParser,
} from '../api.js';
import { ByteQueue } from '../byte-queue.js';
import { currentMeter } from '../memory-budget.js';
import { ipv4Text, ipv6Text } from './util/addr.js';
import { truncate } from './util/text.js';
import { MessageStarts } from './util/message-start.js';

/** Records kept per section; more are counted in a warning. */
const MAX_RECORDS = 100;
/** Queries waiting for an answer per conversation. */
const MAX_PENDING = 1024;
/** Compression pointers followed per name before calling it a loop. */
const MAX_POINTERS = 64;

const TYPE_NAMES: Record<number, string> = {
  1: 'A', 2: 'NS', 5: 'CNAME', 6: 'SOA', 12: 'PTR', 13: 'HINFO', 15: 'MX', 16: 'TXT', 17: 'RP',
  18: 'AFSDB', 24: 'SIG', 25: 'KEY', 28: 'AAAA', 29: 'LOC', 33: 'SRV', 35: 'NAPTR', 36: 'KX', 37: 'CERT',
  39: 'DNAME', 41: 'OPT', 42: 'APL', 43: 'DS', 44: 'SSHFP', 45: 'IPSECKEY', 46: 'RRSIG', 47: 'NSEC',
  48: 'DNSKEY', 49: 'DHCID', 50: 'NSEC3', 51: 'NSEC3PARAM', 52: 'TLSA', 53: 'SMIMEA', 55: 'HIP',
  59: 'CDS', 60: 'CDNSKEY', 61: 'OPENPGPKEY', 62: 'CSYNC', 63: 'ZONEMD', 64: 'SVCB', 65: 'HTTPS',
  99: 'SPF', 249: 'TKEY', 250: 'TSIG', 251: 'IXFR', 252: 'AXFR', 253: 'MAILB', 254: 'MAILA', 255: 'ANY',
  256: 'URI', 257: 'CAA',
};

const CLASS_NAMES: Record<number, string> = { 1: 'IN', 3: 'CH', 4: 'HS', 254: 'NONE', 255: 'ANY' };

const RCODE_NAMES: Record<number, string> = {
  0: 'NOERROR', 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN', 4: 'NOTIMP', 5: 'REFUSED', 6: 'YXDOMAIN',
  7: 'YXRRSET', 8: 'NXRRSET', 9: 'NOTAUTH', 10: 'NOTZONE', 11: 'DSOTYPENI', 16: 'BADVERS', 17: 'BADKEY',
  18: 'BADTIME', 19: 'BADMODE', 20: 'BADNAME', 21: 'BADALG', 22: 'BADTRUNC', 23: 'BADCOOKIE',
};

const OPCODE_NAMES: Record<number, string> = { 0: 'QUERY', 1: 'IQUERY', 2: 'STATUS', 4: 'NOTIFY', 5: 'UPDATE', 6: 'DSO' };

export const typeName = (t: number): string => TYPE_NAMES[t] ?? `TYPE${t}`;
const className = (c: number): string => CLASS_NAMES[c] ?? `CLASS${c}`;

/** Thrown inside the parser only; caught in parseDnsMessage and turned into a warning. */
class Malformed extends Error {}

export interface DnsQuestion {
  name: string;
  type: string;
  class: string;
}

export interface DnsRecord {
  name: string;
  type: string;
  class: string;
  ttl: number;
  data: string;
  [extra: string]: unknown;
}

export interface DnsMessage {
  id: number;
  qr: boolean;
  opcode: number;
  rcode: number;
  flags: { aa: boolean; tc: boolean; rd: boolean; ra: boolean; ad: boolean; cd: boolean };
  questions: DnsQuestion[];
  answers: DnsRecord[];
  authorities: DnsRecord[];
  additionals: DnsRecord[];
  /** Problems met while parsing; what was parsed before them is kept. */
  warnings: string[];
  /** Answers the header announces (more than `answers` keeps past MAX_RECORDS). */
  answerCount: number;
  /** The serial of every SOA among the answers, kept or not, in order: where a zone transfer ends. */
  answerSoas?: string[];
}

/** Parse one DNS message; null when shorter than the 12-byte header. Never throws. */
export function parseDnsMessage(buf: Buffer): DnsMessage | null {
  if (buf.length < 12) return null;
  const flags = buf.readUInt16BE(2);
  const msg: DnsMessage = {
    id: buf.readUInt16BE(0),
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    rcode: flags & 0xf,
    flags: {
      aa: (flags & 0x0400) !== 0,
      tc: (flags & 0x0200) !== 0,
      rd: (flags & 0x0100) !== 0,
      ra: (flags & 0x0080) !== 0,
      ad: (flags & 0x0020) !== 0,
      cd: (flags & 0x0010) !== 0,
    },
    questions: [],
    answers: [],
    authorities: [],
    additionals: [],
    warnings: [],
    answerCount: 0,
  };
  const counts = [buf.readUInt16BE(4), buf.readUInt16BE(6), buf.readUInt16BE(8), buf.readUInt16BE(10)];
  msg.answerCount = counts[1];
  let off = 12;
  try {
    for (let i = 0; i < counts[0]; i++) {
      const [name, next] = readName(buf, off);
      if (next + 4 > buf.length) throw new Malformed('question truncated');
      if (msg.questions.length < MAX_RECORDS) {
        msg.questions.push({ name, type: typeName(buf.readUInt16BE(next)), class: className(buf.readUInt16BE(next + 2) & 0x7fff) });
      }
      off = next + 4;
    }
    const sections = [msg.answers, msg.authorities, msg.additionals];
    for (let s = 0; s < 3; s++) {
      for (let i = 0; i < counts[s + 1]; i++) {
        const [rr, next] = readRecord(buf, off);
        if (sections[s].length < MAX_RECORDS) sections[s].push(rr);
        if (s === 0 && rr.type === 'SOA') (msg.answerSoas ??= []).push(soaSerial(rr)!);
        off = next;
      }
    }
    const dropped = counts.reduce((n, c) => n + Math.max(0, c - MAX_RECORDS), 0);
    if (dropped > 0) msg.warnings.push(`truncated: ${dropped} records not kept`);
  } catch (e) {
    msg.warnings.push(`malformed: ${e instanceof Malformed ? e.message : 'unexpected'}`);
  }
  // The EDNS OPT record carries the upper 8 bits of a 12-bit rcode.
  const opt = msg.additionals.find((r) => r.type === 'OPT');
  if (opt && typeof opt.extendedRcode === 'number') msg.rcode |= (opt.extendedRcode as number) << 4;
  return msg;
}

/** Read a (possibly compressed) name at `off`; returns the name and the offset after it in place. */
function readName(buf: Buffer, off: number): [string, number] {
  let name = '';
  let pos = off;
  let end = -1; // offset after the name in place, set at the first pointer
  let jumps = 0;
  let length = 0;
  // Each pointer must go strictly backwards, so a name cannot loop forever;
  // the jump cap bounds the work on long backward chains.
  let lowest = off;
  while (true) {
    if (pos >= buf.length) throw new Malformed('name truncated');
    const len = buf[pos];
    if (len === 0) {
      pos += 1;
      break;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= buf.length) throw new Malformed('name truncated');
      const target = ((len & 0x3f) << 8) | buf[pos + 1];
      if (end < 0) end = pos + 2;
      if (target >= lowest || ++jumps > MAX_POINTERS) throw new Malformed('compression loop');
      lowest = target;
      pos = target;
      continue;
    }
    if (kind !== 0) throw new Malformed(`bad label type 0x${len.toString(16)}`);
    if (pos + 1 + len > buf.length) throw new Malformed('name truncated');
    length += len + 1;
    if (length > 255) throw new Malformed('name too long');
    const label = labelText(buf, pos + 1, pos + 1 + len);
    name = name === '' ? label : name + '.' + label;
    pos += 1 + len;
  }
  return [name === '' ? '<Root>' : name, end < 0 ? pos : end];
}

/** The label in buf[start, end) in presentation format: taken as it is when it needs no escapes (nearly always). */
function labelText(buf: Buffer, start: number, end: number): string {
  for (let i = start; i < end; i++) {
    const c = buf[i];
    if (c <= 0x20 || c >= 0x7f || c === 0x2e) return escapeLabel(buf, start, end);
  }
  return buf.toString('latin1', start, end);
}

/** RFC 1035 §5.1 escapes: a backslash before a dot inside a label, `\DDD` (decimal) for bytes that are not printable. */
function escapeLabel(buf: Buffer, start: number, end: number): string {
  let s = '';
  for (let i = start; i < end; i++) {
    const c = buf[i];
    if (c === 0x2e) s += '\\.';
    else if (c > 0x20 && c < 0x7f) s += String.fromCharCode(c);
    else s += '\\' + c.toString().padStart(3, '0');
  }
  return s;
}

function readRecord(buf: Buffer, off: number): [DnsRecord, number] {
  const [name, p] = readName(buf, off);
  if (p + 10 > buf.length) throw new Malformed('record truncated');
  const type = buf.readUInt16BE(p);
  const cls = buf.readUInt16BE(p + 2);
  const ttl = buf.readUInt32BE(p + 4);
  const rdlen = buf.readUInt16BE(p + 8);
  const start = p + 10;
  if (start + rdlen > buf.length) throw new Malformed(`${typeName(type)} data truncated`);
  const rr: DnsRecord = { name, type: typeName(type), class: type === 41 ? '' : className(cls & 0x7fff), ttl, data: '' };
  decodeRdata(rr, buf, start, rdlen, type, cls, ttl);
  return [rr, start + rdlen];
}

/** Fill rr.data (a presentation-format string) and a few structured fields per type. */
function decodeRdata(rr: DnsRecord, buf: Buffer, start: number, len: number, type: number, cls: number, ttl: number): void {
  if (type === 1 && len >= 4) {
    // An A record, most answers: its text from the shared address cache, before any view or helper is made.
    rr.data = ipv4Text(buf, start);
    return;
  }
  // RFC 2136 2.4-2.5: an UPDATE's prerequisites and deletions (class ANY or NONE) have no RDATA.
  if (len === 0 && (cls === 255 || cls === 254)) return;
  const rd = buf.subarray(start, start + len);
  const need = (n: number): void => {
    if (len < n) throw new Malformed(`${rr.type} data too short`);
  };
  const nameAt = (o: number): [string, number] => readName(buf, start + o);
  switch (type) {
    case 1:
      need(4);
      rr.data = `${rd[0]}.${rd[1]}.${rd[2]}.${rd[3]}`;
      return;
    case 28:
      need(16);
      rr.data = ipv6Text(rd);
      return;
    case 2:
    case 5:
    case 12:
    case 39:
      rr.data = nameAt(0)[0];
      return;
    case 15: {
      need(3);
      const [host] = nameAt(2);
      rr.preference = rd.readUInt16BE(0);
      rr.data = `${rd.readUInt16BE(0)} ${host}`;
      return;
    }
    case 16:
    case 99: {
      const parts: string[] = [];
      let o = 0;
      while (o < len) {
        const n = rd[o];
        if (o + 1 + n > len) throw new Malformed('TXT string truncated');
        parts.push(rd.subarray(o + 1, o + 1 + n).toString('utf8'));
        o += 1 + n;
      }
      // One string is its text; several are shown as dig and zone files show them, each quoted
      // ("v=DKIM1; p=MIIB…" "…rest"), as tshark lists them one by one: joined with nothing
      // between them, a record's strings read as one and their boundaries were lost.
      rr.data = truncate(parts.length === 1 ? parts[0] : parts.map(quoteTxt).join(' '), 1024);
      return;
    }
    case 33: {
      need(7);
      const [target] = nameAt(6);
      rr.data = `${rd.readUInt16BE(0)} ${rd.readUInt16BE(2)} ${rd.readUInt16BE(4)} ${target}`;
      return;
    }
    case 6: {
      const [mname, p1] = nameAt(0);
      const [rname, p2] = readName(buf, p1);
      if (p2 + 20 > start + len) throw new Malformed('SOA data truncated');
      const nums = [0, 4, 8, 12, 16].map((k) => buf.readUInt32BE(p2 + k));
      rr.data = `${mname} ${rname} ${nums.join(' ')}`;
      return;
    }
    case 41: {
      // EDNS(0): class is the UDP payload size, TTL holds extended rcode, version, DO bit.
      rr.udpPayloadSize = cls;
      rr.extendedRcode = ttl >>> 24;
      rr.ednsVersion = (ttl >>> 16) & 0xff;
      rr.do = (ttl & 0x8000) !== 0;
      const options: { code: number; data: string }[] = [];
      let o = 0;
      while (o + 4 <= len && options.length < 32) {
        const code = rd.readUInt16BE(o);
        const olen = rd.readUInt16BE(o + 2);
        if (o + 4 + olen > len) throw new Malformed('EDNS option truncated');
        options.push({ code, data: truncate(rd.subarray(o + 4, o + 4 + olen).toString('hex'), 128) });
        o += 4 + olen;
      }
      rr.options = options;
      rr.data = `udp=${cls} version=${rr.ednsVersion}${rr.do ? ' do' : ''}${options.length ? ' options=' + options.map((x) => x.code).join(',') : ''}`;
      return;
    }
    case 257: {
      need(2);
      const tagLen = rd[1];
      if (2 + tagLen > len) throw new Malformed('CAA tag truncated');
      rr.data = `${rd[0]} ${rd.subarray(2, 2 + tagLen).toString('latin1')} "${rd.subarray(2 + tagLen).toString('utf8')}"`;
      return;
    }
    case 43:
    case 59:
      need(4);
      rr.data = `${rd.readUInt16BE(0)} ${rd[2]} ${rd[3]} ${hex(rd.subarray(4))}`;
      return;
    case 48:
    case 60:
      need(4);
      rr.data = `${rd.readUInt16BE(0)} ${rd[2]} ${rd[3]} (key ${len - 4} bytes)`;
      return;
    case 24:
    case 46: {
      // SIG and RRSIG: expiration and inception as RFC 4034 §3.2 writes them (dig too), UTC dates, not epoch seconds.
      need(18);
      const [signer] = nameAt(18);
      rr.data = `${typeName(rd.readUInt16BE(0))} ${rd[2]} ${rd[3]} ${rd.readUInt32BE(4)} ${sigTime(rd.readUInt32BE(8))} ${sigTime(rd.readUInt32BE(12))} ${rd.readUInt16BE(16)} ${signer}`;
      return;
    }
    case 47: {
      const [next, p] = nameAt(0);
      rr.data = `${next} ${typeBitmap(buf.subarray(p, start + len)).join(' ')}`;
      return;
    }
    default:
      // SVCB/HTTPS, NSEC3, TLSA and the rest: hex is enough to see what was there.
      rr.data = hex(rd);
  }
}

/** A TXT string quoted as in a zone file: `"` and `\\` escaped. */
function quoteTxt(s: string): string {
  return `"${s.replace(/["\\]/g, '\\$&')}"`;
}

/** A signature time (seconds since 1970, unsigned 32 bits) as `YYYYMMDDHHmmSS` in UTC (RFC 4034 §3.2). */
function sigTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString().slice(0, 19).replace(/[-T:]/g, '');
}

function hex(b: Buffer): string {
  return truncate(b.toString('hex'), 256);
}

function typeBitmap(b: Buffer): string[] {
  const types: string[] = [];
  let o = 0;
  while (o + 2 <= b.length && types.length < 64) {
    const win = b[o];
    const n = b[o + 1];
    if (n < 1 || n > 32 || o + 2 + n > b.length) throw new Malformed('NSEC type bitmap');
    for (let i = 0; i < n; i++) {
      for (let bit = 0; bit < 8; bit++) if (b[o + 2 + i] & (0x80 >> bit)) types.push(typeName(win * 256 + i * 8 + bit));
    }
    o += 2 + n;
  }
  return types;
}

function requestRecord(m: DnsMessage): Record<string, any> {
  const request: Record<string, any> = {
    id: m.id,
    opcode: m.opcode,
    opcodeName: OPCODE_NAMES[m.opcode] ?? `OPCODE${m.opcode}`,
    flags: { rd: m.flags.rd, ad: m.flags.ad, cd: m.flags.cd },
    questions: m.questions,
  };
  // An UPDATE's prerequisites and changes ride in the answer and authority sections (RFC 2136 2);
  // other requests rarely carry records there (an IXFR its copy's SOA, a NOTIFY the new SOA).
  if (m.answers.length > 0) request[m.opcode === 5 ? 'prerequisites' : 'answers'] = m.answers;
  if (m.authorities.length > 0) request[m.opcode === 5 ? 'updates' : 'authorities'] = m.authorities;
  if (m.additionals.length > 0) request.additionals = m.additionals;
  return request;
}

function responseRecord(m: DnsMessage, withQuestions: boolean): Record<string, any> {
  return {
    id: m.id,
    rcode: m.rcode,
    rcodeName: RCODE_NAMES[m.rcode] ?? `RCODE${m.rcode}`,
    flags: { aa: m.flags.aa, tc: m.flags.tc, rd: m.flags.rd, ra: m.flags.ra, ad: m.flags.ad, cd: m.flags.cd },
    // The questions are the query's; they are repeated only when the query was not seen.
    ...(withQuestions ? { questions: m.questions } : {}),
    answers: m.answers,
    authorities: m.authorities,
    additionals: m.additionals,
  };
}

/** `A reviews.bookinfo.svc → 198.18.1.5`, `A nope.example → NXDOMAIN`. */
function summarize(q: DnsMessage | null, r: DnsMessage | null, oneWay = false): string {
  const question = (q ?? r)?.questions[0];
  const opcode = (q ?? r)!.opcode;
  // UPDATE and NOTIFY name a zone (its SOA) where a query has its question: `UPDATE zone.test → NOERROR`.
  const zoneOp = (opcode === 4 || opcode === 5) && question !== undefined;
  const left = zoneOp ? `${OPCODE_NAMES[opcode]} ${question.name}` : question ? `${question.type} ${question.name}` : `${OPCODE_NAMES[opcode] ?? 'DNS'} (no question)`;
  if (!r) return `${left} → ${oneWay ? '(no response)' : 'unanswered'}`;
  if (r.rcode !== 0 || zoneOp) return `${left} → ${RCODE_NAMES[r.rcode] ?? `RCODE${r.rcode}`}`;
  if (r.answers.length === 0) return `${left} → (no answer)`;
  const wanted = question ? r.answers.filter((a) => a.type === question.type) : [];
  const shown = (wanted.length > 0 ? wanted : r.answers).map((a) => a.data);
  return `${left} → ${truncate(shown.slice(0, 3).join(', ') + (shown.length > 3 ? ` (+${shown.length - 3})` : ''), 200)}`;
}

/** An IPv4 (224.0.0.0/4) or IPv6 (ff00::/8) multicast address. */
function isMulticast(ip: string): boolean {
  if (ip.includes(':')) return /^ff/i.test(ip);
  const first = Number(ip.slice(0, ip.indexOf('.')));
  return first >= 224 && first <= 239;
}

/** A message as it arrived: parsed, with its time, frame and wire size. */
interface Arrived {
  msg: DnsMessage;
  time: number;
  frame: number;
  size: number;
}

/**
 * A query waiting for its answer: its bytes as one flat string, parsed again
 * when its entry is made. Kept parsed (the message, its flags, a question,
 * five arrays, the name as a tree of label pieces) it was most of the ~3 KB
 * an unanswered query's conversation kept alive until its timeout, copied at
 * every young-generation collection on the way: a flood of unanswered
 * queries was mostly garbage collection. The second parse gives what the
 * first did (it reads the same bytes); its malformations were counted once,
 * on arrival.
 */
interface PendingQuery {
  raw: string;
  time: number;
  frame: number;
  size: number;
  /** Bytes a snap length cut off the datagram (ConnectionContext.cut). */
  cut?: number;
  /** Server bytes were lost while it waited (TCP): its answer may have been in them. */
  gap?: true;
  /** The same question asked again under the same id while it waited (the resolver's timeout passed). */
  retransmissions?: number;
}

/** Answered queries remembered per conversation, so a second answer to a retransmitted one is known as such. */
const MAX_ANSWERED = 64;
/** How long after an answer a second one to the same id and question is its duplicate (resolvers retry within seconds). */
const DUPLICATE_ANSWER_MS = 30_000;
/**
 * How long (capture time) a conversation whose answered query had been retransmitted is kept for the
 * answer to the other copy: the server had both, and answers the second at once (a conversation with
 * nothing pending ends at its answer, and a second answer would start a new one, without a question).
 */
const SECOND_ANSWER_WAIT_MS = 1000;

/**
 * How long (capture time) an answer no waiting query takes (UDP) is held for its query: on `-i any`
 * each direction may sit on its own capture queue, so an answer can be recorded a little before the
 * query it answers (ICMP's echo replies wait as long). Past that it is an answer alone.
 */
const EARLY_ANSWER_MS = 200;
/** Answers held so per conversation; past that the oldest goes out alone (counted `dns.early_answers_evicted`). */
const MAX_EARLY_ANSWERS = 64;

/** What makes a query the same question: its questions (a retransmission repeats them; the id is checked apart). */
function questionKey(m: DnsMessage): string {
  return m.questions.map((q) => `${q.name}/${q.type}/${q.class}`).join(' ');
}

/** Heap bytes of a pending query besides its wire size (parsed message, map slot), for the memory budget. */
const PENDING_QUERY_COST = 512;

/** A held query as it was on arrival (parsed, it was not null then: the same bytes parse the same). */
function reparse(p: PendingQuery): Arrived {
  const msg = parseDnsMessage(Buffer.from(p.raw, 'latin1')) as DnsMessage;
  if (p.cut) markCut(msg);
  return { msg, time: p.time, frame: p.frame, size: p.size };
}

/**
 * A message a snap length cut (`tcpdump -s`): what ran past the capture's
 * end is missing, not malformed. The records read whole are kept and the
 * call says `truncated` (counted `dns.truncated`, not `dns.malformed`).
 */
function markCut(msg: DnsMessage): void {
  msg.warnings = [...msg.warnings.filter((w) => !(w.startsWith('malformed: ') && w.endsWith('truncated'))), 'truncated'];
}

/**
 * A conversation's queries waiting for their answers, by id, in arrival
 * order. Nearly always one (a resolver's socket asks once): that one is a
 * field, the oldest, and a Map is made only for a second. A Map for each
 * conversation was ~280 B of the ~2.3 KB a flood of unanswered queries kept
 * per conversation.
 */
class WaitingQueries {
  private firstId = 0;
  private first: PendingQuery | undefined;
  /** The rest, after `first` (never any while `first` is empty). */
  private rest: Map<number, PendingQuery> | undefined;

  get size(): number {
    return this.first === undefined ? 0 : 1 + (this.rest?.size ?? 0);
  }

  get(id: number): PendingQuery | undefined {
    if (this.first !== undefined && this.firstId === id) return this.first;
    return this.rest?.get(id);
  }

  /** Add a query as the newest (its id is not waiting). */
  add(id: number, p: PendingQuery): void {
    if (this.first === undefined) {
      this.first = p;
      this.firstId = id;
    } else (this.rest ??= new Map()).set(id, p);
  }

  delete(id: number): void {
    if (this.first === undefined || this.firstId !== id) {
      this.rest?.delete(id);
      return;
    }
    this.first = undefined;
    if (this.rest !== undefined && this.rest.size > 0) {
      // The next oldest moves up: `first` stays the oldest.
      const [nextId, next] = this.rest.entries().next().value as [number, PendingQuery];
      this.rest.delete(nextId);
      this.first = next;
      this.firstId = nextId;
    }
  }

  oldest(): PendingQuery | undefined {
    return this.first;
  }

  oldestId(): number {
    return this.firstId;
  }

  /** Oldest first, as a list (the caller may delete while walking it). */
  inOrder(): [number, PendingQuery][] {
    if (this.first === undefined) return [];
    const list: [number, PendingQuery][] = [[this.firstId, this.first]];
    if (this.rest !== undefined) for (const e of this.rest) list.push(e);
    return list;
  }
}

/**
 * A zone transfer (AXFR, IXFR over TCP) being answered: the server sends the
 * zone in as many messages as it needs, all with the query's id, the first
 * and the last answer the zone's SOA (RFC 5936 2.2, RFC 1995 4). One call
 * gathers them; answers past MAX_RECORDS are counted, not kept.
 */
interface Transfer {
  query: PendingQuery;
  type: 'AXFR' | 'IXFR';
  first: DnsMessage;
  answers: DnsRecord[];
  /** Answers the messages announced, kept or not. */
  records: number;
  messages: number;
  size: number;
  /** The first SOA's serial: the transfer ends with that SOA again. */
  serial: string | undefined;
  /**
   * The next SOA would start an IXFR difference (the old serial, then deletions, the new
   * serial, additions) or end the transfer (the first serial again). An AXFR's second SOA ends it.
   */
  expectOld: boolean;
  warnings: Set<string>;
  /** The frame that completed the first message: tshark's `dns.response_in`, the call's response frame. */
  firstFrame: number;
  last: { time: number; frame: number };
}

/** The serial of an SOA record's data (`mname rname serial refresh retry expire minimum`). */
function soaSerial(rr: DnsRecord | undefined): string | undefined {
  return rr?.type === 'SOA' ? rr.data.split(' ')[2] : undefined;
}

/** Pairs queries with responses by id for one conversation (UDP 5-tuple or TCP connection). */
class DnsPairing {
  private readonly pending = new WaitingQueries();
  /** Zone transfers under way (TCP only), by id; made at the first. */
  private transfers: Map<number, Transfer> | undefined;
  /** The conversation's memory budget meter: pending queries are charged to it. */
  private readonly meter = currentMeter();
  /**
   * Queries to a multicast group (mDNS 224.0.0.251 / ff02::fb, LLMNR 224.0.0.252 / ff02::1:3)
   * are answered, if at all, by whichever host has the name, to the group or from another
   * address: not on this conversation. One without an answer here is one-way, not unanswered.
   */
  private readonly multicast: boolean;
  /** Recently answered queries by id (question key, answer time): a second answer to one is a duplicate. */
  private readonly answered = new Map<number, { key: string; time: number }>();
  /** When a query that had been retransmitted was answered (UDP): the conversation waits for a second answer. */
  private secondAnswerSince: number | undefined;
  /**
   * Client bytes were lost (TCP): an answer no waiting query takes may answer
   * a query they held, so it says `gap` (a capture that began mid-connection
   * without loss leaves such an answer as it is).
   */
  private clientGap = false;
  /** Answers recorded before any query took them (UDP), by id, oldest first: see EARLY_ANSWER_MS. */
  private early: Map<number, Arrived & { key: string }> | undefined;

  constructor(private readonly ctx: ConnectionContext, private readonly stream = false) {
    this.multicast = isMulticast(ctx.server.ip);
  }

  private hold(id: number, p: PendingQuery): void {
    this.pending.add(id, p);
    this.meter?.add(PENDING_QUERY_COST + p.size);
  }

  private forget(id: number, p: PendingQuery): void {
    this.pending.delete(id);
    this.meter?.add(-(PENDING_QUERY_COST + p.size));
  }

  /** `start`: time and frame of the message's first byte (TCP: it may span segments); default the current packet. */
  onMessage(_dir: Direction, payload: Buffer, start?: { time: number; frame: number }): void {
    const msg = parseDnsMessage(payload);
    if (msg === null) {
      this.ctx.count('dns.malformed');
      return;
    }
    const cut = this.ctx.cut ?? 0;
    if (cut > 0) {
      markCut(msg);
      this.ctx.count('dns.truncated');
    }
    if (msg.warnings.some((w) => w.startsWith('malformed'))) this.ctx.count('dns.malformed');
    if (!msg.qr) {
      const early = this.early?.get(msg.id);
      if (early !== undefined && cut === 0 && this.ctx.now - early.time <= EARLY_ANSWER_MS && early.key === questionKey(msg)) {
        // Its answer was recorded first (the two directions on different queues): they pair all the same, in no time.
        this.dropEarly(msg.id, early);
        this.ctx.count('dns.answer_before_query');
        this.rememberAnswered(msg.id, early.key);
        const query: PendingQuery = { raw: payload.toString('latin1'), time: start?.time ?? this.ctx.now, frame: start?.frame ?? this.ctx.frame, size: payload.length };
        this.emit(query, { ...early, time: Math.max(query.time, early.time) });
        return;
      }
      const previous = this.pending.get(msg.id);
      if (previous && !this.multicast && cut === 0 && !previous.cut && questionKey(reparse(previous).msg) === questionKey(msg)) {
        // The resolver asked again (its timeout passed: a datagram lost, the Kubernetes conntrack race's
        // 5 s): one lookup, as tshark pairs it, timed from the first query, which is what the client waited.
        previous.retransmissions = (previous.retransmissions ?? 0) + 1;
        this.ctx.count('dns.retransmitted_queries');
        return;
      }
      if (previous) {
        // An id reused early for another question (or a multicast query repeated): the older one stays unanswered.
        this.forget(msg.id, previous);
        this.emit(previous, null, 'retransmitted');
      }
      if (this.pending.size >= MAX_PENDING) {
        this.ctx.count('dns.pending-overflow');
        const oldest = this.pending.oldest() as PendingQuery;
        this.forget(this.pending.oldestId(), oldest);
        this.emit(oldest, null);
      }
      this.hold(msg.id, { raw: payload.toString('latin1'), time: start?.time ?? this.ctx.now, frame: start?.frame ?? this.ctx.frame, size: payload.length + cut, ...(cut > 0 ? { cut } : {}) });
      return;
    }
    const transfer = this.transfers?.get(msg.id);
    if (transfer) return this.continueTransfer(transfer, msg, payload.length);
    const query = this.pending.get(msg.id);
    if (query) this.forget(msg.id, query);
    if (!query && !this.stream && this.isDuplicateAnswer(msg)) {
      // A second answer to a query already answered (both copies of a retransmitted query answered):
      // counted, not a call of its own without a question.
      this.ctx.count('dns.duplicate_responses');
      this.secondAnswerSince = undefined;
      return;
    }
    if (!query && !this.stream) return this.holdEarly(msg, payload.length + cut);
    if (query && !this.stream) {
      this.rememberAnswered(msg.id, questionKey(msg));
      if (query.retransmissions) this.secondAnswerSince = this.ctx.now;
    }
    const type = query && this.stream ? (msg.questions[0] ?? reparse(query).msg.questions[0])?.type : undefined;
    if (query && (type === 'AXFR' || type === 'IXFR') && msg.rcode === 0 && soaSerial(msg.answers[0]) !== undefined) {
      const t: Transfer = {
        query, type, first: msg, answers: [], records: 0, messages: 0, size: 0,
        serial: soaSerial(msg.answers[0]), expectOld: true, warnings: new Set(), firstFrame: this.ctx.frame, last: { time: this.ctx.now, frame: this.ctx.frame },
      };
      (this.transfers ??= new Map()).set(msg.id, t);
      this.meter?.add(PENDING_QUERY_COST + query.size);
      return this.continueTransfer(t, msg, payload.length);
    }
    this.emit(query ?? null, { msg, time: this.ctx.now, frame: this.ctx.frame, size: payload.length + cut }, !query && this.clientGap ? 'gap' : undefined);
  }

  /** An answer no query waits for (UDP): held EARLY_ANSWER_MS for a query recorded after it. */
  private holdEarly(msg: DnsMessage, size: number): void {
    const early = (this.early ??= new Map());
    const previous = early.get(msg.id);
    if (previous !== undefined) {
      this.dropEarly(msg.id, previous);
      this.emit(null, previous);
    }
    if (early.size >= MAX_EARLY_ANSWERS) {
      const [oldestId, oldest] = early.entries().next().value as [number, Arrived & { key: string }];
      this.dropEarly(oldestId, oldest);
      this.ctx.count('dns.early_answers_evicted');
      this.emit(null, oldest);
    }
    early.set(msg.id, { msg, time: this.ctx.now, frame: this.ctx.frame, size, key: questionKey(msg) });
    this.meter?.add(PENDING_QUERY_COST + size);
  }

  private dropEarly(id: number, a: Arrived): void {
    this.early!.delete(id);
    this.meter?.add(-(PENDING_QUERY_COST + a.size));
  }

  /** Held answers whose query did not come in time (all of them at the end): answers alone. */
  private releaseEarly(nowMs: number): void {
    if (this.early === undefined) return;
    for (const [id, a] of this.early) {
      if (nowMs - a.time <= EARLY_ANSWER_MS) break;
      this.dropEarly(id, a);
      this.emit(null, a);
    }
  }

  private rememberAnswered(id: number, key: string): void {
    this.answered.delete(id);
    if (this.answered.size >= MAX_ANSWERED) this.answered.delete(this.answered.keys().next().value as number);
    this.answered.set(id, { key, time: this.ctx.now });
  }

  /** An answer to the id and question of a query answered in the last DUPLICATE_ANSWER_MS. */
  private isDuplicateAnswer(msg: DnsMessage): boolean {
    const had = this.answered.get(msg.id);
    return had !== undefined && this.ctx.now - had.time <= DUPLICATE_ANSWER_MS && had.key === questionKey(msg);
  }

  /** One more message of a zone transfer; the call comes out with the one that ends it. */
  private continueTransfer(t: Transfer, msg: DnsMessage, size: number): void {
    const firstMessage = t.messages === 0;
    t.messages++;
    t.size += size;
    t.last = { time: this.ctx.now, frame: this.ctx.frame };
    for (const w of msg.warnings) if (!w.startsWith('truncated:')) t.warnings.add(w);
    for (const rr of msg.answers) if (t.answers.length < MAX_RECORDS) t.answers.push(rr);
    t.records += msg.answerCount;
    let done = msg.rcode !== 0 || msg.answerCount === 0 || msg.warnings.some((w) => w.startsWith('malformed'));
    // It ends with the first SOA again (AXFR; IXFR in full or as differences, RFC 1995 4).
    const soas = msg.answerSoas ?? [];
    for (let i = firstMessage ? 1 : 0; i < soas.length && !done; i++) {
      if (t.expectOld && soas[i] === t.serial) done = true;
      else t.expectOld = !t.expectOld;
    }
    // IXFR answered by the SOA alone: the client's copy (the SOA the query carries) is current.
    if (firstMessage && msg.answerCount === 1 && t.type === 'IXFR') {
      const had = soaSerial(reparse(t.query).msg.authorities.find((rr) => rr.type === 'SOA'));
      // Serial arithmetic (RFC 1982): the server's is not newer when the difference is 0 or wraps past half.
      const diff = had === undefined ? 0 : (Number(t.serial) - Number(had)) >>> 0;
      if (diff === 0 || diff >= 0x80000000) done = true;
    }
    if (done) this.endTransfer(msg.id, t);
  }

  private endTransfer(id: number, t: Transfer, warning?: string): void {
    this.transfers!.delete(id);
    // Cut off before its closing SOA (connection end, timeout): the rest of the zone is missing.
    if (warning === 'truncated') this.ctx.count('dns.transfer_truncated');
    this.meter?.add(-(PENDING_QUERY_COST + t.query.size));
    const kept = t.answers.length;
    if (t.records > kept) t.warnings.add(`truncated: ${t.records - kept} records not kept`);
    const msg: DnsMessage = { ...t.first, answers: t.answers, warnings: [...t.warnings] };
    // Timed to the last message (the transfer's duration), framed at the first as tshark pairs it.
    this.emit(t.query, { msg, time: t.last.time, frame: t.firstFrame, size: t.size }, warning, { messages: t.messages, records: t.records, lastFrame: t.last.frame });
  }

  /**
   * Lost server bytes: a transfer under way misses what they held (its call
   * says so when it ends), and so may the queries waiting: one never answered
   * after it says `gap` with `unanswered`, its answer lost from the capture,
   * not never sent. Lost client bytes may have held queries: see `clientGap`.
   */
  gap(dir: Direction): void {
    if (dir === 'c2s') {
      this.clientGap = true;
      return;
    }
    if (this.transfers !== undefined) for (const t of this.transfers.values()) t.warnings.add('gap');
    for (const [, p] of this.pending.inOrder()) p.gap = true;
  }

  /** Queries unanswered for the request timeout come out now, not when the conversation ends. */
  tick(nowMs: number, timeoutMs: number): void {
    this.releaseEarly(nowMs);
    if (this.secondAnswerSince !== undefined && nowMs - this.secondAnswerSince > SECOND_ANSWER_WAIT_MS) this.secondAnswerSince = undefined;
    // A transfer the server stopped sending: what came is its answer.
    if (this.transfers !== undefined) for (const [id, t] of this.transfers) if (nowMs - t.last.time > timeoutMs) this.endTransfer(id, t, 'truncated');
    const lone = this.pending.size === 1 ? this.pending.oldest() : undefined;
    // A lone query still in time: nothing to walk.
    if (lone !== undefined && nowMs - lone.time <= timeoutMs) return;
    for (const [id, p] of this.pending.inOrder()) {
      if (nowMs - p.time <= timeoutMs) continue;
      this.forget(id, p);
      this.emit(p, null);
    }
  }

  /** Insertion order is arrival order, so the first query waiting is the oldest. */
  since(): number | undefined {
    // Waiting for a second answer holds the conversation open; that answer makes no call of its own.
    let min = this.pending.oldest()?.time ?? this.secondAnswerSince;
    if (this.transfers !== undefined) for (const t of this.transfers.values()) if (min === undefined || t.query.time < min) min = t.query.time;
    // Held answers are in arrival order: the first is the oldest.
    if (this.early !== undefined) for (const a of this.early.values()) return min === undefined || a.time < min ? a.time : min;
    return min;
  }

  end(): void {
    this.releaseEarly(Infinity);
    if (this.transfers !== undefined) for (const [id, t] of this.transfers) this.endTransfer(id, t, 'truncated');
    for (const [id, p] of this.pending.inOrder()) {
      this.forget(id, p);
      this.emit(p, null);
    }
  }

  private emit(held: PendingQuery | null, r: Arrived | null, extraWarning?: string, transfer?: { messages: number; records: number; lastFrame: number }): void {
    const q = held === null ? null : reparse(held);
    const warnings: string[] = [];
    if (q !== null) for (const w of q.msg.warnings) warnings.push(w);
    if (r !== null) for (const w of r.msg.warnings) warnings.push(w);
    const oneWay = r === null && this.multicast;
    if (!r && !oneWay) warnings.push('unanswered');
    if (!r && held?.gap) warnings.push('gap');
    if (extraWarning) warnings.push(extraWarning);
    if (held?.retransmissions) warnings.push('retransmitted');
    const first = (q ?? r)!;
    const call: CallRecord = {
      protocol: 'dns',
      request: q ? requestRecord(q.msg) : null,
      response: r ? responseRecord(r.msg, q === null) : null,
      requestTime: first.time,
      requestFrame: first.frame,
      requestSize: q?.size ?? 0,
      responseSize: r?.size ?? 0,
      error: r === null ? !oneWay : r.msg.rcode !== 0,
      summary: summarize(q?.msg ?? null, r?.msg ?? null, oneWay),
    };
    if (held?.retransmissions && call.request) call.request.retransmissions = held.retransmissions;
    if (transfer && r && call.response) {
      call.response.messages = transfer.messages;
      call.response.records = transfer.records;
      call.response.lastFrame = transfer.lastFrame;
      const question = q?.msg.questions[0];
      if (r.msg.rcode === 0 && question) call.summary = `${question.type} ${question.name} → ${transfer.records} record${transfer.records === 1 ? '' : 's'} in ${transfer.messages} message${transfer.messages === 1 ? '' : 's'}`;
    }
    if (r) {
      call.responseTime = r.time;
      call.responseFrame = r.frame;
    }
    if (warnings.length > 0) call.warnings = [...new Set(warnings)];
    this.ctx.emit(call);
  }
}

class DnsUdpParser implements UdpDatagramParser {
  private readonly pairing: DnsPairing;
  constructor(ctx: ConnectionContext) {
    this.pairing = new DnsPairing(ctx);
  }
  onDatagram(dir: Direction, payload: Buffer): void {
    this.pairing.onMessage(dir, payload);
  }
  onTick(nowMs: number, timeoutMs: number): void {
    this.pairing.tick(nowMs, timeoutMs);
  }
  pendingSince(): number | undefined {
    return this.pairing.since();
  }
  onEnd(): void {
    this.pairing.end();
  }
}

/** DNS over TCP: each message is preceded by its 2-byte length. */
class DnsTcpParser implements TcpStreamParser {
  private readonly pairing: DnsPairing;
  private readonly queues: Record<Direction, ByteQueue> = { c2s: new ByteQueue(), s2c: new ByteQueue() };
  private readonly dead: Record<Direction, boolean> = { c2s: false, s2c: false };
  /** After a gap: segments are dropped (counted) until one starts with a message of its direction. */
  private readonly resync: Record<Direction, boolean> = { c2s: false, s2c: false };
  /** Where the message being read began (a query's time is its first packet's). */
  private readonly starts: MessageStarts;

  constructor(private readonly ctx: ConnectionContext) {
    this.pairing = new DnsPairing(ctx, true);
    this.starts = new MessageStarts(ctx);
  }

  onData(dir: Direction, data: Buffer): void {
    if (this.dead[dir]) return;
    if (this.resync[dir]) {
      if (!startsTcpMessage(dir, data)) {
        this.ctx.count('dns.gap_dropped', data.length);
        return;
      }
      this.resync[dir] = false;
    }
    const q = this.queues[dir];
    this.starts.push(dir, q.length);
    q.push(data);
    while (q.length >= 2) {
      const len = (q.at(0) << 8) | q.at(1);
      if (len < 12) {
        // Shorter than a header: the framing is not DNS (or lost); stop reading this side.
        this.ctx.count('dns.malformed');
        this.giveUp(dir);
        return;
      }
      if (q.length < 2 + len) return;
      const at = this.starts.head(dir);
      q.consume(2);
      const msg = q.take(len);
      this.starts.taken(dir, q.length);
      this.pairing.onMessage(dir, msg, at);
    }
  }

  /**
   * The length prefixes are lost with the bytes: what is queued is dropped and
   * reading resumes at the direction's first segment that starts with a
   * message (answers pair by id, so none is paired with another's query).
   */
  onGap(dir: Direction): void {
    this.ctx.count('dns.gap');
    this.pairing.gap(dir);
    if (this.dead[dir]) return;
    const q = this.queues[dir];
    if (q.length > 0) this.ctx.count('dns.gap_dropped', q.length);
    q.clear();
    this.starts.taken(dir, 0);
    this.resync[dir] = true;
  }

  onTick(nowMs: number, timeoutMs: number): void {
    this.pairing.tick(nowMs, timeoutMs);
  }

  /** Queries awaiting answers, and a query read in part (stamped with its first packet). */
  pendingSince(): number | undefined {
    const waiting = this.pairing.since();
    const partial = this.dead.c2s ? undefined : this.starts.partial('c2s', this.queues.c2s.length);
    if (partial === undefined) return waiting;
    return waiting === undefined ? partial : Math.min(waiting, partial);
  }

  onEnd(): void {
    for (const dir of ['c2s', 's2c'] as const) {
      if (this.queues[dir].length > 0) this.ctx.count('dns.truncated');
      this.queues[dir].clear();
    }
    this.pairing.end();
  }

  private giveUp(dir: Direction): void {
    this.dead[dir] = true;
    this.queues[dir].clear();
  }
}

/**
 * Whether a segment after a gap starts with a length-prefixed message of its
 * direction (a query from the client, an answer from the server) with a
 * plausible header; where the segment holds it whole and more follows, the
 * next length must be one too.
 */
function startsTcpMessage(dir: Direction, data: Buffer): boolean {
  const verdict = probeDns(data, true, true);
  if (verdict !== (dir === 'c2s' ? 'request' : 'response')) return false;
  const end = 2 + data.readUInt16BE(0);
  return data.length <= end + 1 || data.readUInt16BE(end) >= 12;
}

/**
 * Probe: a plausible header (opcode 0..6, at most a few hundred records, a
 * question for queries). Off the DNS ports only the stricter form passes.
 * For TCP the caller strips nothing: the 2-byte length comes first.
 */
export function probeDns(data: Buffer, portMatch: boolean, tcp: boolean): Probe {
  const off = tcp ? 2 : 0;
  if (data.length < off + 12) return tcp && data.length > 0 ? 'need-more' : false;
  if (tcp) {
    const len = data.readUInt16BE(0);
    if (len < 12) return false;
  }
  const flags = data.readUInt16BE(off + 2);
  const qr = (flags & 0x8000) !== 0;
  // On a DNS port anything with a header is DNS, however broken: the parser marks it malformed.
  if (portMatch && !tcp) return qr ? 'response' : 'request';
  const opcode = (flags >> 11) & 0xf;
  if (opcode > 6 || opcode === 3) return false;
  const qd = data.readUInt16BE(off + 4);
  const an = data.readUInt16BE(off + 6);
  const ns = data.readUInt16BE(off + 8);
  const ar = data.readUInt16BE(off + 10);
  if (qd > 16 || an > 512 || ns > 512 || ar > 512) return false;
  if (!portMatch) {
    // Off-port: demand the usual shape (one question, a sane first label, no Z bit).
    if (qd !== 1 || (flags & 0x0040) !== 0) return false;
    const l = data[off + 12];
    if (l === undefined || l === 0 || l > 63) return false;
    if (!qr && (an !== 0 || ns !== 0)) return false;
  }
  return qr ? 'response' : 'request';
}

/** Above this a length-prefixed message is not waited for off the DNS ports (most queries are < 100 bytes). */
const MAX_OFF_PORT_MESSAGE = 4096;
/** A question name as resolvers send it: LDH labels, `_` for SRV-style names. */
const HOSTNAME = /^(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})\.)*[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})?\.?$|^\.$/;

/**
 * DNS over TCP on any port: the 2-byte length must frame a whole message
 * (waited for up to 4 KB), the header must have the usual shape (see
 * probeDns off-port), and the message must parse without a warning into one
 * question with a hostname-like name. Random bytes pass all of that rarely enough.
 */
export function probeDnsTcpAnyPort(data: Buffer): Probe {
  if (data.length < 2) return 'need-more';
  const len = data.readUInt16BE(0);
  if (len < 17 || len > MAX_OFF_PORT_MESSAGE) return false;
  const shape = probeDns(data.subarray(0, Math.min(data.length, 2 + len)), false, true);
  if (shape === false) return false;
  if (data.length < 2 + len) return 'need-more';
  if (shape === 'need-more') return false;
  const m = parseDnsMessage(data.subarray(2, 2 + len));
  if (m === null || m.warnings.length > 0 || m.questions.length !== 1) return false;
  const q = m.questions[0];
  if (!HOSTNAME.test(q.name) || !['IN', 'CH', 'ANY'].includes(q.class)) return false;
  return shape;
}

export const dns: ProtocolDissector = {
  name: 'dns',
  transport: 'udp',
  ports: [53, 5353, 5355],
  priority: 10,
  reference: 'https://www.rfc-editor.org/rfc/rfc1035',
  probe(data, portMatch) {
    try {
      return probeDns(data, portMatch, false);
    } catch {
      return false;
    }
  },
  createUdpParser(ctx) {
    return new DnsUdpParser(ctx);
  },
};

/** The same protocol over TCP (zone transfers, large answers, DNS-over-TCP resolvers). */
export const dnsTcp: ProtocolDissector = {
  name: 'dns',
  transport: 'tcp',
  ports: [53, 5353],
  priority: 10,
  reference: 'https://www.rfc-editor.org/rfc/rfc7766',
  probe(data, portMatch) {
    try {
      // Off the DNS ports only a whole, well-formed query or answer is believed.
      return portMatch ? probeDns(data, true, true) : probeDnsTcpAnyPort(data);
    } catch {
      return false;
    }
  },
  createTcpParser(ctx) {
    return new DnsTcpParser(ctx);
  },
};
