// POP3 (RFC 1939, 2449) and its STLS (RFC 2595): each command paired with
// its +OK/-ERR, the multi-line answers (CAPA, LIST and UIDL without an
// argument, RETR, TOP, AUTH's list) read up to their lone "." (a message's
// lines counted, not kept). PASS, APOP's digest and AUTH's data are never
// shown. After the server's +OK to STLS the connection is TLS: its tls
// entry, or with --tls-keylog the POP3 inside it. Port 995 (implicit TLS) is
// TLS from the first byte.
import type { ConnectionContext, Probe, ProtocolDissector } from '../api.js';
import { CommandLineParser, MAX_KEPT_LINES, lineText, type Dialect, type MailCommand, type ReplyLine } from './util/command-lines.js';

const VERB = /^([A-Za-z]{3,8})(?: (.*))?$/;

class Pop3Dialect implements Dialect {
  readonly name = 'pop3';
  readonly label = 'POP3';
  /** A multi-line answer being read: its first line's response. */
  private multi: { response: Record<string, any>; text: string; keep: boolean } | null = null;

  constructor(private readonly ctx: ConnectionContext) {}

  command(line: string, pending: readonly MailCommand[]): { cmd: MailCommand | null } {
    const last = pending[pending.length - 1];
    // AUTH's SASL data after a "+ " challenge: part of the AUTH call, never shown.
    if (last?.request.command === 'AUTH' && last.request.challenged) return { cmd: null };
    const m = VERB.exec(line);
    if (!m) {
      this.ctx.count('pop3.malformed_line');
      return { cmd: null };
    }
    const command = m[1].toUpperCase();
    let args = m[2];
    if (command === 'PASS' && args !== undefined) args = '***';
    else if ((command === 'APOP' || command === 'AUTH') && args !== undefined) {
      const sp = args.indexOf(' ');
      if (sp >= 0) args = `${args.slice(0, sp)} ***`;
    }
    const request: Record<string, any> = { command };
    if (args !== undefined && args !== '') request.args = lineText(args);
    return { cmd: { request, label: args ? `${command} ${lineText(args)}` : command, time: this.ctx.now, frame: this.ctx.frame, size: 0, startsTls: command === 'STLS' } };
  }

  reply(line: string, pending: readonly MailCommand[]): ReplyLine {
    const cmd = pending[0];
    if (this.multi) {
      const { response, text } = this.multi;
      if (line === '.') {
        this.multi = null;
        return { kind: 'done', response, error: false, text };
      }
      response.lineCount++;
      if (this.multi.keep && response.lines.length < MAX_KEPT_LINES) response.lines.push(lineText(line.startsWith('..') ? line.slice(1) : line));
      return { kind: 'more' };
    }
    if (line.startsWith('+ ') || line === '+') {
      if (cmd?.request.command === 'AUTH') cmd.request.challenged = true;
      return { kind: 'more' };
    }
    const ok = line.startsWith('+OK');
    if (!ok && !line.startsWith('-ERR')) {
      this.ctx.count('pop3.malformed_line');
      return { kind: 'more' };
    }
    const status = ok ? '+OK' : '-ERR';
    const text = line.slice(status.length).trim();
    const response: Record<string, any> = { status, text: lineText(text) };
    if (cmd?.request.challenged) delete cmd.request.challenged;
    if (ok && cmd && isMultiLine(cmd.request.command, cmd.request.args)) {
      const keep = cmd.request.command !== 'RETR' && cmd.request.command !== 'TOP';
      response.lineCount = 0;
      if (keep) response.lines = [];
      this.multi = { response, text: `${status}${text ? ` ${lineText(text)}` : ''}`, keep };
      return { kind: 'more' };
    }
    return { kind: 'done', response, error: !ok, text: `${status}${text ? ` ${text}` : ''}` };
  }

  acceptsTls(_cmd: MailCommand, response: Record<string, any>): boolean {
    return response.status === '+OK';
  }
}

/** RFC 1939 §5, RFC 2449 §5, RFC 5034 §4: the commands whose +OK is followed by lines up to ".". */
function isMultiLine(command: string, args: string | undefined): boolean {
  if (command === 'RETR' || command === 'TOP' || command === 'CAPA') return true;
  return (command === 'LIST' || command === 'UIDL' || command === 'AUTH') && (args === undefined || args === '');
}

export function probePop3(data: Buffer, portMatch: boolean): Probe {
  const nl = data.indexOf(0x0a);
  if (nl < 0) return data.length < 64 && portMatch && /^[\x20-\x7e]*$/.test(data.toString('latin1')) ? 'need-more' : false;
  const line = data.toString('latin1', 0, nl).replace(/\r$/, '');
  if (/^\+OK\b/.test(line)) return portMatch || /\bPOP3?\b/i.test(line) ? 'response' : false;
  if (/^(CAPA|STLS)$/i.test(line)) return 'request';
  if (portMatch && /^(USER \S|APOP \S|AUTH\b|STAT$|LIST\b|UIDL\b|QUIT$)/i.test(line)) return 'request';
  return false;
}

export const pop3: ProtocolDissector = {
  name: 'pop3',
  transport: 'tcp',
  ports: [110, 995],
  priority: 50,
  reference: 'https://www.rfc-editor.org/rfc/rfc1939',
  probe(data, portMatch) {
    try {
      return probePop3(data, portMatch);
    } catch {
      return false;
    }
  },
  createTcpParser(ctx) {
    return new CommandLineParser(ctx, (c) => new Pop3Dialect(c));
  },
};
