// The byte-level projector (map/stats read NDJSON without JSON.parse) must
// give exactly what JSON.parse gives for the fields it keeps, decline every
// line JSON.parse rejects, and leave bad-line reports unchanged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { KeyTest, makeProjector, type FieldSpec } from '../../src/ndjson/project.js';
import { readNdjson } from '../../src/ndjson/read.js';
import { readProjectedNdjson } from '../../src/ndjson/read-projected.js';
import { MAP_FIELDS, MapAggregator, type MapLevel } from '../../src/map/graph.js';
import { StatsAggregator, statsFields } from '../../src/stats/aggregate.js';
import { BUILTIN_GROUPINGS } from '../../src/stats/group-by.js';
import type { Entry } from '../../src/model/entry.js';
import { mulberry32 } from '../helpers/random.js';

const fixture = new URL('../stats/fixtures/mixed.ndjson', import.meta.url).pathname;

/** What the projector should return: the spec's fields of JSON.parse's value. */
function pick(value: unknown, spec: FieldSpec | KeyTest): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const out: Record<string, unknown> = {};
  const obj = value as Record<string, unknown>;
  if (spec instanceof KeyTest) {
    for (const k of Object.keys(obj)) if (spec.test(k)) out[k] = obj[k];
    return out;
  }
  for (const [k, sub] of Object.entries(spec)) if (Object.hasOwn(obj, k)) out[k] = sub === true ? obj[k] : pick(obj[k], sub);
  return out;
}

const project = (spec: FieldSpec, line: string) => {
  const buf = Buffer.from(line + '\n');
  return makeProjector(spec)(buf, 0, buf.length - 1);
};

const ep = '{"ip":"10.0.0.1","port":80,"name":"a","namespace":"ns","pod":"p-1","service":"s","node":"n","workload":"w"}';
const GOOD = [
  `{"protocol":"http","src":${ep},"dst":${ep},"request":{"method":"GET","path":"/a?b=1","headers":{"host":"x:80"}},"response":{"status":200},"elapsedTime":1.5,"error":false,"requestSize":10,"responseSize":20}`,
  // Reversed order, whitespace and tabs between tokens.
  ` { "responseSize" : 2 ,\t"requestSize":1, "error" : true , "dst" : ${ep} , "src":${ep}, "protocol" : "dns" } `,
  // Escaped keys and values, raw and escaped non-ASCII, U+2028, surrogate pairs.
  `{"\\u0070rotocol":"h\\u0074tp","src":{"ip":"1.2.3.4","namespace":"n\\"s\\\\","pod":"pöd-ünï","workload":"\\ud83d\\ude00 \\/ \\b\\f\\n\\r\\t","service":"a\u2028b"},"dst":${ep}}`,
  // Numbers JSON.parse reads its own way: exponents, -0, long integers, fractions.
  `{"elapsedTime":1.5E-2,"requestSize":-0,"responseSize":123456789012345678,"src":{"port":1e3},"dst":{"port":0.0,"ip":"::1"},"timestamp":1700000000000.25}`,
  // Missing and odd endpoints: null names, a string, an array, null.
  `{"src":{"ip":"1.1.1.1","name":null,"workload":null,"pod":7},"dst":"just a string","protocol":null}`,
  `{"src":[1,{"ip":"x"}],"dst":null,"request":null,"response":0}`,
  // Duplicate keys: JSON.parse keeps the last value, whole (objects are not merged).
  `{"protocol":"a","protocol":"b","src":{"ip":"1.1.1.1","pod":"p"},"src":{"ip":"2.2.2.2"},"dst":{"ip":"x"},"dst":5}`,
  // Host header spellings, an array of headers, DNS questions and answers kept whole.
  `{"request":{"headers":{"HOST":"Upper:80","x":"y","host":"lower","\\u0048ost":"esc",":authority":"h2","hostx":"no"},"host":""}}`,
  `{"request":{"headers":[["host","arr"]],"sni":"sni.example"},"response":{"answers":[{"name":"a.","type":"A","data":"1.2.3.4"}]}}`,
  `{"protocol":"dns","request":{"questions":[{"name":"x.example","type":"AAAA"}]},"response":{"answers":[],"rcode":3,"rcodeName":"NXDOMAIN"}}`,
  // Unwanted values of every kind, nested, with escapes, are skipped.
  `{"frames":{"a":[1,[2,[3,{"b":[]}]],{}],"c":"\\"}\\\\"},"body":"{\\"id\\":0}","x":[true,false,null,-1.5e+3],"protocol":"redis","request":{"command":"get","args":["k"]}}`,
  `{"deep":${'['.repeat(20)}1${']'.repeat(20)},"protocol":"tcp"}`,
  '{}',
];
const BAD = [
  '{"protocol":"http"',
  '{"protocol":"http",}',
  '{"protocol" "http"}',
  '{"a":tru}',
  '{"a":nul}',
  '{"a":01}',
  '{"a":1.}',
  '{"a":.5}',
  '{"a":-}',
  '{"a":1e}',
  '{"a":+1}',
  '{"a":"x\u0001y"}',
  '{"a":"tab\there"}',
  '{"a":"\\q"}',
  '{"a":"\\u12G4"}',
  '{"a":[1,]}',
  '{"a":[1 2]}',
  '{"a":{"b":1,}}',
  '{"a":1} x',
  '{}{}',
  '{"a":"unterminated}',
  "{'a':1}",
  '[1,2]',
];

test('projector: tricky lines give exactly the fields of JSON.parse, without falling back', () => {
  const specs: FieldSpec[] = [MAP_FIELDS, ...BUILTIN_GROUPINGS.map((by) => statsFields(by)!)];
  for (const line of GOOD) {
    const parsed = JSON.parse(line) as unknown;
    for (const spec of specs) {
      const got = project(spec, line);
      assert.ok(got, `fast path declined a valid line: ${line}`);
      assert.deepStrictEqual(got, pick(parsed, spec), line);
    }
  }
});

test('projector: every line JSON.parse rejects is declined', () => {
  for (const line of BAD) {
    assert.throws(() => {
      const v = JSON.parse(line) as unknown;
      if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    }, `not bad: ${line}`);
    assert.equal(project(MAP_FIELDS, line), undefined, line);
  }
  // Nesting deeper than the skipper keeps: declined, so JSON.parse decides.
  assert.equal(project({ a: true }, `{"x":${'['.repeat(40)}${']'.repeat(40)}}`), undefined);
  // A range that ends before a byte JSON could continue with is scanned on its own.
  const buf = Buffer.from('{"a":1}}');
  assert.deepEqual(makeProjector({ a: true })(buf, 0, 7), { a: 1 });
});

/** Every line (good, bad, blank, CRLF) through both readers, fed in small random chunks. */
async function readBoth(text: string, seed: number, strict = false) {
  const r = mulberry32(seed);
  const bytes = Buffer.from(text);
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; ) {
    const n = 1 + Math.floor(r() * 60);
    chunks.push(bytes.subarray(i, i + n));
    i += n;
  }
  const run = async (projected: boolean) => {
    const warnings: string[] = [];
    const entries: unknown[] = [];
    const opts = { strict, onBadLine: (m: string) => warnings.push(m), maxLineBytes: 600 };
    const src = Readable.from(chunks);
    try {
      const it = projected ? readProjectedNdjson(src, 'in.ndjson', MAP_FIELDS, opts) : readNdjson(src, 'in.ndjson', opts);
      for await (const batch of it) for (const e of batch) entries.push(pick(e, MAP_FIELDS));
    } catch (err) {
      warnings.push(`thrown: ${(err as Error).message}`);
    }
    return { warnings, entries };
  };
  return { old: await run(false), fast: await run(true) };
}

test('readProjectedNdjson: same entries, same bad-line reports and numbers as readNdjson', async () => {
  const long = `{"protocol":"x","pad":"${'y'.repeat(500)}"}`;
  const lines = [...GOOD, '', '   ', '\u00a0', ...BAD, long, `${GOOD[0]}\r`, '\r', GOOD[1]];
  const text = lines.join('\n');
  for (const seed of [1, 2, 3]) {
    const { old, fast } = await readBoth(text, seed);
    assert.ok(old.warnings.length >= BAD.length + 1);
    assert.deepStrictEqual(fast, old);
    // Without a final newline, and with one.
    const withNl = await readBoth(text + '\n', seed);
    assert.deepStrictEqual(withNl.fast, withNl.old);
  }
  const strict = await readBoth(text, 4, true);
  // Line 5 (`"dst":"…"`, a string where an endpoint object belongs) is the first bad one: its type is checked too.
  assert.match(strict.fast.warnings.at(-1)!, /^thrown: .*field dst is a string, expected an object at line 5/);
  assert.deepStrictEqual(strict.fast, strict.old);
});

test('map and stats aggregate projected entries exactly as whole ones', async () => {
  const text = readFileSync(fixture, 'utf8');
  const whole = text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Entry);
  const fast: Entry[] = [];
  for await (const b of readProjectedNdjson(Readable.from([Buffer.from(text)]), 'f', MAP_FIELDS)) fast.push(...b);
  for (const level of ['pod', 'workload', 'service', 'namespace'] as MapLevel[]) {
    const a = new MapAggregator(level);
    const b = new MapAggregator(level);
    a.add(whole);
    b.add(fast);
    assert.ok(a.entries > 100);
    assert.deepStrictEqual(b.graph({ topPaths: 5 }), a.graph({ topPaths: 5 }));
  }
  for (const by of BUILTIN_GROUPINGS) {
    const slim: Entry[] = [];
    for await (const b of readProjectedNdjson(Readable.from([Buffer.from(text)]), 'f', statsFields(by)!)) slim.push(...b);
    const a = new StatsAggregator(by);
    const b = new StatsAggregator(by);
    await a.addBatch(whole);
    await b.addBatch(slim);
    assert.deepStrictEqual(b.snapshot(), a.snapshot(), by);
  }
  assert.equal(statsFields('request.method'), undefined, 'JSONata groupings read whole entries');
});

test('a line JSON.parse rejects is reported without the piece of it V8 quotes (a line may hold a secret)', async () => {
  const lines = ['{"a": Bearer-Zq1secret}', `{"b": "x", "token": Zq2secret${'S'.repeat(80)}}`, 'Zq3secret', '{"c":1', '{"d":1} tail'];
  const reports: string[] = [];
  for await (const _ of readNdjson(Readable.from([lines.join('\n')]), 'in.ndjson', { onBadLine: (m) => reports.push(m) }));
  assert.equal(reports.length, lines.length, reports.join('\n'));
  for (const r of reports) assert.doesNotMatch(r, /Zq\dsecret/, r);
  assert.match(reports[0], /^in\.ndjson: line 1: not JSON \(Unexpected token 'B'\); skipped$/);
  // Messages that quote nothing keep their position.
  assert.match(reports[3], /line 4: not JSON \(.* at position \d+\); skipped$/);
});
