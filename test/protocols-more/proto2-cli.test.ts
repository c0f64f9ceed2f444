// `shark stats`, `shark map` and `--list-protocols` show MongoDB, CQL, LDAP,
// RADIUS and Diameter (and SCTP-carried Diameter) from the shared captures:
// counts and errors as the dissector reported them. Needs `npm run build`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../helpers/cli.js';
import { sharedCapture } from '../helpers/paths.js';

const FILES = [
  'mongotools-op-compressed.pcap', 'cqltrace-cql-v3-simple.pcap', 'zeek-ldap-who-am-i.pcap',
  'zeek-radius-localhost.pcap', 'arkime-diameter-sctp-tcp.pcap',
].map(sharedCapture);

test('stats: one row per new protocol with its entries and errors', async () => {
  const r = await runCli(['stats', '--format', 'json', ...FILES]);
  assert.equal(r.code, 0, r.stderr);
  const rows = new Map((JSON.parse(r.stdout).rows as Array<{ name: string; entries: number; errors: number }>).map((x) => [x.name, x]));
  assert.deepEqual(
    ['mongodb', 'cql', 'ldap', 'radius', 'diameter'].map((p) => [p, rows.get(p)?.entries, rows.get(p)?.errors]),
    [['mongodb', 6, 0], ['cql', 36, 4], ['ldap', 3, 0], ['radius', 9, 3], ['diameter', 4, 0]],
  );
});

test('map: edges labelled with the new protocols; --list-protocols lists them with references', async () => {
  const r = await runCli(['map', ...FILES]);
  assert.equal(r.code, 0, r.stderr);
  for (const label of ['MONGODB', 'CQL', 'LDAP', 'RADIUS 9 req', 'DIAMETER']) assert.ok(r.stdout.includes(label), label);
  assert.match(r.stdout, /RADIUS 9 req[^"]*33% err/);
  const list = await runCli(['dissect', '--list-protocols']);
  for (const [name, ref] of [['mongodb', 'mongodb-wire-protocol'], ['cql', 'native_protocol'], ['ldap', 'RFC 4511'], ['radius', 'RFC 2865'], ['diameter', 'RFC 6733']]) {
    assert.match(list.stdout, new RegExp(`^${name}\\t.*${ref}`, 'm'));
  }
});
