// KFL2's flat variables (Kubeshark v53+) mapped onto shark's entry. Each has a
// type; an entry that lacks the field gives the type's default ("" 0 false []
// {}), as in Kubeshark. docs/filters.md has the same table for users.

import type { Endpoint, Entry } from '../model/entry.js';
import { PROTOCOL_ALIASES, PROTOCOL_NAMES } from './ast.js';

export type VarType = 'string' | 'int' | 'bool' | 'list' | 'map' | 'timestamp';

export interface Variable {
  type: VarType;
  /** Returns the value, or undefined when the entry lacks it (the default is applied by the caller). */
  get: (e: Entry) => unknown;
  /** Default when the getter returns undefined, when not the type's own. */
  fallback?: unknown;
  /** One line for docs/filters.md. */
  doc: string;
  /** Entry fields (dotted) the getter reads; lets filters parse only those. Unset: anything. */
  reads?: string[];
}

export function typeDefault(type: VarType): unknown {
  switch (type) {
    case 'string':
      return '';
    case 'int':
    case 'timestamp':
      return 0;
    case 'bool':
      return false;
    case 'list':
      return [];
    case 'map':
      return {};
  }
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v)) ? Number(v) : undefined);
const req = (e: Entry): Record<string, any> => e.request ?? EMPTY;
const res = (e: Entry): Record<string, any> => e.response ?? EMPTY;
const EMPTY: Record<string, any> = Object.freeze({}) as Record<string, any>;
const is = (e: Entry, p: string): boolean => e.protocol === p;

function queryString(e: Entry): string | undefined {
  const r = req(e);
  const url = str(r.url) ?? str(r.path);
  if (url !== undefined) {
    const q = url.indexOf('?');
    if (q >= 0) return url.slice(q + 1);
  }
  if (typeof r.queryString === 'string') return r.queryString;
  if (r.query && typeof r.query === 'object') {
    return Object.entries(r.query as Record<string, unknown>)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join('&');
  }
  return url === undefined ? undefined : '';
}

/**
 * `query_string` indexed as Kubeshark's map (`query_string["id"]`, `"id" in query_string`): each
 * parameter's first value, as text (Go's url.Values.Get). The dissector's decoded `request.query`
 * when the entry has one, else the text after "?" split and percent-decoded. Keys land on an object
 * without a prototype, so a parameter named `constructor` or `__proto__` is a parameter like another.
 */
export function queryMap(e: Entry): Record<string, string> | undefined {
  if (!isHttpish(e)) return undefined;
  const out: Record<string, string> = Object.create(null);
  const q = req(e).query;
  if (q && typeof q === 'object' && !Array.isArray(q) && Object.keys(q).length > 0) {
    for (const [k, v] of Object.entries(q as Record<string, unknown>)) {
      const first = Array.isArray(v) ? v[0] : v;
      out[k] = first === undefined || first === null ? '' : typeof first === 'string' ? first : String(first);
    }
    return out;
  }
  const text = queryString(e);
  if (!text) return out;
  const hash = text.indexOf('#');
  for (const pair of (hash >= 0 ? text.slice(0, hash) : text).split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const k = unescapeQuery(eq >= 0 ? pair.slice(0, eq) : pair);
    if (!(k in out)) out[k] = eq >= 0 ? unescapeQuery(pair.slice(eq + 1)) : '';
  }
  return out;
}

/** `+` is a space and `%XX` a byte in a query; a malformed escape stays as written. */
function unescapeQuery(s: string): string {
  const t = s.replace(/\+/g, ' ');
  if (!t.includes('%')) return t;
  try {
    return decodeURIComponent(t);
  } catch {
    return t;
  }
}

function pathOnly(e: Entry): string | undefined {
  const r = req(e);
  const p = str(r.path) ?? str(r.url);
  if (p === undefined) return undefined;
  const q = p.indexOf('?');
  return q >= 0 ? p.slice(0, q) : p;
}

function list<T>(v: unknown, pick: (x: any) => T | undefined): T[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const out: T[] = [];
  for (const x of v) {
    const y = pick(x);
    if (y !== undefined) out.push(y);
  }
  return out;
}

function nonEmpty(...vals: Array<string | undefined>): string[] {
  const out: string[] = [];
  for (const v of vals) if (v && !out.includes(v)) out.push(v);
  return out;
}

function endpointVars(side: 'src' | 'dst'): Record<string, Variable> {
  const ep = (e: Entry): Endpoint | undefined => e[side];
  const s = side === 'src' ? 'source' : 'destination';
  return {
    [`${side}.ip`]: { type: 'string', get: (e) => ep(e)?.ip, doc: `${s} IP address` },
    [`${side}.port`]: { type: 'int', get: (e) => ep(e)?.port, doc: `${s} port` },
    [`${side}.name`]: { type: 'string', get: (e) => ep(e)?.name, doc: `${s} name: pod, else service, else node name, from Kubernetes enrichment (never a DNS name from the capture)` },
    [`${side}.namespace`]: { type: 'string', get: (e) => ep(e)?.namespace, doc: `${s} namespace` },
    [`${side}.pod.name`]: { type: 'string', get: (e) => ep(e)?.pod, doc: `${s} pod name` },
    [`${side}.pod.namespace`]: { type: 'string', get: (e) => (ep(e)?.pod ? ep(e)?.namespace : undefined), doc: `${s} pod's namespace` },
    [`${side}.service.name`]: { type: 'string', get: (e) => ep(e)?.service, doc: `${s} service name` },
    [`${side}.service.namespace`]: { type: 'string', get: (e) => (ep(e)?.service ? ep(e)?.namespace : undefined), doc: `${s} service's namespace` },
    [`${side}.node.name`]: { type: 'string', get: (e) => ep(e)?.node, doc: `${s} node name` },
    [`${side}.workload`]: { type: 'string', get: (e) => ep(e)?.workload, doc: `${s} owning workload` },
    [`${side}.labels`]: { type: 'map', get: (e) => ep(e)?.labels, doc: `${s} pod labels` },
  };
}

function buildVariables(): Map<string, Variable> {
  const v: Record<string, Variable> = {};
  for (const name of PROTOCOL_NAMES) {
    const p = PROTOCOL_ALIASES[name] ?? name;
    v[name] = { type: 'bool', get: (e) => e.protocol === p, doc: `true when entry.protocol is "${p}"` };
  }
  Object.assign(v, endpointVars('src'), endpointVars('dst'), {
    error: { type: 'bool', get: (e: Entry) => e.error, doc: 'entry.error (HTTP ≥ 500, DNS rcode ≠ 0, Redis error, reset, unanswered …)' },
    protocol: { type: 'string', get: (e: Entry) => e.protocol, doc: 'entry.protocol' },
    summary: { type: 'string', get: (e: Entry) => e.summary, doc: 'entry.summary' },
    namespaces: { type: 'list', get: (e: Entry) => nonEmpty(e.src?.namespace, e.dst?.namespace), doc: 'namespaces of both ends' },
    pods: { type: 'list', get: (e: Entry) => nonEmpty(e.src?.pod, e.dst?.pod), doc: 'pod names of both ends' },
    services: { type: 'list', get: (e: Entry) => nonEmpty(e.src?.service, e.dst?.service), doc: 'service names of both ends' },
    node_name: { type: 'string', get: (e: Entry) => e.node?.name ?? (e.src?.node || e.dst?.node || undefined), doc: 'capture node (entry.node.name, else src/dst node)' },
    timestamp: { type: 'timestamp', get: (e: Entry) => e.timestamp, doc: 'entry.timestamp (Unix ms; compare with timestamp("…"), now(), duration("…"))' },
    elapsed_time: { type: 'int', get: (e: Entry) => (typeof e.elapsedTime === 'number' ? Math.round(e.elapsedTime * 1000) : undefined), doc: 'entry.elapsedTime in µs (as Kubeshark)' },
    request_size: { type: 'int', get: (e: Entry) => e.requestSize, doc: 'entry.requestSize' },
    response_size: { type: 'int', get: (e: Entry) => e.responseSize, doc: 'entry.responseSize' },
    local_labels: { type: 'map', get: (e: Entry) => e.src?.labels, doc: 'src.labels (Kubernetes pod labels of the client side)' },
    remote_labels: { type: 'map', get: (e: Entry) => e.dst?.labels, doc: 'dst.labels (Kubernetes pod labels of the server side)' },

    // HTTP
    method: { type: 'string', get: (e: Entry) => (isHttpish(e) ? str(req(e).method) : undefined), doc: 'request.method (HTTP, HTTP/2)' },
    url: { type: 'string', get: (e: Entry) => (isHttpish(e) ? (str(req(e).url) ?? str(req(e).path)) : undefined), doc: 'request.url (else request.path)' },
    path: { type: 'string', get: (e: Entry) => (isHttpish(e) ? pathOnly(e) : undefined), doc: 'request.path without the query string' },
    // Kubeshark gives DNS entries a status too, the rcode: its docs find failed lookups with `dns && dns_response && status_code != 0`.
    status_code: { type: 'int', get: (e: Entry) => (isHttpish(e) ? num(res(e).status) : is(e, 'dns') ? num(res(e).rcode) : undefined), doc: 'response.status (HTTP, HTTP/2); response.rcode for DNS (as Kubeshark)' },
    http_version: { type: 'string', get: (e: Entry) => str(req(e).httpVersion) ?? str(req(e).version), doc: 'request.httpVersion' },
    query_string: { type: 'string', get: (e: Entry) => (isHttpish(e) ? queryString(e) : undefined), doc: 'the URL after "?"; indexed, a map of each parameter\'s first value (query_string["id"], "id" in query_string)' },
    'request.headers': { type: 'map', get: (e: Entry) => req(e).headers, doc: 'request.headers (lookups ignore case)' },
    'response.headers': { type: 'map', get: (e: Entry) => res(e).headers, doc: 'response.headers (lookups ignore case)' },
    'request.cookies': { type: 'map', get: (e: Entry) => req(e).cookies, doc: 'request.cookies' },
    request_body_size: { type: 'int', get: (e: Entry) => num(req(e).bodySize) ?? (isHttpish(e) ? e.requestSize : undefined), doc: 'request.bodySize, else entry.requestSize' },
    response_body_size: { type: 'int', get: (e: Entry) => num(res(e).bodySize) ?? (isHttpish(e) ? e.responseSize : undefined), doc: 'response.bodySize, else entry.responseSize' },

    // DNS
    dns_questions: { type: 'list', get: (e: Entry) => (is(e, 'dns') ? list(req(e).questions ?? res(e).questions, (q) => str(q?.name)) : undefined), doc: 'names in request.questions[]' },
    dns_question_types: { type: 'list', get: (e: Entry) => (is(e, 'dns') ? list(req(e).questions ?? res(e).questions, (q) => str(q?.type)) : undefined), doc: 'types in request.questions[] ("A", "AAAA" …)' },
    dns_answers: { type: 'list', get: (e: Entry) => (is(e, 'dns') ? list(res(e).answers, (a) => str(a?.data) ?? str(a?.name)) : undefined), doc: 'data of response.answers[] (addresses, names)' },
    dns_answer_names: { type: 'list', get: (e: Entry) => (is(e, 'dns') ? list(res(e).answers, (a) => str(a?.name)) : undefined), doc: 'names of response.answers[]' },
    dns_rcode: { type: 'int', get: (e: Entry) => (is(e, 'dns') ? num(res(e).rcode) : undefined), doc: 'response.rcode' },
    dns_request: { type: 'bool', get: (e: Entry) => is(e, 'dns') && e.request !== null, doc: 'a DNS entry with a request' },
    dns_response: { type: 'bool', get: (e: Entry) => is(e, 'dns') && e.response !== null, doc: 'a DNS entry with a response' },

    // gRPC
    // Kubeshark's grpc_method is the method's name alone, the last segment of :path (its docs: `grpc_method == "SayHello"`); the full path is `path`.
    grpc_method: { type: 'string', get: (e: Entry) => (is(e, 'grpc') ? grpcMethod(e) : undefined), doc: 'the method\'s name, the last segment of the path ("SayHello" of /helloworld.Greeter/SayHello), as Kubeshark; the whole path is `path`' },
    // Another protocol's entry has the int default 0, as in Kubeshark, so `grpc_status != 0` alone finds failed
    // gRPC calls only; a gRPC call whose status the capture lacks is −1, never taken for OK.
    grpc_status: { type: 'int', get: (e: Entry) => (is(e, 'grpc') ? (num(res(e).grpcStatus) ?? -1) : undefined), doc: 'response.grpcStatus; −1 for a gRPC call without one (unanswered, trailers lost); 0 on other protocols' },

    // Redis
    // Kubeshark's redis_type is the command's verb (its docs: `redis && redis_type == "GET"`); the reply's RESP type is response.type.
    redis_type: { type: 'string', get: (e: Entry) => (is(e, 'redis') ? str(req(e).command) : undefined), doc: 'request.command, the verb (GET, SET …), as Kubeshark; the reply\'s RESP type is `response.type`' },
    // Kubeshark's redis_command is the whole command line (its docs: `"GET session:1234"`); the verb alone is redis_type.
    redis_command: { type: 'string', get: (e: Entry) => (is(e, 'redis') ? redisCommandLine(e) : undefined), doc: 'the command line, verb and arguments ("GET session:1234"), as Kubeshark; the verb alone is `redis_type`' },
    redis_key: { type: 'string', get: (e: Entry) => (is(e, 'redis') ? str(req(e).key) : undefined), doc: 'request.key' },

    // Kafka, AMQP
    kafka_api_key_name: { type: 'string', get: (e: Entry) => (is(e, 'kafka') ? str(req(e).apiKeyName) : undefined), doc: 'request.apiKeyName' },
    kafka_client_id: { type: 'string', get: (e: Entry) => (is(e, 'kafka') ? str(req(e).clientId) : undefined), doc: 'request.clientId' },
    kafka_group_id: { type: 'string', get: (e: Entry) => (is(e, 'kafka') ? str(req(e).groupId) : undefined), doc: 'request.groupId: the consumer group of JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch' },
    kafka_error_code: { type: 'int', get: (e: Entry) => (is(e, 'kafka') ? num(res(e).errorCode) : undefined), doc: 'response.errorCode: the first error of the response (0 when none)' },
    amqp_method: { type: 'string', get: (e: Entry) => (is(e, 'amqp') ? str(req(e).method) : undefined), doc: 'request.method' },

    // SQL
    mysql_query: { type: 'string', get: (e: Entry) => (is(e, 'mysql') ? str(req(e).query) : undefined), doc: 'request.query' },
    mysql_error_code: { type: 'int', get: (e: Entry) => (is(e, 'mysql') ? num(res(e).errorCode) : undefined), doc: 'response.errorCode (0 when none)' },
    mysql_command: { type: 'string', get: (e: Entry) => (is(e, 'mysql') ? str(req(e).command) : undefined), doc: 'request.command (query, prepare, execute, init_db …)' },
    mysql_database: { type: 'string', get: (e: Entry) => (is(e, 'mysql') ? str(req(e).database) : undefined), doc: 'request.database' },
    mysql_statement_id: { type: 'int', get: (e: Entry) => (is(e, 'mysql') ? num(req(e).statementId ?? res(e).statementId) : undefined), doc: 'request.statementId, else response.statementId (a prepare\'s answer)' },
    mysql_error_message: { type: 'string', get: (e: Entry) => (is(e, 'mysql') ? str(res(e).errorMessage) : undefined), doc: 'response.errorMessage ("" when none)' },
    mysql_success: { type: 'bool', get: (e: Entry) => is(e, 'mysql') && e.response !== null && !e.error && !res(e).errorCode, doc: 'answered without error' },
    postgresql_query: { type: 'string', get: (e: Entry) => (is(e, 'postgresql') ? str(req(e).query) : undefined), doc: 'request.query' },
    postgresql_error_code: { type: 'string', get: (e: Entry) => (is(e, 'postgresql') ? str(res(e).errorCode) : undefined), doc: 'response.errorCode (SQLSTATE, "" when none)' },
    postgresql_command: { type: 'string', get: (e: Entry) => (is(e, 'postgresql') ? sqlCommand(res(e).commandTag, req(e).query) : undefined), doc: 'the command: the first word of response.commandTag ("SELECT", "INSERT" …), else of request.query' },
    postgresql_database: { type: 'string', get: (e: Entry) => (is(e, 'postgresql') ? str(req(e).database) : undefined), doc: 'request.database' },
    postgresql_user: { type: 'string', get: (e: Entry) => (is(e, 'postgresql') ? str(req(e).user) : undefined), doc: 'request.user' },
    postgresql_error_message: { type: 'string', get: (e: Entry) => (is(e, 'postgresql') ? str(res(e).errorMessage) : undefined), doc: 'response.errorMessage ("" when none)' },
    postgresql_success: { type: 'bool', get: (e: Entry) => is(e, 'postgresql') && e.response !== null && !e.error && !res(e).errorCode, doc: 'answered without error' },

    // WebSocket (entry.protocol "ws")
    ws_opcode: { type: 'string', get: (e: Entry) => (is(e, 'ws') ? str(req(e).opcode) : undefined), doc: 'request.opcode (text, binary, close, ping)' },
    ws_from: { type: 'string', get: (e: Entry) => (is(e, 'ws') ? str(req(e).from) : undefined), doc: 'request.from: the side that sent the message (client, server)' },
    ws_close_code: { type: 'int', get: (e: Entry) => (is(e, 'ws') ? num(req(e).closeCode) : undefined), doc: 'request.closeCode (0 when not a close)' },

    // MQTT
    mqtt_type: { type: 'string', get: (e: Entry) => (is(e, 'mqtt') ? str(req(e).type ?? res(e).type) : undefined), doc: 'request.type (CONNECT, PUBLISH, SUBSCRIBE …; the response\'s when there is no request)' },
    mqtt_topic: { type: 'string', get: (e: Entry) => (is(e, 'mqtt') ? str(req(e).topic) : undefined), doc: 'request.topic (PUBLISH)' },
    mqtt_topics: { type: 'list', get: (e: Entry) => (is(e, 'mqtt') ? mqttTopics(e) : undefined), doc: 'the topic of a PUBLISH, the topic filters of a (UN)SUBSCRIBE' },
    mqtt_qos: { type: 'int', get: (e: Entry) => (is(e, 'mqtt') ? num(req(e).qos) : undefined), fallback: -1, doc: 'request.qos (PUBLISH); −1 otherwise' },
    mqtt_client_id: { type: 'string', get: (e: Entry) => (is(e, 'mqtt') ? str(req(e).clientId) : undefined), doc: 'request.clientId (CONNECT)' },
    mqtt_reason_code: { type: 'int', get: (e: Entry) => (is(e, 'mqtt') ? num(res(e).reasonCode ?? res(e).returnCode) : undefined), doc: 'response.reasonCode (MQTT 5) or CONNACK returnCode (3.1.1)' },

    // NATS
    nats_op: { type: 'string', get: (e: Entry) => (is(e, 'nats') ? str(req(e).op) : undefined), doc: 'request.op (PUB, HPUB, MSG, SUB, CONNECT, INFO, PING …)' },
    nats_subject: { type: 'string', get: (e: Entry) => (is(e, 'nats') ? str(req(e).subject) : undefined), doc: 'request.subject' },
    nats_reply_to: { type: 'string', get: (e: Entry) => (is(e, 'nats') ? str(req(e).replyTo) : undefined), doc: 'request.replyTo (the reply subject of a request)' },

    // Memcached
    memcached_command: { type: 'string', get: (e: Entry) => (is(e, 'memcached') ? str(req(e).command ?? req(e).opcodeName) : undefined), doc: 'request.command (text) or request.opcodeName (binary)' },
    memcached_key: { type: 'string', get: (e: Entry) => (is(e, 'memcached') ? str(req(e).key) : undefined), doc: 'request.key (the first key of a multi-key get)' },
    memcached_status: { type: 'string', get: (e: Entry) => (is(e, 'memcached') ? str(res(e).statusName ?? res(e).status) : undefined), doc: 'response.status (STORED, END, NOT_FOUND …) or response.statusName (binary)' },
    memcached_hits: { type: 'int', get: (e: Entry) => (is(e, 'memcached') ? num(res(e).hits) : undefined), doc: 'response.hits of a retrieval' },
    memcached_misses: { type: 'int', get: (e: Entry) => (is(e, 'memcached') ? num(res(e).misses) : undefined), doc: 'response.misses of a retrieval' },

    // SOCKS
    socks_command: { type: 'string', get: (e: Entry) => (is(e, 'socks') ? str(req(e).command) : undefined), doc: 'request.command (CONNECT, BIND, UDP ASSOCIATE)' },
    socks_host: { type: 'string', get: (e: Entry) => (is(e, 'socks') ? str(req(e).host) : undefined), doc: 'request.host: the target the client asked the proxy for' },
    socks_port: { type: 'int', get: (e: Entry) => (is(e, 'socks') ? num(req(e).port) : undefined), doc: 'request.port: the target port' },
    socks_reply: { type: 'string', get: (e: Entry) => (is(e, 'socks') ? str(res(e).reply) : undefined), doc: 'response.reply (succeeded, connection refused, granted, rejected …)' },

    // MongoDB, Cassandra CQL, LDAP, RADIUS, Diameter
    mongodb_command: { type: 'string', get: (e: Entry) => (is(e, 'mongodb') ? str(req(e).command) : undefined), doc: 'request.command (find, insert, saslStart …)' },
    mongodb_database: { type: 'string', get: (e: Entry) => (is(e, 'mongodb') ? str(req(e).database) : undefined), doc: 'request.database' },
    mongodb_collection: { type: 'string', get: (e: Entry) => (is(e, 'mongodb') ? str(req(e).collection) : undefined), doc: 'request.collection' },
    mongodb_success: { type: 'bool', get: (e: Entry) => is(e, 'mongodb') && e.response !== null && e.response !== undefined && !e.error && res(e).errmsg === undefined && res(e).ok !== 0, doc: 'answered without error' },
    mongodb_error_code: { type: 'int', get: (e: Entry) => (is(e, 'mongodb') ? num(res(e).code) : undefined), doc: 'response.code (0 when none), as mongodb_code' },
    mongodb_error_message: { type: 'string', get: (e: Entry) => (is(e, 'mongodb') ? str(res(e).errmsg) : undefined), doc: 'response.errmsg' },
    mongodb_error_code_name: { type: 'string', get: (e: Entry) => (is(e, 'mongodb') ? str(res(e).codeName) : undefined), doc: 'response.codeName' },
    mongodb_code: { type: 'int', get: (e: Entry) => (is(e, 'mongodb') ? num(res(e).code) : undefined), doc: 'response.code (0 when none)' },
    cql_opcode: { type: 'string', get: (e: Entry) => (is(e, 'cql') ? str(req(e).opcode) : undefined), doc: 'request.opcode (QUERY, PREPARE, EXECUTE, BATCH …)' },
    cql_query: { type: 'string', get: (e: Entry) => (is(e, 'cql') ? str(req(e).query) : undefined), doc: 'request.query (statement text)' },
    cql_error_code: { type: 'int', get: (e: Entry) => (is(e, 'cql') ? num(res(e).errorCode) : undefined), doc: 'response.errorCode (0 when none)' },
    ldap_operation: { type: 'string', get: (e: Entry) => (is(e, 'ldap') ? str(req(e).operation) : undefined), doc: 'request.operation (bindRequest, searchRequest …)' },
    ldap_dn: { type: 'string', get: (e: Entry) => (is(e, 'ldap') ? str(req(e).dn) : undefined), doc: 'request.dn (bind name, search base, entry)' },
    ldap_filter: { type: 'string', get: (e: Entry) => (is(e, 'ldap') ? str(req(e).filter) : undefined), doc: 'request.filter (RFC 4515 text)' },
    ldap_result_code: { type: 'int', get: (e: Entry) => (is(e, 'ldap') ? num(res(e).resultCode) : undefined), doc: 'response.resultCode (0 success)' },
    radius_code: { type: 'string', get: (e: Entry) => (is(e, 'radius') ? str(req(e).code) : undefined), doc: 'request.code (Access-Request, Accounting-Request …)' },
    radius_response_code: { type: 'string', get: (e: Entry) => (is(e, 'radius') ? str(res(e).code) : undefined), doc: 'response.code (Access-Accept, Access-Reject …)' },
    radius_user: { type: 'string', get: (e: Entry) => (is(e, 'radius') ? str(req(e).attributes?.['User-Name']) : undefined), doc: 'request.attributes["User-Name"]' },
    diameter_command: { type: 'string', get: (e: Entry) => (is(e, 'diameter') ? str(req(e).command) : undefined), doc: 'request.command (CER, DWR, CCR …)' },
    diameter_application: { type: 'string', get: (e: Entry) => (is(e, 'diameter') ? str(req(e).application) : undefined), doc: 'request.application (Diameter Common Messages, Diameter Credit Control …)' },
    diameter_result_code: { type: 'int', get: (e: Entry) => (is(e, 'diameter') ? num(res(e).resultCode) : undefined), doc: 'response.resultCode (2001 success)' },
  });
  Object.assign(v, kubesharkProtocolVars());
  for (const [name, reads] of Object.entries(READS)) if (v[name]) v[name].reads = reads;
  for (const name of PROTOCOL_NAMES) v[name].reads = ['protocol'];
  for (const k of Object.keys(v)) {
    if (k.startsWith('src.')) v[k].reads = ['src'];
    if (k.startsWith('dst.')) v[k].reads = ['dst'];
  }
  return new Map(Object.entries(v));
}

const HTTP_REQ = (...f: string[]) => ['protocol', ...f.map((x) => `request.${x}`)];
const READS: Record<string, string[]> = {
  error: ['error'],
  protocol: ['protocol'],
  summary: ['summary'],
  namespaces: ['src', 'dst'],
  pods: ['src', 'dst'],
  services: ['src', 'dst'],
  node_name: ['node', 'src', 'dst'],
  timestamp: ['timestamp'],
  elapsed_time: ['elapsedTime'],
  request_size: ['requestSize'],
  response_size: ['responseSize'],
  local_labels: ['src'],
  remote_labels: ['dst'],
  method: HTTP_REQ('method'),
  url: HTTP_REQ('url', 'path'),
  path: HTTP_REQ('url', 'path'),
  query_string: HTTP_REQ('url', 'path', 'queryString', 'query'),
  status_code: ['protocol', 'response.status', 'response.rcode'],
  http_version: HTTP_REQ('httpVersion', 'version'),
  'request.headers': ['request.headers'],
  'response.headers': ['response.headers'],
  'request.cookies': ['request.cookies'],
  request_body_size: ['protocol', 'request.bodySize', 'requestSize'],
  response_body_size: ['protocol', 'response.bodySize', 'responseSize'],
  dns_questions: ['protocol', 'request.questions', 'response.questions'],
  dns_question_types: ['protocol', 'request.questions', 'response.questions'],
  dns_answers: ['protocol', 'response.answers'],
  dns_answer_names: ['protocol', 'response.answers'],
  dns_rcode: ['protocol', 'response.rcode'],
  dns_request: ['protocol', 'request'],
  dns_response: ['protocol', 'response'],
  grpc_method: ['protocol', 'request.method', 'request.path'],
  grpc_status: ['protocol', 'response.grpcStatus'],
  redis_type: ['protocol', 'request.command'],
  redis_command: ['protocol', 'request.command', 'request.args'],
  redis_key: ['protocol', 'request.key'],
  kafka_api_key_name: ['protocol', 'request.apiKeyName'],
  kafka_client_id: ['protocol', 'request.clientId'],
  kafka_group_id: ['protocol', 'request.groupId'],
  kafka_error_code: ['protocol', 'response.errorCode'],
  amqp_method: ['protocol', 'request.method'],
  mysql_query: ['protocol', 'request.query'],
  mysql_error_code: ['protocol', 'response.errorCode'],
  mysql_success: ['protocol', 'response', 'error'],
  mysql_command: ['protocol', 'request.command'],
  mysql_database: ['protocol', 'request.database'],
  mysql_statement_id: ['protocol', 'request.statementId', 'response.statementId'],
  mysql_error_message: ['protocol', 'response.errorMessage'],
  postgresql_query: ['protocol', 'request.query'],
  postgresql_error_code: ['protocol', 'response.errorCode'],
  postgresql_success: ['protocol', 'response', 'error'],
  postgresql_command: ['protocol', 'response.commandTag', 'request.query'],
  postgresql_database: ['protocol', 'request.database'],
  postgresql_user: ['protocol', 'request.user'],
  postgresql_error_message: ['protocol', 'response.errorMessage'],
  ws_opcode: ['protocol', 'request.opcode'],
  ws_from: ['protocol', 'request.from'],
  ws_close_code: ['protocol', 'request.closeCode'],
  mqtt_type: ['protocol', 'request.type', 'response.type'],
  mqtt_topic: ['protocol', 'request.topic'],
  mqtt_topics: ['protocol', 'request.topic', 'request.topics'],
  mqtt_qos: ['protocol', 'request.qos'],
  mqtt_client_id: ['protocol', 'request.clientId'],
  mqtt_reason_code: ['protocol', 'response.reasonCode', 'response.returnCode'],
  nats_op: ['protocol', 'request.op'],
  nats_subject: ['protocol', 'request.subject'],
  nats_reply_to: ['protocol', 'request.replyTo'],
  memcached_command: ['protocol', 'request.command', 'request.opcodeName'],
  memcached_key: ['protocol', 'request.key'],
  memcached_status: ['protocol', 'response.status', 'response.statusName'],
  memcached_hits: ['protocol', 'response.hits'],
  memcached_misses: ['protocol', 'response.misses'],

  mongodb_command: ['protocol', 'request.command'],
  mongodb_database: ['protocol', 'request.database'],
  mongodb_collection: ['protocol', 'request.collection'],
  mongodb_code: ['protocol', 'response.code'],
  mongodb_success: ['protocol', 'response', 'error'],
  mongodb_error_code: ['protocol', 'response.code'],
  mongodb_error_message: ['protocol', 'response.errmsg'],
  mongodb_error_code_name: ['protocol', 'response.codeName'],
  cql_opcode: ['protocol', 'request.opcode'],
  cql_query: ['protocol', 'request.query'],
  cql_error_code: ['protocol', 'response.errorCode'],
  ldap_operation: ['protocol', 'request.operation'],
  ldap_dn: ['protocol', 'request.dn'],
  ldap_filter: ['protocol', 'request.filter'],
  ldap_result_code: ['protocol', 'response.resultCode'],
  radius_code: ['protocol', 'request.code'],
  radius_response_code: ['protocol', 'response.code'],
  radius_user: ['protocol', 'request.attributes'],
  diameter_command: ['protocol', 'request.command'],
  diameter_application: ['protocol', 'request.application'],
  diameter_result_code: ['protocol', 'response.resultCode'],
};

// Kubeshark gives most protocols the same few variables, named after the protocol: its sizes
// (`redis_request_size`; `_length` for some), whether the call has a request or a response
// (`kafka_request`), and its summary line (`amqp_summary`). They read shark's own fields.
const SIZE_SUFFIX: Record<string, 'size' | 'length'> = {
  redis: 'size', mysql: 'size', postgresql: 'size', tls: 'size', kafka: 'size',
  dns: 'length', amqp: 'length', ldap: 'length', radius: 'length', diameter: 'length',
};
const WITH_REQUEST_RESPONSE = ['kafka', 'amqp', 'ldap', 'radius', 'diameter', 'ws'];
const SUMMARY_NAMES: Record<string, string> = {
  tls_summary: 'tls', amqp_summary: 'amqp', ldap_summary: 'ldap', diameter_summary: 'diameter', kafka_request_summary: 'kafka',
};

function kubesharkProtocolVars(): Record<string, Variable> {
  const v: Record<string, Variable> = {};
  for (const [p, suffix] of Object.entries(SIZE_SUFFIX)) {
    const reads = ['protocol', 'requestSize', 'responseSize'];
    v[`${p}_request_${suffix}`] = { type: 'int', get: (e) => (is(e, p) ? num(e.requestSize) : undefined), doc: `entry.requestSize of a ${p} entry`, reads };
    v[`${p}_response_${suffix}`] = { type: 'int', get: (e) => (is(e, p) ? num(e.responseSize) : undefined), doc: `entry.responseSize of a ${p} entry`, reads };
    v[`${p}_total_size`] = { type: 'int', get: (e) => (is(e, p) ? (num(e.requestSize) ?? 0) + (num(e.responseSize) ?? 0) : undefined), doc: `requestSize + responseSize of a ${p} entry`, reads };
  }
  for (const p of WITH_REQUEST_RESPONSE) {
    const proto = PROTOCOL_ALIASES[p] ?? p;
    v[`${p}_request`] = { type: 'bool', get: (e) => is(e, proto) && e.request !== null && e.request !== undefined, doc: `a ${p} entry with a request`, reads: ['protocol', 'request'] };
    v[`${p}_response`] = { type: 'bool', get: (e) => is(e, proto) && e.response !== null && e.response !== undefined, doc: `a ${p} entry with a response`, reads: ['protocol', 'response'] };
  }
  for (const [name, p] of Object.entries(SUMMARY_NAMES)) {
    v[name] = { type: 'string', get: (e) => (is(e, p) ? str(e.summary) : undefined), doc: `entry.summary of a ${p} entry`, reads: ['protocol', 'summary'] };
  }
  v.radius_code_name = { type: 'string', get: (e) => (is(e, 'radius') ? str(req(e).code) : undefined), doc: 'request.code (Access-Request …), as radius_code', reads: ['protocol', 'request.code'] };
  return v;
}

function isHttpish(e: Entry): boolean {
  return e.protocol === 'http' || e.protocol === 'http2' || e.protocol === 'http3' || e.protocol === 'grpc';
}

function mqttTopics(e: Entry): string[] {
  const r = req(e);
  if (typeof r.topic === 'string') return [r.topic];
  return list(r.topics, (t) => str(t?.topic)) ?? [];
}

/** The method's name: request.method when it is one (shark's gRPC entries), else the last segment of the path. */
function grpcMethod(e: Entry): string | undefined {
  const r = req(e);
  const m = str(r.method) ?? str(r.path);
  if (m === undefined) return undefined;
  return m.slice(m.lastIndexOf('/') + 1);
}

/** `GET session:1234`: the verb and its arguments, as the client sent them (the dissector masks AUTH's password). */
function redisCommandLine(e: Entry): string | undefined {
  const r = req(e);
  const verb = str(r.command);
  if (verb === undefined) return undefined;
  if (!Array.isArray(r.args) || r.args.length === 0) return verb;
  return `${verb} ${r.args.map((a: unknown) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ')}`;
}

/** `SELECT 1` → SELECT; without a tag (an error, no answer) the statement's first word, upper case. */
function sqlCommand(tag: unknown, query: unknown): string | undefined {
  const from = str(tag) ?? str(query);
  if (from === undefined) return undefined;
  const word = /^\s*([A-Za-z]+)/.exec(from);
  return word ? word[1].toUpperCase() : '';
}

export const KFL2_VARIABLES: ReadonlyMap<string, Variable> = buildVariables();

/** Entry fields a KFL2 path may start with when it is not one of the variables above. */
export const ENTRY_ROOTS = new Set([
  'id',
  'timestamp',
  'protocol',
  'transport',
  'elapsedTime',
  'src',
  'dst',
  'request',
  'response',
  'error',
  'requestSize',
  'responseSize',
  'summary',
  'warnings',
  'frames',
  'node',
]);
