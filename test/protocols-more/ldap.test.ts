// LDAP against tshark on the shared captures, and a real OpenLDAP slapd in the
// lab driven by ldap-utils (ldapadd, ldapsearch, ldapmodify, ldapcompare,
// ldapmodrdn, ldapdelete, ldapwhoami): what the clients did is what the
// entries must say, and the passwords they sent are never in the output.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ldap, probeLdap } from '../../src/dissect/protocols/ldap.js';
import { createRedactor } from '../../src/redact/entry.js';
import type { Entry } from '../../src/model/entry.js';
import { sharedCapture } from '../helpers/paths.js';
import { dissectFile } from '../helpers/dissect.js';
import { runCli } from '../helpers/cli.js';
import { startLab, type Lab } from '../helpers/lab.js';
import { tsharkFields } from '../protocols/helpers.js';
import { makeContext } from './helpers.js';
import type { CallRecord } from '../../src/dissect/api.js';

const OPS: Record<string, string> = { 0: 'bindRequest', 1: 'bindResponse', 2: 'unbindRequest', 3: 'searchRequest', 4: 'searchResEntry', 5: 'searchResDone', 6: 'modifyRequest', 7: 'modifyResponse', 8: 'addRequest', 9: 'addResponse', 10: 'delRequest', 11: 'delResponse', 12: 'modDNRequest', 13: 'modDNResponse', 14: 'compareRequest', 15: 'compareResponse', 23: 'extendedReq', 24: 'extendedResp' };

/** The filter text tshark prints for each searchRequest frame (its tree label "Filter: …"). */
function tsharkFilters(file: string, decodeAs: string[]): Map<number, string> {
  const out = execFileSync('tshark', ['-r', file, ...decodeAs, '-Y', 'ldap.protocolOp == 3', '-O', 'ldap'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const filters = new Map<number, string>();
  let frame = 0;
  for (const line of out.split('\n')) {
    const f = /^Frame (\d+):/.exec(line);
    if (f) frame = Number(f[1]);
    const m = /^\s+Filter: (.*)$/.exec(line);
    if (m && !filters.has(frame)) filters.set(frame, m[1]);
  }
  return filters;
}

/** Compare every LDAP message tshark sees with our entries: frame, messageID, operation, DN, result code, filter. */
async function compare(file: string, decodeAs: string[] = []): Promise<Entry[]> {
  const rows = tsharkFields(file, 'ldap', ['frame.number', 'ldap.messageID', 'ldap.protocolOp', 'ldap.resultCode', 'ldap.name', 'ldap.baseObject', 'ldap.mechanism', 'ldap.requestName'], decodeAs);
  const { entries, error } = await dissectFile(file);
  assert.equal(error, undefined);
  const ours = entries.filter((e) => e.protocol === 'ldap');
  const theirs: string[] = [];
  for (const [frame, ids, ops, codes, name, base] of rows) {
    const opList = ops.split('|');
    const idList = ids.split('|');
    const codeList = codes ? codes.split('|') : [];
    let ci = 0;
    opList.forEach((op, i) => {
      // Entries and references are counted into their search's entry, not entries themselves.
      if (op === '4' || op === '19') return;
      const isResult = !['0', '2', '3', '6', '8', '10', '12', '14', '16', '23'].includes(op);
      theirs.push(`${frame} ${idList[i]} ${OPS[op]} ${isResult ? codeList[ci++] : name || base || ''}`);
    });
  }
  const mine: string[] = [];
  for (const e of ours) {
    if (e.request) mine.push(`${e.frames!.request} ${e.request.messageId} ${e.request.operation} ${e.request.dn ?? ''}`);
    if (e.response) mine.push(`${e.frames!.response} ${e.response.messageId} ${e.response.operation} ${e.response.resultCode}`);
    if (e.request && e.response) assert.equal(e.request.messageId, e.response.messageId);
  }
  assert.deepEqual(mine.sort(), theirs.sort());
  const filters = tsharkFilters(file, decodeAs);
  for (const e of ours.filter((x) => x.request?.operation === 'searchRequest')) assert.equal(e.request!.filter, filters.get(e.frames!.request), `frame ${e.frames!.request}`);
  // Entries tshark sees between a search and its SearchResultDone.
  const entryRows = tsharkFields(file, 'ldap.protocolOp == 4', ['ldap.messageID', 'ldap.protocolOp'], decodeAs);
  const perId = new Map<string, number>();
  for (const [ids, ops] of entryRows) ops.split('|').forEach((op, i) => op === '4' && perId.set(ids.split('|')[i], (perId.get(ids.split('|')[i]) ?? 0) + 1));
  for (const e of ours.filter((x) => x.response?.operation === 'searchResDone')) assert.equal(e.response!.entries, perId.get(String(e.response!.messageId)) ?? 0);
  return ours;
}

test('LDAP captures: bind, WhoAmI, search with entries, Global Catalog on 3268 in a VLAN agree with tshark', async () => {
  const who = await compare(sharedCapture('zeek-ldap-who-am-i.pcap'));
  assert.deepEqual(who.map((e) => e.summary), [
    'bindRequest "cn=admin,dc=example,dc=com" → success',
    'extendedReq WhoAmI → success dn:cn=admin,dc=example,dc=com',
    'unbindRequest',
  ]);
  assert.equal(who[2].error, false);
  const search = await compare(sharedCapture('suricata-ldap-search.pcap'));
  assert.equal(search[0].request!.scope, 'wholeSubtree');
  assert.deepEqual(search[0].request!.attributes, ['*', '+']);
  assert.match(search[0].summary, /→ success \(1 entry\)$/);
  const gc = await compare(sharedCapture('zeek-ldap-simpleauth-gc-3268.pcap'), ['-d', 'tcp.port==3268,ldap']);
  assert.equal(gc.length, 3);
  // Simple-bind passwords are in the entry only until the redactor every writer uses; never after it.
  const redact = createRedactor();
  const out = JSON.stringify(gc.map(redact));
  assert.ok(!out.includes('passwor8d1') && !out.includes('/dev/rdsk'), 'bind password leaked');
  assert.ok(gc.filter((e) => e.request!.operation === 'bindRequest').every((e) => redact(e).request!.password === '[REDACTED]'));
});

// ---------------------------------------------------------------- lab: OpenLDAP slapd

const prefix = `s4bl${process.pid % 1000}`;
const net = '198.19.140';
let lab: Lab | undefined;
let dir = '';
let labEntries: Entry[] = [];
let labCapture = '';
const ADMIN_PW = 'Adm1n-lab-pw';
const USER_PW = 'Al1ce-lab-pw';
/** The password slapd generated for ldappasswd (its Password Modify answer's genPasswd). */
let generatedPassword = '';

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 's4b-ldap-'));
  mkdirSync(join(dir, 'db'));
  const suffix = 'dc=shark,dc=test';
  writeFileSync(join(dir, 'slapd.conf'), [
    'include /etc/ldap/schema/core.schema', 'include /etc/ldap/schema/cosine.schema', 'include /etc/ldap/schema/inetorgperson.schema',
    `pidfile ${dir}/slapd.pid`, 'modulepath /usr/lib/ldap', 'moduleload back_mdb', 'database mdb', `suffix "${suffix}"`,
    `rootdn "cn=admin,${suffix}"`, `rootpw ${ADMIN_PW}`, `directory ${dir}/db`, '',
  ].join('\n'));
  // StartTLS: slapd's global TLS settings (before any database) and a fresh self-signed certificate.
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=ldap.shark.test', '-keyout', join(dir, 'tls.key'), '-out', join(dir, 'tls.crt')], { stdio: 'ignore' });
  const conf = readFileSync(join(dir, 'slapd.conf'), 'utf8');
  writeFileSync(join(dir, 'slapd.conf'), conf.replace(`pidfile ${dir}/slapd.pid`, `pidfile ${dir}/slapd.pid\nTLSCertificateFile ${dir}/tls.crt\nTLSCertificateKeyFile ${dir}/tls.key`));
  writeFileSync(join(dir, 'add.ldif'), [
    `dn: ${suffix}`, 'objectClass: dcObject', 'objectClass: organization', 'o: shark', 'dc: shark', '',
    `dn: cn=alice,${suffix}`, 'objectClass: inetOrgPerson', 'cn: alice', 'sn: Liddell', 'mail: alice@shark.test', `userPassword: ${USER_PW}`, '',
    `dn: cn=bob,${suffix}`, 'objectClass: inetOrgPerson', 'cn: bob', 'sn: Builder', '', '',
  ].join('\n'));
  writeFileSync(join(dir, 'modify.ldif'), [`dn: cn=bob,${suffix}`, 'changetype: modify', 'replace: mail', 'mail: bob@shark.test', '', ''].join('\n'));
  lab = await startLab({ prefix, net, nodes: 1 });
  const server = lab.pod('web');
  const client = lab.pod('client0').ns;
  const started = await lab.exec(server.ns, ['slapd', '-f', join(dir, 'slapd.conf'), '-h', `ldap://${server.ip}:389/`]);
  assert.equal(started.code, 0, started.stderr);
  const file = join(dir, 'ldap.pcap');
  labCapture = file;
  const capture = await lab.capture(0, file, { filter: 'tcp port 389' });
  const url = `ldap://${server.ip}:389`;
  const admin = ['-x', '-H', url, '-D', `cn=admin,${suffix}`, '-w', ADMIN_PW];
  const steps: string[][] = [
    ['ldapadd', ...admin, '-f', join(dir, 'add.ldif')],
    ['ldapsearch', '-x', '-H', url, '-b', suffix, '-s', 'sub', '(&(objectClass=inetOrgPerson)(|(cn=al*)(cn=bob)))', 'cn', 'mail'],
    ['ldapsearch', '-x', '-H', url, '-b', `ou=nowhere,${suffix}`, '(cn=*)'],
    ['ldapwhoami', '-x', '-H', url, '-D', `cn=alice,${suffix}`, '-w', USER_PW],
    ['ldapwhoami', '-x', '-H', url, '-D', `cn=alice,${suffix}`, '-w', 'wrong-password'],
    ['ldapmodify', ...admin, '-f', join(dir, 'modify.ldif')],
    ['ldapcompare', ...admin, `cn=bob,${suffix}`, 'sn:Builder'],
    ['ldapmodrdn', ...admin, `cn=bob,${suffix}`, 'cn=robert'],
    ['ldapdelete', ...admin, `cn=robert,${suffix}`],
    // StartTLS, then a bind and a search inside TLS; GnuTLS (libldap's) writes the key log SSLKEYLOGFILE names.
    ['env', 'LDAPTLS_REQCERT=never', `SSLKEYLOGFILE=${join(dir, 'ldap.keys')}`, 'ldapsearch', '-ZZ', ...admin, '-b', suffix, '(cn=alice)', 'cn'],
  ];
  try {
    for (const step of steps) await lab.exec(client, ['timeout', '10', ...step], { timeoutMs: 15_000 });
    // A Password Modify without a new password: slapd generates one and answers with it (genPasswd).
    const changed = await lab.exec(client, ['timeout', '10', 'ldappasswd', ...admin, `cn=alice,${suffix}`], { timeoutMs: 15_000 });
    generatedPassword = /New password: (\S+)/.exec(changed.stdout)?.[1] ?? '';
  } finally {
    await capture.stop();
    const pid = Number(readFileSync(join(dir, 'slapd.pid'), 'utf8').trim());
    if (pid > 0) process.kill(pid, 'SIGTERM');
  }
  ({ entries: labEntries } = await dissectFile(file));
});

after(async () => {
  await lab?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('LDAP StartTLS: the session after it is read as TLS; with the key log, the bind and search inside it, as tshark reads them', async () => {
  const plain = labEntries.filter((e) => e.src.port === labEntries.find((x) => x.request?.extendedName === 'StartTLS')?.src.port);
  assert.deepEqual(plain.map((e) => e.protocol), ['ldap', 'tls'], JSON.stringify(plain.map((e) => e.summary)));
  assert.equal(plain[0].response?.resultName, 'success');
  const keys = join(dir, 'ldap.keys');
  const r = await runCli(['dissect', '--tls-keylog', keys, labCapture]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /TLS: 1 session decrypted/);
  const inside = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Entry).filter((e) => e.tls === true);
  assert.deepEqual(
    inside.map((e) => `${e.protocol} ${e.request?.operation} ${e.request?.dn ?? ''} ${e.response?.resultName ?? ''}`.trim()),
    ['ldap bindRequest cn=admin,dc=shark,dc=test success', 'ldap searchRequest dc=shark,dc=test success', 'ldap unbindRequest'],
  );
  assert.equal(inside[1].response?.entries, 1);
  assert.ok(!r.stdout.includes(ADMIN_PW), 'the bind password inside TLS reached the output');
  const tshark = execFileSync('tshark', ['-r', labCapture, '-o', `tls.keylog_file:${keys}`, '-Y', 'tls and ldap.protocolOp', '-T', 'fields', '-e', 'ldap.protocolOp'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  // bindRequest (0), bindResponse (1), searchRequest (3), searchResEntry (4), searchResDone (5), unbindRequest (2).
  assert.deepEqual(tshark.trim().split('\n').join(',').split(','), ['0', '1', '3', '4', '5', '2']);
});

test('LDAP lab (slapd + ldap-utils): every operation, its DN, filter and result code; passwords never in the output', () => {
  const ours = labEntries.filter((e) => e.protocol === 'ldap');
  const suffix = 'dc=shark,dc=test';
  const line = (e: Entry): string => `${e.request?.operation} ${e.request?.dn ?? ''} ${e.response?.resultName ?? ''}`.trim();
  const lines = ours.map(line);
  for (const expected of [
    `addRequest ${suffix} success`,
    `addRequest cn=alice,${suffix} success`,
    `searchRequest ${suffix} success`,
    `searchRequest ou=nowhere,${suffix} noSuchObject`,
    `bindRequest cn=alice,${suffix} success`,
    `bindRequest cn=alice,${suffix} invalidCredentials`,
    `modifyRequest cn=bob,${suffix} success`,
    `compareRequest cn=bob,${suffix} compareTrue`,
    `modDNRequest cn=bob,${suffix} success`,
    `delRequest cn=robert,${suffix} success`,
  ]) assert.ok(lines.includes(expected), `${expected} not in ${JSON.stringify(lines)}`);
  const search = ours.find((e) => e.request?.operation === 'searchRequest' && e.request.dn === suffix)!;
  assert.equal(search.request!.filter, '(&(objectClass=inetOrgPerson)(|(cn=al*)(cn=bob)))');
  assert.equal(search.response!.entries, 2);
  assert.deepEqual(search.request!.attributes, ['cn', 'mail']);
  assert.equal(ours.find((e) => e.response?.resultName === 'noSuchObject')!.error, true);
  assert.equal(ours.find((e) => e.response?.resultName === 'invalidCredentials')!.error, true);
  assert.equal(ours.find((e) => e.request?.operation === 'compareRequest')!.error, false, 'compareTrue is an answer');
  const who = ours.find((e) => e.request?.extendedName === 'WhoAmI' && !e.error)!;
  assert.equal(who.response!.responseValue, `dn:cn=alice,${suffix}`);
  assert.deepEqual(ours.find((e) => e.request?.operation === 'modifyRequest')!.request!.changes, ['replace mail']);
  const out = JSON.stringify(ours.map(createRedactor()));
  for (const pw of [ADMIN_PW, USER_PW, 'wrong-password']) assert.ok(!out.includes(pw), `${pw} leaked`);
  // userPassword travels in the add request as an attribute value, which the dissector never keeps;
  // before redaction the only copies are the bind requests' own `password`.
  const raw = JSON.stringify(ours.map((e) => ({ ...e, request: e.request && { ...e.request, password: undefined } })));
  assert.ok(!raw.includes(USER_PW));
});

test('LDAP Password Modify: the password slapd generated and answered with is in no entry, redacted or not', async () => {
  assert.ok(generatedPassword.length >= 6, 'ldappasswd printed the generated password');
  const modify = labEntries.find((e) => e.request?.extendedName === 'PasswordModify')!;
  assert.equal(modify.response!.resultName, 'success');
  assert.equal(modify.response!.responseValue, '[REDACTED]');
  const r = await runCli(['dissect', labCapture, '--no-redact']);
  assert.equal(r.code, 0, r.stderr);
  const bytes = Buffer.from(generatedPassword).toString('base64').slice(0, 8);
  assert.ok(!r.stdout.includes(generatedPassword) && !r.stdout.includes(bytes), 'the generated password reached the output');
});

test('LDAP probe and parser edges: other protocols refused, 1-byte segments, a gap ends the direction', () => {
  assert.equal(probeLdap(Buffer.from('GET / HTTP/1.1\r\n\r\n'), true), false);
  assert.equal(probeLdap(Buffer.from([0x30, 0x05, 0x02, 0x01, 0x03, 0x42, 0x00]), false), 'request');
  assert.equal(probeLdap(Buffer.from([0x30, 0x0c, 0x02, 0x01, 0x01, 0x61, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00]), false), 'response');
  const bind = Buffer.from('300c020101600702010304008000', 'hex');
  const resp = Buffer.from('300c02010161070a010004000400', 'hex');
  for (const piece of [1, 3]) {
    const records: CallRecord[] = [];
    const counters: Record<string, number> = {};
    const parser = ldap.createTcpParser!(makeContext(records, counters));
    for (let i = 0; i < bind.length; i += piece) parser.onData('c2s', bind.subarray(i, i + piece));
    for (let i = 0; i < resp.length; i += piece) parser.onData('s2c', resp.subarray(i, i + piece));
    parser.onData('c2s', Buffer.from('300c020102600702010304008000', 'hex'));
    parser.onGap('s2c', 5);
    parser.onEnd('eof');
    assert.deepEqual(records.map((r) => r.summary), ['bindRequest → success', 'bindRequest → unanswered']);
    assert.deepEqual(records[1].warnings, ['gap', 'unanswered']);
  }
});
