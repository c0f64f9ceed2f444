// The new dissectors behind the real engine and CLI: detection by content
// (non-standard ports, mid-connection starts), entries valid against
// docs/entry.schema.json, and the same calls the parser-level tests found.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { repoRoot, sharedCapture } from '../helpers/paths.js';
import { dissectFile } from '../helpers/dissect.js';
import { runCli } from '../helpers/cli.js';

const fixture = (name: string): string => join(repoRoot, 'test', 'fixtures', 'captures', name);
const schema = JSON.parse(readFileSync(join(repoRoot, 'docs', 'entry.schema.json'), 'utf8'));
const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);

const cases: Array<{ file: string; expect: Record<string, number> }> = [
  { file: fixture('lab-grpc.pcap'), expect: { grpc: 5 } },
  { file: fixture('lab-h2c.pcap'), expect: { http2: 2, graphql: 1 } },
  { file: fixture('lab-pgsql.pcap'), expect: { postgresql: 33 } },
  { file: fixture('lab-mysql.pcap'), expect: { mysql: 15 } },
  { file: fixture('lab-mysql-compressed.pcap'), expect: { mysql: 17 } }, // mariadb --compress
  { file: sharedCapture('ndpi-http2.pcapng'), expect: { http2: 1 } }, // port 29518, no handshake
  { file: sharedCapture('deepflow-grpc-service-name.pcap'), expect: { grpc: 1 } }, // port 38888
  // h2c via HTTP/1.1 Upgrade: the HTTP/1 dissector hands over to createHttp2ParserAfterUpgrade.
  { file: sharedCapture('suricata-http2-range.pcap'), expect: { http2: 3 } },
  { file: sharedCapture('ndpi-kafka.pcapng'), expect: { kafka: 17 } },
  { file: sharedCapture('deepflow-amqp1.pcap'), expect: { amqp: 18, tcp: 2 } }, // + two refused connections (RST)
  { file: sharedCapture('ndpi-amqp.pcap'), expect: { amqp: 36 } }, // starts mid-connection
];

for (const c of cases) {
  test(`engine: ${c.file.split('/').pop()} → ${JSON.stringify(c.expect)}`, async () => {
    const { entries, error } = await dissectFile(c.file);
    assert.equal(error, undefined);
    const counts: Record<string, number> = {};
    for (const e of entries) {
      counts[e.protocol] = (counts[e.protocol] ?? 0) + 1;
      assert.ok(validate(e), JSON.stringify(validate.errors));
      assert.ok(e.elapsedTime >= 0);
    }
    for (const [protocol, n] of Object.entries(c.expect)) assert.equal(counts[protocol], n, JSON.stringify(counts));
    // No stray fallback entries on connections a new dissector should own.
    assert.equal(counts.tcp ?? 0, c.expect.tcp ?? 0, JSON.stringify(counts));
  });
}

test('CLI: dissect --protocols grpc prints the gRPC calls as NDJSON', async () => {
  const r = await runCli(['dissect', '--protocols', 'grpc', fixture('lab-grpc.pcap')]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(
    lines.map((e) => `${e.request.service}/${e.request.method} ${e.response.grpcStatus}`),
    ['shark.Pets/Say 0', 'shark.Pets/List 0', 'shark.Pets/Find 5', 'shark.Pets/Upload 0', 'shark.Pets/Say 0'],
  );
  assert.equal(lines[2].error, true);
  assert.equal(lines[0].dst.port, 50051);
});
