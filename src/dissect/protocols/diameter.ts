// Diameter over TCP (and over SCTP, whose DATA the engine reassembles into the
// same ordered byte stream): 20-byte headers (version 1, length, R/P/E/T flags,
// command code, application id, hop-by-hop and end-to-end ids) and AVPs; an
// answer carries its request's hop-by-hop id. AVPs of the base protocol and
// the credit-control application are shown by name (grouped AVPs nested),
// others by code; Result-Code (or Experimental-Result-Code) decides `error`.
// Spec: RFC 6733 (base), RFC 4006 (credit control)

import type { ConnectionContext, Direction, Probe, ProtocolDissector } from '../api.js';
import { REDACTED } from '../../redact/urls.js';
import { ipv4Text, ipv6Text } from './util/addr.js';
import { FramedParser, type FrameLength } from './util/framed.js';
import type { Stamp } from './util/message-start.js';
import { looksLikeText, truncate } from './util/text.js';

/** Command code → [request abbreviation, answer abbreviation, name]. */
export const COMMANDS: Record<number, [string, string, string]> = {
  257: ['CER', 'CEA', 'Capabilities-Exchange'], 258: ['RAR', 'RAA', 'Re-Auth'], 271: ['ACR', 'ACA', 'Accounting'],
  272: ['CCR', 'CCA', 'Credit-Control'], 274: ['ASR', 'ASA', 'Abort-Session'], 275: ['STR', 'STA', 'Session-Termination'],
  280: ['DWR', 'DWA', 'Device-Watchdog'], 282: ['DPR', 'DPA', 'Disconnect-Peer'], 265: ['AAR', 'AAA', 'AA'],
  268: ['DER', 'DEA', 'Diameter-EAP'], 316: ['ULR', 'ULA', 'Update-Location'], 318: ['AIR', 'AIA', 'Authentication-Information'],
  300: ['UAR', 'UAA', 'User-Authorization'], 301: ['SAR', 'SAA', 'Server-Assignment'], 302: ['LIR', 'LIA', 'Location-Info'],
  303: ['MAR', 'MAA', 'Multimedia-Auth'], 317: ['CLR', 'CLA', 'Cancel-Location'], 321: ['PUR', 'PUA', 'Purge-UE'],
  323: ['NOR', 'NOA', 'Notify'],
};
export const APPLICATIONS: Record<number, string> = {
  0: 'Diameter Common Messages', 1: 'NASREQ', 3: 'Diameter Base Accounting', 4: 'Diameter Credit Control', 5: 'Diameter EAP',
  16777216: '3GPP Cx', 16777217: '3GPP Sh', 16777236: '3GPP Rx', 16777238: '3GPP Gx', 16777251: '3GPP S6a/S6d',
  16777252: '3GPP S13', 16777255: '3GPP SLg', 16777291: '3GPP SLh', 4294967295: 'Relay',
};

type Kind = 'utf8' | 'u32' | 'u64' | 'i32' | 'i64' | 'octets' | 'grouped' | 'address' | 'time' | 'enum' | 'secret';
/** RFC 6733 and RFC 4006 AVPs (vendor 0). */
const AVPS: Record<number, [string, Kind]> = {
  1: ['User-Name', 'utf8'], 2: ['User-Password', 'secret'], 25: ['Class', 'octets'], 27: ['Session-Timeout', 'u32'],
  33: ['Proxy-State', 'octets'], 44: ['Accounting-Session-Id', 'octets'], 50: ['Acct-Multi-Session-Id', 'utf8'],
  55: ['Event-Timestamp', 'time'], 85: ['Acct-Interim-Interval', 'u32'], 257: ['Host-IP-Address', 'address'],
  258: ['Auth-Application-Id', 'u32'], 259: ['Acct-Application-Id', 'u32'], 260: ['Vendor-Specific-Application-Id', 'grouped'],
  261: ['Redirect-Host-Usage', 'enum'], 262: ['Redirect-Max-Cache-Time', 'u32'], 263: ['Session-Id', 'utf8'],
  264: ['Origin-Host', 'utf8'], 265: ['Supported-Vendor-Id', 'u32'], 266: ['Vendor-Id', 'u32'], 267: ['Firmware-Revision', 'u32'],
  268: ['Result-Code', 'u32'], 269: ['Product-Name', 'utf8'], 270: ['Session-Binding', 'u32'], 271: ['Session-Server-Failover', 'enum'],
  272: ['Multi-Round-Time-Out', 'u32'], 273: ['Disconnect-Cause', 'enum'], 274: ['Auth-Request-Type', 'enum'],
  276: ['Auth-Grace-Period', 'u32'], 277: ['Auth-Session-State', 'enum'], 278: ['Origin-State-Id', 'u32'],
  279: ['Failed-AVP', 'grouped'], 280: ['Proxy-Host', 'utf8'], 281: ['Error-Message', 'utf8'], 282: ['Route-Record', 'utf8'],
  283: ['Destination-Realm', 'utf8'], 284: ['Proxy-Info', 'grouped'], 285: ['Re-Auth-Request-Type', 'enum'],
  287: ['Accounting-Sub-Session-Id', 'u64'], 291: ['Authorization-Lifetime', 'u32'], 292: ['Redirect-Host', 'utf8'],
  293: ['Destination-Host', 'utf8'], 294: ['Error-Reporting-Host', 'utf8'], 295: ['Termination-Cause', 'enum'],
  296: ['Origin-Realm', 'utf8'], 297: ['Experimental-Result', 'grouped'], 298: ['Experimental-Result-Code', 'u32'],
  299: ['Inband-Security-Id', 'u32'], 480: ['Accounting-Record-Type', 'enum'], 483: ['Accounting-Realtime-Required', 'enum'],
  485: ['Accounting-Record-Number', 'u32'],
  411: ['CC-Correlation-Id', 'octets'], 412: ['CC-Input-Octets', 'u64'], 413: ['CC-Money', 'grouped'], 414: ['CC-Output-Octets', 'u64'],
  415: ['CC-Request-Number', 'u32'], 416: ['CC-Request-Type', 'enum'], 417: ['CC-Service-Specific-Units', 'u64'],
  418: ['CC-Session-Failover', 'enum'], 419: ['CC-Sub-Session-Id', 'u64'], 420: ['CC-Time', 'u32'], 421: ['CC-Total-Octets', 'u64'],
  422: ['Check-Balance-Result', 'enum'], 423: ['Cost-Information', 'grouped'], 424: ['Cost-Unit', 'utf8'], 425: ['Currency-Code', 'u32'],
  426: ['Credit-Control', 'enum'], 427: ['Credit-Control-Failure-Handling', 'enum'], 428: ['Direct-Debiting-Failure-Handling', 'enum'],
  429: ['Exponent', 'i32'], 430: ['Final-Unit-Indication', 'grouped'], 431: ['Granted-Service-Unit', 'grouped'],
  432: ['Rating-Group', 'u32'], 433: ['Redirect-Address-Type', 'enum'], 434: ['Redirect-Server', 'grouped'],
  435: ['Redirect-Server-Address', 'utf8'], 436: ['Requested-Action', 'enum'], 437: ['Requested-Service-Unit', 'grouped'],
  438: ['Restriction-Filter-Rule', 'utf8'], 439: ['Service-Identifier', 'u32'], 440: ['Service-Parameter-Info', 'grouped'],
  441: ['Service-Parameter-Type', 'u32'], 442: ['Service-Parameter-Value', 'octets'], 443: ['Subscription-Id', 'grouped'],
  444: ['Subscription-Id-Data', 'utf8'], 445: ['Unit-Value', 'grouped'], 446: ['Used-Service-Unit', 'grouped'],
  447: ['Value-Digits', 'i64'], 448: ['Validity-Time', 'u32'], 449: ['Final-Unit-Action', 'enum'], 450: ['Subscription-Id-Type', 'enum'],
  451: ['Tariff-Time-Change', 'time'], 452: ['Tariff-Change-Usage', 'enum'], 453: ['G-S-U-Pool-Identifier', 'u32'],
  454: ['CC-Unit-Type', 'enum'], 455: ['Multiple-Services-Indicator', 'enum'], 456: ['Multiple-Services-Credit-Control', 'grouped'],
  457: ['G-S-U-Pool-Reference', 'grouped'], 458: ['User-Equipment-Info', 'grouped'], 459: ['User-Equipment-Info-Type', 'enum'],
  460: ['User-Equipment-Info-Value', 'octets'], 461: ['Service-Context-Id', 'utf8'],
};
const ENUMS: Record<number, Record<number, string>> = {
  273: { 0: 'REBOOTING', 1: 'BUSY', 2: 'DO_NOT_WANT_TO_TALK_TO_YOU' },
  274: { 1: 'AUTHENTICATE_ONLY', 2: 'AUTHORIZE_ONLY', 3: 'AUTHORIZE_AUTHENTICATE' },
  277: { 0: 'STATE_MAINTAINED', 1: 'NO_STATE_MAINTAINED' },
  295: { 1: 'DIAMETER_LOGOUT', 2: 'DIAMETER_SERVICE_NOT_PROVIDED', 3: 'DIAMETER_BAD_ANSWER', 4: 'DIAMETER_ADMINISTRATIVE', 5: 'DIAMETER_LINK_BROKEN', 6: 'DIAMETER_AUTH_EXPIRED', 7: 'DIAMETER_USER_MOVED', 8: 'DIAMETER_SESSION_TIMEOUT' },
  416: { 1: 'INITIAL_REQUEST', 2: 'UPDATE_REQUEST', 3: 'TERMINATION_REQUEST', 4: 'EVENT_REQUEST' },
  450: { 0: 'END_USER_E164', 1: 'END_USER_IMSI', 2: 'END_USER_SIP_URI', 3: 'END_USER_NAI', 4: 'END_USER_PRIVATE' },
  480: { 1: 'EVENT_RECORD', 2: 'START_RECORD', 3: 'INTERIM_RECORD', 4: 'STOP_RECORD' },
  436: { 0: 'DIRECT_DEBITING', 1: 'REFUND_ACCOUNT', 2: 'CHECK_BALANCE', 3: 'PRICE_ENQUIRY' },
  449: { 0: 'TERMINATE', 1: 'REDIRECT', 2: 'RESTRICT_ACCESS' },
};
export const RESULT_CODES: Record<number, string> = {
  1001: 'DIAMETER_MULTI_ROUND_AUTH', 2001: 'DIAMETER_SUCCESS', 2002: 'DIAMETER_LIMITED_SUCCESS',
  3001: 'DIAMETER_COMMAND_UNSUPPORTED', 3002: 'DIAMETER_UNABLE_TO_DELIVER', 3003: 'DIAMETER_REALM_NOT_SERVED',
  3004: 'DIAMETER_TOO_BUSY', 3005: 'DIAMETER_LOOP_DETECTED', 3006: 'DIAMETER_REDIRECT_INDICATION',
  3007: 'DIAMETER_APPLICATION_UNSUPPORTED', 3008: 'DIAMETER_INVALID_HDR_BITS', 3009: 'DIAMETER_INVALID_AVP_BITS',
  3010: 'DIAMETER_UNKNOWN_PEER', 4001: 'DIAMETER_AUTHENTICATION_REJECTED', 4002: 'DIAMETER_OUT_OF_SPACE',
  4003: 'ELECTION_LOST', 4010: 'DIAMETER_END_USER_SERVICE_DENIED', 4011: 'DIAMETER_CREDIT_CONTROL_NOT_APPLICABLE',
  4012: 'DIAMETER_CREDIT_LIMIT_REACHED', 5001: 'DIAMETER_AVP_UNSUPPORTED', 5002: 'DIAMETER_UNKNOWN_SESSION_ID',
  5003: 'DIAMETER_AUTHORIZATION_REJECTED', 5004: 'DIAMETER_INVALID_AVP_VALUE', 5005: 'DIAMETER_MISSING_AVP',
  5006: 'DIAMETER_RESOURCES_EXCEEDED', 5007: 'DIAMETER_CONTRADICTING_AVPS', 5008: 'DIAMETER_AVP_NOT_ALLOWED',
  5009: 'DIAMETER_AVP_OCCURS_TOO_MANY_TIMES', 5010: 'DIAMETER_NO_COMMON_APPLICATION', 5011: 'DIAMETER_UNSUPPORTED_VERSION',
  5012: 'DIAMETER_UNABLE_TO_COMPLY', 5013: 'DIAMETER_INVALID_BIT_IN_HEADER', 5014: 'DIAMETER_INVALID_AVP_LENGTH',
  5015: 'DIAMETER_INVALID_MESSAGE_LENGTH', 5016: 'DIAMETER_INVALID_AVP_BIT_COMBO', 5017: 'DIAMETER_NO_COMMON_SECURITY',
  5030: 'DIAMETER_USER_UNKNOWN', 5031: 'DIAMETER_RATING_FAILED',
};

const HEADER = 20;
const MAX_AVPS = 500;
const MAX_DEPTH = 8;
const MAX_OCTETS = 256;

const FLAG_R = 0x80;
const FLAG_E = 0x20;

// ---------------------------------------------------------------- probing

function plausibleHeader(data: Buffer, off: number): boolean {
  if (data.length < off + HEADER) return false;
  const len = data.readUIntBE(off + 1, 3);
  const flags = data[off + 4];
  return data[off] === 1 && len >= HEADER && len % 4 === 0 && (flags & 0x0f) === 0 && !((flags & FLAG_R) && (flags & FLAG_E));
}

export function probeDiameter(data: Buffer, portMatch: boolean): Probe {
  if (data.length < HEADER) return portMatch && data.length > 0 && data[0] === 1 ? 'need-more' : false;
  if (!plausibleHeader(data, 0)) return false;
  const len = data.readUIntBE(1, 3);
  // The first AVP must be sound too: code, flags with no reserved bits, a length inside the message.
  if (len >= HEADER + 8 && data.length >= HEADER + 8) {
    const avpLen = data.readUIntBE(HEADER + 5, 3);
    if ((data[HEADER + 4] & 0x1f) !== 0 || avpLen < 8 || HEADER + avpLen > len) return false;
  }
  if (!portMatch) {
    if (COMMANDS[data.readUIntBE(5, 3)] === undefined) return false;
    if (data.length !== len && !(data.length > len && plausibleHeader(data, len))) return false;
  }
  return data[4] & FLAG_R ? 'request' : 'response';
}

// ---------------------------------------------------------------- AVPs

class Short extends Error {}

function avpValue(code: number, kind: Kind, v: Buffer, depth: number, budget: { n: number }): unknown {
  switch (kind) {
    case 'secret':
      return REDACTED;
    case 'utf8':
      return truncate(v.toString('utf8'), 1024);
    case 'u32':
      return v.length === 4 ? v.readUInt32BE(0) : v.toString('hex');
    case 'i32':
      return v.length === 4 ? v.readInt32BE(0) : v.toString('hex');
    case 'u64':
    case 'i64': {
      if (v.length !== 8) return v.toString('hex');
      const n = kind === 'u64' ? v.readBigUInt64BE(0) : v.readBigInt64BE(0);
      return n <= BigInt(Number.MAX_SAFE_INTEGER) && n >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString();
    }
    case 'enum': {
      if (v.length !== 4) return v.toString('hex');
      const n = v.readInt32BE(0);
      return ENUMS[code]?.[n] ?? n;
    }
    case 'time':
      // NTP seconds (since 1900).
      return v.length === 4 ? new Date((v.readUInt32BE(0) - 2208988800) * 1000).toISOString() : v.toString('hex');
    case 'address': {
      if (v.length === 6 && v.readUInt16BE(0) === 1) return ipv4Text(v, 2);
      if (v.length === 18 && v.readUInt16BE(0) === 2) return ipv6Text(v, 2);
      return v.toString('hex');
    }
    case 'grouped':
      return decodeAvps(v, 0, v.length, depth + 1, budget);
    default:
      return v.toString('hex', 0, MAX_OCTETS);
  }
}

/** AVPs from `off` to `end` as {name: value}; repeated names become lists. */
export function decodeAvps(b: Buffer, off: number, end: number, depth = 0, budget = { n: 0 }): Record<string, unknown> {
  if (depth > MAX_DEPTH) return { truncated: true };
  const out: Record<string, unknown> = {};
  let p = off;
  while (p + 8 <= end) {
    if (++budget.n > MAX_AVPS) {
      out.truncated = true;
      break;
    }
    const code = b.readUInt32BE(p);
    const flags = b[p + 4];
    const len = b.readUIntBE(p + 5, 3);
    const vendor = (flags & 0x80) !== 0;
    const hdr = vendor ? 12 : 8;
    if (len < hdr || p + len > end) throw new Short();
    const vendorId = vendor ? b.readUInt32BE(p + 8) : 0;
    const v = b.subarray(p + hdr, p + len);
    let name: string;
    let value: unknown;
    const known = vendorId === 0 ? AVPS[code] : undefined;
    if (secretAvp(vendorId, code, v)) {
      name = known ? known[0] : vendorId === 0 ? `AVP-${code}` : `AVP-${vendorId}-${code}`;
      value = REDACTED;
    } else if (known) {
      name = known[0];
      value = avpValue(code, known[1], v, depth, budget);
    } else {
      name = vendorId === 0 ? `AVP-${code}` : `AVP-${vendorId}-${code}`;
      // Unknown AVPs: grouped ones cannot be told apart from octets; text reads as text.
      value = looksLikeText(v) && v.length > 0 ? truncate(v.toString('utf8'), 1024) : v.length === 4 ? v.readUInt32BE(0) : v.toString('hex', 0, MAX_OCTETS);
    }
    // Values are never lists themselves, so a list means "repeated".
    const prev = out[name];
    if (prev === undefined) out[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[name] = [prev, value];
    p += len + ((4 - (len % 4)) % 4);
  }
  return out;
}

/**
 * AVPs that carry keys or what an authentication expects, never kept: 3GPP's authentication vectors
 * (TS 29.272 S6a Authentication-Info and its E-UTRAN, UTRAN and GERAN vectors: XRES, KASME, CK, IK,
 * Kc, SRES; TS 29.229 Cx SIP-Auth-Data-Item, SIP-Authorization, Confidentiality-Key, Integrity-Key;
 * codes as Wireshark's TGPP.xml gives them), RFC 4740's own SIP-Auth-Data-Item and SIP-Authorization,
 * RFC 4072's EAP-Master-Session-Key, and an EAP-Payload answering with a password or its hash (as
 * RADIUS's EAP-Message). These vendor AVPs are otherwise shown as hex, a grouped one whole.
 */
const SECRET_3GPP = new Set([1413, 1414, 1415, 1416, 1448, 1450, 1453, 1454, 612, 610, 625, 626]);
const THREE_GPP = 10415;
const EAP_MASTER_SESSION_KEY = 464;
/** RFC 4740's SIP-Auth-Data-Item and SIP-Authorization (a Digest answer), vendor 0. */
const SIP_SECRETS = new Set([376, 380]);
const EAP_PAYLOAD = 462;
const EAP_SECRET_METHODS = new Set([4, 5, 6, 17, 26]);

function secretAvp(vendorId: number, code: number, v: Buffer): boolean {
  if (vendorId === THREE_GPP) return SECRET_3GPP.has(code);
  if (vendorId !== 0) return false;
  if (code === EAP_MASTER_SESSION_KEY || SIP_SECRETS.has(code)) return true;
  return code === EAP_PAYLOAD && v.length > 5 && v[0] === 2 && EAP_SECRET_METHODS.has(v[4]);
}

// ---------------------------------------------------------------- parsing

/**
 * How long (capture time) an answer over SCTP whose request is not waiting is held for it: SCTP has
 * no acknowledgement the engine could order the two directions by (TCP's holding), and on `-i any`
 * each direction may sit on its own capture queue, so an answer can be recorded just before its
 * request (ICMP's echo replies and DNS answers wait as long). Past that it is an answer alone.
 */
const EARLY_ANSWER_MS = 200;
/** Answers held so per association; past that the oldest goes out alone (`diameter.early_answers_evicted`). */
const MAX_EARLY_ANSWERS = 64;

/** An answer held for its request: what emitCall needs, and when it completed. */
interface EarlyAnswer {
  fields: Record<string, any>;
  size: number;
  error: boolean;
  start: Stamp;
  answered: Stamp;
  warnings: string[];
}

class DiameterParser extends FramedParser {
  protected readonly headerBytes = HEADER;
  /** Answers over SCTP recorded before their request, by hop-by-hop id, oldest first. */
  private early: Map<number, EarlyAnswer> | undefined;

  constructor(ctx: ConnectionContext) {
    super(ctx, 'diameter', { maxMessage: 4 * 1024 * 1024, headBytes: 64 * 1024 });
  }

  protected frameLength(_dir: Direction, head: Buffer): FrameLength {
    return plausibleHeader(head, 0) ? head.readUIntBE(1, 3) : 'bad';
  }

  protected onMessage(_dir: Direction, msg: Buffer, wireSize: number, cut: boolean, at: Stamp): void {
    const flags = msg[4];
    const code = msg.readUIntBE(5, 3);
    const app = msg.readUInt32BE(8);
    const hopByHop = msg.readUInt32BE(12);
    const isRequest = (flags & FLAG_R) !== 0;
    const names = COMMANDS[code];
    const fields: Record<string, any> = {
      command: names ? names[isRequest ? 0 : 1] : `${code}${isRequest ? 'R' : 'A'}`,
      commandCode: code,
      commandName: names ? names[2] : `Command-${code}`,
      applicationId: app,
      application: APPLICATIONS[app] ?? `Application-${app}`,
      hopByHop: hopByHop.toString(16).padStart(8, '0'),
      endToEnd: msg.readUInt32BE(16).toString(16).padStart(8, '0'),
    };
    if (flags & 0x40) fields.proxiable = true;
    if (flags & FLAG_E) fields.errorBit = true;
    if (flags & 0x10) fields.retransmitted = true;
    const warnings: string[] = [];
    try {
      fields.avps = decodeAvps(msg, HEADER, Math.min(msg.length, wireSize));
    } catch {
      warnings.push(cut ? 'truncated' : 'malformed: AVPs');
      if (!cut) this.ctx.count('diameter.malformed');
    }
    const avps = (fields.avps ?? {}) as Record<string, any>;
    if (typeof avps['Session-Id'] === 'string') fields.sessionId = avps['Session-Id'];
    if (isRequest) {
      const early = this.early?.get(hopByHop);
      if (early !== undefined && this.ctx.now - early.answered.time <= EARLY_ANSWER_MS && early.fields.commandCode === code) {
        // Its answer was recorded first: they pair all the same, answered in no time.
        this.early!.delete(hopByHop);
        this.ctx.count('diameter.answer_before_request');
        const req = this.pendingCall(fields, wireSize, at, warnings);
        this.emitCall(req, early.fields, early.size, early.error, early.start, early.warnings, false, { time: Math.max(req.time, early.answered.time), frame: early.answered.frame });
        return;
      }
      this.addPending(hopByHop, this.pendingCall(fields, wireSize, at, warnings));
      return;
    }
    const experimental = avps['Experimental-Result'] as Record<string, any> | undefined;
    const result = typeof avps['Result-Code'] === 'number' ? avps['Result-Code'] : experimental?.['Experimental-Result-Code'];
    if (typeof result === 'number') {
      fields.resultCode = result;
      fields.resultName = RESULT_CODES[result] ?? (experimental ? `experimental ${result}` : `result ${result}`);
    }
    if (typeof avps['Error-Message'] === 'string') fields.errorMessage = avps['Error-Message'];
    const error = (flags & FLAG_E) !== 0 || (typeof result === 'number' && result >= 3000);
    const req = this.takePending(hopByHop);
    if (req === undefined && this.ctx.transport === 'sctp') return this.holdEarly(hopByHop, { fields, size: wireSize, error, start: at, answered: { time: this.ctx.now, frame: this.ctx.frame }, warnings: this.pendingCall(fields, wireSize, at, warnings).warnings });
    this.emitCall(req, fields, wireSize, error, at, warnings);
  }

  private holdEarly(hopByHop: number, a: EarlyAnswer): void {
    const early = (this.early ??= new Map());
    const previous = early.get(hopByHop);
    if (previous !== undefined) {
      early.delete(hopByHop);
      this.emitAlone(previous);
    }
    if (early.size >= MAX_EARLY_ANSWERS) {
      const [oldestId, oldest] = early.entries().next().value as [number, EarlyAnswer];
      early.delete(oldestId);
      this.ctx.count('diameter.early_answers_evicted');
      this.emitAlone(oldest);
    }
    early.set(hopByHop, a);
  }

  private emitAlone(a: EarlyAnswer): void {
    this.emitCall(undefined, a.fields, a.size, a.error, a.start, a.warnings, false, a.answered);
  }

  /** Held answers whose request did not come in time (all of them at the end): answers alone. */
  private releaseEarly(nowMs: number): void {
    if (this.early === undefined) return;
    for (const [id, a] of this.early) {
      if (nowMs - a.answered.time <= EARLY_ANSWER_MS) break;
      this.early.delete(id);
      this.emitAlone(a);
    }
  }

  override onTick(nowMs: number, timeoutMs: number): void {
    this.releaseEarly(nowMs);
    super.onTick(nowMs, timeoutMs);
  }

  override pendingSince(): number | undefined {
    const since = super.pendingSince();
    // Held answers are in arrival order: the first is the oldest.
    if (this.early !== undefined) for (const a of this.early.values()) return since === undefined || a.start.time < since ? a.start.time : since;
    return since;
  }

  override onEnd(reason: 'fin' | 'rst' | 'timeout' | 'eof' = 'eof'): void {
    this.releaseEarly(Infinity);
    super.onEnd(reason);
  }

  protected summarize(req: Record<string, any> | null, res: Record<string, any> | null): string {
    const m = req ?? res;
    const left = `${req?.command ?? res?.command.replace(/A$/, 'R')} ${m?.application ?? ''}`.trim();
    const cc = req?.avps?.['CC-Request-Type'];
    const head = typeof cc === 'string' ? `${left} ${cc}` : left;
    if (!res) return `${head} → unanswered`;
    return `${head} → ${res.resultCode ?? res.command}${res.resultName && res.resultName !== `result ${res.resultCode}` ? ` ${res.resultName}` : ''}`;
  }
}

export const diameter: ProtocolDissector = {
  name: 'diameter',
  transport: 'tcp',
  ports: [3868],
  priority: 50,
  reference: 'RFC 6733, RFC 4006 (https://www.rfc-editor.org/rfc/rfc6733)',
  probe: (data, portMatch) => {
    try {
      return probeDiameter(data, portMatch);
    } catch {
      return false;
    }
  },
  createTcpParser: (ctx) => new DiameterParser(ctx),
};
