// Entries are attacker input: every field of docs/entry.schema.json, given
// every JSON type it must not have, is reported (source:line, which field) and
// skipped by every command that reads entries, never a crash (exit 70); with
// --strict it is exit 3. Property-based (fast-check): the field, the wrong
// value and the protocol are drawn; the runs are bounded so the file takes
// seconds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { repoRoot } from '../helpers/paths.js';
import { runCli } from '../helpers/cli.js';
import { readNdjson } from '../../src/ndjson/read.js';
import { readProjectedNdjson } from '../../src/ndjson/read-projected.js';
import { StatsAggregator, statsFields } from '../../src/stats/aggregate.js';
import { renderStats } from '../../src/stats/render.js';
import { BUILTIN_GROUPINGS } from '../../src/stats/group-by.js';
import { MAP_FIELDS, MAP_LEVELS, MapAggregator } from '../../src/map/graph.js';
import { renderDot } from '../../src/output/dot.js';
import { renderMermaid } from '../../src/output/mermaid.js';
import { parseEdgeLabel } from '../../src/map/labels.js';
import { compileFilter } from '../../src/filter/index.js';
import { RuleChecker } from '../../src/stats/check.js';
import { parseRules } from '../../src/stats/rules.js';
import type { Entry } from '../../src/model/entry.js';

type JsonType = 'string' | 'number' | 'integer' | 'boolean' | 'object' | 'array' | 'null';

interface SchemaField {
  /** Where the field is, e.g. ['src', 'ip'] or ['request', 'method']. */
  path: string[];
  /** The JSON types it may have. */
  types: JsonType[];
  /** Only for entries of this protocol (the schema's allOf/if/then). */
  protocol?: string;
}

/** Every typed field of the entry schema, read from the schema itself so a field added there is tested here. */
function schemaFields(): SchemaField[] {
  const schema = JSON.parse(readFileSync(join(repoRoot, 'docs', 'entry.schema.json'), 'utf8'));
  const typesOf = (p: { type?: string | string[]; enum?: unknown[]; $ref?: string }): JsonType[] =>
    p.type ? ([] as string[]).concat(p.type) as JsonType[] : p.enum ? ['string'] : p.$ref ? ['object'] : [];
  const out: SchemaField[] = [];
  const walk = (props: Record<string, any>, path: string[], protocol?: string): void => {
    for (const [name, p] of Object.entries(props)) {
      const types = typesOf(p);
      if (types.length > 0) out.push({ path: [...path, name], types, protocol });
      const inner = p.$ref ? schema.definitions[p.$ref.split('/').pop()].properties : p.properties;
      if (inner) walk(inner, [...path, name], protocol);
    }
  };
  walk(schema.properties, []);
  for (const rule of schema.allOf) {
    const protocol = rule.if?.properties?.protocol?.const;
    if (!protocol) continue;
    for (const side of ['request', 'response']) {
      const object = rule.then.properties[side]?.oneOf?.find((o: { type: string }) => o.type === 'object');
      // DNS rcode: shark writes the number, Kubeshark-style entries the name; both are read (entry-shape.ts).
      if (object?.properties) walk(object.properties, [side], protocol);
    }
  }
  return out.filter((f) => f.path.join('.') !== 'response.rcode');
}

const FIELDS = schemaFields();

function base(protocol: string, n: number): Entry {
  const ep = (ip: string, port: number) => ({ ip, port, name: 'n', namespace: 'ns', pod: 'p', service: 's', node: 'x', workload: 'w', labels: { app: 'a' } });
  // Every protocol-specific field the schema types, well typed (MongoDB, CQL, LDAP, RADIUS and Diameter too).
  const request: Record<string, unknown> = {
    method: 'GET', path: '/a', url: '/a', headers: {}, questions: [{ name: 'a.example', type: 'A' }], command: 'GET',
    opCode: 'OP_MSG', opcode: 'QUERY', streamId: 1, operation: 'searchRequest', messageId: 1, code: 'Access-Request', identifier: 1, commandCode: 272,
  };
  const response: Record<string, unknown> = {
    status: 200, headers: {}, rcode: 0, answers: [], type: 'bulk',
    opCode: 'OP_MSG', opcode: 'RESULT', streamId: 1, operation: 'searchResDone', messageId: 1, code: 'Access-Accept', identifier: 1, command: 'CCA', commandCode: 272,
  };
  return {
    id: `${n}-0`,
    timestamp: 1_700_000_000_000 + n,
    protocol,
    transport: protocol === 'dns' ? 'udp' : 'tcp',
    elapsedTime: 1,
    src: ep('198.18.0.1', 40000),
    dst: ep('198.18.0.2', 80),
    request,
    response,
    error: false,
    requestSize: 10,
    responseSize: 20,
    summary: 's',
    warnings: ['w'],
    frames: { request: 1, response: 2 },
    node: { name: 'x' },
    process: { pid: 1, comm: 'curl', role: 'client' },
    peerProcess: { pid: 2, comm: 'nginx', role: 'server' },
    tapped: { pod: 'p', namespace: 'ns', side: 'client' },
    mesh: {
      direction: 'inbound', innerElapsedTime: 1, outerElapsedTime: 2, linkedCalls: 1,
      outer: { src: { ip: '198.18.0.3', port: 40001 }, dst: { ip: '198.18.0.2', port: 15006 }, sni: 'a' },
      inner: { src: { ip: '127.0.0.1', port: 40002 }, dst: { ip: '127.0.0.1', port: 8080 } },
    },
  } as Entry;
}

function typeOf(v: unknown): JsonType {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v as JsonType;
}

/** Does a value of JSON type `t` fit a field allowed `types`? (An integer is a number.) */
function fits(t: JsonType, types: JsonType[]): boolean {
  return types.includes(t) || (t === 'integer' && types.includes('number'));
}

const anyJson = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.oneof(fc.integer(), fc.string({ maxLength: 4 }), fc.constant(null)), { maxLength: 3 }),
  fc.dictionary(fc.constantFrom('ip', 'port', 'name', 'a', '__proto__', 'constructor'), fc.oneof(fc.integer(), fc.string({ maxLength: 4 })), { maxKeys: 3 }),
);

interface BadLine {
  field: SchemaField;
  value: unknown;
  protocol: string;
}

/** A field of the schema and a value of a type it must not have. */
const badLine: fc.Arbitrary<BadLine> = fc
  .record({ field: fc.constantFrom(...FIELDS), value: anyJson, protocol: fc.constantFrom('http', 'dns', 'redis', 'grpc') })
  .filter(({ field, value }) => !fits(typeOf(value), field.types))
  .map((b) => ({ ...b, protocol: b.field.protocol ?? b.protocol }));

function lineOf(b: BadLine, n: number): string {
  const e = base(b.protocol, n) as unknown as Record<string, any>;
  let at = e;
  for (const k of b.field.path.slice(0, -1)) at = at[k];
  at[b.field.path.at(-1)!] = b.value;
  return JSON.stringify(e);
}

/** Lines: good ones (odd numbers) around bad ones (even numbers). */
function file(bad: BadLine[]): string {
  const lines: string[] = [];
  bad.forEach((b, i) => {
    lines.push(JSON.stringify(base(b.protocol, 2 * i)));
    lines.push(lineOf(b, 2 * i + 1));
  });
  return lines.join('\n') + '\n';
}

test('the schema gives the property test its fields (top level, endpoints, per protocol)', () => {
  const names = FIELDS.map((f) => f.path.join('.'));
  for (const n of ['id', 'timestamp', 'protocol', 'src.ip', 'dst.port', 'dst.labels', 'warnings', 'frames.request', 'node.name', 'request.path', 'request.questions', 'response.status']) {
    assert.ok(names.includes(n), n);
  }
});

test('in process: a wrong-typed field is reported with its line and field, never thrown, by every reader and consumer', async () => {
  const rules = await parseRules(
    'rules:\n  - {name: l, type: latency, path: /a, latency: 5}\n  - {name: e, type: error-rate, max: 2}\n  - {name: x, type: expect, filter: http, min: 1}\n  - {name: f, type: forbid, filter: dns}\n',
    'rules.yaml',
  );
  const filters = ['http', 'dns and response.rcode != 0', 'src.ip == "198.18.0.1" and request.path.startsWith("/")', 'status_code >= 200 && dst.port == 80'].map((f) => compileFilter(f));
  const labels = { parts: parseEdgeLabel('all'), paths: 3 };
  await fc.assert(
    fc.asyncProperty(badLine, async (b) => {
      const text = file([b]);
      const warnings: string[] = [];
      const whole: Entry[] = [];
      for await (const batch of readNdjson(Readable.from([Buffer.from(text)]), 'in.ndjson', { onBadLine: (m) => warnings.push(m) })) whole.push(...batch);
      assert.equal(whole.length, 1, 'the good line is read, the bad one skipped');
      assert.equal(warnings.length, 1);
      assert.ok(warnings[0].startsWith(`in.ndjson: line 2: field ${b.field.path.join('.')}`), warnings[0]);
      // The fast path of map and stats reads a few fields: a bad one among them gets the same report.
      for (const spec of [MAP_FIELDS, ...BUILTIN_GROUPINGS.map((g) => statsFields(g)!)]) {
        const seen: string[] = [];
        const slim: Entry[] = [];
        for await (const batch of readProjectedNdjson(Readable.from([Buffer.from(text)]), 'in.ndjson', spec, { onBadLine: (m) => seen.push(m) })) slim.push(...batch);
        assert.ok(seen.length === 0 || seen[0] === warnings[0], `${seen[0]} vs ${warnings[0]}`);
        for (const level of MAP_LEVELS) {
          const map = new MapAggregator(level);
          map.add(slim);
          renderDot(map.graph({ topPaths: 5 }), labels);
          renderMermaid(map.graph({ topPaths: 5 }), labels);
        }
      }
      for (const by of BUILTIN_GROUPINGS) {
        const stats = new StatsAggregator(by);
        await stats.addBatch(whole);
        renderStats(stats.snapshot(), { format: 'table' });
      }
      const checker = new RuleChecker(rules);
      checker.add(whole);
      checker.results();
      for (const f of filters) for (const e of whole) f.predicate(e);
    }),
    { numRuns: 120, seed: 22 },
  );
});

/** One per way of reading entries (whole, projected, raw lines) and per consumer; the in-process test covers the rest. */
const COMMANDS: string[][] = [
  ['stats', '--by', 'endpoint'],
  ['stats', '--check', 'RULES'],
  ['map', '--level', 'service', '--paths'],
  ['map', '--filter', 'http'],
  ['filter', 'http && status_code >= 200'],
  ['filter', '--jsonata', 'protocol = "http"'],
  ['merge'],
];

/** Commands that read entries through the byte projection (a few fields). */
const PROJECTED = new Set([COMMANDS[0], COMMANDS[2], COMMANDS[4]]);

/** `f` over `items`, two at a time (the machine has two cores). */
async function twoAtATime<T, R>(items: T[], f: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += 2) out.push(...(await Promise.all(items.slice(i, i + 2).map(f))));
  return out;
}

test('every entry-reading command: bad lines reported and skipped (exit 0), exit 3 with --strict, never exit 70', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'shark-entry-types-'));
  try {
    const rules = join(dir, 'rules.yaml');
    writeFileSync(rules, 'rules:\n  - {name: x, type: expect, filter: http, min: 0}\n');
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(badLine, { minLength: 20, maxLength: 40 }), async (bad) => {
        const path = join(dir, `e${run++}.ndjson`);
        writeFileSync(path, file(bad));
        const results = await twoAtATime(COMMANDS, async (cmd) => {
          const args = cmd.map((a) => (a === 'RULES' ? rules : a));
          return { cmd, r: await runCli([...args, path]), strict: cmd[0] === 'merge' ? undefined : await runCli([...args, '--strict', path]) };
        });
        for (const { cmd, r, strict } of results) {
          const what = `${cmd.join(' ')}: ${r.stderr}`;
          assert.doesNotMatch(r.stderr, /internal error/, what);
          // stats --check never passes on input it could not read whole.
          assert.equal(r.code, cmd.includes('--check') ? 3 : 0, what);
          const reported = r.stderr.split('\n').filter((l) => / line \d+: field /.test(l));
          const expected = bad.map((b, i) => `line ${2 * i + 2}: field ${b.field.path.join('.')}`);
          if (PROJECTED.has(cmd)) {
            // The fast path checks the fields it reads (the same report), no others.
            for (const l of reported) assert.ok(expected.some((x) => l.includes(`${x} is`)), `${l} (${what})`);
          } else {
            assert.equal(reported.length, bad.length, what);
            expected.forEach((x, i) => assert.ok(reported[i].includes(`${x} is`), `${reported[i]} (${what})`));
          }
          if (strict) {
            assert.doesNotMatch(strict.stderr, /internal error/, what);
            assert.equal(strict.code, reported.length > 0 ? 3 : 0, `${cmd.join(' ')} --strict: ${strict.stderr}`);
          }
        }
      }),
      { numRuns: 1, seed: 5, endOnFailure: true },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
