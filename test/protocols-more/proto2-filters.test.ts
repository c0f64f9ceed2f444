// The KFL macros and KFL2 variables of MongoDB, CQL, LDAP, RADIUS and Diameter
// on entries dissected from the shared captures: each selects exactly the
// entries whose fields say so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileFilter } from '../../src/filter/index.js';
import type { Entry } from '../../src/model/entry.js';
import { sharedCapture } from '../helpers/paths.js';
import { dissectFile } from '../helpers/dissect.js';

const FILES = [
  'deepflow-mongo-scram-opmsg-checksum.pcap', 'cqltrace-cql-v3-simple.pcap', 'suricata-ldap-search.pcap',
  'zeek-radius-localhost.pcap', 'arkime-diameter-sctp-tcp.pcap',
];

test('KFL1 macros and KFL2 variables select the new protocols by their fields', async () => {
  const entries: Entry[] = [];
  for (const f of FILES) entries.push(...(await dissectFile(sharedCapture(f))).entries);
  const count = (q: string): number => entries.filter((e) => compileFilter(q).predicate(e)).length;
  const by = (p: (e: Entry) => boolean): number => entries.filter(p).length;
  for (const p of ['mongodb', 'cql', 'ldap', 'radius', 'diameter']) {
    assert.ok(count(p) > 0, p);
    assert.equal(count(p), by((e) => e.protocol === p), p);
  }
  assert.equal(count('cassandra'), count('cql'));
  assert.equal(count('sctp'), 0, 'entries over SCTP carry their protocol, not sctp');
  assert.equal(count('mongodb_code == 76'), 1);
  assert.equal(count('mongodb_command == "saslContinue" && mongodb_database == "admin"'), 2);
  assert.equal(count('cql_opcode == "EXECUTE" && cql_error_code == 9472'), 1);
  assert.equal(count('cql_query.startsWith("SELECT * FROM system.")'), by((e) => e.protocol === 'cql' && String(e.request?.query ?? '').startsWith('SELECT * FROM system.')));
  assert.equal(count('ldap_filter == "(&(objectClass=person)(uid=jdoe))" && ldap_result_code == 0 && ldap_dn == "dc=example,dc=com"'), 1);
  assert.equal(count('radius_response_code == "Access-Reject" && radius_user == "steve"'), 2);
  assert.equal(count('radius && error'), 3);
  assert.equal(count('diameter_command == "CCR" && diameter_result_code == 2001 && diameter_application == "3GPP Gx"'), 1);
  assert.equal(count('diameter and request.avps["Origin-Host"] == "mme.lte.operator.net"'), 1);
});
