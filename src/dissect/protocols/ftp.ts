// FTP's control connection (RFC 959) and its AUTH TLS (RFC 4217): each
// command paired with its final reply; preliminary 1xx replies (a transfer's
// "150 Opening data connection") are kept on the call as `interim`, and a
// multi-line reply (FEAT's "211-Features:" … "211 End") is read up to the
// line that repeats its code. PASS, ACCT and ADAT's data are never shown.
// After the server's 234 to AUTH TLS (AUTH SSL) the connection is TLS: its tls
// entry, or with --tls-keylog the FTP inside it. The data connections that
// PASV/PORT open are connections of their own (TLS after PROT P), not tied
// to their command. Port 990 (implicit TLS) is TLS from the first byte.
import type { ConnectionContext, Probe, ProtocolDissector } from '../api.js';
import { CommandLineParser, MAX_KEPT_LINES, lineText, type Dialect, type MailCommand, type ReplyLine } from './util/command-lines.js';

const REPLY = /^(\d{3})([ -]|$)(.*)$/;
/** RFC 959 §5.3.1: commands are 3 or 4 letters (RFC 2228's AUTH, RFC 2389's FEAT, RFC 3659's MLSD …). */
const VERB = /^([A-Za-z]{3,4})(?: (.*))?$/;
/** RFC 4217 §4: the mechanisms whose 234 starts TLS (SSL and TLS-C/TLS-P of its drafts). */
const TLS_MECHANISMS = /^(TLS|SSL|TLS-C|TLS-P)$/i;
/** Preliminary replies kept on a call (a server may send any number). */
const MAX_INTERIM = 4;

class FtpDialect implements Dialect {
  readonly name = 'ftp';
  readonly label = 'FTP';
  /** A multi-line reply being read: its code, its lines. */
  private multi: { code: string; lines: string[]; more: number } | null = null;
  /** 1xx replies before the final one. */
  private interim: string[] = [];

  constructor(private readonly ctx: ConnectionContext) {}

  command(line: string): { cmd: MailCommand | null } {
    const m = VERB.exec(line);
    if (!m) {
      this.ctx.count('ftp.malformed_line');
      return { cmd: null };
    }
    const command = m[1].toUpperCase();
    let args = m[2];
    // A password, an account's and a security mechanism's data are secrets.
    if ((command === 'PASS' || command === 'ACCT' || command === 'ADAT') && args !== undefined && args !== '') args = '***';
    const request: Record<string, any> = { command };
    if (args !== undefined && args !== '') request.args = lineText(args);
    const startsTls = command === 'AUTH' && args !== undefined && TLS_MECHANISMS.test(args.trim());
    return { cmd: { request, label: args ? `${command} ${lineText(args)}` : command, time: this.ctx.now, frame: this.ctx.frame, size: 0, startsTls } };
  }

  reply(line: string): ReplyLine {
    if (this.multi) {
      const { code } = this.multi;
      // RFC 959 §4.2: the last line starts with the first line's code and a space; lines between are any text.
      if (line === code || line.startsWith(`${code} `)) {
        const { lines } = this.multi;
        let { more } = this.multi;
        this.multi = null;
        const last = line.slice(code.length).trim();
        if (last !== '' && lines.length <= MAX_KEPT_LINES) lines.push(lineText(last));
        else if (last !== '') more++;
        return this.final(Number(code), lines, more);
      }
      if (this.multi.lines.length <= MAX_KEPT_LINES) this.multi.lines.push(lineText(line.trim()));
      else this.multi.more++;
      return { kind: 'more' };
    }
    const m = REPLY.exec(line);
    if (!m) {
      this.ctx.count('ftp.malformed_line');
      return { kind: 'more' };
    }
    if (m[2] === '-') {
      this.multi = { code: m[1], lines: [lineText(m[3])], more: 0 };
      return { kind: 'more' };
    }
    return this.final(Number(m[1]), [lineText(m[3])], 0);
  }

  /** A reply's last line: a 1xx is preliminary (the call goes on to the final reply), the rest end the call. */
  private final(code: number, lines: string[], more: number): ReplyLine {
    if (code < 200) {
      if (this.interim.length < MAX_INTERIM) this.interim.push(`${code}${lines[0] ? ` ${lines[0]}` : ''}`);
      return { kind: 'more' };
    }
    const response: Record<string, any> = { code, text: lines[0] };
    if (lines.length > 1) response.lines = lines.slice(1, MAX_KEPT_LINES + 1);
    if (more > 0) response.linesNotShown = more;
    if (this.interim.length > 0) response.interim = this.interim;
    this.interim = [];
    return { kind: 'done', response, error: code >= 400, text: `${code}${lines[0] ? ` ${lines[0]}` : ''}` };
  }

  acceptsTls(_cmd: MailCommand, response: Record<string, any>): boolean {
    return response.code === 234;
  }
}

export function probeFtp(data: Buffer, portMatch: boolean): Probe {
  const nl = data.indexOf(0x0a);
  const line = data.toString('latin1', 0, nl < 0 ? Math.min(data.length, 128) : nl).replace(/\r$/, '');
  if (nl < 0) {
    if (data.length >= 512 || !portMatch) return false;
    return /^(\d{0,3}|[12]\d\d[ -][\x20-\x7e]*|[A-Za-z]{0,4}(?: [\x20-\x7e]*)?)$/.test(line) ? 'need-more' : false;
  }
  // A greeting (120 "ready in n minutes", 220): on port 21, or saying FTP and not SMTP.
  if (/^(120|220)[ -]/.test(line)) return portMatch || (/FTP/i.test(line) && !/\b(E?SMTP|LMTP)\b/i.test(line)) ? 'response' : false;
  if (portMatch && /^(USER \S|AUTH (TLS|SSL)|FEAT$|SYST$|OPTS )/i.test(line)) return 'request';
  return false;
}

export const ftp: ProtocolDissector = {
  name: 'ftp',
  transport: 'tcp',
  ports: [21],
  priority: 50,
  reference: 'https://www.rfc-editor.org/rfc/rfc959',
  probe(data, portMatch) {
    try {
      return probeFtp(data, portMatch);
    } catch {
      return false;
    }
  },
  createTcpParser(ctx) {
    return new CommandLineParser(ctx, (c) => new FtpDialect(c));
  },
};
