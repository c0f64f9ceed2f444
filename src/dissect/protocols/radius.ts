// RADIUS over UDP: code, identifier, length, 16-byte authenticator, then
// type-length-value attributes. A reply carries its request's identifier;
// a client retransmits with the same identifier and authenticator, which is
// counted on the pending request, not a new call. Attributes are shown by
// their RFC 2865/2866/2869 names; Vendor-Specific ones raw (vendor id + hex).
// User-Password, CHAP-Password and Message-Authenticator are never shown:
// the dissector keeps only the word [REDACTED] for them.
// Spec: RFC 2865 (authentication), RFC 2866 (accounting), RFC 5176 (CoA)

import type { CallRecord, ConnectionContext, Direction, Probe, ProtocolDissector, UdpDatagramParser } from '../api.js';
import { REDACTED } from '../../redact/urls.js';
import { ipv4Text, ipv6Text } from './util/addr.js';
import { looksLikeText, truncate } from './util/text.js';

export const CODES: Record<number, string> = {
  1: 'Access-Request', 2: 'Access-Accept', 3: 'Access-Reject', 4: 'Accounting-Request', 5: 'Accounting-Response',
  11: 'Access-Challenge', 12: 'Status-Server', 13: 'Status-Client', 40: 'Disconnect-Request', 41: 'Disconnect-ACK',
  42: 'Disconnect-NAK', 43: 'CoA-Request', 44: 'CoA-ACK', 45: 'CoA-NAK',
};
const REQUEST_CODES = new Set([1, 4, 12, 13, 40, 43]);
/** Answers that refuse: an authentication rejected, a disconnect or change refused. */
const ERROR_CODES = new Set([3, 42, 45]);

type Kind = 'text' | 'int' | 'ipv4' | 'ipv6' | 'octets' | 'secret' | 'time';
/** RFC 2865/2866/2869/3162/5176 attributes: name and how the value reads. */
const ATTRIBUTES: Record<number, [string, Kind]> = {
  1: ['User-Name', 'text'], 2: ['User-Password', 'secret'], 3: ['CHAP-Password', 'secret'], 4: ['NAS-IP-Address', 'ipv4'],
  5: ['NAS-Port', 'int'], 6: ['Service-Type', 'int'], 7: ['Framed-Protocol', 'int'], 8: ['Framed-IP-Address', 'ipv4'],
  9: ['Framed-IP-Netmask', 'ipv4'], 10: ['Framed-Routing', 'int'], 11: ['Filter-Id', 'text'], 12: ['Framed-MTU', 'int'],
  13: ['Framed-Compression', 'int'], 14: ['Login-IP-Host', 'ipv4'], 15: ['Login-Service', 'int'], 16: ['Login-TCP-Port', 'int'],
  18: ['Reply-Message', 'text'], 19: ['Callback-Number', 'text'], 20: ['Callback-Id', 'text'], 22: ['Framed-Route', 'text'],
  23: ['Framed-IPX-Network', 'int'], 24: ['State', 'octets'], 25: ['Class', 'octets'], 27: ['Session-Timeout', 'int'],
  28: ['Idle-Timeout', 'int'], 29: ['Termination-Action', 'int'], 30: ['Called-Station-Id', 'text'],
  31: ['Calling-Station-Id', 'text'], 32: ['NAS-Identifier', 'text'], 33: ['Proxy-State', 'octets'],
  34: ['Login-LAT-Service', 'text'], 35: ['Login-LAT-Node', 'text'], 36: ['Login-LAT-Group', 'octets'],
  37: ['Framed-AppleTalk-Link', 'int'], 38: ['Framed-AppleTalk-Network', 'int'], 39: ['Framed-AppleTalk-Zone', 'text'],
  40: ['Acct-Status-Type', 'int'], 41: ['Acct-Delay-Time', 'int'], 42: ['Acct-Input-Octets', 'int'],
  43: ['Acct-Output-Octets', 'int'], 44: ['Acct-Session-Id', 'text'], 45: ['Acct-Authentic', 'int'],
  46: ['Acct-Session-Time', 'int'], 47: ['Acct-Input-Packets', 'int'], 48: ['Acct-Output-Packets', 'int'],
  49: ['Acct-Terminate-Cause', 'int'], 50: ['Acct-Multi-Session-Id', 'text'], 51: ['Acct-Link-Count', 'int'],
  52: ['Acct-Input-Gigawords', 'int'], 53: ['Acct-Output-Gigawords', 'int'], 55: ['Event-Timestamp', 'time'],
  60: ['CHAP-Challenge', 'octets'], 61: ['NAS-Port-Type', 'int'], 62: ['Port-Limit', 'int'], 63: ['Login-LAT-Port', 'text'],
  // RFC 2868's Tunnel-Password and RFC 2869's ARAP-Password are hidden with the shared secret as User-Password is.
  69: ['Tunnel-Password', 'secret'], 70: ['ARAP-Password', 'secret'],
  77: ['Connect-Info', 'text'], 79: ['EAP-Message', 'octets'], 80: ['Message-Authenticator', 'secret'],
  85: ['Acct-Interim-Interval', 'int'], 87: ['NAS-Port-Id', 'text'], 88: ['Framed-Pool', 'text'],
  95: ['NAS-IPv6-Address', 'ipv6'], 101: ['Error-Cause', 'int'],
};
/** Named values of the enumerated attributes tshark and FreeRADIUS print by name. */
const VALUES: Record<number, Record<number, string>> = {
  6: { 1: 'Login-User', 2: 'Framed-User', 3: 'Callback-Login-User', 4: 'Callback-Framed-User', 5: 'Outbound-User', 6: 'Administrative-User', 7: 'NAS-Prompt-User', 8: 'Authenticate-Only', 10: 'Call-Check' },
  7: { 1: 'PPP', 2: 'SLIP', 3: 'ARAP', 4: 'Gandalf-SLML', 5: 'Xylogics-IPX-SLIP', 6: 'X.75-Synchronous' },
  40: { 1: 'Start', 2: 'Stop', 3: 'Interim-Update', 7: 'Accounting-On', 8: 'Accounting-Off' },
  45: { 1: 'RADIUS', 2: 'Local', 3: 'Remote' },
  49: { 1: 'User-Request', 2: 'Lost-Carrier', 3: 'Lost-Service', 4: 'Idle-Timeout', 5: 'Session-Timeout', 6: 'Admin-Reset', 7: 'Admin-Reboot', 8: 'Port-Error', 9: 'NAS-Error', 10: 'NAS-Request', 11: 'NAS-Reboot', 12: 'Port-Unneeded', 13: 'Port-Preempted', 14: 'Port-Suspended', 15: 'Service-Unavailable', 16: 'Callback', 17: 'User-Error', 18: 'Host-Request' },
  61: { 0: 'Async', 1: 'Sync', 2: 'ISDN', 3: 'ISDN-V120', 4: 'ISDN-V110', 5: 'Virtual', 15: 'Ethernet', 19: 'Wireless-802.11' },
};

const HEADER = 20;
const MAX_ATTRIBUTES = 200;
const MAX_OCTETS = 256;
const MAX_PENDING = 256;

// ---------------------------------------------------------------- probing

/**
 * Code, length and attribute chain agree with the datagram. `cut`: bytes a
 * snap length cut off it; the length may then run that far past what was
 * captured, and the chain is checked as far as it goes.
 */
function wellFormed(data: Buffer, cut = 0): boolean {
  if (data.length < HEADER || CODES[data[0]] === undefined) return false;
  const len = data.readUInt16BE(2);
  if (len < HEADER || len > 4096 || len > data.length + cut) return false;
  let p = HEADER;
  while (p < Math.min(len, data.length)) {
    if (p + 2 > data.length) return cut > 0;
    const l = data[p + 1];
    if (l < 2 || p + l > len) return false;
    p += l;
  }
  return true;
}

export function probeRadius(data: Buffer, portMatch: boolean, cut = 0): Probe {
  if (!wellFormed(data, cut)) return false;
  // Away from 1812/1813 a request must carry attributes (every real one does) and fill the datagram.
  if (!portMatch && (data.readUInt16BE(2) !== data.length + cut || data.length === HEADER)) return false;
  return REQUEST_CODES.has(data[0]) ? 'request' : 'response';
}

// ---------------------------------------------------------------- decoding

function attributeValue(type: number, kind: Kind, v: Buffer): unknown {
  switch (kind) {
    case 'secret':
      return REDACTED;
    case 'text':
      return looksLikeText(v) ? truncate(v.toString('utf8'), 1024) : v.toString('hex', 0, MAX_OCTETS);
    case 'int': {
      if (v.length !== 4) return v.toString('hex');
      const n = v.readUInt32BE(0);
      return VALUES[type]?.[n] ?? n;
    }
    case 'time':
      return v.length === 4 ? new Date(v.readUInt32BE(0) * 1000).toISOString() : v.toString('hex');
    case 'ipv4':
      return v.length === 4 ? ipv4Text(v) : v.toString('hex');
    case 'ipv6':
      return v.length === 16 ? ipv6Text(v) : v.toString('hex');
    default:
      return v.toString('hex', 0, MAX_OCTETS);
  }
}

/** Attributes by name; a repeated one becomes a list. Vendor-Specific: {vendorId, data} raw. */
export function decodeAttributes(data: Buffer, len: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  // Values are never lists themselves, so a list means "repeated"; Vendor-Specific is always a list.
  const add = (name: string, value: unknown): void => {
    const prev = out[name];
    if (prev === undefined) out[name] = name === 'Vendor-Specific' ? [value] : value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[name] = [prev, value];
  };
  let n = 0;
  for (let p = HEADER; p + 2 <= len && n < MAX_ATTRIBUTES; n++) {
    const type = data[p];
    const l = data[p + 1];
    if (l < 2 || p + l > len) break;
    const v = data.subarray(p + 2, p + l);
    if (type === 26) {
      const vsa = v.length >= 4 ? { vendorId: v.readUInt32BE(0), data: secretVendorData(v) ? REDACTED : v.toString('hex', 4, Math.min(v.length, 4 + MAX_OCTETS)) } : { data: v.toString('hex') };
      add('Vendor-Specific', vsa);
    } else if (type === 79 && secretEapResponse(v)) {
      // The EAP header (code, identifier, length, method) stays; what the method answers does not.
      add('EAP-Message', `${v.toString('hex', 0, 5)}${REDACTED}`);
    } else {
      const [name, kind] = ATTRIBUTES[type] ?? [`Attr-${type}`, 'octets'];
      add(name, attributeValue(type, kind, v));
    }
    p += l;
  }
  return out;
}

/**
 * Microsoft's vendor attributes (RFC 2548, vendor 311) that carry a password's hash or a session key:
 * MS-CHAP-Response (1), MS-CHAP-CPW-1/2 (4, 5), MS-CHAP-LM/NT-Enc-PW (6, 9), MS-CHAP-MPPE-Keys (12),
 * MS-MPPE-Send/Recv-Key (16, 17), MS-CHAP2-Response (25), MS-CHAP2-CPW (27). An MS-CHAPv2 response
 * is cracked offline to the NT hash; the MPPE keys encrypt the session.
 */
const MICROSOFT = 311;
const MICROSOFT_SECRETS = new Set([1, 4, 5, 6, 9, 12, 16, 17, 25, 27]);

/** A Vendor-Specific value (vendor id, then type-length-value items) holding one of those. */
function secretVendorData(v: Buffer): boolean {
  if (v.readUInt32BE(0) !== MICROSOFT) return false;
  for (let p = 4; p + 2 <= v.length; ) {
    if (MICROSOFT_SECRETS.has(v[p])) return true;
    if (v[p + 1] < 2) return false;
    p += v[p + 1];
  }
  return false;
}

/**
 * EAP methods whose Response (code 2) carries a password or what cracks one (RFC 3748): the OTP (5)
 * and Generic Token Card (6) send it in clear, MD5-Challenge (4), LEAP (17) and EAP-MSCHAPv2 (26) a
 * hash of it with the challenge. Identity (1), TLS-based methods and Nak stay readable.
 */
const EAP_SECRET_METHODS = new Set([4, 5, 6, 17, 26]);
function secretEapResponse(v: Buffer): boolean {
  return v.length > 5 && v[0] === 2 && EAP_SECRET_METHODS.has(v[4]);
}

// ---------------------------------------------------------------- parsing

interface Pending {
  request: Record<string, any>;
  authenticator: string;
  time: number;
  frame: number;
  size: number;
  warnings: string[];
}

class RadiusParser implements UdpDatagramParser {
  /** By identifier; insertion order is arrival order. */
  private readonly pending = new Map<number, Pending>();

  constructor(private readonly ctx: ConnectionContext) {}

  onDatagram(dir: Direction, payload: Buffer): void {
    const cut = this.ctx.cut ?? 0;
    if (!wellFormed(payload, cut)) {
      this.ctx.count('radius.malformed');
      return;
    }
    const code = payload[0];
    const identifier = payload[1];
    const len = payload.readUInt16BE(2);
    if (len < payload.length) this.ctx.count('radius.trailing_bytes', payload.length - len);
    // Cut by the snap length: the attributes captured whole are read, the call says `truncated`.
    const truncated = len > payload.length;
    if (truncated) this.ctx.count('radius.truncated');
    const fields: Record<string, any> = { code: CODES[code], identifier, attributes: decodeAttributes(payload, Math.min(len, payload.length)) };
    if (REQUEST_CODES.has(code)) this.onRequest(fields, payload.toString('hex', 4, 20), len, truncated);
    else this.onResponse(fields, len, dir, truncated);
  }

  private onRequest(fields: Record<string, any>, authenticator: string, size: number, truncated: boolean): void {
    this.answered.delete(fields.identifier);
    const previous = this.pending.get(fields.identifier);
    if (previous && previous.authenticator === authenticator) {
      // The client sent it again (no answer yet): one call, retransmissions counted.
      previous.request.retransmissions = (previous.request.retransmissions ?? 0) + 1;
      this.ctx.count('radius.retransmissions');
      return;
    }
    if (previous) {
      this.pending.delete(fields.identifier);
      previous.warnings.push('identifier reused');
      this.emitUnanswered(previous);
    }
    if (this.pending.size >= MAX_PENDING) {
      const [id, oldest] = this.pending.entries().next().value as [number, Pending];
      this.pending.delete(id);
      this.ctx.count('radius.pending_overflow');
      this.emitUnanswered(oldest);
    }
    this.pending.set(fields.identifier, { request: fields, authenticator, time: this.ctx.now, frame: this.ctx.frame, size, warnings: truncated ? ['truncated'] : [] });
  }

  private onResponse(fields: Record<string, any>, size: number, _dir: Direction, truncated: boolean): void {
    const req = this.pending.get(fields.identifier);
    if (req) this.pending.delete(fields.identifier);
    else if (this.answered.has(fields.identifier)) {
      // A retransmitted request answered twice: the call was emitted with the first answer.
      this.ctx.count('radius.duplicate_responses');
      return;
    }
    this.answered.add(fields.identifier);
    const record: CallRecord = {
      protocol: 'radius',
      request: req ? req.request : null,
      response: fields,
      requestTime: req ? req.time : this.ctx.now,
      requestFrame: req ? req.frame : this.ctx.frame,
      responseTime: this.ctx.now,
      responseFrame: this.ctx.frame,
      requestSize: req ? req.size : 0,
      responseSize: size,
      error: ERROR_CODES.has(CODE_NUMBERS[fields.code] ?? 0),
      summary: summarize(req?.request ?? null, fields),
    };
    const warnings = [...new Set([...(req?.warnings ?? []), ...(truncated ? ['truncated'] : []), ...(req ? [] : ['request not captured'])])];
    if (warnings.length > 0) record.warnings = warnings;
    this.ctx.emit(record);
  }

  /** Identifiers answered recently, to drop the second answer to a retransmission (bounded: 256 identifiers). */
  private readonly answered = new Set<number>();

  private emitUnanswered(p: Pending): void {
    this.answered.delete(p.request.identifier);
    this.ctx.emit({
      protocol: 'radius',
      request: p.request,
      response: null,
      requestTime: p.time,
      requestFrame: p.frame,
      requestSize: p.size,
      responseSize: 0,
      error: true,
      summary: summarize(p.request, null),
      warnings: [...p.warnings, 'unanswered'],
    });
  }

  onTick(nowMs: number, timeoutMs: number): void {
    for (const [id, p] of [...this.pending]) {
      if (nowMs - p.time > timeoutMs) {
        this.pending.delete(id);
        this.emitUnanswered(p);
      }
    }
  }

  pendingSince(): number | undefined {
    for (const p of this.pending.values()) return p.time;
    return undefined;
  }

  onEnd(): void {
    for (const p of this.pending.values()) this.emitUnanswered(p);
    this.pending.clear();
  }
}

const CODE_NUMBERS: Record<string, number> = Object.fromEntries(Object.entries(CODES).map(([k, v]) => [v, Number(k)]));

function summarize(req: Record<string, any> | null, res: Record<string, any> | null): string {
  const user = req?.attributes?.['User-Name'];
  const status = req?.attributes?.['Acct-Status-Type'];
  const left = req ? `${req.code}${typeof user === 'string' ? ` ${truncate(user, 64)}` : ''}${typeof status === 'string' ? ` ${status}` : ''}` : `#${res?.identifier}`;
  // A request is always answered (or retransmitted): one left without its reply is an unanswered error, said as HTTP and DNS say it.
  if (!res) return `${left} → unanswered`;
  const msg = res.attributes?.['Reply-Message'];
  return `${left} → ${res.code}${typeof msg === 'string' ? ` "${truncate(msg, 60)}"` : ''}`;
}

export const radius: ProtocolDissector = {
  name: 'radius',
  transport: 'udp',
  ports: [1812, 1813, 1645, 1646, 3799],
  priority: 50,
  reference: 'RFC 2865, RFC 2866, RFC 5176 (https://www.rfc-editor.org/rfc/rfc2865)',
  probe: (data, portMatch, cut) => {
    try {
      return probeRadius(data, portMatch, cut);
    } catch {
      return false;
    }
  },
  createUdpParser: (ctx) => new RadiusParser(ctx),
};
