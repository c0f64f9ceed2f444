// The types of an entry's fields, checked once where NDJSON entries are read,
// so no consumer (stats, map, filter, merge, record) meets a number where it
// expects an IP string, or an array where it expects an object. Entries are
// attacker input: a line of the wrong shape is reported (source:line, which
// field) and skipped, like a line that is not JSON.
//
// Only the types of fields that are present are checked (docs/entry.schema.json):
// a missing field is read as absent by every consumer, a field of the wrong
// type is what used to crash them. Works on whole entries and on the partial
// ones the byte projection (ndjson-projected.ts) yields: a consumer reading a
// few fields gets those few checked, with the same message.

type Kind = 'string' | 'number' | 'integer' | 'integer|null' | 'boolean' | 'object' | 'object|null' | 'array';
/** Field name → kind, without a prototype: a key "constructor" or "__proto__" in an entry finds nothing. */
type Kinds = Record<string, Kind | undefined>;

function kinds(table: Record<string, Kind>): Kinds {
  return Object.assign(Object.create(null) as Kinds, table);
}

const ENDPOINT = kinds({
  ip: 'string',
  port: 'integer',
  name: 'string',
  namespace: 'string',
  pod: 'string',
  service: 'string',
  node: 'string',
  workload: 'string',
  labels: 'object',
});

const TOP = kinds({
  id: 'string',
  timestamp: 'number',
  protocol: 'string',
  transport: 'string',
  elapsedTime: 'number',
  src: 'object',
  dst: 'object',
  request: 'object|null',
  response: 'object|null',
  error: 'boolean',
  requestSize: 'integer',
  responseSize: 'integer',
  summary: 'string',
  warnings: 'array',
  frames: 'object',
  node: 'object',
  tls: 'boolean',
  process: 'object',
  peerProcess: 'object',
  tapped: 'object',
  mesh: 'object',
});

/** Per protocol, the request/response fields the schema types (its allOf/if/then). */
const BY_PROTOCOL: Record<string, { request: Kinds; response: Kinds }> = {
  // status null: unknown (the response head was lost with a gap, or its status line is malformed).
  http: { request: kinds({ method: 'string', path: 'string', url: 'string', headers: 'object' }), response: kinds({ status: 'integer|null', headers: 'object' }) },
  // rcode: shark writes the number, entries from Kubeshark-style tools the name ("NOERROR"); both are read.
  dns: { request: kinds({ questions: 'array' }), response: kinds({ answers: 'array' }) },
  redis: { request: kinds({ command: 'string' }), response: kinds({ type: 'string' }) },
  mongodb: { request: kinds({ opCode: 'string' }), response: kinds({ opCode: 'string' }) },
  cql: { request: kinds({ opcode: 'string', streamId: 'integer' }), response: kinds({ opcode: 'string', streamId: 'integer' }) },
  ldap: { request: kinds({ operation: 'string', messageId: 'integer' }), response: kinds({ operation: 'string', messageId: 'integer' }) },
  radius: { request: kinds({ code: 'string', identifier: 'integer' }), response: kinds({ code: 'string', identifier: 'integer' }) },
  diameter: { request: kinds({ command: 'string', commandCode: 'integer' }), response: kinds({ command: 'string', commandCode: 'integer' }) },
};

const FRAMES = kinds({ request: 'integer', response: 'integer' });
const NODE = kinds({ name: 'string' });
const PROCESS = kinds({ pid: 'integer', comm: 'string', role: 'string', container: 'string', podUid: 'string', pod: 'string', namespace: 'string', node: 'string' });
const TAPPED = kinds({ pod: 'string', namespace: 'string', side: 'string' });
const MESH = kinds({ direction: 'string', innerElapsedTime: 'number', outerElapsedTime: 'number', outer: 'object', inner: 'object', linkedCalls: 'integer' });
const MESH_ENDS = kinds({ src: 'object', dst: 'object', sni: 'string' });
const ADDRESS = kinds({ ip: 'string', port: 'integer' });
const QUESTION = kinds({ name: 'string', type: 'string' });

/** What a JSON value is, in the words of the messages ("a number", "an array" …). */
function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (v === Infinity || v === -Infinity) return 'a number out of range (JSON.parse reads it as infinite)';
  if (typeof v === 'number') return Number.isInteger(v) ? 'a number' : 'a fraction';
  return `a ${typeof v}`;
}

function fits(v: unknown, kind: Kind): boolean {
  switch (kind) {
    case 'string':
      return typeof v === 'string';
    case 'number':
      // A time or a size of 1e309 is no measure: every sum and order made from it would be wrong.
      return typeof v === 'number' && Number.isFinite(v);
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'integer|null':
      return v === null || (typeof v === 'number' && Number.isInteger(v));
    case 'boolean':
      return typeof v === 'boolean';
    case 'object':
      return typeof v === 'object' && v !== null && !Array.isArray(v);
    case 'object|null':
      return v === null || (typeof v === 'object' && !Array.isArray(v));
    case 'array':
      return Array.isArray(v);
  }
}

const EXPECTED: Record<Kind, string> = {
  string: 'a string',
  number: 'a number',
  integer: 'an integer',
  'integer|null': 'an integer or null',
  boolean: 'true or false',
  object: 'an object',
  'object|null': 'an object or null',
  array: 'an array',
};

function checkFields(obj: Record<string, unknown>, kinds: Kinds, prefix: string): string | undefined {
  // Walk the object's own keys, not the table: a projected entry holds a few.
  for (const key in obj) {
    const kind = kinds[key];
    if (kind === undefined) continue;
    const v = obj[key];
    if (!fits(v, kind)) return `field ${prefix}${key} is ${describe(v)}, expected ${EXPECTED[kind]}`;
  }
  return undefined;
}

function checkEndpoint(ep: Record<string, unknown>, name: string): string | undefined {
  const bad = checkFields(ep, ENDPOINT, `${name}.`);
  if (bad) return bad;
  const labels = ep.labels as Record<string, unknown> | undefined;
  if (labels) {
    for (const k in labels) {
      if (typeof labels[k] !== 'string') return `field ${name}.labels.${k} is ${describe(labels[k])}, expected a string`;
    }
  }
  return undefined;
}

/**
 * Why `e` (a parsed JSON object) is not shaped like an entry, as "field src.ip
 * is a number, expected a string"; undefined when every present field has its type.
 */
export function entryShapeProblem(entry: object): string | undefined {
  const e = entry as Record<string, unknown>;
  const top = checkFields(e, TOP, '');
  if (top) return top;
  if (e.src !== undefined) {
    const bad = checkEndpoint(e.src as Record<string, unknown>, 'src');
    if (bad) return bad;
  }
  if (e.dst !== undefined) {
    const bad = checkEndpoint(e.dst as Record<string, unknown>, 'dst');
    if (bad) return bad;
  }
  if (e.warnings !== undefined) {
    const w = e.warnings as unknown[];
    for (let i = 0; i < w.length; i++) {
      if (typeof w[i] !== 'string') return `field warnings[${i}] is ${describe(w[i])}, expected a string`;
    }
  }
  if (e.frames !== undefined) {
    const bad = checkFields(e.frames as Record<string, unknown>, FRAMES, 'frames.');
    if (bad) return bad;
  }
  if (e.node !== undefined) {
    const bad = checkFields(e.node as Record<string, unknown>, NODE, 'node.');
    if (bad) return bad;
  }
  if (e.tapped !== undefined) {
    const bad = checkFields(e.tapped as Record<string, unknown>, TAPPED, 'tapped.');
    if (bad) return bad;
  }
  if (e.mesh !== undefined) {
    const mesh = e.mesh as Record<string, unknown>;
    const bad = checkFields(mesh, MESH, 'mesh.');
    if (bad) return bad;
    for (const side of ['outer', 'inner'] as const) {
      const ends = mesh[side] as Record<string, unknown> | undefined;
      if (ends === undefined) continue;
      const bad = checkFields(ends, MESH_ENDS, `mesh.${side}.`);
      if (bad) return bad;
      for (const end of ['src', 'dst'] as const) {
        const bad = ends[end] !== undefined && checkFields(ends[end] as Record<string, unknown>, ADDRESS, `mesh.${side}.${end}.`);
        if (bad) return bad;
      }
    }
  }
  for (const key of ['process', 'peerProcess'] as const) {
    if (e[key] === undefined) continue;
    const bad = checkFields(e[key] as Record<string, unknown>, PROCESS, `${key}.`);
    if (bad) return bad;
  }
  const proto = typeof e.protocol === 'string' && Object.hasOwn(BY_PROTOCOL, e.protocol) ? BY_PROTOCOL[e.protocol] : undefined;
  if (proto) {
    const req = e.request as Record<string, unknown> | null | undefined;
    const res = e.response as Record<string, unknown> | null | undefined;
    const bad = (req && checkFields(req, proto.request, 'request.')) || (res && checkFields(res, proto.response, 'response.'));
    if (bad) return bad;
    const questions = req?.questions as unknown[] | undefined;
    if (questions) {
      for (let i = 0; i < questions.length; i++) {
        const q = questions[i];
        if (!fits(q, 'object')) return `field request.questions[${i}] is ${describe(q)}, expected an object`;
        const bad = checkFields(q as Record<string, unknown>, QUESTION, `request.questions[${i}].`);
        if (bad) return bad;
      }
    }
  }
  return undefined;
}
