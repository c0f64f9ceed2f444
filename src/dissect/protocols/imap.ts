// IMAP (RFC 9051, 3501) and its STARTTLS: each tagged command paired with
// the tagged reply naming it (untagged `*` lines before it are counted, the
// first few kept), literals (`{n}`, `{n+}`) passed over by their size, a
// server's greeting one call with no request. LOGIN's password and
// AUTHENTICATE's data are never shown. After the server's OK to STARTTLS the
// connection is TLS: its tls entry, or with --tls-keylog the IMAP inside it.
// Port 993 (implicit TLS) is TLS from the first byte.
import type { ConnectionContext, Probe, ProtocolDissector } from '../api.js';
import { CommandLineParser, MAX_KEPT_LINES, lineText, type Dialect, type MailCommand, type ReplyLine } from './util/command-lines.js';

const TAGGED = /^([\x21-\x7e]+) ([A-Za-z]+)(?: (.*))?$/;
const STATUS = /^([\x21-\x7e]+) (OK|NO|BAD|PREAUTH|BYE)\b ?(.*)$/i;
const LITERAL = /\{(\d{1,12})\+?\}$/;
/** A tag is any ASTRING-CHAR but "+" (RFC 9051 §9); "*" and "+" start server lines. */
const TAG_CHARS = /^[^\s(){%*"\\\]+]+$/;

const literal = (line: string): number | undefined => {
  const m = LITERAL.exec(line);
  return m ? Number(m[1]) : undefined;
};

class ImapDialect implements Dialect {
  readonly name = 'imap';
  readonly label = 'IMAP';
  private untagged: string[] = [];
  private untaggedCount = 0;

  constructor(private readonly ctx: ConnectionContext) {}

  command(line: string, pending: readonly MailCommand[]): { cmd: MailCommand | null; raw?: number } {
    const raw = literal(line);
    const m = TAGGED.exec(line);
    const last = pending[pending.length - 1];
    // AUTHENTICATE's data, IDLE's DONE, or the rest of a command after its literal: part of the command before.
    if (!m || !TAG_CHARS.test(m[1]) || last?.request.command === 'AUTHENTICATE' || (last?.request.command === 'IDLE' && line.toUpperCase() === 'DONE')) return { cmd: null, raw };
    const tag = m[1];
    const command = m[2].toUpperCase();
    let args = m[3];
    if (command === 'LOGIN' && args !== undefined) {
      // LOGIN user password: the password (quoted, atom or a literal to come) never shown.
      const user = /^("(?:[^"\\]|\\.)*"|\{\d+\+?\}|\S+)/.exec(args)?.[1] ?? '';
      args = `${user} ***`;
    } else if (command === 'AUTHENTICATE' && args !== undefined) {
      const sp = args.indexOf(' ');
      if (sp >= 0) args = `${args.slice(0, sp)} ***`;
    }
    const request: Record<string, any> = { tag, command };
    if (args !== undefined && args !== '') request.args = lineText(args);
    return { cmd: { request, tag, label: args ? `${command} ${lineText(args)}` : command, time: this.ctx.now, frame: this.ctx.frame, size: 0, startsTls: command === 'STARTTLS' }, raw };
  }

  reply(line: string, pending: readonly MailCommand[]): ReplyLine {
    const raw = literal(line);
    if (line.startsWith('+')) return { kind: 'more', raw };
    if (line.startsWith('* ')) {
      if (pending.length === 0 && /^\* (OK|PREAUTH|BYE)\b/i.test(line)) {
        // The greeting (or an unsolicited BYE): a call of its own, no request.
        const status = line.slice(2).split(' ')[0].toUpperCase();
        return { kind: 'done', response: { status, text: lineText(line.slice(2 + status.length + 1)) }, error: status === 'BYE', text: lineText(line.slice(2)), raw };
      }
      if (this.untagged.length < MAX_KEPT_LINES) this.untagged.push(lineText(line.slice(2)));
      this.untaggedCount++;
      return { kind: 'more', raw };
    }
    const m = STATUS.exec(line);
    // Not a status line: part of an untagged reply after its literal. (A tag no command has answers one not captured.)
    if (!m) return { kind: 'more', raw };
    const status = m[2].toUpperCase();
    const response: Record<string, any> = { tag: m[1], status, text: lineText(m[3]) };
    if (this.untaggedCount > 0) {
      response.untagged = this.untagged;
      if (this.untaggedCount > this.untagged.length) response.untaggedNotShown = this.untaggedCount - this.untagged.length;
    }
    this.untagged = [];
    this.untaggedCount = 0;
    return { kind: 'done', response, error: status !== 'OK', text: `${status}${m[3] ? ` ${m[3]}` : ''}`, tag: m[1], raw };
  }

  acceptsTls(_cmd: MailCommand, response: Record<string, any>): boolean {
    return response.status === 'OK';
  }
}

export function probeImap(data: Buffer, portMatch: boolean): Probe {
  const nl = data.indexOf(0x0a);
  if (nl < 0) return data.length < 64 && (portMatch || data[0] === 0x2a) && /^[\x20-\x7e]*$/.test(data.toString('latin1')) ? 'need-more' : false;
  const line = data.toString('latin1', 0, nl).replace(/\r$/, '');
  if (/^\* (OK|PREAUTH)\b/i.test(line)) return portMatch || /\bIMAP4/i.test(line) ? 'response' : false;
  const m = TAGGED.exec(line);
  if (m && TAG_CHARS.test(m[1]) && /^(CAPABILITY|LOGIN|AUTHENTICATE|STARTTLS|ID|ENABLE)$/i.test(m[2])) return 'request';
  if (portMatch && m && TAG_CHARS.test(m[1]) && /^(NOOP|LOGOUT|SELECT|EXAMINE|LIST|STATUS)$/i.test(m[2])) return 'request';
  return false;
}

export const imap: ProtocolDissector = {
  name: 'imap',
  transport: 'tcp',
  ports: [143, 993],
  priority: 50,
  reference: 'https://www.rfc-editor.org/rfc/rfc9051',
  probe(data, portMatch) {
    try {
      return probeImap(data, portMatch);
    } catch {
      return false;
    }
  },
  createTcpParser(ctx) {
    return new CommandLineParser(ctx, (c) => new ImapDialect(c));
  },
};
