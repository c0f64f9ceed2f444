import { Args, Flags } from '@oclif/core';
import { SharkCommand } from '../cli/base-command.js';
import { decodeAsFlag, decodeAsRules } from '../cli/decode-as-flag.js';
import { tlsKeylogFlag, tlsKeysFromFlag } from '../cli/tls-keylog-flag.js';
import { parseDuration } from '../cli/units.js';
import { ExitCode, UserError } from '../cli/errors.js';
import { redactFlags, redactorFromFlags } from '../redact/flags.js';
import { loadProtoDir } from '../dissect/protocols/proto-schema.js';
import { Catalog, DEFAULT_MAX_ENDPOINTS, deepBodiesNote, foldedNote, largeBodiesNote } from '../catalog/endpoints.js';
import { DEFAULT_FOLD_THRESHOLD, deepPathsNote } from '../catalog/path-template.js';
import { readInputs } from '../catalog/read.js';
import { workersFlag, workersFromFlag, consumerWorkerSpec } from '../cli/workers-flag.js';
import { serviceMatches } from '../catalog/openapi.js';
import { CHANGE_KINDS, DEFAULT_DIFF_OPTIONS, diffCatalogs, failsOn, type ChangeKind } from '../catalog/diff.js';
import { renderDiff, type DiffFormat } from '../catalog/render.js';
import { escapeForTerminal } from '../output/formats/terminal-text.js';
import { cutCellsNote, tableWidth } from '../output/table.js';
import { prose } from '../cli/prose.js';

export default class DiffCommand extends SharkCommand {
  static override summary = 'What changed in the API between two captures, entry files or recordings: a CI gate';
  static override description = prose(`Compares baseline A with candidate B per service and endpoint (templated as in shark catalog): new and
vanished endpoints, error status mix changes, new error statuses, HTTP status shifts among the answers that are
not errors (a 200 that became a 302: status), latency changes (p95 by default) beyond
--latency-threshold and --latency-floor with a significance check (Mann-Whitney U on bounded samples, p < 0.01,
at least --min-samples calls each side), and contract changes of JSON bodies and query parameters (fields added,
removed, type or enum changed; new parameters), rated breaking or compatible as oasdiff rates them in a spec:
--fail-on schema fails only on breaking ones.

A and B may be recording folders of shark record: their saved Kubernetes context names the services.

Exit codes: 0 no change named by --fail-on (or no --fail-on), 1 one was found, 2 usage, 3 damaged input.`);
  static override examples = [
    'shark diff examples/node-a.pcap examples/node-b.pcap',
    'shark diff --fail-on new-endpoint,errors,latency,schema --format junit baseline/ candidate/ > diff.xml',
    'shark diff --format markdown yesterday.ndjson today.ndjson >> $GITHUB_STEP_SUMMARY',
  ];
  static override args = {
    baseline: Args.string({ description: 'baseline: entries, capture or recording folder', required: true }),
    candidate: Args.string({ description: 'candidate: entries, capture or recording folder', required: true }),
  };
  static override flags = {
    format: Flags.string({ description: 'output format', options: ['table', 'json', 'markdown', 'junit'], default: 'table' }),
    'fail-on': Flags.string({ description: `exit 1 when a change of these kinds is found (comma-separated: ${CHANGE_KINDS.join(',')})` }),
    'latency-threshold': Flags.string({ description: 'relative change of the latency quantile that counts (20% or 0.2)', default: '20%' }),
    'latency-floor': Flags.string({ description: 'absolute latency change below which nothing counts (e.g. 5ms)', default: '5ms' }),
    quantile: Flags.string({ description: 'latency quantile compared (p50, p95, p99)', default: 'p95' }),
    'min-samples': Flags.integer({ description: 'fewest calls each side before rates and latencies are compared', default: DEFAULT_DIFF_OPTIONS.minSamples, min: 2 }),
    service: Flags.string({ description: 'only this service (ns/name, name, host or host:port)' }),
    'fold-threshold': Flags.integer({ description: 'distinct values at one path position before it becomes {param}', default: DEFAULT_FOLD_THRESHOLD, min: 1 }),
    'max-endpoints': Flags.integer({ description: 'most endpoints kept apart per side', default: DEFAULT_MAX_ENDPOINTS, min: 1 }),
    proto: Flags.string({ description: 'decode gRPC messages with these .proto files (directory or file): their schemas join the catalogue' }),
    strict: Flags.boolean({ description: 'a bad NDJSON line is fatal (exit 3) instead of skipped' }),
    'decode-as': decodeAsFlag(),
    workers: workersFlag,
    'tls-keylog': tlsKeylogFlag(),
    ...redactFlags,
  };

  protected async execute(): Promise<number> {
    const { flags, args } = await this.parse(DiffCommand);
    const warn = (m: string) => process.stderr.write(`diff: ${m}\n`);
    // Each side is read on its own: stdin for both would give the candidate no traffic, every endpoint "vanished".
    if (args.baseline === '-' && args.candidate === '-') throw new UserError('stdin ("-") can be only one side: name a file for the other', ExitCode.USAGE);
    const failOn = new Set<ChangeKind>();
    for (const k of (flags['fail-on'] ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
      if (!(CHANGE_KINDS as readonly string[]).includes(k)) throw new UserError(`--fail-on: unknown change "${k}" (one of ${CHANGE_KINDS.join(', ')})`, ExitCode.USAGE);
      failOn.add(k as ChangeKind);
    }
    const opts = {
      ...DEFAULT_DIFF_OPTIONS,
      latencyThreshold: parseRatio(flags['latency-threshold']),
      latencyFloorMs: parseDuration(flags['latency-floor'], '--latency-floor'),
      quantile: parseQuantile(flags.quantile),
      minSamples: flags['min-samples'],
    };
    const redact = redactorFromFlags(flags, 'diff');
    const dissect = { decodeAs: decodeAsRules(flags['decode-as']), tlsKeys: tlsKeysFromFlag(flags['tls-keylog'], warn), protoSchema: flags.proto ? loadProtoDir(flags.proto) : undefined };
    await workersFromFlag(flags.workers); // a bad value is a usage error before either side is read
    const parallel = consumerWorkerSpec(flags, { decodeAs: dissect.decodeAs });
    const read = async (path: string) => {
      const c = new Catalog({ foldThreshold: flags['fold-threshold'], maxEndpoints: flags['max-endpoints'], details: true, redact });
      const workers = await workersFromFlag(flags.workers, [path]);
      const r = await readInputs([path], (batch) => c.addBatch(batch), { stop: this.stop.signal, strict: flags.strict, onWarning: warn, dissect, workers, parallel });
      if (r.damage) throw r.damage;
      if (r.badLines) warn(`${path}: ${r.badLines} bad line(s) skipped`);
      if (c.foldedCalls) warn(`${path}: ${foldedNote(c)}`);
      if (c.templater.deepPaths) warn(`${path}: ${deepPathsNote(c.templater.deepPaths)}`);
      if (c.bodies.deep) warn(`${path}: ${deepBodiesNote(c.bodies.deep)}`);
      if (c.bodies.large) warn(`${path}: ${largeBodiesNote(c.bodies.large)}`);
      return c;
    };
    const a = await read(args.baseline);
    const b = await read(args.candidate);
    const result = diffCatalogs(a, b, opts);
    const conflicts = result.nameConflicts;
    if (conflicts.length) {
      // A few examples, not one line per IP: a CDN behind round-robin DNS could name thousands.
      // Names are from the traffic (attacker-written): escaped before they reach a terminal.
      const shown = conflicts.slice(0, 3).map((c) => escapeForTerminal(`${c.ip} is ${c.baseline} in the baseline, ${c.candidate} in the candidate`));
      const more = conflicts.length > shown.length ? ` (and ${conflicts.length - shown.length} more)` : '';
      warn(`${conflicts.length} IP(s) named differently by the two sides' DNS/Host names, each side keeps its own: ${shown.join('; ')}${more}`);
    }
    if (flags.service) result.changes = result.changes.filter((c) => serviceMatches(c.service, flags.service!));
    process.stdout.write(
      renderDiff(result, flags.format as DiffFormat, failOn, { baseline: args.baseline, candidate: args.candidate }, tableWidth(process.stdout), (n) => warn(cutCellsNote(n))),
    );
    const failing = result.changes.filter((c) => failsOn(c, failOn));
    if (failing.length && flags.format !== 'table') warn(`${failing.length} change(s) named by --fail-on`);
    return failing.length ? ExitCode.CHECK_FAILED : ExitCode.OK;
  }
}

/** "20%" or "0.2" → 0.2 */
function parseRatio(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(%?)$/.exec(text.trim());
  if (!m) throw new UserError(`--latency-threshold: expected a percentage (20%) or a ratio (0.2), got "${text}"`, ExitCode.USAGE);
  return m[2] ? Number(m[1]) / 100 : Number(m[1]);
}

function parseQuantile(text: string): number {
  const m = /^p(\d{1,2}(?:\.\d+)?)$/.exec(text.trim());
  if (!m || Number(m[1]) <= 0) throw new UserError(`--quantile: expected p50, p95, p99 …, got "${text}"`, ExitCode.USAGE);
  return Number(m[1]) / 100;
}
