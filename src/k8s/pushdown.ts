// What of a cluster tap's filtering runs on the agents: `--protocols`, and a
// KFL `-f` expression (either dialect) when it reads only what the agent
// itself knows — an expression about names (namespace, pod, service,
// workload, labels: filled in by the CLI from the watch cache) runs in the
// CLI after enrichment instead. Both are checked here, before anything is
// deployed, so a bad expression is exit 2 and not a failed run.

import { ExitCode, UserError } from '../cli/errors.js';
import { knownProtocols } from '../dissect/registry.js';
import { compileFilter } from '../filter/index.js';
import { evalCounts, evalReport } from '../filter/eval-report.js';
import { detectDialect } from '../filter/dialect.js';
import { parse } from '../filter/parser.js';
import { neededFields, type FieldTree } from '../filter/projection.js';
import type { Entry } from '../model/entry.js';

/** Endpoint fields the CLI adds after the agent (src/k8s/enrich.ts). */
const ENRICHED = new Set(['name', 'namespace', 'pod', 'service', 'workload', 'labels', 'node']);

export interface Pushdown {
  /** Extra `shark agent` arguments. */
  agentArgs: string[];
  /** Applied in the CLI after enrichment; sets `drop` on entries the filter refuses. */
  keep?: (e: Entry) => boolean;
  /** Why the filter runs in the CLI rather than on the agents. */
  note?: string;
  /** With `keep`: its end-of-run warnings (entries left out by an evaluation error or the macros' step limit). */
  report?: () => string[];
}

export function pushdownArgs(opts: { filter?: string; protocols?: string; packets?: boolean }): Pushdown {
  const agentArgs: string[] = [];
  if (opts.protocols !== undefined) {
    const list = opts.protocols.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
    const known = knownProtocols();
    for (const p of list) if (!known.includes(p)) throw new UserError(`--protocols: unknown protocol '${p}' (known: ${known.join(', ')})`, ExitCode.USAGE);
    if (opts.packets) throw new UserError('--protocols selects entries; with --pcap the agents send packets', ExitCode.USAGE);
    if (list.length) agentArgs.push('--protocols', list.join(','));
  }
  if (opts.filter === undefined || opts.filter.trim() === '') return { agentArgs };
  if (opts.packets) throw new UserError('-f in a cluster tap is a KFL expression on entries; with --pcap the agents send packets', ExitCode.USAGE);
  // Throws FilterSyntaxError (exit 2, with the column) before anything is deployed.
  const compiled = compileFilter(opts.filter);
  if (readsNames(opts.filter)) {
    const report = () => evalReport(evalCounts(compiled));
    return { agentArgs, keep: compiled.predicate, report, note: 'the filter reads names the CLI adds (namespace, pod, service …): it runs in the CLI, so every entry crosses the API server' };
  }
  agentArgs.push('--kfl', opts.filter);
  return { agentArgs };
}

/** True when the expression reads an enrichment field (or cannot be analysed: then assume it does). */
function readsNames(expr: string): boolean {
  const dialect = detectDialect(expr);
  const { ast } = parse(expr, dialect);
  const tree = neededFields(ast, dialect);
  if (!tree) return true;
  for (const side of ['src', 'dst']) {
    const sub = tree.get(side);
    if (sub === undefined) continue;
    if (sub === true) return true;
    if ([...(sub as FieldTree).keys()].some((k) => ENRICHED.has(k))) return true;
  }
  return tree.has('node');
}
