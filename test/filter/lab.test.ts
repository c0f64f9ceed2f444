// KFL over real traffic: the lab recording (nginx HTTP/1 and h2c, Redis,
// dnsmasq DNS, PostgreSQL, gRPC, TLS) dissected by shark, each count checked
// against jq on the same entries; and `filter` reading the pcap directly
// agrees with `dissect | filter`.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliBin, sharedCapture } from '../helpers/paths.js';
import { compileFilter } from '../../src/filter/index.js';
import type { Entry } from '../../src/model/entry.js';

const PCAP = sharedCapture('lab-bookinfo-mix.pcap');
let dir: string;
let ndjson = '';
let entries: Entry[] = [];
let skip: string | false = false;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'shark-filter-lab-'));
  if (!existsSync(PCAP)) {
    skip = 'lab capture missing';
    return;
  }
  const r = spawnSync(process.execPath, [cliBin, 'dissect', '--no-redact', PCAP], { encoding: 'utf8', maxBuffer: 1 << 28, timeout: 120_000 });
  if (r.status !== 0 || r.stdout.length === 0) {
    skip = `dissect unavailable: ${r.stderr.split('\n')[0]}`;
    return;
  }
  ndjson = join(dir, 'lab.ndjson');
  writeFileSync(ndjson, r.stdout);
  entries = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const rows: Array<{ q: string; jq: string }> = [
  { q: 'http', jq: '.protocol=="http"' },
  { q: '!dns and !error and request.path != "/health" and request.path != "/healthz"', jq: '.protocol!="dns" and (.error|not) and .request.path != null and .request.path != "/health" and .request.path != "/healthz"' },
  { q: 'response.status == 404', jq: '.response.status == 404' },
  { q: 'dns and response.rcode != 0', jq: '.protocol=="dns" and .response.rcode != null and .response.rcode != 0' },
  { q: 'redis and request.command == "SET"', jq: '.protocol=="redis" and .request.command == "SET"' },
  { q: 'response.status == r"5.*"', jq: '.response.status != null and (.response.status|tostring|test("5.*"))' },
  { q: 'request.headers["User-Agent"].startsWith("curl")', jq: '(.request.headers["user-agent"] // "") | startswith("curl")' },
  { q: 'http2 && status_code >= 500', jq: '.protocol=="http2" and (.response.status // 0) >= 500' },
  { q: 'http and response.status >= 400', jq: '.protocol=="http" and .response.status != null and .response.status >= 400' },
  { q: 'grpc && grpc_status != 0', jq: '.protocol=="grpc" and ((.response.grpcStatus // -1) != 0)' },
  { q: 'postgresql && !postgresql_success', jq: '.protocol=="postgresql" and ((.response != null and (.error|not) and .response.errorCode == null) | not)' },
  { q: 'dns && size(dns_answers) > 0', jq: '.protocol=="dns" and ((.response.answers // []) | length) > 0' },
  { q: 'tls && request.sni.endsWith(".svc.cluster.local")', jq: '.protocol=="tls" and ((.request.sni // "") | endswith(".svc.cluster.local"))' },
];

for (const row of rows) {
  test(`lab: ${row.q}`, (t) => {
    if (skip) return t.skip(skip);
    const f = compileFilter(row.q);
    const got = entries.filter((e) => f.predicate(e)).length;
    const r = spawnSync('jq', ['-c', `select(${row.jq})`, ndjson], { encoding: 'utf8', maxBuffer: 1 << 28 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(got, r.stdout.split('\n').filter(Boolean).length, row.jq);
  });
}

test('lab: the table is not vacuous', (t) => {
  if (skip) return t.skip(skip);
  const counts = rows.map((r) => entries.filter(compileFilter(r.q).predicate).length);
  assert.ok(counts.filter((c) => c > 0).length >= rows.length - 2, String(counts));
});

test('lab: filter on the pcap equals dissect | filter', (t) => {
  if (skip) return t.skip(skip);
  for (const q of ['status_code >= 500 && !grpc']) {
    const direct = spawnSync(process.execPath, [cliBin, 'filter', '--count', q, PCAP], { encoding: 'utf8', timeout: 120_000 });
    const piped = spawnSync(process.execPath, [cliBin, 'filter', '--count', q], { input: readFileSync(ndjson), encoding: 'utf8', timeout: 60_000 });
    assert.equal(direct.status, 0, direct.stderr);
    assert.equal(direct.stdout, piped.stdout, q);
    assert.ok(Number(direct.stdout) > 0, q);
  }
});
