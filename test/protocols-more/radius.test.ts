// RADIUS against tshark on the shared captures (Access-Challenge with State,
// a loopback capture with rejects and retransmitted requests), and a real
// FreeRADIUS in the lab driven by radtest/radclient: accepts, a reject,
// accounting; the passwords sent are never in the output.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeAttributes, probeRadius, radius } from '../../src/dissect/protocols/radius.js';
import type { Entry } from '../../src/model/entry.js';
import { sharedCapture } from '../helpers/paths.js';
import { dissectFile } from '../helpers/dissect.js';
import { startLab, type Lab } from '../helpers/lab.js';
import { fakeContext, tsharkFields } from '../protocols/helpers.js';

const CODES: Record<string, string> = { 1: 'Access-Request', 2: 'Access-Accept', 3: 'Access-Reject', 4: 'Accounting-Request', 5: 'Accounting-Response', 11: 'Access-Challenge' };

async function compare(file: string): Promise<Entry[]> {
  const rows = tsharkFields(file, 'radius', ['frame.number', 'radius.code', 'radius.id', 'radius.User_Name', 'radius.Reply_Message', 'radius.State', '_ws.col.Info']);
  const { entries, error } = await dissectFile(file);
  assert.equal(error, undefined);
  const ours = entries.filter((e) => e.protocol === 'radius');
  const byFrame = new Map<number, Record<string, any>>();
  for (const e of ours) {
    if (e.request) byFrame.set(e.frames!.request, e.request);
    if (e.response) byFrame.set(e.frames!.response!, e.response);
    if (e.request && e.response) assert.equal(e.request.identifier, e.response.identifier);
  }
  let duplicates = 0;
  for (const [frame, code, id, user, reply, state, info] of rows) {
    if (info.includes('Duplicate Request')) {
      // tshark marks the retransmission; we count it on the request it repeats.
      duplicates++;
      continue;
    }
    const m = byFrame.get(Number(frame));
    assert.ok(m, `frame ${frame} missing`);
    assert.equal(m.code, CODES[code]);
    assert.equal(m.identifier, Number(id));
    assert.equal(m.attributes['User-Name'] ?? '', user);
    assert.equal(m.attributes['Reply-Message'] ?? '', reply);
    assert.equal(m.attributes.State ?? '', state.replace(/:/g, ''));
  }
  assert.equal(byFrame.size, rows.length - duplicates);
  assert.equal(ours.reduce((n, e) => n + (e.request?.retransmissions ?? 0), 0), duplicates);
  for (const e of ours) {
    const text = JSON.stringify(e);
    for (const a of ['User-Password', 'CHAP-Password', 'Message-Authenticator']) {
      const v = e.request?.attributes[a] ?? e.response?.attributes[a];
      if (v !== undefined) assert.equal(v, '[REDACTED]', `${a} shown: ${text}`);
    }
  }
  return ours;
}

test('RADIUS captures: codes, identifiers, User-Name, Reply-Message and State agree with tshark; retransmissions counted', async () => {
  const challenge = await compare(sharedCapture('tcpdump-radius-access-challenge.pcap'));
  assert.deepEqual(challenge.map((e) => e.summary), ['Access-Request John.McGuirk → Access-Challenge "Hello, %u"', 'Access-Request John.McGuirk → Access-Accept "Hello, John.McGuirk"']);
  // EAP in RADIUS: the Message-Authenticator (an HMAC keyed with the shared secret) is never shown.
  assert.equal(challenge[0].request!.attributes['Message-Authenticator'], '[REDACTED]');
  const local = await compare(sharedCapture('zeek-radius-localhost.pcap'));
  assert.deepEqual(local.map((e) => e.response?.code ?? 'none'), ['Access-Challenge', 'Access-Reject', 'Access-Challenge', 'Access-Accept', 'Access-Accept', 'Access-Accept', 'Access-Reject', 'none', 'Access-Accept']);
  assert.deepEqual(local.map((e) => e.error), [false, true, false, false, false, false, true, true, false]);
  assert.equal(local[7].request!.retransmissions, 2);
});

// ---------------------------------------------------------------- lab: FreeRADIUS

const prefix = `s4br${process.pid % 1000}`;
const net = '198.19.140';
const SECRET = 's4b-shared-secret';
const ALICE_PW = 'Al1ce-radius-pw';
let lab: Lab | undefined;
let dir = '';
let server: ChildProcess | undefined;
let labEntries: Entry[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 's4b-radius-'));
  chmodSync(dir, 0o755);
  const conf = join(dir, 'raddb');
  cpSync('/etc/freeradius/3.0', conf, { recursive: true, dereference: true });
  appendFileSync(join(conf, 'clients.conf'), `\nclient s4blab {\n  ipaddr = ${net}.0/24\n  secret = ${SECRET}\n}\n`);
  const users = join(conf, 'mods-config', 'files', 'authorize');
  writeFileSync(users, `alice Cleartext-Password := "${ALICE_PW}"\n\tReply-Message := "Hello, %{User-Name}"\n\n` + readFileSync(users, 'utf8'));
  // freeradius drops to the freerad user: it must read its copy of the configuration.
  spawnSyncOk('chown', ['-R', 'freerad:freerad', conf]);
  lab = await startLab({ prefix, net, nodes: 1 });
  const web = lab.pod('web');
  const client = lab.pod('client0').ns;
  const file = join(dir, 'radius.pcap');
  const capture = await lab.capture(0, file, { filter: 'udp port 1812 or udp port 1813' });
  server = spawn('ip', ['netns', 'exec', web.ns, 'freeradius', '-f', '-d', conf, '-l', 'stdout'], { stdio: 'ignore' });
  try {
    // Wait (bounded) until the server answers a status check.
    for (let i = 0; i < 20; i++) {
      const r = await lab.exec(client, `echo 'Message-Authenticator = 0x00' | timeout 2 radclient -r 1 -t 1 ${web.ip}:1812 status ${SECRET}`);
      if (r.code === 0) break;
      await new Promise((res) => setTimeout(res, 500));
    }
    const steps = [
      `timeout 5 radtest -t pap alice ${ALICE_PW} ${web.ip} 0 ${SECRET}`,
      `timeout 5 radtest -t pap alice wrong-radius-pw ${web.ip} 0 ${SECRET}`,
      `printf 'User-Name = alice\\nAcct-Status-Type = Start\\nAcct-Session-Id = s4b-session-1\\nNAS-IP-Address = 10.0.0.1\\n' | timeout 5 radclient -r 1 -t 2 ${web.ip}:1813 acct ${SECRET}`,
    ];
    for (const step of steps) await lab.exec(client, step, { timeoutMs: 15_000 });
  } finally {
    await capture.stop();
    if (server.pid) process.kill(server.pid, 'SIGTERM');
  }
  ({ entries: labEntries } = await dissectFile(file));
});

function spawnSyncOk(cmd: string, args: string[]): void {
  assert.equal(spawnSync(cmd, args, { stdio: 'ignore' }).status, 0, `${cmd} ${args.join(' ')}`);
}

after(async () => {
  await lab?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('RADIUS lab (FreeRADIUS + radtest/radclient): accept, reject, accounting; passwords never in the output', () => {
  const ours = labEntries.filter((e) => e.protocol === 'radius');
  const lines = ours.map((e) => e.summary);
  for (const s of ['Access-Request alice → Access-Accept "Hello, alice"', 'Access-Request alice → Access-Reject "Hello, alice"', 'Accounting-Request alice Start → Accounting-Response']) {
    assert.ok(lines.includes(s), `${s} not in ${JSON.stringify(lines)}`);
  }
  const acct = ours.find((e) => e.request?.code === 'Accounting-Request')!;
  assert.equal(acct.request!.attributes['Acct-Session-Id'], 's4b-session-1');
  assert.equal(acct.request!.attributes['NAS-IP-Address'], '10.0.0.1');
  assert.equal(ours.find((e) => e.response?.code === 'Access-Reject')!.error, true);
  assert.equal(ours.find((e) => e.response?.code === 'Access-Accept' && e.request?.code === 'Access-Request')!.request!.attributes['User-Password'], '[REDACTED]');
  const text = JSON.stringify(ours);
  for (const secret of [ALICE_PW, 'wrong-radius-pw', SECRET]) assert.ok(!text.includes(secret), `${secret} in output`);
});

test('RADIUS probe and parser edges', () => {
  const req = Buffer.from('01070014' + '00'.repeat(16), 'hex');
  assert.equal(probeRadius(req, true), 'request');
  assert.equal(probeRadius(req, false), false, 'no attributes away from the RADIUS ports');
  assert.equal(probeRadius(Buffer.from('GET / HTTP/1.1\r\n\r\n'), true), false);
  const ctx = fakeContext({}, 'udp');
  const parser = radius.createUdpParser!(ctx);
  parser.onDatagram('c2s', Buffer.from('0107001a' + '00'.repeat(16) + '0106' + '41414141', 'hex'));
  parser.onDatagram('s2c', Buffer.from('0207', 'hex'));
  assert.equal(parser.pendingSince?.(), ctx.now);
  parser.onEnd('eof');
  assert.equal(ctx.calls.length, 1);
  assert.equal(ctx.counters['radius.malformed'], 1);
  // Left without its reply, the request is an unanswered error, and its summary says so as other protocols do.
  assert.deepEqual([ctx.calls[0].summary, ctx.calls[0].error, ctx.calls[0].warnings], ['Access-Request AAAA → unanswered', true, ['unanswered']]);
});

test('RADIUS: Tunnel-Password, Microsoft MS-CHAP2-Response and MPPE keys, and EAP responses that carry a password or its hash are not kept', () => {
  const attr = (type: number, value: Buffer) => Buffer.concat([Buffer.from([type, value.length + 2]), value]);
  const vsa = (vendor: number, type: number, value: Buffer) => {
    const id = Buffer.alloc(4);
    id.writeUInt32BE(vendor);
    return attr(26, Buffer.concat([id, Buffer.from([type, value.length + 2]), value]));
  };
  const eap = (code: number, id: number, method: number, data: Buffer) => {
    const head = Buffer.from([code, id, 0, 0, method]);
    head.writeUInt16BE(5 + data.length, 2);
    return attr(79, Buffer.concat([head, data]));
  };
  const attrs = Buffer.concat([
    attr(1, Buffer.from('visible-user')),
    attr(69, Buffer.from('\x00\x80tunnelSECRET1', 'latin1')),
    vsa(311, 25, Buffer.from('mschapv2SECRET2-response-bytes-here')),
    vsa(311, 16, Buffer.from('mppeSECRET3-send-key')),
    vsa(9, 1, Buffer.from('cisco-avpair=visible')),
    eap(2, 7, 6, Buffer.from('gtcSECRET4')),
    eap(2, 8, 1, Buffer.from('visible-identity')),
  ]);
  const packet = Buffer.concat([Buffer.from([1, 1, 0, 0]), Buffer.alloc(16), attrs]);
  packet.writeUInt16BE(packet.length, 2);
  const out = decodeAttributes(packet, packet.length);
  const text = JSON.stringify(out);
  for (const hex of ['tunnelSECRET1', 'mschapv2SECRET2', 'mppeSECRET3', 'gtcSECRET4']) assert.ok(!text.includes(Buffer.from(hex).toString('hex').slice(0, 16)), `${hex} kept`);
  assert.equal(out['Tunnel-Password'], '[REDACTED]');
  assert.deepEqual(out['Vendor-Specific'], [{ vendorId: 311, data: '[REDACTED]' }, { vendorId: 311, data: '[REDACTED]' }, { vendorId: 9, data: Buffer.from([1, 22]).toString('hex') + Buffer.from('cisco-avpair=visible').toString('hex') }]);
  assert.deepEqual(out['EAP-Message'], ['0207000f06[REDACTED]', eap(2, 8, 1, Buffer.from('visible-identity')).subarray(2).toString('hex')]);
  assert.equal(out['User-Name'], 'visible-user');
});
