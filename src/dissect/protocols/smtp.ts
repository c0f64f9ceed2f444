// SMTP (RFC 5321) and its STARTTLS (RFC 3207): each command paired with its
// reply (in order: PIPELINING replies come in the order of their commands),
// a message sent with DATA (up to the lone ".") or BDAT (RFC 3030) one call
// answered by the server's verdict, AUTH (RFC 4954) one call through its 334
// challenges, its credentials never shown. After the server's 220 to
// STARTTLS the connection is TLS: its tls entry, or with --tls-keylog the
// SMTP inside it. Port 465 (implicit TLS) is TLS from the first byte.
import type { ConnectionContext, Probe, ProtocolDissector } from '../api.js';
import { CommandLineParser, MAX_KEPT_LINES, lineText, type Dialect, type MailCommand, type ReplyLine } from './util/command-lines.js';

const REPLY = /^(\d{3})([ -]|$)(.*)$/;
const VERB = /^([A-Za-z]{4,10})(?: (.*))?$/;
const BDAT = /^(\d{1,12})( +LAST)?$/i;

class SmtpDialect implements Dialect {
  readonly name = 'smtp';
  readonly label = 'SMTP';
  /** Lines of the reply being read. */
  private lines: string[] = [];
  private moreLines = 0;
  /** Between DATA's 354 and the lone ".": the client's lines are the message. */
  private inMessage: MailCommand | null = null;

  constructor(private readonly ctx: ConnectionContext) {}

  command(line: string, pending: readonly MailCommand[]): { cmd: MailCommand | null; raw?: number } {
    if (this.inMessage) {
      // The message's first line makes its call (an empty message's is the "." alone); the rest add to its size.
      const msg = this.inMessage.request.command === 'MESSAGE' && this.inMessage.size === 0 && !pending.includes(this.inMessage) ? this.inMessage : null;
      if (msg) {
        msg.time = this.ctx.now;
        msg.frame = this.ctx.frame;
      }
      if (line === '.') this.inMessage = null;
      return { cmd: msg };
    }
    // A line answering AUTH's 334 challenge is SASL data: part of the AUTH call, never shown.
    const last = pending[pending.length - 1];
    if (last?.request.command === 'AUTH' && last.request.challenged) return { cmd: null };
    const m = VERB.exec(line);
    if (!m) {
      this.ctx.count('smtp.malformed_line');
      return { cmd: null };
    }
    const command = m[1].toUpperCase();
    let args = m[2];
    let raw: number | undefined;
    if (command === 'AUTH' && args !== undefined) {
      const sp = args.indexOf(' ');
      if (sp >= 0) args = `${args.slice(0, sp)} ***`;
    } else if (command === 'BDAT' && args !== undefined) {
      const b = BDAT.exec(args);
      if (b) raw = Number(b[1]);
    }
    const request: Record<string, any> = { command };
    if (args !== undefined && args !== '') request.args = lineText(args);
    if (raw !== undefined) request.bodySize = raw;
    const cmd: MailCommand = { request, label: args ? `${command} ${lineText(args)}` : command, time: this.ctx.now, frame: this.ctx.frame, size: 0, startsTls: command === 'STARTTLS' };
    return { cmd, raw };
  }

  reply(line: string, pending: readonly MailCommand[]): ReplyLine {
    const m = REPLY.exec(line);
    if (!m) {
      this.ctx.count('smtp.malformed_line');
      return { kind: 'more' };
    }
    const text = m[3];
    if (m[2] === '-') {
      if (this.lines.length < MAX_KEPT_LINES + 1) this.lines.push(lineText(text));
      else this.moreLines++;
      return { kind: 'more' };
    }
    const code = Number(m[1]);
    const cmd = pending[0];
    if (code === 334 && cmd?.request.command === 'AUTH') {
      // A challenge: the AUTH call goes on until the server's verdict.
      cmd.request.challenged = true;
      this.lines = [];
      return { kind: 'more' };
    }
    const all = [...this.lines, lineText(text)];
    this.lines = [];
    const response: Record<string, any> = { code, text: all[0] };
    if (all.length > 1) response.lines = all.slice(1, MAX_KEPT_LINES + 1);
    if (this.moreLines > 0) response.linesNotShown = this.moreLines;
    this.moreLines = 0;
    if (cmd?.request.challenged) delete cmd.request.challenged;
    // DATA answered 354: the message follows, one call answered by the verdict after its ".".
    if (code === 354 && cmd?.request.command === 'DATA') {
      this.inMessage = { request: { command: 'MESSAGE' }, label: 'MESSAGE', time: this.ctx.now, frame: this.ctx.frame, size: 0 };
    }
    return { kind: 'done', response, error: code >= 400, text: `${code}${all[0] ? ` ${all[0]}` : ''}` };
  }

  acceptsTls(_cmd: MailCommand, response: Record<string, any>): boolean {
    return response.code === 220;
  }
}

export function probeSmtp(data: Buffer, portMatch: boolean): Probe {
  const nl = data.indexOf(0x0a);
  const line = data.toString('latin1', 0, nl < 0 ? Math.min(data.length, 128) : nl).replace(/\r$/, '');
  if (nl < 0) {
    if (data.length >= 512) return false;
    return /^(\d{0,3}|2[0-9]{2}[ -].*|[A-Za-z]{0,4})$/.test(line) && (portMatch || /^(2|E|H|L)/i.test(line)) ? 'need-more' : false;
  }
  if (/^220[ -]/.test(line)) return portMatch || /\b(E?SMTP|LMTP)\b/i.test(line) ? 'response' : false;
  if (/^(EHLO|HELO|LHLO) \S/i.test(line)) return 'request';
  if (portMatch && /^(MAIL FROM:|RCPT TO:|STARTTLS$|NOOP$|QUIT$|RSET$)/i.test(line)) return 'request';
  return false;
}

export const smtp: ProtocolDissector = {
  name: 'smtp',
  transport: 'tcp',
  ports: [25, 587, 2525, 465],
  priority: 50,
  reference: 'https://www.rfc-editor.org/rfc/rfc5321',
  probe(data, portMatch) {
    try {
      return probeSmtp(data, portMatch);
    } catch {
      return false;
    }
  },
  createTcpParser(ctx) {
    return new CommandLineParser(ctx, (c) => new SmtpDialect(c));
  },
};
