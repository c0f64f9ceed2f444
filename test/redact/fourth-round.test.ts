// Shapes the fourth secrets round closed (docs/security.md, known gaps of the third): a SignalR
// completion in a message of its own, Vault KV version 1 reads, a Redis or memcached value stored under
// a key that ends in a secret's name, `{"key": …, "val": …}` and `{"k": …, "v": …}` pairs, Grafana's
// secureJsonData (`httpHeaderValue1`) in JSON and YAML, and a PostgreSQL function of the application's
// own (`SELECT create_app_user($1, $2)`). Each with what must stay readable beside it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRedactor, REDACTED } from '../../src/redact/entry.js';
import type { Entry } from '../../src/model/entry.js';
import { httpEntry } from './http-entry.js';

function entry(protocol: string, request: Record<string, any>, response: Record<string, any> | null = null, summary = ''): Entry {
  return { ...httpEntry({}), protocol, request, response, summary };
}

test('{key, val} and {k, v} pairs and Grafana secureJsonData lose their secrets in JSON and YAML; other pairs and jsonData stay', () => {
  const redact = createRedactor();
  const body = (b: string, contentType = 'application/json') => redact(httpEntry({ body: b, headers: { 'content-type': contentType } })).request!.body;
  const pairs = { settings: [{ key: 'smtp_password', val: 'valSECRET1' }, { k: 'api_token', v: 'kSECRET2' }, { key: 'color', val: 'visible-val' }, { k: 'page', v: 'visible-v' }] };
  assert.deepEqual(JSON.parse(body(JSON.stringify(pairs))).settings, [{ key: 'smtp_password', val: REDACTED }, { k: 'api_token', v: REDACTED }, { key: 'color', val: 'visible-val' }, { k: 'page', v: 'visible-v' }]);
  const grafana = { jsonData: { httpHeaderName1: 'Authorization', tlsSkipVerify: true }, secureJsonData: { httpHeaderValue1: 'Bearer grafSECRET3', basicAuthPassword: 'grafSECRET4' } };
  assert.deepEqual(JSON.parse(body(JSON.stringify(grafana))), { jsonData: grafana.jsonData, secureJsonData: { httpHeaderValue1: REDACTED, basicAuthPassword: REDACTED } });
  const yaml = "datasources:\n  - name: visible-name\n    jsonData:\n      httpHeaderName1: 'Authorization'\n    secureJsonData:\n      httpHeaderValue1: 'Bearer grafSECRET5'\n      nested:\n        deep: grafSECRET6\n    editable: true\n";
  assert.equal(body(yaml, 'application/yaml'), yaml.replace("'Bearer grafSECRET5'", REDACTED).replace('grafSECRET6', REDACTED));
  // A mapping under a name Kubeshark lists for personal data, or any other, keeps its values.
  const kept = 'auth:\n  enabled: true\nservice:\n  port: 8080\n';
  assert.equal(body(kept, 'application/yaml'), kept);
});
