// Table-driven: Kubeshark queries (KFL1 and KFL2) over crafted entries, each
// expected count computed independently by a jq expression written beside it.
// Every query is also checked through the projection fast path (fields read
// from the raw line) against the full parse, entry by entry.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../helpers/paths.js';
import { compileFilter } from '../../src/filter/index.js';
import type { Entry } from '../../src/model/entry.js';

const FIXTURE = join(repoRoot, 'test', 'filter', 'fixtures', 'entries.ndjson');
const lines = readFileSync(FIXTURE, 'utf8').split('\n').filter(Boolean);
const entries = lines.map((l) => JSON.parse(l) as Entry);
/** KFL2's now() for the queries that use it: 30 minutes after the first entry. */
const NOW = 1_700_000_000_000 + 30 * 60_000;

interface Row {
  q: string;
  jq: string;
  dialect: 'kfl1' | 'kfl2';
  /** Force the dialect instead of letting auto-detection pick it (which is asserted otherwise). */
  force?: boolean;
}

const HTTPISH = '(.protocol=="http" or .protocol=="http2" or .protocol=="grpc")';

const rows: Row[] = [
  // ---- KFL1 (Kubeshark docs, blog posts, users' queries from the issue) ----
  { dialect: 'kfl1', q: 'http', jq: '.protocol=="http"' },
  { dialect: 'kfl1', q: 'dns', jq: '.protocol=="dns"' },
  { dialect: 'kfl1', q: 'redis', jq: '.protocol=="redis"' },
  { dialect: 'kfl1', q: '!dns and !error', jq: '.protocol!="dns" and (.error|not)' },
  {
    dialect: 'kfl1',
    q: '!dns and !error and request.path != "/health" and request.path != "/healthz"',
    jq: '.protocol!="dns" and (.error|not) and .request.path != null and .request.path != "/health" and .request.path != "/healthz"',
  },
  { dialect: 'kfl1', q: '!dns and !error and src.namespace == "bookinfo"', jq: '.protocol!="dns" and (.error|not) and .src.namespace=="bookinfo"' },
  { dialect: 'kfl1', q: 'redis and src.namespace == "guestbook"', jq: '.protocol=="redis" and .src.namespace=="guestbook"' },
  {
    dialect: 'kfl1',
    q: 'node.name == "i-028d42e8587e84db7" and dst.ip == "127.0.0.1" and dst.port == "8080"',
    jq: '.node.name=="i-028d42e8587e84db7" and .dst.ip=="127.0.0.1" and .dst.port==8080',
  },
  { dialect: 'kfl1', q: 'response.status == 404', jq: '.response.status == 404' },
  { dialect: 'kfl1', q: 'dns and response.rcode != 0', jq: '.protocol=="dns" and .response.rcode != null and .response.rcode != 0' },
  { dialect: 'kfl1', q: 'response.status == r"4.*"', jq: '.response.status != null and (.response.status|tostring|test("4.*"))' },
  { dialect: 'kfl1', q: 'request.path == r"/api/.*"', jq: '.request.path != null and (.request.path|test("/api/.*"))' },
  { dialect: 'kfl1', q: 'request.headers["user-agent"] == "curl/8.0"', jq: '.request.headers["user-agent"] == "curl/8.0"' },
  { dialect: 'kfl1', q: 'request.headers["User-Agent"].startsWith("Mozilla")', jq: '(.request.headers["user-agent"] // "") | startswith("Mozilla")' },
  { dialect: 'kfl1', q: 'request.path.endsWith("/orders")', jq: '(.request.path // "") | endswith("/orders")' },
  { dialect: 'kfl1', q: 'request.url.contains("token=")', jq: '(.request.url // "") | contains("token=")' },
  { dialect: 'kfl1', q: 'request.questions[0].name == "example.com"', jq: '.request.questions[0].name? == "example.com"' },
  { dialect: 'kfl1', q: 'response.status >= 500', jq: '.response.status != null and .response.status >= 500' },
  { dialect: 'kfl1', q: 'response.status >= 400 and response.status < 500', jq: '.response.status != null and .response.status >= 400 and .response.status < 500' },
  { dialect: 'kfl1', q: 'elapsedTime > 5', jq: '.elapsedTime > 5' },
  { dialect: 'kfl1', q: 'http or dns', jq: '.protocol=="http" or .protocol=="dns"' },
  { dialect: 'kfl1', q: 'grpc and response.grpcStatus != 0', jq: '.protocol=="grpc" and .response.grpcStatus != null and .response.grpcStatus != 0' },
  {
    dialect: 'kfl1',
    q: 'timestamp >= datetime("11/14/2023, 10:40:00.000 PM")',
    jq: '.timestamp >= ("2023-11-14T22:40:00Z"|fromdate*1000)',
  },
  { dialect: 'kfl1', q: 'not http and not dns', jq: '.protocol!="http" and .protocol!="dns"' },
  { dialect: 'kfl1', q: '(http or http2) and response.status == 200', jq: '(.protocol=="http" or .protocol=="http2") and .response.status == 200' },
  { dialect: 'kfl1', q: 'dst.port == 8080 and src.port > 40030', jq: '.dst.port == 8080 and .src.port > 40030' },
  { dialect: 'kfl1', q: 'len(request.path) > 8', jq: '.request.path != null and (.request.path|length) > 8' },
  { dialect: 'kfl1', q: 'response.body.json().ok == false', jq: '.response.body != null and (.response.body|fromjson|.ok) == false' },
  { dialect: 'kfl1', q: 'error', jq: '.error' },
  { dialect: 'kfl1', q: 'redis and request.key.startsWith("session:")', jq: '.protocol=="redis" and (.request.key|startswith("session:"))' },
  { dialect: 'kfl1', q: 'postgresql and response.errorCode == "42P01"', jq: '.protocol=="postgresql" and .response.errorCode == "42P01"' },
  { dialect: 'kfl1', q: 'src.labels.app == "checkout"', jq: '.src.labels.app == "checkout"' },
  { dialect: 'kfl1', q: 'request.method == "POST" and response.status == 201', jq: '.request.method == "POST" and .response.status == 201' },
  { dialect: 'kfl1', q: 'kafka and request.clientId.contains("producer")', jq: '.protocol=="kafka" and (.request.clientId|contains("producer"))' },
  { dialect: 'kfl1', q: 'tls and request.sni.endsWith(".svc.cluster.local")', jq: '.protocol=="tls" and (.request.sni|endswith(".svc.cluster.local"))' },
  { dialect: 'kfl1', q: 'summary == r"→ 5\\d\\d"', jq: '.summary|test("→ 5\\\\d\\\\d")' },
  // and/or share one level and group from the right: http and (200 or 404).
  { dialect: 'kfl1', q: 'http and response.status == 200 or response.status == 404', jq: '.protocol=="http" and (.response.status == 200 or .response.status == 404)' },
  { dialect: 'kfl1', q: 'response.status == 404 or dns', jq: '.response.status == 404 or .protocol=="dns"' },
  { dialect: 'kfl1', q: '!(response.status == 200)', jq: '.response.status != null and .response.status != 200' },
  { dialect: 'kfl1', q: 'src.namespace == "" and dst.name == ""', jq: '.src.namespace == "" and .dst.name == ""' },

  // ---- KFL2 (CEL) ----
  {
    dialect: 'kfl2',
    q: 'http && status_code >= 500 && path.contains("/api")',
    jq: '.protocol=="http" and (.response.status // 0) >= 500 and ((.request.path // "") | contains("/api"))',
  },
  { dialect: 'kfl2', q: 'http && status_code >= 400', jq: '.protocol=="http" and (.response.status // 0) >= 400' },
  { dialect: 'kfl2', q: 'dst.pod.namespace == "production" && elapsed_time > 5000', jq: '.dst.pod != "" and .dst.namespace == "production" and .elapsedTime * 1000 > 5000' },
  { dialect: 'kfl2', q: 'dns && "example.com" in dns_questions', jq: '.protocol=="dns" and ([.request.questions[]?.name] | index("example.com") != null)' },
  { dialect: 'kfl2', q: 'grpc && grpc_status != 0', jq: '.protocol=="grpc" and ((.response.grpcStatus // -1) != 0)' },
  { dialect: 'kfl2', q: 'redis && redis_key.startsWith("session:")', jq: '.protocol=="redis" and (.request.key|startswith("session:"))' },
  { dialect: 'kfl2', q: 'timestamp > timestamp("2023-11-14T23:00:00Z")', jq: '.timestamp > ("2023-11-14T23:00:00Z"|fromdate*1000)' },
  { dialect: 'kfl2', q: 'timestamp > now() - duration("5m")', jq: `.timestamp > ${NOW - 5 * 60_000}` },
  {
    dialect: 'kfl2',
    q: 'postgresql && !postgresql_success',
    jq: '.protocol=="postgresql" and ((.response != null and (.error|not) and .response.errorCode == null) | not)',
  },
  { dialect: 'kfl2', q: 'map_get(local_labels, "app", "") == "checkout"', jq: '(.src.labels.app // "") == "checkout"' },
  { dialect: 'kfl2', q: 'method == "POST" && status_code == 201', jq: `${HTTPISH} and .request.method == "POST" and .response.status == 201` },
  { dialect: 'kfl2', q: 'status_code >= 400 && status_code < 500 && !http2', jq: `${HTTPISH} and (.response.status // 0) >= 400 and (.response.status // 0) < 500 and .protocol != "http2"` },
  { dialect: 'kfl2', q: 'size(dns_answers) > 0', jq: '.protocol=="dns" and ((.response.answers // []) | length) > 0' },
  // CEL's macros (cel-macros.ts): over lists their items, over maps their keys; a loop variable shadows a variable's name.
  { dialect: 'kfl2', q: 'dns_questions.exists(q, q.endsWith(".local"))', jq: '.protocol=="dns" and ([.request.questions[]?.name] | any(endswith(".local")))' },
  { dialect: 'kfl2', q: 'dns && dns_answers.all(a, a.contains(":"))', jq: '.protocol=="dns" and ([.response.answers[]?.data] | all(contains(":")))' },
  { dialect: 'kfl2', q: 'response.answers.exists_one(a, a.type == "A")', jq: '[.response.answers[]? | select(.type=="A")] | length == 1' },
  { dialect: 'kfl2', q: 'size(dns_questions.filter(path, path.contains("bookinfo"))) > 0', jq: '.protocol=="dns" and ([.request.questions[]?.name | select(contains("bookinfo"))] | length > 0)' },
  { dialect: 'kfl2', q: 'dns_answers.map(a, a.size()).exists(n, n > 8)', jq: '.protocol=="dns" and ([.response.answers[]?.data | length] | any(. > 8))' },
  { dialect: 'kfl2', q: 'request.headers.exists(h, h.startsWith("x-"))', jq: '(.request.headers // {}) | keys | any(startswith("x-"))' },
  { dialect: 'kfl2', q: 'http && !request.headers.all(h, h != "x-api-key")', jq: '.protocol=="http" and ((.request.headers // {}) | has("x-api-key"))' },
  { dialect: 'kfl2', q: 'dns && "AAAA" in dns_question_types', jq: '.protocol=="dns" and ([.request.questions[]?.type] | index("AAAA") != null)' },
  { dialect: 'kfl2', q: 'src.namespace in ["bookinfo", "guestbook"]', jq: '.src.namespace == "bookinfo" or .src.namespace == "guestbook"' },
  { dialect: 'kfl2', q: 'request.headers["User-Agent"].matches("^curl/")', jq: '(.request.headers["user-agent"] // "") | test("^curl/")' },
  { dialect: 'kfl2', q: 'http ? status_code == 200 : dns', jq: 'if .protocol=="http" then (.response.status // 0) == 200 else .protocol=="dns" end' },
  { dialect: 'kfl2', q: 'node_name == "i-0abc"', jq: '(.node.name // "") == "i-0abc"' },
  { dialect: 'kfl2', q: '"production" in namespaces', jq: '.src.namespace == "production" or .dst.namespace == "production"' },
  { dialect: 'kfl2', q: 'query_string != ""', jq: `${HTTPISH} and ((.request.url // .request.path // "") | contains("?"))` },
  { dialect: 'kfl2', q: 'kafka_api_key_name == "Produce" || amqp_method == "basic.publish"', jq: '(.protocol=="kafka" and .request.apiKeyName=="Produce") or (.protocol=="amqp" and .request.method=="basic.publish")' },
  { dialect: 'kfl2', q: 'mysql && mysql_error_code == 1146', jq: '.protocol=="mysql" and .response.errorCode == 1146' },
  { dialect: 'kfl2', q: 'error && !(http || http2)', jq: '.error and .protocol != "http" and .protocol != "http2"' },
  { dialect: 'kfl2', q: 'src.port % 2 == 0 && !tcp', jq: '.src.port % 2 == 0 and .protocol != "tcp"' },
  // Kubeshark: grpc_method is the method's name alone (the last segment of the path), redis_command the whole command line.
  { dialect: 'kfl2', q: 'grpc_method == "Get"', jq: '.protocol=="grpc" and .request.path == "/bookinfo.Ratings/Get"' },
  { dialect: 'kfl2', q: 'grpc && path == "/bookinfo.Ratings/Get"', jq: '.protocol=="grpc" and .request.path == "/bookinfo.Ratings/Get"' },
  { dialect: 'kfl2', q: 'redis_command == "GET session:1"', jq: '.protocol=="redis" and .request.command == "GET" and .request.args == ["session:1"]' },
  { dialect: 'kfl2', q: 'redis_command.startsWith("SET session")', jq: '.protocol=="redis" and .request.command == "SET" and (.request.args[0] | startswith("session"))' },
  { dialect: 'kfl2', q: 'response.status == 404', jq: '.response.status == 404', force: true },
  { dialect: 'kfl2', q: 'size(path) > 8 && method != "GET"', jq: `${HTTPISH} and ((.request.path // "") | length) > 8 and .request.method != "GET"` },
  { dialect: 'kfl2', q: 'dst.port == 8080 && src.ip.startsWith("10.1.0.")', jq: '.dst.port == 8080 and (.src.ip|startswith("10.1.0."))' },
  // Kubeshark's examples written alone: paths through an endpoint's pod or service exist only in KFL2.
  { dialect: 'kfl2', q: 'dst.pod.namespace == "production"', jq: '.dst.pod != "" and .dst.namespace == "production"' },
  { dialect: 'kfl2', q: '!(src.pod.namespace == "kube-system")', jq: '(.src.pod != "" and .src.namespace == "kube-system") | not' },
  { dialect: 'kfl2', q: 'src.pod.name.startsWith("client-1")', jq: '.src.pod | startswith("client-1")' },
  { dialect: 'kfl2', q: 'dst.service.name == "svc"', jq: '.dst.service == "svc"' },
  // Kubeshark: redis_type is the command verb; a DNS status_code is its rcode.
  { dialect: 'kfl2', q: 'redis && redis_type == "GET"', jq: '.protocol=="redis" and .request.command == "GET"' },
  // Kubeshark's per-protocol sizes, request/response flags and summaries.
  { dialect: 'kfl2', q: 'redis && redis_response_size > 237', jq: '.protocol=="redis" and .responseSize > 237' },
  { dialect: 'kfl2', q: 'redis_total_size >= 375', jq: '.protocol=="redis" and .requestSize + .responseSize >= 375' },
  { dialect: 'kfl2', q: 'kafka && kafka_response', jq: '.protocol=="kafka" and .response != null' },
  { dialect: 'kfl2', q: 'amqp_request && !amqp_response', jq: '.protocol=="amqp" and .request != null and .response == null' },
  { dialect: 'kfl2', q: 'grpc_status != 0', jq: '.protocol=="grpc" and ((.response.grpcStatus // -1) != 0)' },
  { dialect: 'kfl2', q: 'http && "X-Api-Key" in request.headers', jq: '.protocol=="http" and (.request.headers | has("x-api-key"))' },
  { dialect: 'kfl2', q: 'dns && dns_response && status_code != 0', jq: '.protocol=="dns" and .response != null and (.response.rcode // 0) != 0' },
];

function jqCount(expr: string): number {
  const r = spawnSync('jq', ['-c', `select(${expr})`, FIXTURE], { encoding: 'utf8' });
  assert.equal(r.status, 0, `jq failed for ${expr}: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean).length;
}

test('at least 40 queries, both dialects', () => {
  assert.ok(rows.length >= 40, `${rows.length} rows`);
  assert.ok(rows.filter((r) => r.dialect === 'kfl1').length >= 20);
  assert.ok(rows.filter((r) => r.dialect === 'kfl2').length >= 20);
});

for (const row of rows) {
  test(`${row.dialect}: ${row.q}`, () => {
    const f = compileFilter(row.q, { dialect: row.force ? row.dialect : 'auto', now: NOW });
    assert.equal(f.dialect, row.dialect, 'dialect detected');
    const got = entries.filter((e) => f.predicate(e)).length;
    const want = jqCount(row.jq);
    assert.equal(got, want, `matches for ${row.q} (jq: ${row.jq})`);
    // The projection path must agree with the full parse on every line.
    if (f.project) {
      lines.forEach((line, i) => {
        const p = f.project!(line);
        assert.ok(p !== undefined, `projection of line ${i + 1}`);
        assert.equal(f.predicate(p), f.predicate(entries[i]), `projection differs on line ${i + 1}`);
        // The same on the line's bytes read as latin1, as shark filter reads files.
        const b = f.projectBinary!(Buffer.from(line, 'utf8').toString('latin1'));
        assert.ok(b !== undefined);
        assert.equal(f.predicate(b), f.predicate(entries[i]), `binary projection differs on line ${i + 1}`);
      });
    }
  });
}

test('the table is not trivially satisfied: some queries match none, some match many', () => {
  const counts = rows.map((r) => entries.filter((e) => compileFilter(r.q, { dialect: r.dialect, now: NOW }).predicate(e)).length);
  assert.ok(counts.filter((c) => c > 0).length >= rows.length - 3, `counts ${counts}`);
  assert.ok(counts.some((c) => c < entries.length / 4) && counts.some((c) => c > entries.length / 2));
});

test('projection agrees with JSON.parse on re-spaced lines and escaped keys/values', () => {
  const variants = (line: string): string[] => {
    const spaced = JSON.stringify(JSON.parse(line), null, '\t').replace(/\n/g, ' ');
    // Escapes JSON.parse undoes: a key spelled with \u escapes, a value with an escaped slash.
    const escaped = line.replace('"protocol"', '"\\u0070rotocol"').replace(/"path":"\//, '"path":"\\/');
    return [spaced, escaped, ` ${line}\t`];
  };
  const queries = ['summary.contains("→ 5")', 'summary == r"→ 404"', 'http and response.status >= 400', 'request.path == r"^/api"', 'http && status_code >= 400', 'dns && "example.com" in dns_questions', 'request.headers["User-Agent"].startsWith("Mozilla")'];
  for (const q of queries) {
    const f = compileFilter(q);
    assert.ok(f.project, q);
    lines.forEach((line, i) => {
      for (const v of variants(line)) {
        const p = f.project!(v);
        assert.ok(p !== undefined, `${q}: projection of ${v.slice(0, 60)}`);
        assert.equal(f.predicate(p), f.predicate(JSON.parse(v)), `${q} differs on line ${i + 1} variant ${v.slice(0, 80)}`);
        assert.equal(f.predicate(JSON.parse(v)), f.predicate(entries[i]));
        const b = f.projectBinary!(Buffer.from(v, 'utf8').toString('latin1'));
        assert.ok(b !== undefined);
        assert.equal(f.predicate(b), f.predicate(entries[i]), `${q}: binary differs on line ${i + 1}`);
      }
    });
  }
  // Lines the scanner cannot walk are left to JSON.parse.
  const f = compileFilter('http');
  for (const bad of ['{"protocol":"http"', '{"protocol":"http",}x', '[1]', 'nope', '{"a":"unterminated}']) assert.equal(f.project!(bad), undefined, bad);
});

test('projection stops once every wanted field is read, and still agrees with JSON.parse', async () => {
  const { makeProjector, WHOLE } = await import('../../src/filter/projection.js');
  // protocol, response.status: both read long before the line ends.
  const tree = new Map<string, any>([
    ['protocol', WHOLE],
    ['response', new Map([['status', WHOLE]])],
  ]);
  const project = makeProjector(tree);
  const tail = ',"headers":{"a":"}{][","b":["x",{"c":"\\"}"}]},"body":"{\\"status\\":1}"},"error":false,"summary":"x"}';
  const cases = [
    `{"protocol":"http","response":{"status":503${tail}`,
    // The wanted nested field last in its object, more wanted fields after it at the top.
    `{"response":{"bodySize":1,"status":404},"protocol":"http","x":[1,{"y":"]"}]}`,
    // A wanted field missing: the whole line is scanned.
    `{"protocol":"dns","response":{"rcode":0}}`,
  ];
  for (const line of cases) {
    const full = JSON.parse(line);
    const p = project(line) as any;
    assert.ok(p, line);
    assert.equal(p.protocol, full.protocol);
    assert.equal(p.response?.status, full.response?.status);
  }
  // A line cut short after the wanted fields is not taken for whole.
  assert.equal(project(`{"protocol":"http","response":{"status":503,"headers":{"a":"b"`), undefined);
  // A nested object whose rest is skipped must still be found to end where it does.
  assert.equal((project(`{"response":{"status":1,"h":{"}":"{"}},"protocol":"http"}`) as any)?.protocol, 'http');
});

test('a key given twice counts as JSON.parse counts it (the last), wherever the scan would have stopped', () => {
  // A crafted line must not be `dns` to the filter and `http` to JSON.parse, jq and every reader after it.
  const lines = [
    '{"protocol":"dns","protocol":"http","response":{"status":500}}',
    '{"protocol":"http","response":{"status":500},"protocol":"dns"}',
    '{"protocol":"http","response":{"status":200},"response":{"status":500}}',
    '{"protocol":"http","response":{"status":200,"status":500}}',
    '{"protocol":"http","response":{"status":500,"h":{"status":1},"status":200}}',
    '{"protocol":"dns","x":"\\"protocol\\"","\\u0070rotocol":"http","response":{"status":500}}',
    '{"protocol":"redis","frames":{"protocol":"http"},"summary":"protocol"}',
    '{"response":{"status":500},"protocol":"http","summary":"\\"response\\"","frames":{"response":8}}',
    '{"request":{"path":"/a"},"protocol":"http","request":{"path":"/b"}}',
    '{"request":{"headers":{"Host":"a"}},"protocol":"http","request":{"headers":{"host":"b"}}}',
  ];
  const queries = ['dns', 'http', '!dns', 'http and response.status >= 500', 'response.status == 200', 'http && status_code == 500', 'request.path == "/b"', 'request.headers["host"] == "b"', 'redis or http'];
  let decided = 0;
  for (const q of queries) {
    const f = compileFilter(q);
    assert.ok(f.project, q);
    for (const line of lines) {
      const want = f.predicate(JSON.parse(line));
      for (const p of [f.project!(line), f.projectBinary!(Buffer.from(line, 'utf8').toString('latin1'))]) {
        assert.ok(p !== undefined, `${q}: ${line}`);
        assert.equal(f.predicate(p), want, `${q} on ${line}`);
      }
      if (want) decided++;
    }
  }
  assert.ok(decided > 10, `not trivially false: ${decided}`);
});

test('--count counts only whole lines: a matching line cut short is reported and skipped, not counted', async () => {
  const { runFilter } = await import('../../src/filter/run.js');
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const { Writable } = await import('node:stream');
  const dir = mkdtempSync(join(tmpdir(), 'shark-count-'));
  try {
    const file = join(dir, 'e.ndjson');
    // Line 2 stops right after a '}' (looks closed at a glance); line 3 is not JSON at all.
    writeFileSync(file, '{"protocol":"http","response":{"status":500},"x":1}\n{"protocol":"http","response":{"status":503}\nnot json\n');
    const warnings: string[] = [];
    let out = '';
    const stdout = new Writable({ write: (c, _e, cb) => ((out += String(c)), cb()) });
    const r = await runFilter({ inputs: [file], expr: 'http and response.status >= 500', count: true, stdout, onWarning: (m) => warnings.push(m) });
    assert.equal(r.matched, 1);
    assert.equal(out.trim(), '1');
    assert.equal(warnings.length, 2, warnings.join('\n'));
    assert.match(warnings[0], /line 2: not JSON/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Kubeshark database variables read what the PostgreSQL, MySQL and MongoDB dissectors write; grpc_method against a path is told', () => {
  const pg = (request: Record<string, unknown>, response: Record<string, unknown> | null, error = false) => ({ protocol: 'postgresql', request, response, error }) as unknown as Entry;
  const select = pg({ type: 'query', query: 'select 1 as n, now()', user: 'app', database: 'shop' }, { commandTag: 'SELECT 1', rows: 1 });
  const failed = pg({ type: 'query', query: '  insert into no_such_table values (1)', user: 'app', database: 'shop' }, { errorCode: '42P01', errorMessage: 'relation "no_such_table" does not exist' }, true);
  const match = (q: string, e: Entry) => compileFilter(q).predicate(e);
  assert.equal(match('postgresql_command == "SELECT" && postgresql_success && postgresql_user == "app" && postgresql_database == "shop"', select), true);
  assert.equal(match('postgresql_command == "INSERT" && !postgresql_success && postgresql_error_message.contains("no_such_table")', failed), true);
  assert.equal(match('postgresql_command == "SELECT"', failed), false);
  const my = { protocol: 'mysql', request: { command: 'query', query: 'SELECT 1', database: 'orders' }, response: { errorCode: 1146, errorMessage: "Table 'orders.x' doesn't exist" }, error: true } as unknown as Entry;
  assert.equal(match('mysql_command == "query" && mysql_database == "orders" && mysql_error_message.startsWith("Table") && !mysql_success', my), true);
  const mongo = (response: Record<string, unknown>, error = false) => ({ protocol: 'mongodb', request: { command: 'find', collection: 'users' }, response, error }) as unknown as Entry;
  assert.equal(match('mongodb_success && mongodb_error_code == 0', mongo({ ok: 1 })), true);
  assert.equal(match('!mongodb_success && mongodb_error_code == 13 && mongodb_error_code_name == "Unauthorized" && mongodb_error_message != ""', mongo({ ok: 0, code: 13, codeName: 'Unauthorized', errmsg: 'not authorized' }, true)), true);
  // Another protocol's entry: each its type's default.
  assert.equal(match('postgresql_command == "" && !mongodb_success && mysql_statement_id == 0', { protocol: 'http' } as unknown as Entry), true);
  const warnings: string[] = [];
  compileFilter('grpc && grpc_method == "/bookinfo.Ratings/Get"', { onWarning: (w) => warnings.push(w) });
  assert.deepEqual(warnings, [`grpc_method is the method's name alone, as in Kubeshark ("Get"); the whole path is path == "/bookinfo.Ratings/Get"`]);
});
