// OpenAPI 3.1 documents from a catalogue: one per HTTP service, one path
// item per templated path, one operation per method, with the parameters
// (path, query, header) and bodies observed, their JSON Schemas inferred, and
// examples taken from the (already redacted) traffic. What was observed
// about each operation (calls, errors, latency) rides along as `x-shark-*`
// extensions, which OpenAPI tools ignore.

import { EndpointStats, HTTP_PROTOCOLS, OTHER_ENDPOINT, type ParamShape } from './endpoints.js';
import { MAX_TEMPLATED_SEGMENTS, nameParameters } from './path-template.js';
import { NONE } from '../stats/group-by.js';
import { domainToASCII } from 'node:url';
import { isDateTime, isoTime } from '../output/iso-time.js';

export interface OpenApiOptions {
  /** A property (or query parameter) present in at least this share of observations is required. Default 1. */
  requiredRatio?: number;
  /**
   * Told each endpoint OpenAPI cannot describe: a method outside its eight
   * (WebDAV's PROPFIND, a scanner's CCM_POST) or a target that is not a path
   * (`OPTIONS *`, a proxy's absolute URL). Left out of the document, so the
   * command counts them on stderr rather than losing them silently.
   */
  onOmitted?: (endpoint: string) => void;
  /**
   * Told each body example left out because it holds a `"$ref": "…"` member
   * (a MongoDB DBRef, a JSON Schema served by the API): every OpenAPI tool
   * follows such a member as a reference, wherever it sits, and fails on it.
   */
  onExampleDropped?: (operation: string) => void;
  /** Told each query parameter (or header) with an empty name (`?=x`), left out: a parameter named "" is valid OpenAPI but nothing a client can send by name. */
  onNamelessParameter?: (operation: string) => void;
  /**
   * The HTTP sides of GraphQL endpoints (Catalog.graphqlTargets: `POST
   * /graphql` with the operations sent to it): described as HTTP operations,
   * the GraphQL operations named in their description.
   */
  graphql?: EndpointStats[];
}

export type OpenApiDocument = Record<string, any>;

/** Names of the services with HTTP endpoints (GraphQL endpoints' HTTP sides among them). */
export function httpServices(endpoints: EndpointStats[], graphql: EndpointStats[] = []): string[] {
  return [...new Set([...endpoints.filter((e) => HTTP_PROTOCOLS.has(e.protocol) && e.name !== OTHER_ENDPOINT), ...graphql].map((e) => e.service))].sort();
}

/** Does `wanted` (`--service`) name this service: exactly, or by its name without the namespace. */
export function serviceMatches(service: string, wanted: string): boolean {
  if (service === wanted) return true;
  const slash = service.indexOf('/');
  if (slash >= 0 && service.slice(slash + 1) === wanted) return true;
  // host:port given as host
  const colon = service.lastIndexOf(':');
  return colon > 0 && service.slice(0, colon) === wanted;
}

export function openApiDocument(service: string, endpoints: EndpointStats[], opts: OpenApiOptions = {}): OpenApiDocument {
  const ratio = opts.requiredRatio ?? 1;
  const mine = [
    ...endpoints.filter((e) => e.service === service && HTTP_PROTOCOLS.has(e.protocol) && e.name !== OTHER_ENDPOINT),
    ...(opts.graphql ?? []).filter((e) => e.service === service),
  ];
  const paths: Record<string, Record<string, unknown>> = {};
  // Paths that differ only in placeholder names are one path to OpenAPI.
  const bySignature = new Map<string, string>();
  const operationIds = new Set<string>();
  const schemes: Record<string, Record<string, string>> = {};
  let calls = 0;
  let tlsCalls = 0;
  let first = Infinity;
  let last = -Infinity;
  for (const { ep, method, template } of operations(mine, opts.onOmitted)) {
    const { path, params } = nameParameters(template);
    const signature = path.replace(/\{[^}]*\}/g, '{}');
    const pathKey = bySignature.get(signature) ?? path;
    bySignature.set(signature, pathKey);
    const item = (paths[pathKey] ??= {});
    calls += ep.calls;
    tlsCalls += ep.tlsCalls;
    first = Math.min(first, ep.first);
    last = Math.max(last, ep.last);
    // Placeholder names as the path key has them (the first template seen with this shape).
    const keyNames = [...pathKey.matchAll(/\{([^}]*)\}/g)].map((m) => m[1]);
    // Placeholders stand among the first MAX_TEMPLATED_SEGMENTS segments (path-template.ts): no need to split a deeper path whole.
    const segIndexes = template.split('/', MAX_TEMPLATED_SEGMENTS).flatMap((s, i) => (s.startsWith('{') ? [i] : []));
    const parameters: unknown[] = params.map((p, i) => ({
      name: keyNames[i] ?? p.name,
      in: 'path',
      required: true,
      schema: paramSchema(ep.pathValues.get(String(segIndexes[i])), p.kind),
      ...example(ep.pathValues.get(String(segIndexes[i]))),
    }));
    for (const [name, q] of sorted(ep.query)) {
      // `?=x` has a query parameter with no name: nothing a client could be generated to send.
      if (name === '') {
        opts.onNamelessParameter?.(`${method.toUpperCase()} ${pathKey}`);
        continue;
      }
      parameters.push({ name, in: 'query', required: q.count / ep.calls >= ratio, schema: paramSchema(q), ...example(q) });
    }
    for (const [name, h] of sorted(ep.headers)) {
      if (name === '') {
        opts.onNamelessParameter?.(`${method.toUpperCase()} ${pathKey}`);
        continue;
      }
      parameters.push({ name, in: 'header', required: h.count / ep.calls >= ratio, schema: paramSchema(h), ...example(h) });
    }
    const op: Record<string, unknown> = {
      operationId: uniqueId(operationIds, operationId(method, pathKey)),
      summary: `${method.toUpperCase()} ${pathKey}`,
    };
    if (ep.operations.size) op.description = graphqlDescription(ep.operations);
    if (parameters.length) op.parameters = parameters;
    const dropped = () => opts.onExampleDropped?.(`${method.toUpperCase()} ${pathKey}`);
    const bodies = [...ep.requestBodies].filter(([type]) => type !== '');
    if (bodies.length) {
      op.requestBody = {
        required: true,
        content: Object.fromEntries(bodies.map(([type, b]) => [type, mediaType(b, ratio, dropped)])),
      };
    }
    const responses: Record<string, unknown> = {};
    for (const [status, byType] of [...ep.responseBodies].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (!/^[1-5]\d\d$/.test(status)) continue;
      const content = [...byType].filter(([type]) => type !== '');
      responses[status] = {
        description: `${status} (seen ${ep.statuses.get(status) ?? 0} times)`,
        ...(content.length ? { content: Object.fromEntries(content.map(([type, b]) => [type, mediaType(b, ratio, dropped)])) } : {}),
      };
    }
    // Statuses seen without details (no --details run) still belong in the document.
    for (const [status, n] of ep.statuses) {
      if (/^[1-5]\d\d$/.test(status) && !responses[status]) responses[status] = { description: `${status} (seen ${n} times)` };
    }
    if (Object.keys(responses).length === 0) responses.default = { description: 'no response observed' };
    op.responses = responses;
    if (ep.detailed > 0) op.security = security(ep, schemes);
    if (ep.operations.size) op['x-shark-graphql-operations'] = [...ep.operations].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, calls]) => ({ name, calls }));
    op['x-shark-observed'] = {
      calls: ep.calls,
      errors: ep.errors,
      p50Ms: round(ep.latency.quantile(0.5)),
      p95Ms: round(ep.latency.quantile(0.95)),
      p99Ms: round(ep.latency.quantile(0.99)),
      first: isoTime(ep.first),
      last: isoTime(ep.last),
    };
    item[method] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: service,
      version: 'observed',
      description: `Inferred by shark catalog from ${calls} observed calls${isDateTime(first) && isDateTime(last) ? ` between ${isoTime(first)} and ${isoTime(last)}` : ''}. Schemas describe what was seen, not what the service allows.`,
    },
    servers: servers(service, tlsCalls, calls),
    paths: Object.fromEntries(Object.entries(paths).sort(([a], [b]) => (a < b ? -1 : 1))),
    ...(Object.keys(schemes).length ? { components: { securitySchemes: schemes } } : {}),
  };
}

/**
 * The catalogue's HTTP endpoints as OpenAPI operations, one per method and
 * path shape. Templates that differ only in their placeholders' kinds
 * (`GET /items/{id}`, `GET /items/{uuid}`: ids and UUIDs under one route) are
 * one path to OpenAPI, so their calls, statuses, parameters and bodies are
 * merged into one operation (none is left out), and a placeholder whose kind
 * differs between them is a `{param}` typed from the values seen. Endpoints
 * OpenAPI has no place for go to `onOmitted`.
 */
function operations(mine: EndpointStats[], onOmitted?: (endpoint: string) => void): Array<{ ep: EndpointStats; method: string; template: string }> {
  const groups = new Map<string, { method: string; templates: string[]; members: EndpointStats[] }>();
  for (const ep of mine) {
    const sp = ep.name.indexOf(' ');
    const method = ep.name.slice(0, sp).toLowerCase();
    const template = ep.name.slice(sp + 1);
    if (!HTTP_METHODS.has(method) || !template.startsWith('/')) {
      onOmitted?.(ep.name);
      continue;
    }
    const key = `${method} ${template.replace(/\{[^}]*\}/g, '{}')}`;
    const group = groups.get(key);
    if (group) {
      group.templates.push(template);
      group.members.push(ep);
    } else groups.set(key, { method, templates: [template], members: [ep] });
  }
  return [...groups.values()].map(({ method, templates, members }) => {
    if (members.length === 1) return { ep: members[0], method, template: templates[0] };
    const merged = new EndpointStats(members[0].protocol, members[0].service, members[0].name);
    for (const m of members) merged.merge(m);
    // Same shape, so the same segments: where the placeholders' kinds differ, the kind is {param}.
    const split = templates.map((t) => t.split('/'));
    const template = split[0].map((seg, i) => (split.every((t) => t[i] === seg) ? seg : '{param}')).join('/');
    return { ep: merged, method, template };
  });
}

/**
 * An operation's security as observed: the schemes its calls used (`[]`:
 * none seen, said explicitly; `{}` among them: some calls went without).
 */
function security(ep: EndpointStats, schemes: Record<string, Record<string, string>>): Array<Record<string, string[]>> {
  const out: Array<Record<string, string[]>> = [];
  let authenticated = 0;
  for (const [auth, n] of [...ep.auth].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const sp = auth.indexOf(' ');
    const where = auth.slice(0, sp);
    const name = auth.slice(sp + 1);
    const id = (where === 'http' ? `${name}Auth` : `${name}Key`).replace(/[^A-Za-z0-9._-]/g, '_');
    schemes[id] ??= where === 'http' ? { type: 'http', scheme: name } : { type: 'apiKey', in: where, name };
    out.push({ [id]: [] });
    authenticated = Math.max(authenticated, n);
  }
  if (out.length && authenticated < ep.detailed) out.unshift({});
  return out;
}

const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);

function mediaType(b: { schema: { count: number; toSchema(r: number): unknown }; example: unknown }, ratio: number, dropped: () => void): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (b.schema.count > 0) out.schema = b.schema.toSchema(ratio);
  if (b.example !== undefined) {
    if (holdsRef(b.example)) dropped();
    else out.example = b.example;
  }
  return out;
}

/**
 * Does a value hold an object member `"$ref"` with a string value, at any
 * depth? Walked with its own stack (examples nest at most 10 levels, see
 * schema-infer's nestsWithin, but nothing here relies on it).
 */
function holdsRef(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object') continue;
    if (!Array.isArray(v) && Object.prototype.hasOwnProperty.call(v, '$ref') && typeof (v as Record<string, unknown>).$ref === 'string') return true;
    for (const c of Array.isArray(v) ? v : Object.values(v)) if (c !== null && typeof c === 'object') stack.push(c);
  }
  return false;
}

function paramSchema(p: ParamShape | undefined, kind?: string): Record<string, unknown> {
  if (!p || p.values.count === 0) return kind === 'id' ? { type: 'integer' } : { type: 'string', ...(kind === 'uuid' ? { format: 'uuid' } : {}) };
  const s = p.values.toSchema();
  if (kind === 'uuid') return { type: 'string', format: 'uuid' };
  if (kind === 'date') return { type: 'string' };
  return s;
}

function example(p: ParamShape | undefined): Record<string, unknown> {
  return p?.example !== undefined ? { example: p.example } : {};
}

function sorted<T>(m: Map<string, T>): Array<[string, T]> {
  return [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * A GraphQL endpoint's operations in words: OpenAPI has no place for a
 * GraphQL schema (the service's contract is its SDL), so what was sent is
 * said, most called first.
 */
function graphqlDescription(operations: Map<string, number>): string {
  const byCalls = [...operations].sort(([a, x], [b, y]) => y - x || (a < b ? -1 : a > b ? 1 : 0));
  const list = byCalls.map(([name, n]) => `\`${name}\` (${n} call${n === 1 ? '' : 's'})`).join(', ');
  return `GraphQL endpoint. Operations seen: ${list}.`;
}

/**
 * `getBooksId` for GET /books/{id}: the method, then each run of letters and
 * digits with its first letter upper-cased. Letters beyond ASCII keep the
 * name stable and distinct (with only A-Z every non-Latin path was `get`,
 * `get2`, `get3`, numbered in traffic order): accents are dropped (`héllo` →
 * `Hello`) and other scripts are written as their IDNA (punycode) label
 * (`/книги` → `getXnc1ajbfp`), since linters and code generators want an
 * operationId of URL-safe ASCII (redocly's operation-operationId-url-safe).
 */
/** The longest start of a path an operationId is made of: a crafted 4 MB path made a 4 MB id, word by word, in 1.3 s. */
const MAX_ID_PATH_CHARS = 1024;

function operationId(method: string, path: string): string {
  const words = path.slice(0, MAX_ID_PATH_CHARS).normalize('NFKD').replace(/\p{M}/gu, '').match(/[\p{L}\p{N}]+/gu) ?? [];
  return method + words.map((w) => upperFirst(/^[A-Za-z0-9]+$/.test(w) ? w : asciiWord(w))).join('');
}

function asciiWord(word: string): string {
  return domainToASCII(word).replace(/[^A-Za-z0-9]/g, '') || [...word].map((c) => `u${c.codePointAt(0)!.toString(16)}`).join('');
}

function upperFirst(w: string): string {
  return w.charAt(0).toUpperCase() + w.slice(1);
}

function uniqueId(seen: Set<string>, id: string): string {
  let out = id || 'operation';
  for (let n = 2; seen.has(out); n++) out = `${id}${n}`;
  seen.add(out);
  return out;
}

/** https for a service whose calls were read inside TLS, http for the others; both when it served both (https first). */
function servers(service: string, tlsCalls: number, calls: number): Array<{ url: string }> {
  // Calls with no destination address (entries from elsewhere): no host to name, so the document's own (OpenAPI's default).
  if (service === NONE) return [{ url: '/' }];
  const out: Array<{ url: string }> = [];
  if (tlsCalls > 0) out.push({ url: serverUrl(service, 'https') });
  if (tlsCalls < calls || calls === 0) out.push({ url: serverUrl(service, 'http') });
  return out;
}

function serverUrl(service: string, scheme: 'http' | 'https'): string {
  // "ns/name" (Kubernetes) → the in-cluster DNS name; a host:port as it is.
  const slash = service.indexOf('/');
  const host = slash >= 0 ? `${service.slice(slash + 1)}.${service.slice(0, slash)}` : service;
  // The name came from a Host header or SNI (written by a client): whatever a URI authority cannot
  // hold is percent-encoded, and `{…}` above all, which OpenAPI reads as a server variable.
  return `${scheme}://${host.replace(/[^A-Za-z0-9._~!$&'()*+,;=:@[\]-]/gu, (c) => encodeURIComponent(c))}`;
}

function round(v: number | null): number | null {
  return v === null ? null : Math.round(v * 1000) / 1000;
}

