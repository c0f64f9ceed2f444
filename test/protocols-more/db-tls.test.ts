// Databases that switch to TLS inside their own protocol
// (scripts/lab/record-tls-sessions.sh: Debian's PostgreSQL and MariaDB with
// certificates, python clients writing their key logs). PostgreSQL: the
// server's P-256 default makes the handshake go through a HelloRetryRequest.
// MariaDB: the login goes on inside TLS, mid-handshake. Without keys each
// session is a tls entry naming its server; with them the calls inside come
// out as their protocol's entries, as tshark decrypting the same file reads them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../helpers/paths.js';
import { runCli } from '../helpers/cli.js';

const fixture = (name: string): string => join(repoRoot, 'test', 'fixtures', 'captures', name);
const capture = fixture('lab-pgsql-tls.pcap');
const keys = fixture('lab-pgsql-tls.keys');
const entriesOf = (stdout: string) => stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));

test('PostgreSQL: the capture holds a HelloRetryRequest: two ClientHellos in one session', () => {
  const types = execFileSync('tshark', ['-r', capture, '-Y', 'tls.handshake.type == 1', '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  assert.equal(types.trim().split('\n').length, 2);
});

test('PostgreSQL without keys: the SSLRequest is accepted and the TLS session names its server', async () => {
  const r = await runCli(['dissect', capture]);
  assert.equal(r.code, 0, r.stderr);
  const entries = entriesOf(r.stdout);
  assert.deepEqual(entries.map((e) => e.summary), ['SSLRequest → accepted (encrypted)', 'TLS db.shark.test']);
  assert.equal(entries[1].request.sni, 'db.shark.test');
});

test('PostgreSQL with the key log: the queries inside TLS, with their outcomes, as tshark reads them; one worker or two', async () => {
  const r = await runCli(['dissect', '--tls-keylog', keys, capture]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /TLS: 1 session decrypted/);
  const inside = entriesOf(r.stdout).filter((e) => e.tls === true);
  assert.deepEqual(
    inside.map((e) => `${e.summary}${e.error ? ' (error)' : ''}`),
    [
      'startup user=postgres db=postgres → ready',
      'select 1 as one → SELECT 1',
      'select * from no_such_table → ERROR 42P01 (error)',
      'select $1::int + 1 → SELECT 1',
    ],
  );
  assert.ok(inside.every((e) => e.protocol === 'postgresql'));
  const tshark = execFileSync('tshark', ['-r', capture, '-o', `tls.keylog_file:${keys}`, '-Y', 'pgsql.query', '-T', 'fields', '-e', 'pgsql.query'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  assert.deepEqual(
    inside.slice(1).map((e) => e.request.query),
    tshark.trim().split('\n'),
  );
  const two = await runCli(['dissect', '--workers', '2', '--tls-keylog', keys, capture]);
  assert.equal(two.stdout, r.stdout);
});

test('MySQL without keys: the SSLRequest, then the TLS session naming its server', async () => {
  const r = await runCli(['dissect', fixture('lab-mysql-tls.pcap')]);
  assert.equal(r.code, 0, r.stderr);
  const entries = entriesOf(r.stdout);
  assert.deepEqual(entries.map((e) => e.summary), ['SSLRequest → TLS', 'TLS db.shark.test']);
  assert.equal(entries[0].request.ssl, true);
});

test('MySQL with the key log: the login goes on inside TLS, then the queries, as tshark reads them; one worker or two', async () => {
  const mysqlKeys = fixture('lab-mysql-tls.keys');
  const r = await runCli(['dissect', '--tls-keylog', mysqlKeys, fixture('lab-mysql-tls.pcap')]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /TLS: 1 session decrypted/);
  const inside = entriesOf(r.stdout).filter((e) => e.tls === true);
  assert.deepEqual(
    inside.map((e) => `${e.summary}${e.error ? ' (error)' : ''}`),
    ['login user=shark db=shark → OK', 'select 1 as one, "hello" as greeting → 1 rows', 'select * from no_such_table → ERR 1146 (42S02) (error)', 'COM_QUIT'],
  );
  assert.ok(inside.every((e) => e.protocol === 'mysql'));
  const tshark = execFileSync('tshark', ['-r', fixture('lab-mysql-tls.pcap'), '-o', `tls.keylog_file:${mysqlKeys}`, '-Y', 'mysql.query', '-T', 'fields', '-e', 'mysql.query'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  assert.deepEqual(inside.slice(1, 3).map((e) => e.request.query), tshark.trim().split('\n'));
  const two = await runCli(['dissect', '--workers', '2', '--tls-keylog', mysqlKeys, fixture('lab-mysql-tls.pcap')]);
  assert.equal(two.stdout, r.stdout);
});
