// The one entry redactor every writer of entries (or of strings made from
// entries) passes through. Values of sensitive names become "[REDACTED]" in
// headers, gRPC metadata, query parameters, cookies, form and multipart fields
// and JSON bodies at any depth; URL passwords anywhere; Redis and SQL
// passwords; and any value taken out is also taken out of the summary line.
// Protocol structure (a Redis key, a Kafka apiKey, a path) is left readable.
// Copy-on-write: an entry with nothing to redact comes back as the same
// object, so callers can write its original line untouched.

import { isUtf8 } from 'node:buffer';
import type { Entry } from '../model/entry.js';
import { SensitiveNames, DEFAULT_SENSITIVE_KEYS, type NameKind } from './names.js';
import { REDACTED, redactUrlText, redactUserinfo } from './urls.js';
import { isBase64Credentials, mayBeBase64Text, redactBase64Body, redactBodyText, redactJsonText, startsAsJson } from './bodies.js';
import { countValues } from '../ndjson/value-count.js';
import { redactContentText } from './text.js';
import { CleanTexts } from './clean-texts.js';
import { sensitiveGraphqlVariables } from './graphql.js';
import { maskMemcachedSasl, maskNatsConnect, redactLdapFilter, redactRedisAclReply, redactRedisArgs, redactRedisConfigReply, redactRedisScript, redactSql } from './commands.js';
import { RedisValues, isSecretRecordKey } from './redis-values.js';
import { redactMonitorLine, redactSlowlog, redactStreamEntries } from './redis-monitor.js';
import { MAX_KNOWN, RedisScripts } from './redis-scripts.js';
import { parseFieldPath, redactPath } from './paths.js';
import { holdsKubernetesSecret, isKubernetesSecret, isSecretVolume, keyIsAName, redactKubernetesSecret } from './kubernetes.js';
import { redactProtoPair, sensitiveKey } from './protobuf-pairs.js';
import { redactJsonLiterals, redactSqlValues, sensitiveParameters } from './sql-values.js';
import { closesPemBlock, isWebhookHost, opensPrivateKey, redactBearerSubprotocol, redactSubprotocolTokens, redactWebhookPath } from './tokens.js';
import { redactPathTokens } from './path-tokens.js';
import { redactArgv } from './command-lines.js';
import { isJwk, redactJwk } from './jwk.js';
import { grpcSecretFields, redactGrpcFields } from './grpc-fields.js';
import { holdsSecretObject, kvKeyText } from './etcd-gateway.js';
import { isTextTokens } from './text-tokens.js';
import { redactDnsTxt } from './dns-records.js';
import { redactExecCommand } from './exec-query.js';
import { AwaitedAnswers, MAX_AWAITED, connectionKey, resultIsSecret, secretPositions } from './json-rpc.js';
import { isChallengeHeader, redactChallenges } from './challenges.js';
import { redactSqlPrograms } from './sql-program.js';
import { isVaultKvPath, isVaultKvRead, isVaultKvV1Read, isVaultKvWrite } from './vault.js';
import { isSensitiveOutput, redactTerraformResource } from './terraform-state.js';

export { REDACTED, DEFAULT_SENSITIVE_KEYS, parseFieldPath };

export interface RedactorOptions {
  /** false: return entries unchanged (`--no-redact`), except for explicit `paths`. Default true. */
  enabled?: boolean;
  /** Field paths (KFL1 redact("request.headers.x") and `--redact a.b`) to replace wherever present. */
  paths?: string[];
  /**
   * Where a limit the redactor hit is told (one line, no secret in it): a value cut or an entry too
   * large to search whole (once a kind, then with the run's totals at exit), Redis scripts forgotten.
   * Default: stderr, as `shark: …`.
   */
  warn?: (message: string) => void;
}

export type Redactor = (e: Entry) => Entry;

/** What redaction left unsearched (a run's totals): said on stderr by the command (redaction-budget.ts). */
export interface RedactionLimits {
  /** Strings over MAX_VALUE_CHARS cut to it before they were searched. */
  valuesCut: number;
  /** Entries whose search ran out of its work budget: values past that point withheld. */
  entriesOverBudget: number;
}

/**
 * Build an entry redactor. `extraFields` adds names (normalised like the
 * defaults); an item containing '.' or '[' is a field path instead.
 */
export function createRedactor(extraFields: string[] = [], opts: RedactorOptions = {}): Redactor & { limits?: RedactionLimits } {
  const extraNames: string[] = [];
  const paths: Array<Array<string | number>> = [];
  for (const f of [...extraFields, ...(opts.paths ?? [])]) {
    const name = f.trim();
    if (name === '') continue;
    if (/[.[]/.test(name)) paths.push(parseFieldPath(name));
    else extraNames.push(name);
  }
  // Paths asked for explicitly (KFL1 redact()) apply even when the default redaction is off.
  const explicitPaths = (opts.paths ?? []).map((p) => parseFieldPath(p.trim())).filter((p) => p.length > 0);
  if (opts.enabled === false) {
    if (explicitPaths.length === 0) return (e) => e;
    return (e) => explicitPaths.reduce(redactPath, e);
  }
  const warn = opts.warn ?? ((m: string) => process.stderr.write(`shark: ${m}\n`));
  const r = new EntryRedaction(new SensitiveNames(extraNames), warn);
  const say = limitReporter(r.limits, warn);
  const redact = (e: Entry): Entry => {
    const { valuesCut, entriesOverBudget } = r.limits;
    let out = r.entry(e);
    if (r.limits.valuesCut !== valuesCut || r.limits.entriesOverBudget !== entriesOverBudget) say();
    for (const p of paths) out = redactPath(out, p);
    return out;
  };
  return Object.assign(redact, { limits: r.limits });
}

/**
 * Says on stderr (through `say`) the first time a value is cut and the first time an entry is over
 * its budget, and the run's totals when the process exits (a run may cut thousands).
 */
function limitReporter(limits: RedactionLimits, say: (message: string) => void): () => void {
  let cutSaid = false;
  let budgetSaid = false;
  let exitHooked = false;
  const totals = (): string => {
    const parts: string[] = [];
    const entries = (n: number): string => `${n} ${n === 1 ? 'entry' : 'entries'}`;
    if (limits.valuesCut > 0) parts.push(`${entries(limits.valuesCut)} with a value over ${MAX_VALUE_CHARS / 1024 / 1024} MB cut to that before redaction`);
    if (limits.entriesOverBudget > 0) parts.push(`${entries(limits.entriesOverBudget)} too large to search whole, values past ${MAX_ENTRY_WORK / 1024 / 1024} MB of work withheld`);
    return `redaction: ${parts.join('; ')}`;
  };
  return () => {
    if (!cutSaid && limits.valuesCut > 0) {
      cutSaid = true;
      say(`redaction: a value over ${MAX_VALUE_CHARS / 1024 / 1024} MB was cut to that before it was searched (a body says bodyTruncated)`);
    }
    if (!budgetSaid && limits.entriesOverBudget > 0) {
      budgetSaid = true;
      say(`redaction: an entry was too large to search whole: values past ${MAX_ENTRY_WORK / 1024 / 1024} MB of work withheld ([REDACTED], warning on the entry)`);
    }
    if (!exitHooked) {
      exitHooked = true;
      process.once('exit', () => {
        if (limits.valuesCut + limits.entriesOverBudget > 1) say(totals());
      });
    }
  };
}

/** A Secret (or the Secrets) of the core API: `/api/v1/namespaces/ns/secrets/db`, also behind `kubectl proxy` or a watch. */
const SECRET_URL = /\/secrets(?:\/|\?|$)/;
/** JSON patch paths into a Secret's values. */
const SECRET_VALUE_PATH = /^\/(?:data|stringData)(?:\/|$)/;

/** A database response's fields that quote the statement back (PostgreSQL's ErrorResponse, MySQL's ERR). */
const ERROR_FIELD = /^(?:error|errorMessage|message|detail|hint|notices?)$/i;

/** Objects whose keys are header names. */
const HEADER_FIELDS = new Set(['headers', 'trailers', 'metadata']);
/** Objects whose keys are parameter names. */
const PARAM_FIELDS = new Set(['query', 'queryparams', 'params', 'form', 'cookies']);
/** Fields whose value is a message body (a string, or already parsed). */
const BODY_FIELDS = new Set(['body', 'postdata', 'payload']);
/**
 * Objects holding decoded message content: gRPC messages decoded with a schema, GraphQL variables, a
 * Loki push's label sets, an OTLP export's service names and its receiver's error message.
 */
const CONTENT_FIELDS = new Set(['messages', 'decoded', 'variables', 'lokipush', 'otlp']);
/** Fields of request/response objects whose string value is a URL or query string (gRPC's method is cut from the path). */
const URL_FIELDS = new Set(['url', 'path', 'uri', 'target', 'querystring', 'referer', 'location', 'redirect', 'method']);
const SQL_PROTOCOLS = new Set(['postgresql', 'mysql']);
/**
 * CQL: statements that set a password (`CREATE ROLE … WITH PASSWORD = '…'`), and literals by column
 * as in SQL (`INSERT INTO users (name, password) VALUES …`), but for a column named `key`: every
 * driver asks `SELECT … FROM system.local WHERE key='local'` on connect, and a Thrift-era table's
 * partition key is named so.
 */
const PASSWORD_STATEMENT_PROTOCOLS = new Set(['cql']);
/** Redis commands that answer stream entries (`[id, [field, value, …]]`). */
const REDIS_STREAM_READS = new Set(['XRANGE', 'XREVRANGE', 'XREAD', 'XREADGROUP', 'XCLAIM', 'XAUTOCLAIM']);
const CQL_UNJUDGED_COLUMNS: ReadonlySet<string> = new Set(['key']);
/** The entry format's own top-level fields (docs/entry.md); request, response and summary are redacted on their own. */
const ENTRY_FIELDS = new Set([
  'id', 'timestamp', 'protocol', 'transport', 'elapsedTime', 'src', 'dst', 'request', 'response', 'error',
  'requestSize', 'responseSize', 'summary', 'warnings', 'frames', 'node',
]);
/** `k8s\0`, the magic number of Kubernetes' protobuf encoding, in base64 at the start of a field's bytes. */
const K8S_PROTOBUF_BASE64 = 'azhzAA';
/** Short values are not searched for in the summary: "1" would hit everywhere. */
const MIN_REPEATED_SECRET = 4;
/** A bound on the values one entry remembers for the summary (an attacker controls how many). */
const MAX_REMEMBERED = 64;
/** Deeper than this, an object or list is not searched but replaced whole: nesting cannot hide a secret. */
const MAX_DEPTH = 64;
/**
 * A string longer than this is cut to it before it is searched (a body: `bodyTruncated: true`), as
 * `--max-body` cuts one: searching is linear, but a 59 MB body took seconds, deaf to Ctrl-C.
 */
export const MAX_VALUE_CHARS = 4 * 1024 * 1024;
/**
 * The work one entry's search may take, so that every entry is redacted in a bounded time (a signal
 * is seen between entries, never inside one): a string searched costs its length, a member walked
 * (an object's key, a list's element) MEMBER_COST, and past an object's first DICTIONARY_MEMBERS
 * keys DICTIONARY_COST (V8 keeps such an object as a hash table, several times slower to walk:
 * 2M keys took 10 s). Past the budget, what the entry has not been searched yet is withheld.
 */
export const MAX_ENTRY_WORK = 16 * 1024 * 1024;
const MEMBER_COST = 16;
const DICTIONARY_MEMBERS = 4096;
const DICTIONARY_COST = 64;
/**
 * A value JSON.parse would build from a JSON text (value-count.ts), charged before the text is
 * parsed: JSON.parse cannot be interrupted, and a value costs it up to ~4 µs on a busy machine (a
 * one-key object of a key not seen before), as a dictionary key costs the walk. The budget holds
 * 262,144 such values: ~0.5 s of parsing at worst.
 */
const PARSE_COST = 64;
/**
 * JSON texts shorter than this are not counted: they cannot hold more values than characters (a few
 * ms of JSON.parse at most), and counting every body would scan each once more (most are never parsed).
 */
const COUNTED_JSON_FROM = 65_536;
/** Past the budget, an object or list that has walked this many members is withheld whole rather than finished. */
const MEMBERS_AFTER_BUDGET = 1024;
/** The warning an entry gets when its search ran out of budget. */
export const OVER_BUDGET_WARNING = `redaction: too large to search whole (over ${MAX_ENTRY_WORK / 1024 / 1024} MB of work); values past that withheld`;

/** Where a value sits: in protocol structure, or in headers, parameters or body content. */
type Zone = NameKind;

/** What a field name means to the walk, decided once per distinct name. */
interface FieldRole {
  /** The zone of the values below it. */
  child: Zone | undefined;
  body: boolean;
  url: boolean;
  query: boolean;
  /** `host`, `authority`: `user:pw@host` without a scheme. */
  authority: boolean;
}
const MAX_ROLES = 4096;

class EntryRedaction {
  /** Values taken out of the entry being redacted, to be taken out of its summary too. */
  private secrets: string[] = [];
  private sql = false;
  private passwordStatements = false;
  /**
   * The entry is a call on a Kubernetes Secret's URL: a merge patch (`{"data": {…}}`) or a JSON
   * patch (`[{"op": "replace", "path": "/data/db-pass", "value": …}]`) sent there carries no `kind`.
   */
  private secretUrl = false;
  /** The request's path of the entry being redacted (a Vault KV write is known by it). */
  private path: unknown;
  /** Bodies searched before and found clean (a repeated page or reply is not searched again). */
  private readonly clean = new CleanTexts();
  /** The entry's request is a JSON-RPC call whose answer is a secret (`dumpprivkey`, a login's token). */
  private rpcSecretResult = false;
  /** The ids of this entry's JSON-RPC calls whose answer is a secret: awaited on the connection when unanswered here. */
  private rpcIds: Array<string | number> = [];
  /** Calls whose answer comes as an entry of its own (a WebSocket message): by connection and id (json-rpc.ts). */
  private readonly rpcAwaited: AwaitedAnswers;
  /** Work spent searching the entry being redacted (MAX_ENTRY_WORK). */
  private work = 0;
  /** The entry's search ran past MAX_ENTRY_WORK: what is not searched yet is withheld. */
  private exhausted = false;
  /** A string of the entry was cut to MAX_VALUE_CHARS. */
  private cut = false;
  readonly limits: RedactionLimits = { valuesCut: 0, entriesOverBudget: 0 };

  private readonly roles = new Map<string, FieldRole>();

  constructor(
    private readonly names: SensitiveNames,
    warn: (message: string) => void,
  ) {
    this.redis = new RedisValues(names, this.json, this.remember);
    // Told the 1st, 2nd, 4th, 8th… time, as the scripts below.
    this.rpcAwaited = new AwaitedAnswers((times) => {
      if ((times & (times - 1)) === 0) warn(`redact: ${MAX_AWAITED.toLocaleString('en-US')} JSON-RPC calls awaiting a secret answer in a message of its own were remembered and the oldest forgotten to make room (${times} time${times === 1 ? '' : 's'} so far): an answer to one of those is judged as any message is`);
    });
    // Told the 1st, 2nd, 4th, 8th… time: a flood of loaded scripts cannot flood stderr.
    this.redisScripts = new RedisScripts((times) => {
      if ((times & (times - 1)) === 0) warn(`redact: ${MAX_KNOWN.toLocaleString('en-US')} Redis scripts or functions were remembered and forgotten to make room (${times} time${times === 1 ? '' : 's'} so far): EVALSHA and FCALL of those loaded earlier lose only arguments after a sensitive name`);
    });
  }

  private role(key: string): FieldRole {
    let r = this.roles.get(key);
    if (r === undefined) {
      const k = key.toLowerCase();
      const child = HEADER_FIELDS.has(k) ? 'header' : PARAM_FIELDS.has(k) ? 'param' : BODY_FIELDS.has(k) || CONTENT_FIELDS.has(k) ? 'field' : undefined;
      r = { child, body: BODY_FIELDS.has(k), url: URL_FIELDS.has(k), query: k === 'query', authority: k === 'host' || k === 'authority' };
      if (this.roles.size >= MAX_ROLES) this.roles.clear();
      this.roles.set(key, r);
    }
    return r;
  }

  /** A JSON document in a text (a SQL literal): redacted as a JSON body is. */
  private readonly jsonText = (s: string): string => redactJsonText(s, this.names, this.json);
  private readonly json = (v: object): object => (Array.isArray(v) ? this.array(v, 0, 'field') : this.object(v as Record<string, any>, 0, 'field'));
  private readonly redis: RedisValues;
  /** Scripts and functions loaded earlier in the run: what EVALSHA and FCALL pass as secrets. */
  private readonly redisScripts: RedisScripts;

  entry(e: Entry): Entry {
    this.secrets = [];
    this.rpcSecretResult = false;
    this.rpcIds = [];
    this.work = 0;
    this.exhausted = false;
    this.cut = false;
    this.sql = SQL_PROTOCOLS.has(e.protocol);
    this.passwordStatements = this.sql || PASSWORD_STATEMENT_PROTOCOLS.has(e.protocol);
    const path = e.request?.path;
    this.secretUrl = typeof path === 'string' && SECRET_URL.test(path);
    this.path = path;
    let req = this.side(e.request);
    if (req && typeof req === 'object') req = this.pathTokens(this.webhookPath(req));
    if (this.sql && req) req = this.sqlParameters(e.request!, req);
    let res = this.side(e.response);
    // Past the work budget a side may be withheld whole ("[REDACTED]"): nothing in it is left to search.
    if (typeof req === 'string' && typeof e.request === 'object') return this.overBudget(e, req, res);
    if (typeof res === 'string' && e.response !== null && typeof e.response === 'object') return this.overBudget(e, req, res);
    // The answer of a JSON-RPC call that returns a secret (a login's token, a private key): its body's quick scan finds no name.
    if (this.rpcSecretResult && res && typeof res === 'object' && typeof res.body === 'string') res = this.rpcResult(res);
    // A JSON-RPC answer in an entry of its own (a WebSocket message): its call, seen earlier on the
    // connection, said whether its result is a secret.
    if (this.rpcAwaited.size > 0) {
      const connection = connectionKey(e);
      if (connection !== undefined) {
        if (req && typeof req === 'object' && typeof req.body === 'string') req = this.rpcAnswer(req, connection);
        if (res && typeof res === 'object' && typeof res.body === 'string') res = this.rpcAnswer(res, connection);
      }
    }
    // A call whose answer is not in its entry: awaited on its connection.
    if (this.rpcIds.length > 0 && (e.response === null || e.response === undefined)) {
      const connection = connectionKey(e);
      if (connection !== undefined) for (const id of this.rpcIds) this.rpcAwaited.add(connection, id);
    }
    // A server's error quotes the statement (`syntax error at or near "…"`): what went from the request goes from it too.
    if (this.sql && res && this.secrets.length > 0) res = this.scrubbedErrors(res);
    // etcd's Auth and the KMS plugin API read without a schema: their secrets are known by field number.
    if (e.protocol === 'grpc') {
      req = this.grpcFields(e.request?.path, 'request', req);
      res = this.grpcFields(e.request?.path, 'response', res);
    }
    if (e.protocol === 'dns' && res && typeof res === 'object') res = redactDnsTxt(res, this.names, this.remember);
    let redisReplyRedacted = false;
    if (e.protocol === 'redis') {
      const command = typeof e.request?.command === 'string' ? e.request.command.toUpperCase() : '';
      const args: unknown[] = req && Array.isArray(req.args) ? req.args : [];
      if (req && Array.isArray(req.args)) {
        const original: unknown[] = req.args;
        const scripted = redactRedisScript(command, original, (name) => this.names.test(name, 'field'), this.remember, this.redisScripts, e.response?.value);
        const redacted = this.redis.args(command, redactRedisArgs(command, scripted, this.remember));
        if (redacted !== original) req = { ...req, args: redacted };
        // An entry from elsewhere (or from before EVAL_RO was keyless) may hold the script as its key too.
        if (scripted[0] !== original[0] && typeof req.key === 'string' && req.key === original[0]) req = { ...req, key: scripted[0] };
      }
      if (res && 'value' in res) {
        let value = res.value;
        // A command quoted back as data (SLOWLOG, MONITOR) is judged as that command is when sent.
        const judge = (name: string, words: unknown[]): unknown[] => this.redis.args(name, redactRedisArgs(name, words, this.remember));
        if (command === 'CONFIG') value = redactRedisConfigReply(value, this.remember);
        else if (command === 'ACL') value = redactRedisAclReply(value);
        else if (command === 'SLOWLOG') value = redactSlowlog(value, judge);
        else if (REDIS_STREAM_READS.has(command)) value = redactStreamEntries(value, (name) => this.names.test(name, 'field'), (v) => (this.remember(v), REDACTED));
        if (res.push === 'monitor' && typeof value === 'string') value = redactMonitorLine(value, judge);
        value = this.redis.reply(command, args, value);
        if (value !== res.value) {
          res = { ...res, value };
          redisReplyRedacted = true;
        }
      }
    }
    if (e.protocol === 'ldap' && req && typeof req.filter === 'string') {
      const filter = redactLdapFilter(req.filter, (a) => this.names.test(a, 'field'), this.remember);
      if (filter !== req.filter) req = { ...req, filter };
    }
    if (e.protocol === 'nats' && req && req.connect && typeof req.connect === 'object' && !Array.isArray(req.connect)) {
      const connect = maskNatsConnect(req.connect, REDACTED, this.remember);
      if (connect !== req.connect) req = { ...req, connect };
    }
    if (e.protocol === 'memcached') {
      if (req) req = this.memcachedValue(maskMemcachedSasl(req));
      if (res) {
        res = this.memcachedValue(res);
        if (Array.isArray(res.values)) {
          const values = res.values.map((v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? this.memcachedValue(v as Record<string, any>) : v));
          if (values.some((v: unknown, i: number) => v !== res.values[i])) res = { ...res, values };
        }
      }
    }
    let summary = typeof e.summary === 'string' ? this.boundedText(e.summary, this.summaryText) : e.summary;
    // A Redis summary quotes the start of the reply: once the reply was redacted, its outcome goes too
    // (a long secret's quoted start is not the secret the summary search looks for).
    if (redisReplyRedacted && typeof summary === 'string' && summary.includes(' → ')) summary = `${summary.slice(0, summary.lastIndexOf(' → '))} → ${REDACTED}`;
    const extra = this.extraFields(e);
    let warnings = Array.isArray(e.warnings) ? this.warnings(e.warnings) : e.warnings;
    if (this.exhausted) {
      this.limits.entriesOverBudget++;
      warnings = [...(Array.isArray(warnings) ? warnings : []), OVER_BUDGET_WARNING];
    }
    if (req === e.request && res === e.response && summary === e.summary && extra === undefined && warnings === e.warnings) return e;
    const out = { ...e, ...extra, request: req, response: res, summary };
    if (warnings !== e.warnings) out.warnings = warnings;
    return out;
  }

  /** An entry one of whose sides was withheld whole past the work budget: its summary and extra fields go too. */
  private overBudget(e: Entry, req: any, res: any): Entry {
    this.limits.entriesOverBudget++;
    const out: Record<string, unknown> = { ...e, request: req, response: res };
    for (const k in e) if (!ENTRY_FIELDS.has(k)) out[k] = this.redacted((e as unknown as Record<string, unknown>)[k]);
    if (typeof e.summary === 'string' && e.summary !== '') out.summary = REDACTED;
    out.warnings = [...(Array.isArray(e.warnings) ? e.warnings.map((w) => (typeof w === 'string' && w.indexOf('"') >= 0 ? REDACTED : w)) : []), OVER_BUDGET_WARNING];
    return out as unknown as Entry;
  }

  /**
   * Charge `n` units of work to the entry's budget; false once it is spent (then, and for the rest of
   * the entry, what is not searched yet is withheld).
   */
  private charge(n: number): boolean {
    if (this.exhausted) return false;
    this.work += n;
    if (this.work <= MAX_ENTRY_WORK) return true;
    this.exhausted = true;
    return false;
  }

  /**
   * `v` searched by `search`, within the budget: cut to MAX_VALUE_CHARS first, withheld ("[REDACTED]")
   * when the budget is spent.
   */
  private boundedText(v: string, search: (t: string) => string): string {
    if (v === '' || v === REDACTED) return v;
    const t = this.searchable(v);
    return t === undefined ? REDACTED : this.settled(v, t, search(t));
  }

  /**
   * What of `v` is searched: all of it, or its first MAX_VALUE_CHARS (counted); undefined when the
   * work budget cannot pay for it. With `settled`, boundedText in two halves for the paths every
   * string of every entry takes: a closure per string there was a sixth of all a run allocated.
   */
  private searchable(v: string): string | undefined {
    let t = v;
    if (t.length > MAX_VALUE_CHARS) {
      // A copy, not a slice: V8's slice keeps the whole string alive (a 64 MB body for 4 MB shown, in every call `view` holds).
      t = (' ' + t.slice(0, MAX_VALUE_CHARS)).slice(1);
      if (!this.cut) this.limits.valuesCut++;
      this.cut = true;
    }
    if (!this.charge(t.length)) return undefined;
    // A body of 300,000 one-key objects took 1.2 s to parse, deaf to signals: counted (and paid for) first.
    if (t.length >= COUNTED_JSON_FROM && startsAsJson(t) && !this.charge(countValues(t, Math.floor((MAX_ENTRY_WORK - this.work) / PARSE_COST)) * PARSE_COST)) return undefined;
    return t;
  }

  /** `v` after the search of its searchable text `t` gave `red`. */
  private settled(v: string, t: string, red: string): string {
    // The budget ran out inside it (a JSON body of 2M keys): what it holds was not all searched.
    if (this.exhausted) return REDACTED;
    return red === t ? (t.length === v.length ? v : t) : red;
  }


  /**
   * A request to a webhook host (`hooks.slack.com`, `discord.com`) whose path ends in its secret: the
   * host stands apart (`host`, `authority`, the Host header), so the path alone is not a webhook URL.
   */
  private webhookPath(req: Record<string, any>): Record<string, any> {
    const headers = req.headers !== null && typeof req.headers === 'object' ? req.headers : undefined;
    const host = firstString(req.host, req.authority, headers?.host, headers?.Host, headers?.[':authority']);
    if (host === undefined || !isWebhookHost(host)) return req;
    let out: Record<string, any> | undefined;
    for (const k of ['path', 'url']) {
      const v = req[k];
      if (typeof v !== 'string') continue;
      const red = redactWebhookPath(host, v);
      if (red === v) continue;
      const end = v.search(/[?#]|$/);
      this.remember(v.slice(v.lastIndexOf('/', end - 1) + 1, end));
      (out ??= { ...req })[k] = red;
    }
    return out ?? req;
  }

  /** A token as a path segment (`/reset/<token>`, `/api/token/<token>`; path-tokens.ts), in `path` and `url`. */
  private pathTokens(req: Record<string, any>): Record<string, any> {
    let out: Record<string, any> | undefined;
    for (const k of ['path', 'url']) {
      const v = req[k];
      if (typeof v !== 'string') continue;
      const red = redactPathTokens(v, this.remember);
      if (red !== v) (out ??= { ...req })[k] = red;
    }
    return out ?? req;
  }

  /** A gRPC request or response whose method carries secrets by field number (grpc-fields.ts). */
  private grpcFields(path: unknown, side: 'request' | 'response', o: any): any {
    const numbers = grpcSecretFields(path, side);
    if (!numbers || o === null || typeof o !== 'object' || !Array.isArray(o.messages)) return o;
    const messages = redactGrpcFields(o.messages, numbers, this.remember);
    return messages === o.messages ? o : { ...o, messages };
  }

  /** A memcached item's `value` is what the application stored: searched as a body is (`valueEncoding` as `bodyEncoding`). */
  private memcachedValue<T extends Record<string, any>>(o: T): T {
    const v = o.value;
    if (typeof v !== 'string' || v === REDACTED || v === '***') return o;
    // An item stored under a key that ends in a secret's name (`set u:1:password`), as Redis's are.
    if (typeof o.key === 'string' && v !== '' && isSecretRecordKey(o.key, this.names)) {
      this.remember(v);
      const out: Record<string, any> = { ...o, value: REDACTED };
      delete out.valueEncoding;
      return out as T;
    }
    if (o.valueEncoding === 'base64') {
      const red = redactBase64Body(v, this.names, this.json);
      if (red === undefined) return o;
      const out: Record<string, any> = { ...o, value: red.body };
      if (red.text) delete out.valueEncoding;
      return out as T;
    }
    const red = this.bodyText(v);
    return red === v ? o : { ...o, value: red };
  }

  /** Fields an entry from elsewhere (NDJSON) carries beyond the entry format: searched like protocol structure. */
  private extraFields(e: Entry): Record<string, unknown> | undefined {
    let changed: Record<string, unknown> | undefined;
    for (const k in e) {
      if (ENTRY_FIELDS.has(k)) continue;
      const v = (e as unknown as Record<string, unknown>)[k];
      let nv: unknown = v;
      if (this.names.test(k, 'structure')) nv = this.redacted(v);
      else if (typeof v === 'string') nv = this.boundedText(v, redactUserinfo);
      else if (v !== null && typeof v === 'object') nv = Array.isArray(v) ? this.array(v, 1, 'structure') : this.object(v as Record<string, any>, 1, 'structure');
      // No prototype: a key "__proto__" (JSON.parse makes it an own field) must be set as a field here too.
      if (nv !== v) (changed ??= Object.create(null) as Record<string, unknown>)[k] = nv;
    }
    return changed;
  }

  /** A request or response: an object as the format says, or whatever an entry from elsewhere holds there. */
  private side(v: Record<string, any> | null): any {
    if (v === null || v === undefined) return v;
    if (typeof v === 'string') return this.boundedText(v, (t) => redactUrlText(t, this.names));
    if (typeof v !== 'object') return v;
    return Array.isArray(v) ? this.array(v, 0, 'structure') : this.object(v, 0, 'structure');
  }

  private readonly remember = (s: string): void => {
    if (s.length >= MIN_REPEATED_SECRET && s !== REDACTED && this.secrets.length < MAX_REMEMBERED) this.secrets.push(s);
  };

  /** The summary repeats the path, the query, a Redis argument or SQL: redact it the same way. */
  private readonly summaryText = (s: string): string => {
    let out = redactExecCommand(redactUrlText(s, this.names), this.names);
    // A summary quotes the statement cut short: a JSON literal in it is read loosely, to where it was cut.
    if (this.sql) out = redactSqlPrograms(redactSqlValues(redactSql(redactJsonLiterals(out, this.jsonText)), this.names), this.names);
    else if (this.passwordStatements) out = redactSqlValues(redactSql(redactJsonLiterals(out, this.jsonText)), this.names, undefined, CQL_UNJUDGED_COLUMNS);
    for (const secret of this.secrets) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
    return out;
  };

  /**
   * An entry's warnings quote the wire where it broke (`malformed: request line "GET /cb?token=…"`):
   * read as text is, and cleared of what was taken out of the entry. The same list when nothing changed.
   */
  private warnings(list: unknown[]): string[] {
    let copy: unknown[] | undefined;
    for (let i = 0; i < list.length; i++) {
      const w = list[i];
      // Only a warning that quotes the wire (`"…"`) has anything to hide: shark's own words are the rest.
      if (typeof w !== 'string' || w.indexOf('"') < 0) continue;
      let red = this.boundedText(w, (t) => redactContentText(t, this.names));
      for (const secret of this.secrets) if (red.includes(secret)) red = red.split(secret).join(REDACTED);
      if (red !== w) (copy ??= [...list])[i] = red;
    }
    return (copy ?? list) as string[];
  }

  /** The value of a sensitive name: a scalar becomes [REDACTED]; an object or array keeps its shape, every value in it redacted. */
  private redacted(v: unknown, depth = 0): unknown {
    if (v === REDACTED || v === null || v === undefined || v === '') return v;
    if (typeof v !== 'object') {
      if (typeof v === 'string') this.remember(v);
      return REDACTED;
    }
    if (depth >= MAX_DEPTH) return REDACTED;
    let copy: any;
    const src = v as any;
    for (const k of Object.keys(src)) {
      // Everything in it is withheld anyway: past the budget, the whole of it.
      if (!this.charge(MEMBER_COST)) return REDACTED;
      const nv = this.redacted(src[k], depth + 1);
      if (nv !== src[k]) {
        copy ??= Array.isArray(src) ? [...src] : { ...src };
        copy[k] = nv;
      }
    }
    return copy ?? v;
  }

  /** A request/response object or anything below it; the same object back when nothing changed. */
  object(input: Record<string, any>, depth: number, zone: Zone, parent = ''): Record<string, any> {
    // Past the work budget nothing more is searched: withheld whole (a request or response keeps
    // its numbers, each text in it withheld, below).
    if (this.exhausted && (depth > 0 || zone !== 'structure')) return REDACTED as unknown as Record<string, any>;
    // A Kubernetes Secret in a body: its values go whatever their keys are called.
    const secret = zone === 'field' && (isKubernetesSecret(input) || (this.secretUrl && depth === 0));
    let o = secret ? redactKubernetesSecret(input, (v) => this.redacted(v)) : input;
    // A JSON Web Key: its private members have one- and two-letter names.
    if (zone === 'field' && isJwk(o)) o = redactJwk(o);
    // A Vault KV secret read (v2, or v1 by its lease) or written (vault.ts): its values go whatever their keys, which stay.
    if (zone === 'field' && (isVaultKvRead(o) || (depth === 0 && (isVaultKvWrite(o, this.path) || isVaultKvV1Read(o, this.path))))) {
      const data = this.redacted(o.data);
      if (data !== o.data) o = { ...o, data };
    }
    // A Terraform state's resource: the attributes the provider or the configuration keeps secret (terraform-state.ts).
    if (zone === 'field' && Array.isArray(o.instances) && typeof o.type === 'string') o = redactTerraformResource(o, (v) => this.redacted(v));
    if (zone === 'field' && isSensitiveOutput(o) && o.value !== null && o.value !== '' && o.value !== REDACTED) o = { ...o, value: this.redacted(o.value) };
    // A protobuf field read without a schema whose bytes are a Secret in Kubernetes' own encoding
    // (etcd's Range and Put as the API server calls them): its values are raw bytes among the fields.
    if (zone === 'field' && typeof o.bytes === 'string' && o.bytes.startsWith(K8S_PROTOBUF_BASE64) && typeof o.wireType === 'string' && holdsKubernetesSecret(Buffer.from(o.bytes, 'base64'))) o = { ...o, bytes: REDACTED };
    // A key/value store's entry (Consul's KV, etcd's JSON gateway): its key names the entry, its value
    // goes when that name is sensitive.
    const kv = zone === 'field' ? keyValueNames(o) : undefined;
    if (kv) o = this.keyValue(o, kv);
    // A value whose object says it is a secret: a credential by its type (Keycloak's `{"type": "password",
    // "value": …}` that reset-password sends, a client's `{"type": "secret", "value": …}`) and an Azure
    // Key Vault secret (`{"value": …, "id": "https://<vault>.vault.azure.net/secrets/<name>/<version>"}`).
    if (zone === 'field' && typeof o.value === 'string' && o.value !== '' && o.value !== REDACTED && (isTypedSecret(o, this.names) || isKeyVaultSecret(o))) o = { ...o, value: this.redacted(o.value) };
    // A GraphQL request: variables bound to a sensitive argument go whatever they are called.
    if (zone === 'field' && typeof o.query === 'string' && isPlainObject(o.variables)) o = this.graphqlVariables(o);
    // A JSON-RPC call: positional parameters its method takes as secrets; an answer that is one.
    // (An Odoo call's inner `{service, method, args}` sits under `params`: a parameter zone.)
    if (zone !== 'structure' && typeof o.method === 'string') o = this.rpcCall(o);
    // A SignalR hub invocation (`{"type": 1, "target": "Login", "arguments": ["alice", "…"]}`, 4 a stream's):
    // a JSON-RPC call under other names, its secrets known by the target's name and a position as a method's.
    if (zone !== 'structure' && typeof o.target === 'string' && Array.isArray(o.arguments) && (o.type === 1 || o.type === 4)) {
      // Its completion (`{"type": 3, "invocationId": …, "result": …}`) comes in a message of its own: awaited as a JSON-RPC answer is.
      if (o.type === 1 && typeof o.invocationId === 'string' && o.invocationId.length <= 128 && resultIsSecret(o.target)) this.rpcIds.push(o.invocationId);
      o = this.positional(o, o.target, 'arguments');
    }
    let copy: Record<string, any> | undefined = o === input ? undefined : o;
    // `key` names a Secret's key, a label or a file in a Kubernetes object's references and selectors,
    // and a key/value store's entry.
    const nameKey = kv ? kv[0] : zone === 'field' && keyIsAName(o, parent) ? 'key' : undefined;
    // Vault's `operator init` and rekey answers: `keys` beside `keys_base64` or the `root_token` are unseal key shares.
    const vaultKeys = zone === 'field' && Array.isArray(o.keys) && (o.keys_base64 !== undefined || o.root_token !== undefined);
    let members = 0;
    for (const k in o) {
      const v = o[k];
      let nv: unknown = v;
      if (!this.charge(++members <= DICTIONARY_MEMBERS ? MEMBER_COST : DICTIONARY_COST)) {
        // Past the budget: a large object is withheld whole (finishing it would cost as much again);
        // in a small one, each value not searched yet is.
        if (members > MEMBERS_AFTER_BUDGET) return REDACTED as unknown as Record<string, any>;
        nv = withheld(v);
        if (nv !== v) (copy ??= { ...o })[k] = nv;
        continue;
      }
      let sensitive = this.names.test(k, zone) && k !== nameKey && !(zone === 'field' && isSecretVolume(k, v));
      let plural = !sensitive && zone !== 'structure' && v !== null && typeof v === 'object' && (this.names.plural(k) || (k === 'keys' && vaultKeys));
      // A tokenizer's or a language model's `token` and `tokens` are text (text-tokens.ts): searched as text, not withheld.
      if ((sensitive || plural) && zone === 'field' && isTextTokens(o, k, v)) sensitive = plural = false;
      if (sensitive) nv = this.redacted(v);
      else if (plural) nv = this.pluralValues(v as object, depth + 1, zone);
      else if (typeof v === 'string' && o.bodyEncoding === 'base64' && this.role(k).body) {
        // (Base64 bodies are bounded on their own: past 16 MB they are withheld.)
        const red = this.charge(v.length) ? redactBase64Body(v, this.names, this.json) : { body: REDACTED, text: true };
        if (red !== undefined) {
          copy ??= { ...o };
          copy[k] = red.body;
          // A withheld body is text now ("[REDACTED]"), not base64.
          if (red.text) delete copy.bodyEncoding;
        }
        continue;
      } else if (typeof v === 'string') {
        if (v !== '' && v !== REDACTED) {
          if (v.length > MAX_VALUE_CHARS && this.role(k).body) (copy ??= { ...o }).bodyTruncated = true;
          const t = this.searchable(v);
          nv = t === undefined ? REDACTED : this.settled(v, t, this.string(k, t, zone));
        }
      } else if (v !== null && typeof v === 'object') {
        const inner = this.role(k).child ?? zone;
        // A challenge header given as a list of its values (an entry from elsewhere): each read as one.
        const list = zone === 'header' && Array.isArray(v) && isChallengeHeader(k) ? this.challengeList(v) : v;
        nv = depth >= MAX_DEPTH ? REDACTED : Array.isArray(list) ? this.array(list, depth + 1, inner) : this.object(v, depth + 1, inner, k);
      }
      if (nv !== v) {
        copy ??= { ...o };
        // A JSON key "__proto__" is an own property of the spread copy too, so this sets that property, not the prototype.
        copy[k] = nv;
      }
    }
    return copy ?? input;
  }

  /**
   * The list or map under a plural of a secret's name (`passwords`, `apiKeys`): its text values go
   * (numbers stay: `tokens` may be token ids), objects in it are judged member by member.
   */
  private pluralValues(v: object, depth: number, zone: Zone): unknown {
    if (depth >= MAX_DEPTH) return REDACTED;
    let copy: any;
    const src = v as any;
    for (const k of Object.keys(src)) {
      if (!this.charge(MEMBER_COST)) return REDACTED;
      const x = src[k];
      let nx: unknown = x;
      if (typeof x === 'string') nx = x === '' ? x : (this.remember(x), REDACTED);
      else if (x !== null && typeof x === 'object') nx = Array.isArray(x) ? this.pluralValues(x, depth + 1, zone) : this.object(x, depth + 1, zone);
      if (nx !== x) {
        copy ??= Array.isArray(src) ? [...src] : { ...src };
        copy[k] = nx;
      }
    }
    return copy ?? v;
  }

  /** `{query, variables}` with the variables bound to sensitive arguments redacted (graphql.ts). */
  private graphqlVariables(o: Record<string, any>): Record<string, any> {
    const bound = sensitiveGraphqlVariables(o.query, this.names);
    if (!bound) return o;
    let variables: Record<string, any> | undefined;
    for (const name of bound) {
      if (!Object.hasOwn(o.variables, name)) continue;
      const v = o.variables[name];
      const nv = this.redacted(v);
      if (nv !== v) (variables ??= { ...o.variables })[name] = nv;
    }
    return variables ? { ...o, variables } : o;
  }

  private string(key: string, v: string, zone: Zone): string {
    const role = this.role(key);
    if (role.body) return this.bodyText(v);
    if (role.authority && v.indexOf('@') >= 0) return redactUserinfo(`://${v}`).slice(3);
    if (zone === 'header' && key.toLowerCase() === 'sec-websocket-protocol') return this.contentString(redactSubprotocolTokens(redactBearerSubprotocol(v), (n) => this.names.test(n, 'header')));
    if (zone === 'header' && isChallengeHeader(key)) return this.contentString(redactChallenges(v, this.remember));
    if (zone === 'header') return this.contentString(redactBearerSubprotocol(v));
    if (zone !== 'structure') return this.contentString(v, key);
    if (role.url) return redactExecCommand(redactUrlText(v, this.names), this.names);
    if (this.sql && role.query) return redactUserinfo(redactSqlPrograms(redactSqlValues(redactSql(redactJsonLiterals(v, this.jsonText), this.remember), this.names, this.remember), this.names));
    if (this.passwordStatements && role.query) return redactUserinfo(redactSqlValues(redactSql(redactJsonLiterals(v, this.jsonText), this.remember), this.names, this.remember, CQL_UNJUDGED_COLUMNS));
    return redactUserinfo(v);
  }

  /** A body's text, unless the same text was searched before and found clean. */
  private bodyText(v: string): string {
    if (this.secretUrl || isVaultKvPath(this.path)) {
      // A patch of a Secret, a Vault KV write: its values carry no sensitive name for the quick test to see, so it is read whole.
      const red = this.secretPatch(v);
      if (red !== undefined) return red;
    }
    if (this.clean.has(v)) return v;
    const red = redactBodyText(v, this.names, this.json);
    if (red === v) this.clean.add(v);
    return red;
  }

  /**
   * A prepared statement's parameters go apart from its text and under no name: those its text binds
   * to a sensitive column (`SET api_token = $2`) are redacted; a startup's `options` (`-c
   * app.api_token=…`) are read as text.
   */
  private sqlParameters(original: Record<string, any>, req: Record<string, any>): Record<string, any> {
    const params = req.parameters;
    if (Array.isArray(params) && typeof original.query === 'string') {
      const hidden = sensitiveParameters(original.query, this.names);
      if (hidden.size === 0) return req;
      return { ...req, parameters: params.map((v: unknown, i: number) => (hidden.has(i) ? this.redacted(v) : v)) };
    }
    if (params !== null && typeof params === 'object' && typeof params.options === 'string') {
      const options = redactContentText(params.options, this.names);
      if (options !== params.options) return { ...req, parameters: { ...params, options } };
    }
    return req;
  }

  /** A response with the secrets taken from this entry so far taken out of its error fields (the rest is data, not an echo). */
  private scrubbedErrors(res: Record<string, any>): Record<string, any> {
    let out: Record<string, any> | undefined;
    for (const k of Object.keys(res)) {
      if (!ERROR_FIELD.test(k)) continue;
      const v = this.scrubbed(res[k], 0);
      if (v !== res[k]) (out ??= { ...res })[k] = v;
    }
    return out ?? res;
  }

  /** `v` with the secrets taken from this entry so far taken out of its strings (a few levels down). */
  private scrubbed(v: unknown, depth: number): unknown {
    if (typeof v === 'string') {
      let out = v;
      for (const secret of this.secrets) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
      return out;
    }
    if (v === null || typeof v !== 'object' || depth >= 4) return v;
    let copy: any;
    const src = v as any;
    for (const k of Object.keys(src)) {
      const nv = this.scrubbed(src[k], depth + 1);
      if (nv !== src[k]) {
        copy ??= Array.isArray(src) ? [...src] : { ...src };
        copy[k] = nv;
      }
    }
    return copy ?? v;
  }

  /** A JSON body sent to a Secret's URL, redacted (undefined when it is not JSON or nothing changed). */
  private secretPatch(v: string): string | undefined {
    const first = v.trimStart().charAt(0);
    if (first !== '{' && first !== '[') return undefined;
    let doc: unknown;
    try {
      doc = JSON.parse(v);
    } catch {
      return undefined;
    }
    if (doc === null || typeof doc !== 'object') return undefined;
    const red = this.json(doc);
    return red === doc ? undefined : JSON.stringify(red);
  }

  /** A string in a header, parameter or body: JSON held in it is redacted as JSON; anything else for URLs and parameters. */
  private contentString(v: string, key = ''): string {
    const c = v.length > 0 ? v[0] : '';
    if ((c === '{' || c === '[') && v.length > 1) return redactJsonText(v, this.names, this.json);
    // Text sent as base64 inside a field (a Pub/Sub push's `data`, a CloudEvent's `data_base64`): its
    // bytes are searched as a base64 body's are, and re-encoded (or withheld when compressed).
    if (mayBeBase64Text(v)) {
      const red = redactBase64Body(v, this.names, this.json);
      if (red !== undefined) return red.body;
      // `user:password` in base64 (HTTP Basic's credentials) under a name that says nothing.
      if (isBase64Credentials(v, key)) return this.redacted(v) as string;
    }
    // A whole value that is an Authorization header's (`Bearer …`, `Basic …`) under a name that says
    // nothing (`{"header": "Bearer …"}`, a proxy's `X-Upstream: Basic …`): the scheme stays.
    const scheme = credentialsScheme(v);
    if (scheme > 0) {
      this.remember(v.slice(scheme));
      return v.slice(0, scheme) + REDACTED;
    }
    return redactContentText(v, this.names);
  }

  private array(a: unknown[], depth: number, zone: Zone): unknown[] {
    if (this.exhausted) return REDACTED as unknown as unknown[];
    // A schema-less protobuf map entry or KeyValue (gRPC messages) whose key is sensitive.
    if (zone === 'field' && a.length === 2) {
      const pair = redactProtoPair(a, this.names, this.remember);
      if (pair) return pair;
    }
    // An argv (a Pod's `command` and `args`, an exec call): a flag and its value are two elements.
    const argv = zone !== 'structure' && a.length >= 2 && typeof a[0] === 'string' ? redactArgv(a, this.names) : undefined;
    if (argv) a = argv;
    let copy: unknown[] | undefined = argv;
    // A list of [name, value] pairs (`[...headers]` of a Fetch Headers, Python's `list(d.items())`, a
    // Map written as JSON): each value judged by its name, as a header's or a field's is.
    const pairs = zone !== 'structure' && isPairList(a);
    /** Inside a private key kept as a list of its lines (tokens.ts opensPrivateKey): every line goes to its END. */
    let inKey = false;
    for (let i = 0; i < a.length; i++) {
      const v = a[i];
      let nv: unknown = v;
      if (!this.charge(MEMBER_COST)) {
        if (i >= MEMBERS_AFTER_BUDGET) return REDACTED as unknown as unknown[];
        nv = withheld(v);
      } else if (typeof v === 'string' && inKey) {
        inKey = !closesPemBlock(v);
        nv = v === '' ? v : REDACTED;
      } else if (typeof v === 'string') {
        inKey = opensPrivateKey(v);
        if (v !== '' && v !== REDACTED) {
          const t = this.searchable(v);
          nv = t === undefined ? REDACTED : this.settled(v, t, zone === 'structure' ? redactUserinfo(t) : this.contentString(t));
        }
      } else if (pairs && sensitiveKey((v as unknown[])[0] as string, this.names)) {
        const value = this.redacted((v as unknown[])[1]);
        if (value !== (v as unknown[])[1]) nv = [(v as unknown[])[0], value];
      } else if (v !== null && typeof v === 'object') {
        nv = depth >= MAX_DEPTH ? REDACTED : Array.isArray(v) ? this.array(v, depth + 1, zone) : this.pairOrObject(v as Record<string, any>, depth + 1, zone);
      }
      if (nv !== v) {
        copy ??= [...a];
        copy[i] = nv;
      }
    }
    return copy ?? a;
  }

  /** A JSON-RPC answer's (or a batch's) text `result`, when the call returns a secret. */
  private rpcResult(res: Record<string, any>): Record<string, any> {
    const body = res.body as string;
    if (body.indexOf('"result"') < 0) return res;
    let doc: unknown;
    try {
      doc = JSON.parse(body);
    } catch {
      return res;
    }
    const one = (o: unknown): unknown => (isPlainObject(o) && typeof o.result === 'string' && o.result !== '' ? { ...o, result: this.redacted(o.result) } : o);
    const red = Array.isArray(doc) ? doc.map(one) : one(doc);
    const changed = Array.isArray(doc) ? (red as unknown[]).some((v, i) => v !== doc[i]) : red !== doc;
    return changed ? { ...res, body: JSON.stringify(red) } : res;
  }

  /** A challenge header's values (`["Negotiate …", "NTLM"]`) with their tokens redacted (challenges.ts); the same list when none. */
  private challengeList(values: unknown[]): unknown[] {
    let copy: unknown[] | undefined;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (typeof v !== 'string') continue;
      const red = redactChallenges(v, this.remember);
      if (red !== v) (copy ??= [...values])[i] = red;
    }
    return copy ?? values;
  }

  /** A side whose body answers calls awaited on `connection` (AwaitedAnswers): their text `result` redacted. */
  private rpcAnswer(side: Record<string, any>, connection: string): Record<string, any> {
    // SignalR's messages end with the record separator, a control character: such a frame is kept as base64.
    if (side.bodyEncoding === 'base64') return this.base64Answers(side, connection);
    const body = side.body as string;
    if (body.indexOf('"result"') < 0 || (body.indexOf('"id"') < 0 && body.indexOf('"invocationId"') < 0)) return side;
    // Several SignalR messages to a frame, each ended by the record separator: each is a document.
    if (body.indexOf(SIGNALR_RS) >= 0) return this.signalrAnswers(side, connection);
    let doc: unknown;
    try {
      doc = JSON.parse(body);
    } catch {
      return side;
    }
    const one = (o: unknown): unknown => this.awaitedAnswer(o, connection);
    const red = Array.isArray(doc) ? doc.map(one) : one(doc);
    const changed = Array.isArray(doc) ? (red as unknown[]).some((v, i) => v !== doc[i]) : red !== doc;
    return changed ? { ...side, body: JSON.stringify(red) } : side;
  }

  /** A JSON-RPC answer, or a SignalR completion (type 3, by `invocationId`), to a call awaited on the connection: its text result redacted. */
  private awaitedAnswer(o: unknown, connection: string): unknown {
    if (!isPlainObject(o) || !('result' in o) || 'method' in o) return o;
    const id = o.type === 3 && typeof o.invocationId === 'string' ? o.invocationId : o.id;
    if ((typeof id !== 'string' && typeof id !== 'number') || !this.rpcAwaited.take(connection, id)) return o;
    return typeof o.result === 'string' && o.result !== '' ? { ...o, result: this.redacted(o.result) } : o;
  }

  /** A base64 body that is text (SignalR's records): its answers read as a text body's are, and encoded again. */
  private base64Answers(side: Record<string, any>, connection: string): Record<string, any> {
    const body = side.body as string;
    if (body.length > MAX_BASE64_ANSWER) return side;
    const bytes = Buffer.from(body, 'base64');
    if (!isUtf8(bytes)) return side;
    const text = bytes.toString('utf8');
    const red = this.rpcAnswer({ body: text }, connection);
    return red.body === text ? side : { ...side, body: Buffer.from(red.body as string, 'utf8').toString('base64') };
  }

  /** A body of SignalR messages (each ended by U+001E): each completion read as awaitedAnswer reads one. */
  private signalrAnswers(side: Record<string, any>, connection: string): Record<string, any> {
    const records = (side.body as string).split(SIGNALR_RS);
    let changed = false;
    for (let i = 0; i < records.length; i++) {
      if (records[i].indexOf('"result"') < 0) continue;
      let doc: unknown;
      try {
        doc = JSON.parse(records[i]);
      } catch {
        continue;
      }
      const red = this.awaitedAnswer(doc, connection);
      if (red !== doc) {
        records[i] = JSON.stringify(red);
        changed = true;
      }
    }
    return changed ? { ...side, body: records.join(SIGNALR_RS) } : side;
  }

  /** `{"method": "login", "params": ["alice", "…"]}`: the parameters its method takes as secrets (json-rpc.ts). */
  private rpcCall(o: Record<string, any>): Record<string, any> {
    if (('params' in o || 'args' in o || 'jsonrpc' in o) && resultIsSecret(o.method)) {
      this.rpcSecretResult = true;
      if ((typeof o.id === 'string' && o.id.length <= 128) || typeof o.id === 'number') this.rpcIds.push(o.id);
    }
    const field = Array.isArray(o.params) ? 'params' : Array.isArray(o.args) ? 'args' : undefined;
    if (field === undefined) return o;
    return this.positional(o, o.method, field, o.service);
  }

  /** `o[field]`'s parameters that `method` takes as secrets (json-rpc.ts secretPositions), redacted. */
  private positional(o: Record<string, any>, method: string, field: string, service?: unknown): Record<string, any> {
    const params = o[field] as unknown[];
    const positions = secretPositions(method, params, service);
    if (positions === undefined) return o;
    let copy: unknown[] | undefined;
    for (const i of positions) {
      const v = params[i];
      if (typeof v !== 'string' && (v === null || typeof v !== 'object')) continue;
      const nv = this.redacted(v);
      if (nv !== v) (copy ??= [...params])[i] = nv;
    }
    return copy ? { ...o, [field]: copy } : o;
  }

  /**
   * `[{name, value}]` pairs are redacted by their name: headers and parameters (HAR style), and in
   * bodies a Kubernetes container's `env` (`{"name": "DB_PASSWORD", "value": "…"}`), which every
   * Deployment, Pod and watch event carries.
   */
  private pairOrObject(o: Record<string, any>, depth: number, zone: Zone): Record<string, any> {
    if (zone !== 'structure' && 'value' in o && ((typeof o.name === 'string' && this.names.test(o.name, zone)) || (zone === 'field' && this.patchesSecret(o)))) {
      const value = this.redacted(o.value);
      return value === o.value ? o : { ...o, value };
    }
    // A HAR-style header list's challenge (`{"name": "WWW-Authenticate", "value": "Negotiate …"}`).
    if (zone === 'header' && typeof o.name === 'string' && typeof o.value === 'string' && isChallengeHeader(o.name)) {
      const value = redactChallenges(o.value, this.remember);
      if (value !== o.value) o = { ...o, value };
    }
    return this.object(o, depth, zone);
  }

  /**
   * A key/value store's entry (Consul's KV `{"Key": "app/db/password", "Value": "<base64>"}`, tags,
   * etcd's JSON gateway, whose keys are base64 too: etcd-gateway.ts), in a list or on its own (etcd's
   * `put` body, a watch event's `kv`): its value redacted when the key's last path segment is a
   * sensitive name or the value is a Kubernetes Secret. `kv`: the names of its key and value fields.
   */
  private keyValue(o: Record<string, any>, kv: [string, string]): Record<string, any> {
    const key = kvKeyText(o[kv[0]]);
    // An SSM SecureString is a secret whatever it is called: that is what the type is for.
    const secure = kv[0] === 'Name' && o.Type === 'SecureString';
    if (!secure && !this.names.test(lastSegment(key), 'field') && !holdsSecretObject(key, o[kv[1]])) return o;
    const value = this.redacted(o[kv[1]]);
    return value === o[kv[1]] ? o : { ...o, [kv[1]]: value };
  }

  /** A JSON patch operation (RFC 6902) that sets a secret: a Secret's value, or a member with a sensitive name. */
  private patchesSecret(o: Record<string, any>): boolean {
    if (typeof o.op !== 'string' || typeof o.path !== 'string') return false;
    if (this.secretUrl && SECRET_VALUE_PATH.test(o.path)) return true;
    const last = o.path.slice(o.path.lastIndexOf('/') + 1).replace(/~1/g, '/').replace(/~0/g, '~');
    return last.length > 0 && this.names.test(last, 'field');
  }
}

/** A base64 body longer than this is no login's answer: not decoded to look for one (a frame is at most 64 KB of it by default). */
const MAX_BASE64_ANSWER = 1024 * 1024;

/**
 * `Bearer <token>` or `Basic <base64>`, and nothing else: where the credentials start; 0 when `v` is not
 * that. A token of letters only shorter than 16 is a word (`Bearer tokens`, `Basic auth`).
 */
function credentialsScheme(v: string): number {
  if (v.length > MAX_CREDENTIALS_VALUE) return 0;
  const m = CREDENTIALS_VALUE.exec(v);
  if (!m || (m[2].length < 16 && /^[A-Za-z]+$/.test(m[2]))) return 0;
  return m[1].length;
}
/** Longer than this, a value is no header's credentials. */
const MAX_CREDENTIALS_VALUE = 16384;
/** The scheme and its spaces, then one token68 (RFC 7235). Linear: the classes do not overlap. */
const CREDENTIALS_VALUE = /^((?:Bearer|bearer|BEARER|Basic|basic|BASIC) +)([A-Za-z0-9\-._~+/]+=*)$/;

/** `{"type": "password", "value": …}`: a credential's type (one only secrets have: not `user`, `address`) beside its value. */
function isTypedSecret(o: Record<string, any>, names: SensitiveNames): boolean {
  return typeof o.type === 'string' && o.type.length <= 64 && names.secretOnly(o.type);
}

/** An Azure Key Vault secret bundle: its `id` names the vault's secret (`https://v.vault.azure.net/secrets/db/1`). */
function isKeyVaultSecret(o: Record<string, any>): boolean {
  return typeof o.id === 'string' && o.id.length <= 2048 && KEY_VAULT_SECRET_ID.test(o.id);
}
/** Public Azure and the sovereign clouds (vault.azure.cn, vault.usgovcloudapi.net, vault.microsoftazure.de); linear. */
const KEY_VAULT_SECRET_ID = /^https:\/\/[A-Za-z0-9-]{1,64}\.vault\.(?:azure\.net|azure\.cn|usgovcloudapi\.net|microsoftazure\.de)(?::\d{1,5})?\/secrets\//;

/** The record separator that ends each SignalR message. */
const SIGNALR_RS = '\u001e';

/** A value past the work budget: text and anything holding text withheld; numbers, booleans and null stay. */
function withheld(v: unknown): unknown {
  if (typeof v === 'string') return v === '' ? v : REDACTED;
  return v !== null && typeof v === 'object' ? REDACTED : v;
}

/** `{Key, Value}`, `{key, value}` (and nothing that makes it a Kubernetes selector or reference), `{key, val}` or `{k, v}`: the two names; else undefined. */
function keyValueNames(o: Record<string, any>): [string, string] | undefined {
  if (typeof o.Key === 'string' && 'Value' in o) return ['Key', 'Value'];
  // AWS: an SSM parameter (`{"Name": "/prod/db/password", "Type": "SecureString", "Value": …}`, what
  // every pod that reads its configuration from Parameter Store is answered) and a CloudFormation
  // stack's parameters (`{"ParameterKey": "DbPassword", "ParameterValue": …}`).
  if (typeof o.Name === 'string' && 'Value' in o) return ['Name', 'Value'];
  if (typeof o.ParameterKey === 'string' && 'ParameterValue' in o) return ['ParameterKey', 'ParameterValue'];
  if (typeof o.key === 'string' && 'value' in o && o.operator === undefined && o.effect === undefined) return ['key', 'value'];
  // The same pair under short names: a settings table's rows (`{"key": "smtp_password", "val": …}`) and
  // compact encoders' maps as lists (`{"k": "api_token", "v": …}`).
  if (typeof o.key === 'string' && 'val' in o) return ['key', 'val'];
  if (typeof o.k === 'string' && 'v' in o) return ['k', 'v'];
  return undefined;
}

/** Every item a two-item array whose first is a name (a string of a name's length). */
function isPairList(a: unknown[]): boolean {
  if (a.length === 0) return false;
  for (const v of a) if (!Array.isArray(v) || v.length !== 2 || typeof v[0] !== 'string' || v[0].length === 0 || v[0].length > 128) return false;
  return true;
}

/** `app/db/password` → `password`. */
function lastSegment(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}

/** The first of `values` that is a string with something in it. */
function firstString(...values: unknown[]): string | undefined {
  for (const v of values) if (typeof v === 'string' && v !== '') return v;
  return undefined;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
