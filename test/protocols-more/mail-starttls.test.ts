// SMTP, IMAP and POP3 with STARTTLS (STLS): the clear-text commands paired
// with their replies, then the TLS session the server's yes starts, read as
// TLS (its tls entry) and, with the client's key log, decrypted into the same
// protocol's calls; tshark, given the same key log, is the oracle for which
// commands there were. The TLS is a real session (node's OpenSSL) written as
// segments of a synthetic capture; credentials never reach the output.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wire } from '../helpers/engine-wire.js';
import { writeRawPcap } from '../helpers/pcap-wire.js';
import { tlsConversation } from '../helpers/tls-session.js';
import { runCli } from '../helpers/cli.js';
import { tsharkFields } from '../protocols/helpers.js';
import { CommandLineParser } from '../../src/dissect/protocols/util/command-lines.js';
import { smtp } from '../../src/dissect/protocols/smtp.js';
import { pop3 } from '../../src/dissect/protocols/pop3.js';
import { imap } from '../../src/dissect/protocols/imap.js';
import type { CallRecord } from '../../src/dissect/api.js';
import { conversations, fuzzDissector, makeContext, tcpSegments } from './helpers.js';

const SECRET = 'hunter2-mail-secret';
const PLAIN = Buffer.from(`\0bob\0${SECRET}`).toString('base64');

interface Scenario {
  port: number;
  clear: Array<[1 | 2, string]>;
  inside: Array<{ request: string; response: string }>;
}

const SCENARIOS: Record<'smtp' | 'imap' | 'pop3', Scenario> = {
  smtp: {
    port: 587,
    clear: [
      [2, '220 mail.example ESMTP Postfix\r\n'],
      [1, 'EHLO client.example\r\n'],
      [2, '250-mail.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 STARTTLS\r\n'],
      [1, 'STARTTLS\r\n'],
      [2, '220 2.0.0 Ready to start TLS\r\n'],
    ],
    inside: [
      { request: 'EHLO client.example\r\n', response: '250-mail.example\r\n250 AUTH PLAIN LOGIN\r\n' },
      { request: `AUTH PLAIN ${PLAIN}\r\n`, response: '235 2.7.0 Authentication successful\r\n' },
      { request: 'MAIL FROM:<bob@example.org>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n', response: '250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n' },
      { request: 'Subject: hi\r\n\r\nhello\r\n..dot line\r\n.\r\n', response: '250 2.0.0 Ok: queued as 4F1A2\r\n' },
      { request: 'QUIT\r\n', response: '221 2.0.0 Bye\r\n' },
    ],
  },
  imap: {
    port: 143,
    clear: [
      [2, '* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] Dovecot ready.\r\n'],
      [1, 'a1 CAPABILITY\r\n'],
      [2, '* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\na1 OK Pre-login capabilities listed.\r\n'],
      [1, 'a2 STARTTLS\r\n'],
      [2, 'a2 OK Begin TLS negotiation now.\r\n'],
    ],
    inside: [
      { request: `a3 LOGIN bob "${SECRET}"\r\n`, response: 'a3 OK Logged in\r\n' },
      { request: 'a4 SELECT INBOX\r\n', response: '* 1 EXISTS\r\n* FLAGS (\\Seen)\r\na4 OK [READ-WRITE] Select completed.\r\n' },
      { request: 'a5 FETCH 1 BODY[]\r\n', response: '* 1 FETCH (BODY[] {24}\r\na5 OK this is not a tag\r\n)\r\na5 OK Fetch completed.\r\n' },
      { request: 'a6 LOGOUT\r\n', response: '* BYE Logging out\r\na6 OK Logout completed.\r\n' },
    ],
  },
  pop3: {
    port: 110,
    clear: [
      [2, '+OK Dovecot ready.\r\n'],
      [1, 'CAPA\r\n'],
      [2, '+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nSTLS\r\n.\r\n'],
      [1, 'STLS\r\n'],
      [2, '+OK Begin TLS negotiation now.\r\n'],
    ],
    inside: [
      { request: 'USER bob\r\n', response: '+OK\r\n' },
      { request: `PASS ${SECRET}\r\n`, response: '+OK Logged in.\r\n' },
      { request: 'LIST\r\n', response: '+OK 1 messages:\r\n1 24\r\n.\r\n' },
      { request: 'RETR 1\r\n', response: '+OK 24 octets\r\nSubject: hi\r\n\r\n..dot\r\n.\r\n' },
      { request: 'QUIT\r\n', response: '+OK Logging out.\r\n' },
    ],
  },
};

let dir: string;
const files: Record<string, { pcap: string; keys: string }> = {};

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shark-mail-'));
  for (const [name, s] of Object.entries(SCENARIOS)) {
    const wire = new Wire();
    const sport = 41000;
    let at = 1000;
    for (const [from, text] of s.clear) wire.send(at++, from, from === 1 ? sport : s.port, from === 1 ? s.port : sport, text);
    const r = await tlsConversation(wire, { atMs: at + 10, sport, dport: s.port, exchanges: s.inside, client: { servername: 'mail.example' } });
    const pcap = join(dir, `${name}.pcap`);
    const keys = join(dir, `${name}.keys`);
    writeRawPcap(pcap, wire.packets);
    writeFileSync(keys, r.keylog.join('\n') + '\n');
    files[name] = { pcap, keys };
  }
});

after(() => rmSync(dir, { recursive: true, force: true }));

async function entries(name: string, keys: boolean, extra: string[] = []): Promise<{ list: any[]; stdout: string; stderr: string }> {
  const r = await runCli(['dissect', ...(keys ? ['--tls-keylog', files[name].keys] : []), ...extra, files[name].pcap]);
  assert.equal(r.code, 0, r.stderr);
  return { list: r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)), stdout: r.stdout, stderr: r.stderr };
}

/** tshark's commands inside TLS (the frames it decrypted), in order. */
function tsharkCommands(name: string): string[] {
  const field = { smtp: 'smtp.req.command', imap: 'imap.request.command', pop3: 'pop.request.command' }[name]!;
  const filter = { smtp: 'smtp.req', imap: 'imap.isrequest == 1', pop3: 'pop.request' }[name]!;
  return tsharkFields(files[name].pcap, `tls && ${filter}`, [field], ['-o', `tls.keylog_file:${files[name].keys}`]).flatMap((r) => r[0].split('|')).map((c) => c.toUpperCase());
}

for (const name of ['smtp', 'imap', 'pop3'] as const) {
  test(`${name}: STARTTLS is followed into TLS: the clear commands, then the tls entry of the session it starts`, async () => {
    const { list } = await entries(name, false);
    assert.deepEqual([...new Set(list.map((e) => e.protocol))].sort(), [name, 'tls'].sort(), JSON.stringify(list.map((e) => e.summary)));
    const tls = list.find((e) => e.protocol === 'tls');
    assert.equal(tls.request.sni, 'mail.example');
    assert.equal(tls.response.version, 'TLS 1.3');
    const asked = list.find((e) => /^(STARTTLS|STLS)$/.test(e.request?.command ?? ''));
    assert.ok(asked, 'the STARTTLS call is an entry');
    assert.equal(asked.error, false);
    assert.ok(list.indexOf(asked) < list.indexOf(tls));
  });

  test(`${name}: with the key log the calls inside TLS are ${name} calls marked tls, the ones tshark decrypts, and no credential shows`, async () => {
    const { list, stdout, stderr } = await entries(name, true);
    assert.equal(list.filter((e) => e.protocol === 'tls').length, 0, 'the session is decrypted, not kept as a tls entry');
    const inside = list.filter((e) => e.tls === true);
    assert.ok(inside.every((e) => e.protocol === name));
    // A message sent with DATA is a call of shark's (answered by its queue id); tshark reads it as DATA's fragments.
    assert.deepEqual(inside.map((e) => e.request.command).filter((c) => c !== 'MESSAGE'), tsharkCommands(name));
    assert.match(stderr, /TLS: 1 session decrypted$/m);
    for (const out of [stdout, (await entries(name, true, ['--no-redact'])).stdout]) {
      assert.ok(!out.includes(SECRET) && !out.includes(PLAIN), 'the password never shows, redaction on or off');
    }
  });
}

test('smtp: pipelined commands pair in order, the message is one call answered by its queue id, AUTH one call', async () => {
  const { list } = await entries('smtp', true);
  const calls = list.map((e) => [e.request?.command ?? null, e.response?.code ?? null]);
  assert.deepEqual(calls, [
    [null, 220], ['EHLO', 250], ['STARTTLS', 220],
    ['EHLO', 250], ['AUTH', 235], ['MAIL', 250], ['RCPT', 250], ['DATA', 354], ['MESSAGE', 250], ['QUIT', 221],
  ]);
  const ehlo = list[1];
  assert.deepEqual(ehlo.response.lines, ['PIPELINING', 'SIZE 10240000', 'STARTTLS']);
  assert.equal(list[4].request.args, 'PLAIN ***');
  assert.equal(list[8].summary, 'SMTP MESSAGE → 250 2.0.0 Ok: queued as 4F1A2');
});

test('imap: replies pair by tag, a literal in a reply is passed over by its size, LOGIN shows the user alone', async () => {
  const { list } = await entries('imap', true);
  assert.deepEqual(list.map((e) => [e.request?.command ?? null, e.response?.status ?? null]), [
    [null, 'OK'], ['CAPABILITY', 'OK'], ['STARTTLS', 'OK'], ['LOGIN', 'OK'], ['SELECT', 'OK'], ['FETCH', 'OK'], ['LOGOUT', 'OK'],
  ]);
  assert.equal(list[3].request.args, 'bob ***');
  assert.equal(list[5].response.text, 'Fetch completed.', 'the literal holding "a5 OK" is not the reply');
  assert.deepEqual(list[4].response.untagged, ['1 EXISTS', 'FLAGS (\\Seen)']);
});

test('pop3: multi-line answers end at their lone dot; a message is counted, not kept; PASS masked', async () => {
  const { list } = await entries('pop3', true);
  assert.deepEqual(list.map((e) => [e.request?.command ?? null, e.response?.status ?? null]), [
    [null, '+OK'], ['CAPA', '+OK'], ['STLS', '+OK'], ['USER', '+OK'], ['PASS', '+OK'], ['LIST', '+OK'], ['RETR', '+OK'], ['QUIT', '+OK'],
  ]);
  assert.deepEqual(list[1].response.lines, ['CAPA', 'TOP', 'UIDL', 'STLS']);
  assert.equal(list[4].request.args, '***');
  assert.equal(list[6].response.lineCount, 3);
  assert.equal(list[6].response.lines, undefined);
});

test('a lost reply segment: the commands it answered come out unanswered with a gap warning, and pairing goes on', () => {
  const calls: CallRecord[] = [];
  const p = smtp.createTcpParser!(makeContext(calls, {})) as CommandLineParser;
  p.onData('s2c', Buffer.from('220 mx ESMTP\r\n'));
  p.onData('c2s', Buffer.from('MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n'));
  p.onData('s2c', Buffer.from('250 2.1'));
  p.onGap('s2c', 40);
  p.onData('s2c', Buffer.from('.5 tail of a cut line\r\n'));
  p.onData('c2s', Buffer.from('QUIT\r\n'));
  p.onData('s2c', Buffer.from('221 bye\r\n'));
  p.onEnd('fin');
  assert.deepEqual(calls.map((c) => [c.request?.command ?? null, c.response?.code ?? null, c.warnings ?? []]), [
    [null, 220, []], ['MAIL', null, ['gap']], ['RCPT', null, ['gap']], ['QUIT', 221, []],
  ]);
});

test('probes: each protocol by its greeting or its first command, not one another', () => {
  const b = (s: string): Buffer => Buffer.from(s);
  assert.equal(smtp.probe(b('220 mx.example ESMTP ready\r\n'), false), 'response');
  assert.equal(smtp.probe(b('EHLO me\r\n'), false), 'request');
  assert.equal(smtp.probe(b('220 ProFTPD Server\r\n'), false), false, 'an FTP greeting off port is not SMTP');
  assert.equal(imap.probe(b('* OK [CAPABILITY IMAP4rev1] ready\r\n'), false), 'response');
  assert.equal(imap.probe(b('a1 CAPABILITY\r\n'), false), 'request');
  assert.equal(pop3.probe(b('+OK POP3 server ready\r\n'), false), 'response');
  assert.equal(pop3.probe(b('+OK\r\n'), false), false, 'a Redis +OK is not POP3');
  assert.equal(pop3.probe(b('CAPA\r\n'), false), 'request');
});

test('fuzz smtp, imap, pop3: their conversations (clear, then TLS) mutated, nothing escapes', { timeout: 120_000 }, () => {
  for (const [name, dissector] of [['smtp', smtp], ['imap', imap], ['pop3', pop3]] as const) {
    const convs = conversations(tcpSegments(files[name].pcap));
    assert.ok(convs.length > 0);
    const counters: Record<string, number> = {};
    assert.equal(fuzzDissector(dissector, convs, 600, 0x5eed + name.length * 11, counters), 600);
  }
});
