// The API catalogue: entries streamed into one record per (service,
// endpoint). An endpoint is what a call asks for, with its values folded:
// `GET /details/{id}`, `helloworld.Greeter/SayHello`, `query GetBooks`,
// `GET session:{id}`, `SELECT * FROM t WHERE id = ?`, `Produce orders`.
// Memory grows with the number of distinct endpoints (capped at
// maxEndpoints: later new ones are counted into the service's `(other)`
// row, and the count is reported), never with the number of calls: latencies
// go into log-bucket sketches, samples for significance tests into bounded
// reservoirs, bodies into inferred schemas.

import { callLatency, isOneWay, type Entry } from '../model/entry.js';
import { LatencySketch } from '../stats/latency-sketch.js';
import { NameBook, k8sName, NAME_FIELDS, K8S_NAME_FIELDS, type IpNames } from '../stats/names.js';
import { mergeSpecs, type FieldSpec } from '../ndjson/project.js';
import { VERB_SPEC, protocolOf, resolveKey, unresolved, verbOf } from '../stats/group-by.js';
import { PathTemplater, DEFAULT_FOLD_THRESHOLD, pathOnly, literalBraces, redisShape, sqlShape, keyShape, MAX_TEMPLATED_SEGMENTS } from './path-template.js';
import { LARGE_BODY, MAX_BODY_CHARS, MAX_DEPTH, SchemaNode, contentTypeOf, jsonBody, nestsWithin } from './schema-infer.js';
import { isDateTime } from '../output/iso-time.js';

export const DEFAULT_MAX_ENDPOINTS = 10_000;

/**
 * Every entry field a catalogue without details reads (callOf, statusOf,
 * EndpointStats.add, serviceKey, NameBook): NDJSON input is then read without
 * parsing headers and bodies. Keep in step with those functions.
 */
export const CATALOG_FIELDS: FieldSpec = mergeSpecs(NAME_FIELDS, {
  protocol: true,
  timestamp: true,
  elapsedTime: true,
  error: true,
  // Decrypted with --tls-keylog: OpenAPI's server URL is https.
  tls: true,
  dst: mergeSpecs(K8S_NAME_FIELDS, { ip: true, port: true, name: true }),
  // Enrichment from a recording's snapshot fills src as well as dst.
  src: { ip: true, port: true },
  request: {
    ...VERB_SPEC, httpMethod: true, path: true, graphql: true, service: true, args: true, key: true,
    query: true, topics: true, apiKeyName: true, apiKey: true, groupId: true, exchange: true, queue: true, routingKey: true,
    questions: true, sni: true,
  },
  response: { status: true, grpcStatus: true, grpcStatusName: true, rcode: true, rcodeName: true, type: true, value: true, errorCode: true, replyCode: true },
});
export const OTHER_ENDPOINT = '(other)';
/** The service of the one `(other)` row per protocol that takes calls once MAX_OTHER_ROWS are kept. */
export const OTHER_SERVICE = '(other)';
/**
 * `(other)` rows (one per service and protocol, past --max-endpoints) kept at
 * most: 400,000 entries to as many services made as many rows (each with its
 * latency sketch and samples), 2 GB and a 70 MB table.
 */
export const MAX_OTHER_ROWS = 1000;
/** Latency samples kept per endpoint for diff's significance test. */
export const RESERVOIR_SIZE = 512;
const MAX_STATUSES = 64;
const MAX_PARAMS = 64;
const MAX_EXAMPLE_CHARS = 4096;
/** Request headers that are transport or are described elsewhere in OpenAPI (Accept, Content-Type, Authorization). */
const PLAIN_HEADERS = new Set([
  'host', 'accept', 'accept-encoding', 'accept-language', 'user-agent', 'content-length', 'content-type', 'connection',
  'authorization', 'cookie', 'te', 'transfer-encoding', 'upgrade', 'keep-alive', 'proxy-connection', 'expect', 'referer',
  'origin', 'cache-control', 'pragma', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-request-id',
  'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled', 'traceparent', 'tracestate', 'x-envoy-attempt-count',
  'sec-fetch-mode', 'sec-fetch-site', 'sec-fetch-dest', 'if-none-match', 'if-modified-since', 'content-encoding',
]);

/** Request headers that carry API keys: OpenAPI security schemes, not parameters. */
export const API_KEY_HEADERS = new Set(['x-api-key', 'api-key', 'apikey', 'x-auth-token', 'x-access-token']);
/** Query parameters that carry API keys. */
const API_KEY_QUERY = new Set(['api_key', 'apikey', 'api-key', 'key', 'access_token']);

/**
 * How a call authenticated, from the raw (unredacted) entry, as
 * `http <scheme>` (Authorization header's scheme word, lower case),
 * `header <name>` or `query <name>` (API keys). Only names, never values.
 */
export function authOf(e: Entry): string[] {
  const rq = e.request;
  if (!rq || !HTTP_PROTOCOLS.has(e.protocol)) return [];
  const out: string[] = [];
  const headers = rq.headers;
  if (headers && typeof headers === 'object' && !Array.isArray(headers)) {
    for (const [k, v] of Object.entries(headers)) {
      const name = k.toLowerCase();
      if (name === 'authorization') {
        const scheme = /^\s*([A-Za-z][A-Za-z0-9_-]{0,30})(\s|$)/.exec(String(Array.isArray(v) ? v[0] : v))?.[1];
        out.push(`http ${scheme ? scheme.toLowerCase() : 'unknown'}`);
      } else if (API_KEY_HEADERS.has(name)) out.push(`header ${name}`);
    }
  }
  const query = rq.query;
  if (query && typeof query === 'object') for (const k of Object.keys(query)) if (API_KEY_QUERY.has(k.toLowerCase())) out.push(`query ${k}`);
  return out;
}

/** Protocols whose endpoints are HTTP method + path (OpenAPI, HAR). */
export const HTTP_PROTOCOLS = new Set(['http', 'http2', 'http3']);

export interface Call {
  /** Protocol family shown in the catalogue. */
  protocol: string;
  /** The endpoint before high-cardinality folding (HTTP: method + typed path). */
  name: string;
  /** HTTP only: method, and path (query stripped) to template. */
  method?: string;
  path?: string;
  /** GraphQL only: the HTTP request carrying the operation (`POST /graphql`), for OpenAPI. */
  target?: { method: string; path: string };
}

/** What a call asks for, before folding; undefined for entries that name no call (a bare request-less response). */
export function callOf(e: Entry): Call | undefined {
  const rq = e.request;
  if (!rq) return undefined;
  switch (e.protocol) {
    case 'http':
    case 'http2':
    case 'http3': {
      const method = String(rq.method ?? rq.httpMethod ?? '').toUpperCase() || 'GET';
      const path = typeof rq.path === 'string' ? literalBraces(pathOnly(rq.path)) : '/';
      return { protocol: e.protocol, name: `${method} ${path}`, method, path };
    }
    case 'graphql': {
      const g = rq.graphql ?? {};
      const op = `${g.operationType ?? 'query'} ${g.operationName || (Array.isArray(g.fields) && g.fields.length ? `{${g.fields.slice(0, 3).join(',')}}` : '(anonymous)')}`;
      const target = typeof rq.path === 'string' ? { method: String(rq.method ?? rq.httpMethod ?? 'POST').toUpperCase(), path: literalBraces(pathOnly(rq.path)) } : undefined;
      return { protocol: 'graphql', name: op, ...(target ? { target } : {}) };
    }
    case 'grpc':
      return { protocol: 'grpc', name: `${rq.service ?? ''}/${rq.method ?? ''}` };
    case 'redis':
      return { protocol: 'redis', name: typeof rq.command === 'string' ? redisShape(rq.command, rq.args, rq.key) : '(unknown)' };
    case 'postgresql':
    case 'mysql':
      return { protocol: e.protocol, name: typeof rq.query === 'string' && rq.query ? sqlShape(rq.query, { doubleQuotedStrings: e.protocol === 'mysql' }) : `(${rq.type ?? rq.command ?? 'startup'})` };
    case 'kafka': {
      const topics = Array.isArray(rq.topics) ? rq.topics.map((t: any) => (typeof t === 'string' ? t : t?.name)).filter((t: unknown) => typeof t === 'string') : [];
      const shown = topics.slice(0, 3).join(',') + (topics.length > 3 ? ',…' : '');
      // A consumer group is an endpoint of its own: JoinGroup billing, OffsetCommit billing orders.
      const group = typeof rq.groupId === 'string' && rq.groupId ? ` ${rq.groupId}` : '';
      return { protocol: 'kafka', name: `${rq.apiKeyName ?? rq.apiKey ?? '?'}${group}${shown ? ` ${shown}` : ''}` };
    }
    case 'amqp':
      return { protocol: 'amqp', name: `${rq.method ?? '?'}${rq.exchange || rq.queue || rq.routingKey ? ` ${rq.exchange || rq.queue || rq.routingKey}` : ''}` };
    case 'dns': {
      const q = Array.isArray(rq.questions) ? rq.questions[0] : undefined;
      return { protocol: 'dns', name: q ? `${q.type ?? '?'} ${keyShape(String(q.name ?? ''))}` : '(no question)' };
    }
    case 'tls':
    case 'quic':
      return { protocol: e.protocol, name: `handshake ${rq.sni ?? ''}`.trim() };
    default: {
      const protocol = protocolOf(e);
      return { protocol, name: verbOf(rq) ?? protocol };
    }
  }
}

/** The status a call ended with, as a short string: `200`, `OK`, `42P01`, `NXDOMAIN`, `error` … */
export function statusOf(e: Entry): string {
  const r = e.response;
  if (!r) return e.request ? (isOneWay(e) ? 'one-way' : 'unanswered') : 'no request';
  switch (e.protocol) {
    case 'http':
    case 'http2':
    case 'http3':
    case 'graphql':
      // null: the capture lost it (the response head went with a gap).
      return r.status !== undefined && r.status !== null ? String(r.status) : '?';
    case 'grpc':
      return String(r.grpcStatusName ?? r.grpcStatus ?? '?');
    case 'dns':
      return String(r.rcodeName ?? r.rcode ?? '?');
    case 'redis':
      // The error's first word is its code: ERR, WRONGTYPE, NOAUTH, MOVED …
      return r.type === 'error' ? (typeof r.value === 'string' && r.value ? r.value.split(' ')[0].slice(0, 32) : 'ERR') : 'OK';
    case 'postgresql':
    case 'mysql':
      return r.errorCode !== undefined && r.errorCode !== null && r.errorCode !== '' ? String(r.errorCode) : 'OK';
    case 'kafka':
      return r.errorCode ? String(r.errorCode) : 'OK';
    case 'amqp':
      return r.replyCode !== undefined ? String(r.replyCode) : 'OK';
    default:
      return e.error ? 'error' : 'OK';
  }
}

/** Bodies a catalogue could not describe whole: nested past MAX_DEPTH, or over MAX_BODY_CHARS (not read). */
export interface BodyTally {
  deep: number;
  large: number;
}

/** Schemas and examples of one kind of message body (one content type). */
export class BodyShape {
  readonly schema = new SchemaNode();
  count = 0;
  example: unknown;
  /** Bodies seen that were not JSON (text, binary, truncated). */
  opaque = 0;
  /** Bodies nested deeper than the schema describes (MAX_DEPTH): never an example. */
  deep = 0;

  /** Add one body; tells `tally` when it nested deeper than MAX_DEPTH (its deep part is left undescribed) or was too long to read. */
  add(value: unknown, tally: BodyTally): void {
    this.count++;
    if (value === undefined || value === LARGE_BODY) {
      this.opaque++;
      if (value === LARGE_BODY) tally.large++;
      return;
    }
    const cut = this.schema.add(value) > 0;
    if (cut) {
      this.deep++;
      tally.deep++;
    }
    // Checked before JSON.stringify, which recurses: a 10 KB body of `[` overflows the stack.
    // An example deeper than its schema would not show what the schema says anyway.
    else if (this.example === undefined && nestsWithin(value, MAX_DEPTH) && JSON.stringify(value).length <= MAX_EXAMPLE_CHARS) this.example = value;
  }

  merge(o: BodyShape): void {
    this.count += o.count;
    this.opaque += o.opaque;
    this.deep += o.deep;
    this.schema.merge(o.schema);
    if (this.example === undefined) this.example = o.example;
  }
}

/** A named thing seen with some calls (a query parameter, a header): how often, and its values' shape. */
export class ParamShape {
  count = 0;
  readonly values = new SchemaNode();
  /** The first value, typed as the schema types it (an example must match its schema). */
  example: unknown;

  add(v: string): void {
    this.count++;
    const typed = coerce(v);
    this.values.add(typed);
    if (this.example === undefined && v.length <= 200) this.example = typed;
  }

  merge(o: ParamShape): void {
    this.count += o.count;
    this.values.merge(o.values);
    this.example ??= o.example;
  }
}

/** `42` → 42, `true` → true, else the string: how a path or query value is typed. */
function coerce(v: string): unknown {
  if (/^-?\d{1,15}$/.test(v)) return Number(v);
  if (/^-?\d+\.\d+$/.test(v) && v.length < 20) return Number(v);
  if (v === 'true' || v === 'false') return v === 'true';
  return v;
}

function mergeMaps<T extends { merge(o: T): void }>(into: Map<string, T>, from: Map<string, T>, make: () => T, cap: number): void {
  for (const [k, v] of from) {
    let t = into.get(k);
    if (!t) {
      if (into.size >= cap) continue;
      into.set(k, (t = make()));
    }
    t.merge(v);
  }
}

/** Deterministic reservoir sampling (Algorithm R with a fixed-seed generator): runs are reproducible. */
export class Reservoir {
  readonly values: number[] = [];
  seen = 0;
  private seed = 0x9e3779b9;

  add(v: number): void {
    this.seen++;
    if (this.values.length < RESERVOIR_SIZE) {
      this.values.push(v);
      return;
    }
    const j = Math.floor(this.random() * this.seen);
    if (j < RESERVOIR_SIZE) this.values[j] = v;
  }

  merge(o: Reservoir): void {
    // Not an exact union sample, but bounded and unbiased enough for a rank test.
    for (const v of o.values) this.add(v);
    this.seen += Math.max(0, o.seen - o.values.length);
  }

  private random(): number {
    // mulberry32
    this.seed = (this.seed + 0x6d2b79f5) | 0;
    let t = Math.imul(this.seed ^ (this.seed >>> 15), 1 | this.seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

export class EndpointStats {
  calls = 0;
  errors = 0;
  /** Calls read from inside TLS (decrypted with a key log, `tls: true`). */
  tlsCalls = 0;
  first = Infinity;
  last = -Infinity;
  readonly latency = new LatencySketch();
  readonly samples = new Reservoir();
  readonly statuses = new Map<string, number>();
  /** HTTP details (only with `details`): parameters and bodies for OpenAPI and schema diffs. */
  readonly query = new Map<string, ParamShape>();
  readonly headers = new Map<string, ParamShape>();
  /** Path placeholder values by position in the template's segments. */
  readonly pathValues = new Map<string, ParamShape>();
  /** Calls added with details, and the authentication each used (`http bearer`, `header x-api-key` …; see authOf). */
  detailed = 0;
  readonly auth = new Map<string, number>();
  /** Request bodies by content type. */
  readonly requestBodies = new Map<string, BodyShape>();
  /** Response bodies by status, then content type ("" = no body). */
  readonly responseBodies = new Map<string, Map<string, BodyShape>>();
  /** A GraphQL endpoint's HTTP side (`POST /graphql`): the operations sent to it (`query GetBooks`) and their calls. */
  readonly operations = new Map<string, number>();

  constructor(
    readonly protocol: string,
    readonly service: string,
    readonly name: string,
  ) {}

  add(e: Entry, status: string): void {
    this.calls++;
    if (e.error) this.errors++;
    if (e.tls === true) this.tlsCalls++;
    const t = e.timestamp;
    if (isDateTime(t)) {
      if (t < this.first) this.first = t;
      if (t > this.last) this.last = t;
    }
    const ms = callLatency(e);
    if (ms !== undefined) {
      this.latency.add(ms);
      this.samples.add(ms);
    }
    const n = this.statuses.get(status);
    if (n !== undefined) this.statuses.set(status, n + 1);
    else if (this.statuses.size < MAX_STATUSES) this.statuses.set(status, 1);
    else this.statuses.set('(other)', (this.statuses.get('(other)') ?? 0) + 1);
  }

  /** Parameters and bodies of an HTTP call (rawPath: the path before templating); bodies not described whole go into `tally`. */
  addDetails(e: Entry, rawPath: string, template: string, status: string, tally: BodyTally, auth: string[] = []): void {
    const rq = e.request ?? {};
    this.detailed++;
    for (const a of auth) if (this.auth.size < MAX_PARAMS || this.auth.has(a)) this.auth.set(a, (this.auth.get(a) ?? 0) + 1);
    const query = rq.query;
    if (query && typeof query === 'object') {
      for (const [k, v] of Object.entries(query)) {
        if (API_KEY_QUERY.has(k.toLowerCase())) continue; // a security scheme, not a parameter
        addParam(this.query, k, Array.isArray(v) ? String(v[0]) : String(v));
      }
    }
    const headers = rq.headers;
    if (headers && typeof headers === 'object' && !Array.isArray(headers)) {
      for (const [k, v] of Object.entries(headers)) {
        const name = k.toLowerCase();
        if (name.startsWith(':') || PLAIN_HEADERS.has(name) || API_KEY_HEADERS.has(name) || name.startsWith('<')) continue;
        addParam(this.headers, name, Array.isArray(v) ? String(v[0]) : String(v));
      }
    }
    // Placeholders stand among the first MAX_TEMPLATED_SEGMENTS segments only: a crafted path of millions is not split whole.
    const raw = rawPath.split('/', MAX_TEMPLATED_SEGMENTS);
    const tpl = template.split('/', MAX_TEMPLATED_SEGMENTS);
    for (let i = 0; i < tpl.length && i < raw.length; i++) if (tpl[i].startsWith('{')) addParam(this.pathValues, String(i), decodeSegment(raw[i]));
    if (rq.bodySize > 0 || (typeof rq.body === 'string' && rq.body !== '')) {
      addBody(this.requestBodies, contentTypeOf(rq) || 'application/octet-stream', jsonBody(rq), tally);
    }
    let byType = this.responseBodies.get(status);
    if (!byType) {
      if (this.responseBodies.size >= MAX_STATUSES) return;
      this.responseBodies.set(status, (byType = new Map()));
    }
    const rs = e.response;
    if (!rs) return;
    const hasBody = rs.bodySize > 0 || (typeof rs.body === 'string' && rs.body !== '');
    addBody(byType, hasBody ? contentTypeOf(rs) || 'application/octet-stream' : '', hasBody ? jsonBody(rs) : undefined, tally);
  }

  /**
   * gRPC messages decoded with `--proto` (request.messages[].decoded), by
   * message type: their schemas go where HTTP bodies go, so the catalogue
   * shows them and diff compares their fields. Those nested past MAX_DEPTH go into `tally`.
   */
  addMessages(e: Entry, status: string, tally: BodyTally): void {
    const each = (msgs: unknown, into: Map<string, BodyShape>) => {
      if (!Array.isArray(msgs)) return;
      for (const m of msgs.slice(0, 16)) {
        if (m && typeof m === 'object' && typeof m.type === 'string' && m.decoded && typeof m.decoded === 'object') addBody(into, m.type, m.decoded, tally);
      }
    };
    each(e.request?.messages, this.requestBodies);
    let byType = this.responseBodies.get(status);
    if (!byType) {
      if (this.responseBodies.size >= MAX_STATUSES) return;
      this.responseBodies.set(status, (byType = new Map()));
    }
    each(e.response?.messages, byType);
  }

  merge(o: EndpointStats): void {
    this.calls += o.calls;
    this.errors += o.errors;
    this.tlsCalls += o.tlsCalls;
    this.first = Math.min(this.first, o.first);
    this.detailed += o.detailed;
    for (const [k, n] of o.auth) this.auth.set(k, (this.auth.get(k) ?? 0) + n);
    this.last = Math.max(this.last, o.last);
    this.latency.merge(o.latency);
    this.samples.merge(o.samples);
    for (const [k, n] of o.statuses) this.statuses.set(k, (this.statuses.get(k) ?? 0) + n);
    mergeMaps(this.query, o.query, () => new ParamShape(), MAX_PARAMS);
    mergeMaps(this.headers, o.headers, () => new ParamShape(), MAX_PARAMS);
    mergeMaps(this.pathValues, o.pathValues, () => new ParamShape(), MAX_PARAMS);
    mergeMaps(this.requestBodies, o.requestBodies, () => new BodyShape(), MAX_PARAMS);
    for (const [status, byType] of o.responseBodies) {
      let into = this.responseBodies.get(status);
      if (!into) this.responseBodies.set(status, (into = new Map()));
      mergeMaps(into, byType, () => new BodyShape(), MAX_PARAMS);
    }
    for (const [k, n] of o.operations) if (this.operations.size < MAX_PARAMS || this.operations.has(k)) this.operations.set(k, (this.operations.get(k) ?? 0) + n);
  }

  get errorRate(): number {
    return this.calls ? this.errors / this.calls : 0;
  }
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function addParam(map: Map<string, ParamShape>, name: string, value: string): void {
  let p = map.get(name);
  if (!p) {
    if (map.size >= MAX_PARAMS) return;
    map.set(name, (p = new ParamShape()));
  }
  p.add(value);
}

/** One body into its content type's shape (a body of a content type not kept is not looked at). */
function addBody(map: Map<string, BodyShape>, type: string, value: unknown, tally: BodyTally): void {
  let b = map.get(type);
  if (!b) {
    if (map.size >= MAX_PARAMS) return;
    map.set(type, (b = new BodyShape()));
  }
  b.add(value, tally);
}

export interface CatalogOptions {
  /** Distinct literal values at one path position before it folds to {param}. */
  foldThreshold?: number;
  /** Most endpoints kept; later new ones are counted into their service's `(other)`. */
  maxEndpoints?: number;
  /** Collect HTTP parameters and body schemas (OpenAPI, diff). */
  details?: boolean;
  /**
   * Applied to every entry as it is added. The catalogue redacts itself
   * (rather than reading redacted entries) so that it can tell, before the
   * credential is replaced, which authentication scheme a call used: the
   * scheme's name (`Bearer`) is kept, never the credential.
   */
  redact?: (e: Entry) => Entry;
}

export interface CatalogLimits {
  /** Calls counted into `(other)` because maxEndpoints was reached. */
  foldedCalls: number;
  /** Of those, calls counted under service `(other)`: their service came past MAX_OTHER_ROWS `(other)` rows. */
  foldedServiceCalls: number;
  /** Distinct endpoints that were not kept apart. */
  maxEndpoints: number;
  /** Path positions not tracked for folding (MAX_FOLD_NODES). */
  untrackedPositions: number;
  /** Bodies (and decoded gRPC messages) nested deeper than the schemas describe (schema-infer.ts MAX_DEPTH). */
  deepBodies: number;
  /** JSON bodies too long to read for their schema (schema-infer.ts MAX_BODY_CHARS). */
  largeBodies: number;
}

/** Streams entries into endpoints. */
export class Catalog {
  readonly names = new NameBook();
  readonly templater: PathTemplater;
  private readonly endpoints = new Map<string, EndpointStats>();
  private generation = 0;
  foldedCalls = 0;
  /** Of those, calls whose service had no `(other)` row of its own (past MAX_OTHER_ROWS): counted under service `(other)`. */
  foldedServiceCalls = 0;
  private otherRows = 0;
  /** Bodies nested past MAX_DEPTH (described to that depth, never an example) or over MAX_BODY_CHARS (not described). */
  readonly bodies: BodyTally = { deep: 0, large: 0 };
  entries = 0;
  /** Entries that named no call (responses whose request was not captured). */
  skipped = 0;
  /** GraphQL endpoints' HTTP sides (details only): see addGraphqlTarget. */
  private readonly graphql = new Map<string, EndpointStats>();
  /** GraphQL calls to targets past maxEndpoints: not described in OpenAPI. */
  graphqlUntracked = 0;
  readonly maxEndpoints: number;
  private readonly details: boolean;
  private readonly redact?: (e: Entry) => Entry;

  constructor(opts: CatalogOptions = {}) {
    this.redact = opts.redact;
    this.templater = new PathTemplater(opts.foldThreshold ?? DEFAULT_FOLD_THRESHOLD);
    this.maxEndpoints = opts.maxEndpoints ?? DEFAULT_MAX_ENDPOINTS;
    this.details = opts.details ?? false;
  }

  addBatch(batch: Entry[]): void {
    for (const e of batch) this.add(e);
    // Once per batch, not per call: a flood of folds then costs one pass over the endpoints per batch.
    if (this.templater.generation !== this.generation) this.refold();
  }

  add(raw: Entry): void {
    this.entries++;
    const auth = this.details ? authOf(raw) : [];
    const e = this.redact ? this.redact(raw) : raw;
    this.names.learn(e);
    const call = callOf(e);
    if (!call) {
      this.skipped++;
      return;
    }
    const service = serviceKey(e);
    let name = call.name;
    let template: string | undefined;
    if (call.path !== undefined) {
      template = this.templater.learn(`${service} ${call.method}`, call.path);
      name = `${call.method} ${template}`;
    }
    const status = statusOf(e);
    let key = endpointKey(call.protocol, service, name);
    let ep = this.endpoints.get(key);
    if (!ep) {
      if (this.endpoints.size >= this.maxEndpoints) {
        this.foldedCalls++;
        key = endpointKey(call.protocol, service, OTHER_ENDPOINT);
        ep = this.endpoints.get(key);
        // (other) rows may go over the cap by one per service and protocol: they are the count of what was cut.
        if (!ep && this.otherRows < MAX_OTHER_ROWS) {
          this.otherRows++;
          this.endpoints.set(key, (ep = new EndpointStats(call.protocol, service, OTHER_ENDPOINT)));
        } else if (!ep) {
          // Past those, one row per protocol for every later service.
          this.foldedServiceCalls++;
          key = endpointKey(call.protocol, OTHER_SERVICE, OTHER_ENDPOINT);
          ep = this.endpoints.get(key);
          if (!ep) this.endpoints.set(key, (ep = new EndpointStats(call.protocol, OTHER_SERVICE, OTHER_ENDPOINT)));
        }
        ep.add(e, status);
        return;
      }
      this.endpoints.set(key, (ep = new EndpointStats(call.protocol, service, name)));
    }
    ep.add(e, status);
    if (this.details && template !== undefined && HTTP_PROTOCOLS.has(call.protocol)) ep.addDetails(e, call.path!, template, status, this.bodies, auth);
    else if (this.details && call.protocol === 'grpc') ep.addMessages(e, status, this.bodies);
    else if (this.details && call.target) this.addGraphqlTarget(e, service, call.name, call.target, status, auth);
  }

  /**
   * A GraphQL call, once more, as the HTTP request it is (`POST /graphql`):
   * what OpenAPI describes, one operation per target, the GraphQL operations
   * sent to it named in its description. Kept apart from the catalogue's
   * rows (a call is one row). At most maxEndpoints targets; calls to later
   * ones are counted (graphqlUntracked), not described.
   */
  private addGraphqlTarget(e: Entry, service: string, operation: string, target: { method: string; path: string }, status: string, auth: string[]): void {
    const name = `${target.method} ${target.path}`;
    const key = endpointKey('graphql', service, name);
    let t = this.graphql.get(key);
    if (!t) {
      if (this.graphql.size >= this.maxEndpoints) {
        this.graphqlUntracked++;
        return;
      }
      this.graphql.set(key, (t = new EndpointStats('graphql', service, name)));
    }
    t.add(e, status);
    t.addDetails(e, target.path, target.path, status, this.bodies, auth);
    if (t.operations.size < MAX_PARAMS || t.operations.has(operation)) t.operations.set(operation, (t.operations.get(operation) ?? 0) + 1);
  }

  /** The GraphQL endpoints' HTTP sides (with `details`), services named as list() names them. */
  graphqlTargets(names: IpNames = this.names): EndpointStats[] {
    return [...named(this.graphql.values(), names).values()];
  }

  /** A position folded: endpoints stored under its literal values merge into the template. */
  refold(): void {
    this.generation = this.templater.generation;
    const before = [...this.endpoints.values()];
    this.endpoints.clear();
    for (const ep of before) {
      let name = ep.name;
      if (HTTP_PROTOCOLS.has(ep.protocol) && ep.name !== OTHER_ENDPOINT) {
        const sp = ep.name.indexOf(' ');
        const method = ep.name.slice(0, sp);
        name = `${method} ${this.templater.template(`${ep.service} ${method}`, ep.name.slice(sp + 1))}`;
      }
      const key = endpointKey(ep.protocol, ep.service, name);
      const into = this.endpoints.get(key);
      if (!into) {
        if (name === ep.name) this.endpoints.set(key, ep);
        else {
          const moved = new EndpointStats(ep.protocol, ep.service, name);
          moved.merge(ep);
          this.endpoints.set(key, moved);
        }
      } else into.merge(ep);
    }
  }

  /**
   * Endpoints with service names resolved: by default from the DNS/Host names
   * learned anywhere in the input; `diff` passes names shared with the other side.
   */
  list(names: IpNames = this.names): EndpointStats[] {
    if (this.templater.generation !== this.generation) this.refold();
    return [...named(this.endpoints.values(), names).values()].sort(
      (a, b) => cmp(a.service, b.service) || cmp(a.protocol, b.protocol) || cmp(pathOf(a.name), pathOf(b.name)) || cmp(a.name, b.name),
    );
  }

  limits(): CatalogLimits {
    return {
      foldedCalls: this.foldedCalls,
      foldedServiceCalls: this.foldedServiceCalls,
      maxEndpoints: this.maxEndpoints,
      untrackedPositions: this.templater.untracked,
      deepBodies: this.bodies.deep,
      largeBodies: this.bodies.large,
    };
  }
}

/** What catalog and diff say on stderr about calls past --max-endpoints. */
export function foldedNote(c: { foldedCalls: number; foldedServiceCalls: number; maxEndpoints: number }): string {
  const services = c.foldedServiceCalls
    ? `; ${c.foldedServiceCalls} of them, to services past ${MAX_OTHER_ROWS} such rows, under service "${OTHER_SERVICE}"`
    : '';
  return `more than ${c.maxEndpoints} endpoints: ${c.foldedCalls} calls to later new ones counted as "${OTHER_ENDPOINT}" (--max-endpoints)${services}`;
}

/** What catalog and diff say on stderr about bodies cut at the schema's depth. */
export function deepBodiesNote(n: number): string {
  return `${n} bod${n === 1 ? 'y' : 'ies'} nested deeper than ${MAX_DEPTH} levels: described to depth ${MAX_DEPTH}, no example kept`;
}

/** What catalog and diff say on stderr about JSON bodies too long to read for their schema. */
export function largeBodiesNote(n: number): string {
  return `${n} JSON bod${n === 1 ? 'y' : 'ies'} over ${MAX_BODY_CHARS / (1024 * 1024)} MB not read: no schema, no example`;
}

/** Endpoints with their service placeholders resolved to names; those that then share a name merge. */
function named(endpoints: Iterable<EndpointStats>, names: IpNames): Map<string, EndpointStats> {
  const out = new Map<string, EndpointStats>();
  for (const ep of endpoints) {
    const service = resolveKey(ep.service, names);
    const key = endpointKey(ep.protocol, service, ep.name);
    const into = out.get(key);
    if (into) into.merge(ep);
    else if (service === ep.service) out.set(key, ep);
    else {
      const copy = new EndpointStats(ep.protocol, service, ep.name);
      copy.merge(ep);
      out.set(key, copy);
    }
  }
  return out;
}

function pathOf(name: string): string {
  const sp = name.indexOf(' ');
  return sp >= 0 ? name.slice(sp + 1) : name;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function endpointKey(protocol: string, service: string, name: string): string {
  return `${service}\u0000${protocol}\u0000${name}`;
}

/**
 * The server a call went to: Kubernetes service (or workload, pod) when
 * known, else the endpoint's name, else a placeholder that becomes the
 * DNS/Host/SNI name or IP:port when listed.
 */
function serviceKey(e: Entry): string {
  return k8sName(e.dst, 'service') || (e.dst?.name ? `${e.dst.name}:${e.dst.port}` : unresolved(e.dst));
}
