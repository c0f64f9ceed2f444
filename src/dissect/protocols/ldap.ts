// LDAPv3 over TCP: BER-encoded LDAPMessage sequences (messageID + one
// protocolOp); a response carries its request's messageID. A search is one
// call from the request to its SearchResultDone, counting the entries and
// references between; its filter is rendered as RFC 4515 text. Binds show
// the DN and SASL mechanism; a simple password or SASL credentials sit under
// `password`/`credentials`, which the entry redactor (src/redact) replaces.
// After a successful StartTLS the connection is read as TLS (with
// --tls-keylog, the operations inside it).
// Spec: RFC 4511 (protocol), RFC 4515 (filter text), RFC 4532 (WhoAmI)

import type { ConnectionContext, Direction, Probe, ProtocolDissector } from '../api.js';
import { REDACTED } from '../../redact/urls.js';
import { FramedParser, type FrameLength } from './util/framed.js';
import type { Stamp } from './util/message-start.js';
import { looksLikeText, truncate } from './util/text.js';

const OPS: Record<number, string> = {
  0: 'bindRequest', 1: 'bindResponse', 2: 'unbindRequest', 3: 'searchRequest', 4: 'searchResEntry', 5: 'searchResDone',
  6: 'modifyRequest', 7: 'modifyResponse', 8: 'addRequest', 9: 'addResponse', 10: 'delRequest', 11: 'delResponse',
  12: 'modDNRequest', 13: 'modDNResponse', 14: 'compareRequest', 15: 'compareResponse', 16: 'abandonRequest',
  19: 'searchResRef', 23: 'extendedReq', 24: 'extendedResp', 25: 'intermediateResponse',
};
const REQUESTS = new Set([0, 2, 3, 6, 8, 10, 12, 14, 16, 23]);
/** Requests that get no response. */
const NO_RESPONSE = new Set([2, 16]);

export const RESULT_CODES: Record<number, string> = {
  0: 'success', 1: 'operationsError', 2: 'protocolError', 3: 'timeLimitExceeded', 4: 'sizeLimitExceeded',
  5: 'compareFalse', 6: 'compareTrue', 7: 'authMethodNotSupported', 8: 'strongerAuthRequired', 10: 'referral',
  11: 'adminLimitExceeded', 12: 'unavailableCriticalExtension', 13: 'confidentialityRequired', 14: 'saslBindInProgress',
  16: 'noSuchAttribute', 17: 'undefinedAttributeType', 18: 'inappropriateMatching', 19: 'constraintViolation',
  20: 'attributeOrValueExists', 21: 'invalidAttributeSyntax', 32: 'noSuchObject', 33: 'aliasProblem',
  34: 'invalidDNSyntax', 36: 'aliasDereferencingProblem', 48: 'inappropriateAuthentication', 49: 'invalidCredentials',
  50: 'insufficientAccessRights', 51: 'busy', 52: 'unavailable', 53: 'unwillingToPerform', 54: 'loopDetect',
  64: 'namingViolation', 65: 'objectClassViolation', 66: 'notAllowedOnNonLeaf', 67: 'notAllowedOnRDN',
  68: 'entryAlreadyExists', 69: 'objectClassModsProhibited', 71: 'affectsMultipleDSAs', 80: 'other',
};
/** Result codes that are answers, not failures. */
const NOT_ERRORS = new Set([0, 5, 6, 14]);
const SCOPES = ['baseObject', 'singleLevel', 'wholeSubtree', 'subordinateSubtree'];
const MOD_OPS = ['add', 'delete', 'replace', 'increment'];
export const EXTENDED_NAMES: Record<string, string> = {
  '1.3.6.1.4.1.4203.1.11.3': 'WhoAmI',
  '1.3.6.1.4.1.1466.20037': 'StartTLS',
  '1.3.6.1.4.1.4203.1.11.1': 'PasswordModify',
  '1.3.6.1.1.8': 'Cancel',
  '1.3.6.1.4.1.1466.20036': 'NoticeOfDisconnection',
};
/** Extended operations whose values carry secrets. */
const SECRET_EXTENDED = new Set(['1.3.6.1.4.1.4203.1.11.1']);

/** `PasswdModifyResponseValue ::= SEQUENCE { genPasswd [0] OCTET STRING OPTIONAL }` as readResponse kept it (base64: not text). */
function isPasswordModifyValue(v: string): boolean {
  const b = Buffer.from(v, 'base64');
  return b.length >= 4 && b[0] === 0x30 && b[2] === 0x80 && b[1] === b.length - 2 && b[3] === b.length - 4;
}

const MAX_PLAUSIBLE = 64 * 1024 * 1024;
const MAX_TEXT = 4096;
const MAX_LIST = 100;
const MAX_FILTER_DEPTH = 32;

// ---------------------------------------------------------------- BER

class Short extends Error {}

interface Tlv {
  tag: number;
  /** Start and end of the value. */
  start: number;
  end: number;
}

/** Tag and length at `off` (single-byte tags, definite lengths, as LDAP requires). */
function tlv(b: Buffer, off: number, limit = b.length): Tlv {
  if (off + 2 > limit) throw new Short();
  const tag = b[off];
  let len = b[off + 1];
  let start = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > limit) throw new Short();
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[start + i];
    start += n;
  }
  if (start + len > limit) throw new Short();
  return { tag, start, end: start + len };
}

/**
 * As tlv and children for a message whose end the capture lost (a snap
 * length cut it): an element running past the bytes there ends with them.
 */
function clippedTlv(b: Buffer, off: number): Tlv {
  const t = tlv(b, off, Math.max(b.length, off + 2 + 4 + 0xffffffff));
  return { ...t, end: Math.min(t.end, b.length) };
}

function clippedChildren(b: Buffer, t: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let p = t.start; p + 2 <= t.end && out.length < 3; ) {
    const c = clippedTlv(b, p);
    out.push(c);
    p = c.end;
  }
  return out;
}

function children(b: Buffer, t: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let p = t.start; p < t.end; ) {
    const c = tlv(b, p, t.end);
    out.push(c);
    p = c.end;
    if (out.length > 10_000) throw new Short();
  }
  return out;
}

function int(b: Buffer, t: Tlv): number {
  if (t.end - t.start > 6 || t.end === t.start) throw new Short();
  return b.readIntBE(t.start, t.end - t.start);
}

function text(b: Buffer, t: Tlv): string {
  return b.toString('utf8', t.start, Math.min(t.end, t.start + MAX_TEXT));
}

/** Header bytes and total length of the message at `off`, or null when more bytes are needed. */
function messageLength(b: Buffer): number | 'need-more' | 'bad' {
  if (b[0] !== 0x30) return 'bad';
  if (b.length < 2) return 'need-more';
  const l = b[1];
  if (!(l & 0x80)) return 2 + l;
  const n = l & 0x7f;
  if (n === 0 || n > 4) return 'bad';
  if (b.length < 2 + n) return 'need-more';
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + b[2 + i];
  return len > MAX_PLAUSIBLE ? 'bad' : 2 + n + len;
}

// ---------------------------------------------------------------- filters (RFC 4515)

/** Escape an assertion value: the five specials and anything not printable as \XX. */
function escapeValue(b: Buffer, t: Tlv): string {
  const v = b.subarray(t.start, Math.min(t.end, t.start + MAX_TEXT));
  if (looksLikeText(v)) return v.toString('utf8').replace(/[*()\\\0]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  let out = '';
  for (const c of v) out += `\\${c.toString(16).padStart(2, '0')}`;
  return out;
}

export function renderFilter(b: Buffer, t: Tlv, depth = 0): string {
  if (depth > MAX_FILTER_DEPTH) throw new Short();
  switch (t.tag) {
    case 0xa0:
    case 0xa1:
      return `(${t.tag === 0xa0 ? '&' : '|'}${children(b, t).map((c) => renderFilter(b, c, depth + 1)).join('')})`;
    case 0xa2: {
      const [inner] = children(b, t);
      if (!inner) throw new Short();
      return `(!${renderFilter(b, inner, depth + 1)})`;
    }
    case 0xa3:
    case 0xa5:
    case 0xa6:
    case 0xa8: {
      const [attr, value] = children(b, t);
      if (!attr || !value) throw new Short();
      const op = t.tag === 0xa3 ? '=' : t.tag === 0xa5 ? '>=' : t.tag === 0xa6 ? '<=' : '~=';
      return `(${text(b, attr)}${op}${escapeValue(b, value)})`;
    }
    case 0xa4: {
      const [attr, subs] = children(b, t);
      if (!attr || !subs) throw new Short();
      let initial = '';
      let final = '';
      const any: string[] = [];
      for (const s of children(b, subs)) {
        if (s.tag === 0x80) initial = escapeValue(b, s);
        else if (s.tag === 0x81) any.push(escapeValue(b, s));
        else if (s.tag === 0x82) final = escapeValue(b, s);
      }
      return `(${text(b, attr)}=${initial}*${any.map((a) => `${a}*`).join('')}${final})`;
    }
    case 0x87:
      return `(${text(b, t)}=*)`;
    case 0xa9: {
      let rule = '';
      let type = '';
      let value = '';
      let dn = false;
      for (const c of children(b, t)) {
        if (c.tag === 0x81) rule = text(b, c);
        else if (c.tag === 0x82) type = text(b, c);
        else if (c.tag === 0x83) value = escapeValue(b, c);
        else if (c.tag === 0x84) dn = b[c.start] !== 0;
      }
      return `(${type}${dn ? ':dn' : ''}${rule ? `:${rule}` : ''}:=${value})`;
    }
    default:
      throw new Short();
  }
}

// ---------------------------------------------------------------- probing

function plausibleMessage(data: Buffer): { op: number; total: number } | null | 'need-more' {
  const total = messageLength(data);
  if (total === 'bad') return null;
  if (total === 'need-more') return 'need-more';
  const hdr = data[1] & 0x80 ? 2 + (data[1] & 0x7f) : 2;
  if (data.length < hdr + 3) return 'need-more';
  if (data[hdr] !== 0x02) return null;
  const idLen = data[hdr + 1];
  if (idLen < 1 || idLen > 4) return null;
  const opAt = hdr + 2 + idLen;
  if (data.length <= opAt) return 'need-more';
  const tag = data[opAt];
  const op = tag & 0x1f;
  if ((tag & 0xc0) !== 0x40 || OPS[op] === undefined) return null;
  // Primitive for unbind, delete and abandon; constructed for everything else.
  if (((tag & 0x20) === 0) !== (op === 2 || op === 10 || op === 16)) return null;
  return { op, total };
}

export function probeLdap(data: Buffer, portMatch: boolean): Probe {
  if (data.length < 7) return portMatch && data.length > 0 && data[0] === 0x30 ? 'need-more' : false;
  const m = plausibleMessage(data);
  if (m === null) return false;
  if (m === 'need-more') return portMatch ? 'need-more' : false;
  if (!portMatch && data.length !== m.total && !(data.length > m.total && data[m.total] === 0x30)) return false;
  return REQUESTS.has(m.op) ? 'request' : 'response';
}

// ---------------------------------------------------------------- parsing

interface SearchState {
  entries: number;
  references: number;
  dns: string[];
}

class LdapParser extends FramedParser {
  protected readonly headerBytes = 6;

  constructor(ctx: ConnectionContext) {
    super(ctx, 'ldap', { maxMessage: 4 * 1024 * 1024, headBytes: 64 * 1024 });
  }

  protected frameLength(_dir: Direction, head: Buffer): FrameLength {
    return messageLength(head);
  }

  /** After a gap, a SEQUENCE's length is not enough to go on: its first element must be the messageID INTEGER. */
  protected override startsMessage(dir: Direction, data: Buffer): boolean {
    if (data.length < 3 || data[0] !== 0x30) return false;
    const id = data[1] < 0x80 ? 2 : 2 + (data[1] & 0x7f);
    return data[id] === 0x02 && super.startsMessage(dir, data);
  }

  protected onMessage(dir: Direction, msg: Buffer, wireSize: number, cut: boolean, at: Stamp): void {
    let messageId: number;
    let op: number;
    let body: Tlv;
    let all: Tlv[];
    try {
      // A message a snap length cut is read as far as it goes (its id and operation come first).
      const top = cut ? clippedTlv(msg, 0) : tlv(msg, 0, msg.length);
      all = cut ? clippedChildren(msg, top) : children(msg, top);
      if (all.length < 2 || all[0].tag !== 0x02) throw new Short();
      messageId = int(msg, all[0]);
      body = all[1];
      op = body.tag & 0x1f;
      if ((body.tag & 0xc0) !== 0x40 || OPS[op] === undefined) throw new Short();
    } catch {
      this.ctx.count(cut ? 'ldap.oversize' : 'ldap.malformed');
      return;
    }
    const fields: Record<string, any> = { messageId, operation: OPS[op] };
    const warnings: string[] = [];
    try {
      if (REQUESTS.has(op)) this.readRequest(msg, op, body, fields);
      else this.readResponse(msg, op, body, fields);
      if (all.length > 2 && all[2].tag === 0xa0) {
        const controls = children(msg, all[2]).map((c) => {
          const [oid] = children(msg, c);
          return oid ? text(msg, oid) : '';
        });
        fields.controls = controls.slice(0, MAX_LIST);
      }
    } catch {
      warnings.push(cut ? 'truncated' : `malformed: ${OPS[op]}`);
      if (!cut) this.ctx.count('ldap.malformed');
    }
    if (REQUESTS.has(op)) {
      const p = this.pendingCall(fields, wireSize, at, warnings);
      if (NO_RESPONSE.has(op)) this.emitUnanswered(p, false);
      else {
        if (op === 3) p.state = { entries: 0, references: 0, dns: [] } satisfies SearchState;
        this.addPending(messageId, p);
      }
      return;
    }
    if (op === 4 || op === 19 || op === 25) {
      // Entries, references and intermediate responses belong to the call still open.
      const p = this.pending.get(messageId);
      if (p) {
        const s = p.state as SearchState | undefined;
        if (s && op === 4) {
          s.entries++;
          if (s.dns.length < MAX_LIST && typeof fields.dn === 'string') s.dns.push(fields.dn);
        } else if (s && op === 19) s.references++;
        this.responseBytes.set(messageId, (this.responseBytes.get(messageId) ?? 0) + wireSize);
        return;
      }
      if (op === 25) return;
    }
    // Notice of Disconnection and other unsolicited notifications use messageID 0.
    if (messageId === 0) {
      this.emitCall(undefined, fields, wireSize, true, at, warnings, true);
      return;
    }
    const req = this.takePending(messageId);
    let size = wireSize;
    if (req) {
      const s = req.state as SearchState | undefined;
      const extra = this.responseBytes.get(messageId) ?? 0;
      this.responseBytes.delete(messageId);
      size += extra;
      if (s) {
        fields.entries = s.entries;
        if (s.references > 0) fields.references = s.references;
        if (s.dns.length > 0) fields.entryDns = s.dns;
      }
    }
    // A Password Modify answer (RFC 3062) carries the password the server generated (`genPasswd`): it
    // never leaves the dissector, as the request's new and old passwords do not. Without its request
    // (lost to a gap) the answer is known by its shape: a SEQUENCE holding only [0].
    if (op === 24 && typeof fields.responseValue === 'string' && (SECRET_EXTENDED.has(req?.request.requestName) || SECRET_EXTENDED.has(fields.responseName as string) || (!req && isPasswordModifyValue(fields.responseValue)))) fields.responseValue = REDACTED;
    const code = fields.resultCode as number | undefined;
    this.emitCall(req, fields, size, code !== undefined && !NOT_ERRORS.has(code), at, warnings);
    // StartTLS accepted (RFC 4511 §4.14): TLS follows at once, and the operations after it travel inside.
    if (op === 24 && code === 0 && req?.request.extendedName === 'StartTLS') this.startTls();
  }

  /** Bytes of entries already counted into the request's size, moved to the response's at the end. */
  private readonly responseBytes = new Map<number, number>();

  private readRequest(b: Buffer, op: number, t: Tlv, out: Record<string, any>): void {
    if (op === 2) return;
    if (op === 10) {
      out.dn = text(b, t);
      return;
    }
    if (op === 16) {
      out.abandonId = int(b, t);
      return;
    }
    const c = children(b, t);
    switch (op) {
      case 0: {
        out.version = int(b, c[0]);
        out.dn = text(b, c[1]);
        const auth = c[2];
        if (!auth) throw new Short();
        if (auth.tag === 0x80) {
          out.auth = 'simple';
          out.password = b.toString('utf8', auth.start, auth.end);
        } else if (auth.tag === 0xa3) {
          out.auth = 'sasl';
          const [mech, creds] = children(b, auth);
          out.mechanism = text(b, mech);
          if (creds) out.credentials = b.toString('base64', creds.start, Math.min(creds.end, creds.start + MAX_TEXT));
        } else out.auth = `0x${auth.tag.toString(16)}`;
        break;
      }
      case 3: {
        out.dn = text(b, c[0]);
        out.scope = SCOPES[int(b, c[1])] ?? String(int(b, c[1]));
        out.sizeLimit = int(b, c[3]);
        out.timeLimit = int(b, c[4]);
        if (!c[6]) throw new Short();
        out.filter = truncate(renderFilter(b, c[6]), MAX_TEXT);
        out.attributes = c[7] ? children(b, c[7]).slice(0, MAX_LIST).map((a) => text(b, a)) : [];
        break;
      }
      case 6: {
        out.dn = text(b, c[0]);
        out.changes = children(b, c[1]).slice(0, MAX_LIST).map((ch) => {
          const [kind, mod] = children(b, ch);
          const [attr] = children(b, mod);
          return `${MOD_OPS[int(b, kind)] ?? int(b, kind)} ${text(b, attr)}`;
        });
        break;
      }
      case 8:
        out.dn = text(b, c[0]);
        out.attributes = children(b, c[1]).slice(0, MAX_LIST).map((a) => text(b, children(b, a)[0]));
        break;
      case 12:
        out.dn = text(b, c[0]);
        out.newRdn = text(b, c[1]);
        out.deleteOldRdn = b[c[2].start] !== 0;
        if (c[3]) out.newSuperior = text(b, c[3]);
        break;
      case 14: {
        out.dn = text(b, c[0]);
        const [attr, value] = children(b, c[1]);
        out.attribute = text(b, attr);
        // Comparing a password is checking it: the value never leaves the dissector.
        out.value = /pass|secret|pin/i.test(out.attribute) ? REDACTED : escapeValue(b, value);
        break;
      }
      case 23: {
        for (const x of c) {
          if (x.tag === 0x80) out.requestName = text(b, x);
          else if (x.tag === 0x81 && !SECRET_EXTENDED.has(out.requestName)) out.requestValue = b.toString('base64', x.start, Math.min(x.end, x.start + MAX_TEXT));
        }
        // Own entries only: a request name `__proto__` or `constructor` names nothing.
        if (out.requestName && Object.hasOwn(EXTENDED_NAMES, out.requestName)) out.extendedName = EXTENDED_NAMES[out.requestName];
        break;
      }
      default:
    }
  }

  private readResponse(b: Buffer, op: number, t: Tlv, out: Record<string, any>): void {
    const c = children(b, t);
    if (op === 4) {
      out.dn = text(b, c[0]);
      return;
    }
    if (op === 19 || op === 25) return;
    // LDAPResult: resultCode, matchedDN, diagnosticMessage, referral, then the operation's extras.
    if (!c[0] || c[0].tag !== 0x0a) throw new Short();
    out.resultCode = int(b, c[0]);
    out.resultName = RESULT_CODES[out.resultCode] ?? `code ${out.resultCode}`;
    if (c[1] && c[1].end > c[1].start) out.matchedDN = text(b, c[1]);
    if (c[2] && c[2].end > c[2].start) out.diagnosticMessage = text(b, c[2]);
    for (const x of c.slice(3)) {
      if (x.tag === 0xa3) out.referral = children(b, x).slice(0, MAX_LIST).map((r) => text(b, r));
      else if (op === 24 && x.tag === 0x8a) out.responseName = text(b, x);
      else if (op === 24 && x.tag === 0x8b) {
        const v = b.subarray(x.start, Math.min(x.end, x.start + MAX_TEXT));
        out.responseValue = looksLikeText(v) ? v.toString('utf8') : v.toString('base64');
      } else if (op === 1 && x.tag === 0x87) out.serverSaslCredentials = b.toString('base64', x.start, Math.min(x.end, x.start + MAX_TEXT));
    }
  }

  protected summarize(req: Record<string, any> | null, res: Record<string, any> | null): string {
    let left = req ? String(req.operation) : `#${res?.messageId}`;
    if (req?.extendedName || req?.requestName) left += ` ${req.extendedName ?? req.requestName}`;
    if (req?.dn) left += ` "${truncate(String(req.dn), 80)}"`;
    if (req?.mechanism) left += ` ${req.mechanism}`;
    if (req?.filter) left += ` ${truncate(String(req.filter), 120)}`;
    if (!res) return req && (req.operation === 'unbindRequest' || req.operation === 'abandonRequest') ? left : `${left} → unanswered`;
    let right = res.resultName ?? res.operation;
    if (res.entries !== undefined) right += ` (${res.entries} entr${res.entries === 1 ? 'y' : 'ies'})`;
    if (res.responseValue && req?.extendedName === 'WhoAmI') right += ` ${truncate(res.responseValue, 80)}`;
    return `${left} → ${right}`;
  }
}

export const ldap: ProtocolDissector = {
  name: 'ldap',
  transport: 'tcp',
  ports: [389, 3268],
  priority: 50,
  reference: 'RFC 4511, RFC 4515 (https://www.rfc-editor.org/rfc/rfc4511)',
  probe: (data, portMatch) => {
    try {
      return probeLdap(data, portMatch);
    } catch {
      return false;
    }
  },
  createTcpParser: (ctx) => new LdapParser(ctx),
};
