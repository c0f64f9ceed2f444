// The `stats --check` rules file: YAML, a list of rules (under `rules:` as in
// Kubeshark's traffic validation, or at the top level). Every problem is a
// usage error naming the file and line, found before any traffic is read.
//
//   rules:
//     - name: Catalogue-Latency-SLO      # Kubeshark's form, accepted as written
//       type: latency
//       path: /catalogue                 # regex on the request path
//       service: "catalogue.*"           # regex on the destination's names
//       latency: 300                     # ms; checked at `percentile` (default max)
//     - { type: error-rate, scope: "http", max: 2 }          # percent
//     - { type: expect, filter: "dns", min: 10 }
//     - { type: forbid, filter: "http and request.headers.authorization and dst.port != 443" }

import { Lexer, LineCounter, isMap, isSeq, isScalar, parseDocument, type Node as YamlNode, type Pair, type YAMLMap } from 'yaml';
import { UserError, ExitCode, errnoText } from '../cli/errors.js';
import type { Entry } from '../model/entry.js';
import { compileKfl } from './kfl.js';
import { k8sName } from './names.js';
import { LinearRegex } from '../filter/linear-regex.js';
import { readFileBounded } from '../input/bounded-file.js';

export type RuleType = 'latency' | 'error-rate' | 'expect' | 'forbid';

export interface Rule {
  name: string;
  type: RuleType;
  /** 1-based line of the rule in the rules file. */
  line: number;
  /** Which entries the rule looks at, apart from `service` (path regex and KFL). */
  matches: (e: Entry) => boolean;
  /**
   * Regex on the destination's names. Checked by the RuleChecker, which also
   * tries DNS names learned later in the stream (an answer may follow the first calls).
   */
  service?: LinearRegex;
  /** latency: ms limit; error-rate: max %; expect: min count. */
  limit: number;
  /** latency only: quantile 0..1 (1 = max). */
  quantile?: number;
  /** Human description of the scope, for the report. */
  scope: string;
  /** The KFL filter's end-of-run warnings (entries it left out by an evaluation error or its step limit). */
  kflReport?: () => string[];
}

const ALLOWED: Record<RuleType, string[]> = {
  latency: ['name', 'type', 'path', 'service', 'filter', 'latency', 'percentile'],
  'error-rate': ['name', 'type', 'path', 'service', 'filter', 'scope', 'max'],
  expect: ['name', 'type', 'path', 'service', 'filter', 'query', 'min'],
  forbid: ['name', 'type', 'path', 'service', 'filter', 'query'],
};

/** Default latency percentile: Kubeshark checks every call against the limit, i.e. the max. */
export const DEFAULT_PERCENTILE = 'max';

/**
 * Bounds on a rules file, which may come from a shared repository: it was read
 * whole (`--check /dev/zero` grew to 620 MB before failing), 40,000 rules took
 * 12 s and 550 MB before the first entry, and 1 MB of `[` took YAML's parser
 * 10 s and 600 MB to refuse. A rules file holds tens of small rules.
 */
export const MAX_RULES_BYTES = 256 * 1024;
export const MAX_RULES = 1000;
/** Flow collections (`[`, `{`) or compact block items (`- - -`) open at once: a rule is a mapping in a list. */
export const MAX_YAML_NESTING = 64;

class RulesError extends UserError {
  constructor(file: string, line: number, what: string) {
    super(`${file}: ${what} at line ${line}`, ExitCode.USAGE);
  }
}

export async function loadRules(path: string): Promise<Rule[]> {
  let text: string;
  try {
    text = readBounded(path, MAX_RULES_BYTES);
  } catch (err) {
    if (err instanceof UserError) throw err;
    const e = err as NodeJS.ErrnoException;
    throw new UserError(`${path}: ${e.code === 'ENOENT' ? 'no such file' : errnoText(e.code)}`, ExitCode.USAGE);
  }
  return parseRules(text, path);
}

/** A file's text, read up to `max` bytes (a FIFO or /dev/zero too): a longer one is a usage error. */
function readBounded(path: string, max: number): string {
  const bytes = readFileBounded(path, max);
  if (!bytes) throw new UserError(`${path}: rules file larger than ${max / 1024} KB (a rules file lists at most ${MAX_RULES} rules)`, ExitCode.USAGE);
  return bytes.toString('utf8');
}

/**
 * The line where YAML opens more than MAX_YAML_NESTING collections at once, or
 * undefined. YAML's lexer is a linear generator holding one token at a time;
 * its document parser recurses per level and holds every token.
 */
function tooDeep(text: string): number | undefined {
  if (text.length > MAX_RULES_BYTES) return undefined; // parseRules refuses it first
  let flow = 0;
  let compact = 0;
  let line = 1;
  for (const token of new Lexer().lex(text)) {
    if (token === '[' || token === '{') flow++;
    else if (token === ']' || token === '}') flow = Math.max(0, flow - 1);
    else if (token === '-' || token === '?') compact++;
    if (flow > MAX_YAML_NESTING || compact > MAX_YAML_NESTING) return line;
    for (let i = token.indexOf('\n'); i >= 0; i = token.indexOf('\n', i + 1)) {
      line++;
      compact = 0;
    }
  }
  return undefined;
}

export async function parseRules(text: string, file: string): Promise<Rule[]> {
  if (text.length > MAX_RULES_BYTES) throw new RulesError(file, 1, `rules file larger than ${MAX_RULES_BYTES / 1024} KB`);
  const deep = tooDeep(text);
  if (deep !== undefined) throw new RulesError(file, deep, `bad YAML: nested deeper than ${MAX_YAML_NESTING} levels`);
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length > 0) {
    const err = doc.errors[0];
    // Without prettyErrors the error has no linePos: its line comes from its offset.
    const line = err.linePos?.[0].line ?? (err.pos ? lines.linePos(err.pos[0]).line : 1);
    const message = err.message.split('\n')[0].replace(/ at line \d+.*$/, '');
    // The parser recurses per level and reports running out of stack as its error: say what it means.
    throw new RulesError(file, line, `bad YAML: ${/call stack/i.test(message) ? 'nested too deeply' : message}`);
  }
  const lineOf = (n: YamlNode | Pair | null | undefined): number => {
    const range = n && 'range' in n ? n.range : n && 'key' in n ? (n.key as YamlNode | null)?.range : undefined;
    return range ? lines.linePos(range[0]).line : 1;
  };
  let list: YamlNode | null = doc.contents as YamlNode | null;
  if (isMap(list)) {
    const rules = list.get('rules', true) as YamlNode | undefined;
    if (!rules) throw new RulesError(file, 1, 'no "rules:" list');
    list = rules;
  }
  if (!isSeq(list)) throw new RulesError(file, lineOf(list), 'expected a list of rules');
  if (list.items.length === 0) throw new RulesError(file, lineOf(list), 'the list of rules is empty');
  if (list.items.length > MAX_RULES) throw new RulesError(file, lineOf(list.items[MAX_RULES] as YamlNode), `more than ${MAX_RULES} rules`);
  const rules: Rule[] = [];
  const seen = new Set<string>();
  for (const item of list.items as YamlNode[]) {
    const rule = await parseRule(item, file, lineOf, rules.length + 1);
    if (seen.has(rule.name)) throw new RulesError(file, rule.line, `duplicate rule name "${rule.name}"`);
    seen.add(rule.name);
    rules.push(rule);
  }
  return rules;
}

async function parseRule(
  node: YamlNode,
  file: string,
  lineOf: (n: YamlNode | Pair | null | undefined) => number,
  index: number,
): Promise<Rule> {
  const line = lineOf(node);
  if (!isMap(node)) throw new RulesError(file, line, 'a rule must be a mapping (name, type, …)');
  const map = node as YAMLMap<YamlNode, YamlNode>;
  const pairOf = (key: string) => map.items.find((p) => isScalar(p.key) && p.key.value === key);
  const fail = (key: string | undefined, what: string): never => {
    const pair = key ? pairOf(key) : undefined;
    throw new RulesError(file, pair ? lineOf(pair.value ?? pair) : line, what);
  };
  const str = (key: string): string | undefined => {
    const p = pairOf(key);
    if (!p || p.value === null || (isScalar(p.value) && p.value.value === null)) return undefined;
    if (!isScalar(p.value) || (typeof p.value.value !== 'string' && typeof p.value.value !== 'number'))
      return fail(key, `"${key}" must be a string`);
    return String(p.value.value);
  };
  const num = (key: string, allowPercent = false): number | undefined => {
    const raw = str(key);
    if (raw === undefined) return undefined;
    const text = allowPercent ? raw.replace(/%\s*$/, '') : raw;
    const v = Number(text);
    if (text.trim() === '' || !Number.isFinite(v) || v < 0) return fail(key, `"${key}" must be a number ≥ 0, not "${raw}"`);
    return v;
  };

  const type = str('type');
  if (type === undefined) return fail(undefined, 'rule has no "type" (latency, error-rate, expect, forbid)');
  if (!(type in ALLOWED)) return fail('type', `unknown rule type "${type}" (latency, error-rate, expect, forbid)`);
  const ruleType = type as RuleType;
  for (const p of map.items) {
    const key = isScalar(p.key) ? String(p.key.value) : '?';
    if (!ALLOWED[ruleType].includes(key))
      throw new RulesError(file, lineOf(p), `unknown key "${key}" in a ${ruleType} rule (allowed: ${ALLOWED[ruleType].join(', ')})`);
  }
  const name = str('name') ?? `${ruleType}-${index}`;

  // Scope: regexes on path and service, plus a KFL expression.
  const scopes: ((e: Entry) => boolean)[] = [];
  const described: string[] = [];
  const pathRe = regex(str('path'), 'path', fail);
  if (pathRe) {
    scopes.push((e) => typeof e.request?.path === 'string' && pathRe.test(e.request.path));
    described.push(`path ~ ${pathRe.source}`);
  }
  const serviceRe = regex(str('service'), 'service', fail);
  if (serviceRe) {
    described.push(`service ~ ${serviceRe.source}`);
  }
  const kflKey = ['filter', 'scope', 'query'].find((k) => pairOf(k));
  const kfl = kflKey ? str(kflKey) : undefined;
  let kflReport: (() => string[]) | undefined;
  if (kfl !== undefined) {
    try {
      const compiled = await compileKfl(kfl);
      scopes.push(compiled.predicate);
      kflReport = compiled.report;
    } catch (err) {
      if (err instanceof UserError) fail(kflKey, `${kflKey}: ${err.message}`);
      throw err;
    }
    described.push(kfl);
  }
  const matches = (e: Entry) => scopes.every((s) => s(e));
  const service = serviceRe;
  const scope = described.length ? described.join(' and ') : 'all entries';
  const common = { name, type: ruleType, line, matches, service, scope, kflReport };

  switch (ruleType) {
    case 'latency': {
      const limit = num('latency');
      if (limit === undefined) return fail(undefined, 'latency rule needs "latency" (max ms)');
      const pct = str('percentile') ?? DEFAULT_PERCENTILE;
      return { ...common, limit, quantile: parsePercentile(pct, () => fail('percentile', `bad percentile "${pct}" (p50, p95, p99.9, max …)`)) };
    }
    case 'error-rate': {
      const limit = num('max', true);
      if (limit === undefined) return fail(undefined, 'error-rate rule needs "max" (percent)');
      if (limit > 100) return fail('max', '"max" is a percentage (0–100)');
      return { ...common, limit };
    }
    case 'expect': {
      if (kfl === undefined && !pathRe && !serviceRe) return fail(undefined, 'expect rule needs "filter" (a KFL expression)');
      const limit = num('min') ?? 1;
      return { ...common, limit };
    }
    case 'forbid': {
      if (kfl === undefined && !pathRe && !serviceRe) return fail(undefined, 'forbid rule needs "filter" (a KFL expression)');
      return { ...common, limit: 0 };
    }
  }
}

function regex(source: string | undefined, key: string, fail: (key: string, what: string) => never): LinearRegex | undefined {
  if (source === undefined) return undefined;
  try {
    return LinearRegex.compile(source);
  } catch (err) {
    return fail(key, `bad regular expression in "${key}": ${(err as Error).message}`);
  }
}

/** "p95", "95", "99.9", "max" → 0.95, 0.95, 0.999, 1. */
export function parsePercentile(text: string, bad: () => never): number {
  const t = text.trim().toLowerCase();
  if (t === 'max' || t === 'p100') return 1;
  const m = /^p?(\d+(?:\.\d+)?)$/.exec(t);
  if (!m) return bad();
  const v = Number(m[1]);
  if (!(v > 0 && v <= 100)) return bad();
  return v / 100;
}

/** Does a `service:` regex match any name of the destination the entry itself carries (Kubernetes, Host/SNI, IP:port)? */
export function serviceMatches(e: Entry, re: LinearRegex): boolean {
  return serviceNames(e).some((n) => re.test(n));
}

function serviceNames(e: Entry): string[] {
  const d = e.dst;
  if (!d) return [];
  const out = [d.service, k8sName(d, 'service'), d.name, d.workload ?? '', d.pod, `${d.ip}:${d.port}`];
  const host = e.request?.headers?.host ?? e.request?.host ?? e.request?.sni;
  if (typeof host === 'string') out.push(host);
  return out.filter((s) => typeof s === 'string' && s !== '');
}
