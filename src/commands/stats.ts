import { Args, Flags } from '@oclif/core';
import { inputsFrom, readFileFlag } from '../cli/read-file-flag.js';
import { writeFile } from 'node:fs/promises';
import { SharkCommand } from '../cli/base-command.js';
import { decodeAsFlag, decodeAsRules } from '../cli/decode-as-flag.js';
import { tlsKeylogFlag, tlsKeysFromFlag } from '../cli/tls-keylog-flag.js';
import { ExitCode, UserError, isEpipe } from '../cli/errors.js';
import { MAX_GROUPS, MAX_KEY_CHARS, OTHER_GROUP, StatsAggregator, statsFields, type StatsWire } from '../stats/aggregate.js';
import { consumeEntries, type ConsumeOptions } from '../stats/consume.js';
import { renderStats, SORT_COLUMNS, type StatsFormat } from '../stats/render.js';
import { tableWidth } from '../output/table.js';
import { LiveView, parseDuration } from '../stats/live.js';
import { MAX_NAMED_IPS } from '../stats/names.js';
import { cutNamesNote } from '../model/bounded-name.js';
import { noValueWarning } from '../stats/group-by.js';
import { loadRules } from '../stats/rules.js';
import { RuleChecker, renderResults } from '../stats/check.js';
import { junitXml } from '../stats/junit.js';
import { workersFlag, workersFromFlag, consumerWorkerSpec } from '../cli/workers-flag.js';
import { redactFlags, redactorFromFlags } from '../redact/flags.js';
import { prose } from '../cli/prose.js';

export default class Stats extends SharkCommand {
  static override summary = 'Per-protocol / per-service traffic tables, live refresh, and CI checks';
  static override description = prose(`Reads entries (NDJSON, or pcap/pcapng dissected on the fly) from FILEs or stdin.
Latency percentiles come from a log-bucket sketch with at most 1% relative error (max is exact).

With --check, evaluates a YAML rules file and exits 0 (all pass), 1 (a rule failed) or 2 (bad rules file).
A damaged input is used up to the damage: the table (or check) is printed, then one line says where, and the
exit code is 3; with --check also when any input line was bad and skipped.`);
  static override examples = [
    'shark stats capture.pcap',
    'shark stats --by service --sort p95 --top 10 entries.ndjson',
    "shark stats --by 'request.headers.\"user-agent\"' entries.ndjson",
    'shark stats --format markdown capture.pcap > stats.md',
    'shark tap -A | shark filter dns | shark stats --interval 5s',
    'shark stats --check rules.yaml --junit report.xml capture.pcap',
    'shark stats -d tcp.port==50051,http2 test/fixtures/captures/lab-grpc.pcap',
  ];
  static override strict = false;
  static override args = { file: Args.string({ description: 'entry (NDJSON) or capture (pcap/pcapng) files; - or none for stdin' }) };
  static override flags = {
    ...readFileFlag,
    by: Flags.string({
      description: 'group by protocol|service|endpoint|namespace|pod|status, or a JSONata expression',
      default: 'protocol',
    }),
    top: Flags.integer({ description: 'show only the first N rows', min: 1 }),
    sort: Flags.string({ description: `column to sort by (${SORT_COLUMNS.join(', ')})`, default: 'entries' }),
    format: Flags.string({ description: 'output format', options: ['table', 'json', 'csv', 'markdown'], default: 'table' }),
    interval: Flags.string({ description: 'redraw (TTY) or append (pipe) the table every DURATION (e.g. 5s)' }),
    check: Flags.string({ description: 'evaluate the rules in this YAML file; exit 1 if any fails', exclusive: ['interval'] }),
    junit: Flags.string({ description: 'with --check: also write JUnit XML here', dependsOn: ['check'] }),
    strict: Flags.boolean({ description: 'a bad NDJSON line is fatal (exit 3) instead of skipped' }),
    'decode-as': decodeAsFlag(),
    'tls-keylog': tlsKeylogFlag(),
    workers: workersFlag,
    ...redactFlags,
  };

  protected async execute(): Promise<number> {
    const { flags, argv } = await this.parse(Stats);
    const inputs = inputsFrom(flags, argv);
    const format = flags.format as StatsFormat;
    // --check filters may read any field; tables read a known few (unless --by is JSONata).
    const project = flags.check ? undefined : statsFields(flags.by);
    const decodeAs = decodeAsRules(flags['decode-as']);
    const tlsKeys = tlsKeysFromFlag(flags['tls-keylog'], (m) => process.stderr.write(`stats: ${m}\n`));
    const warn = (m: string) => process.stderr.write(`stats: ${m}\n`);
    const redact = redactorFromFlags(flags, 'stats');
    const workers = await workersFromFlag(flags.workers, inputs);
    // A table reads no bodies: they need not be decoded (EngineOptions.bodiesUnread).
    const bodiesUnread = project !== undefined;
    const parallel = consumerWorkerSpec(flags, { decodeAs, bodiesUnread });
    const read = (onBatch: Parameters<typeof consumeEntries>[1], redactEntries: boolean, aggregate?: ConsumeOptions['aggregate']) =>
      consumeEntries(inputs, onBatch, { stop: this.stop.signal, graceMs: 1500, strict: flags.strict, project, onWarning: warn, dissect: { decodeAs, tlsKeys, bodiesUnread }, workers, parallel, redact: redactEntries ? redact : undefined, aggregate });

    if (flags.check) {
      const rules = await loadRules(flags.check);
      // Rules see entries as they are (a rule may test a header); only what a result quotes is redacted.
      const checker = new RuleChecker(rules, redact);
      const input = await read((batch) => checker.add(batch), false);
      const results = checker.results();
      process.stdout.write(renderResults(results, format));
      // A rule's filter that could not decide on some entries says so: its count may be short.
      for (const r of rules) for (const line of r.kflReport?.() ?? []) warn(`rule "${r.name}" (${flags.check}:${r.line}): ${line}`);
      if (flags.junit) {
        try {
          await writeFile(flags.junit, junitXml(results, 'shark stats --check', flags.check));
        } catch (err) {
          throw new UserError(`${flags.junit}: cannot write JUnit report (${(err as Error).message})`, ExitCode.OUTPUT);
        }
      }
      // A CI gate never passes on input it could not read whole: damage, or lines skipped as bad.
      if (input.damage) throw input.damage;
      if (input.badLines > 0) {
        throw new UserError(`${input.badLines} input line(s) were bad and skipped: the check did not see all the traffic`, ExitCode.BAD_INPUT);
      }
      return results.every((r) => r.passed) ? ExitCode.OK : ExitCode.CHECK_FAILED;
    }

    // A JSONata --by is evaluated in a process of its own, until a stop.
    const stats = new StatsAggregator(flags.by, { signal: this.stop.signal });
    const render = () => renderStats(stats.snapshot(), { format, sort: flags.sort, top: flags.top, width: tableWidth(process.stdout), terminal: process.stdout.isTTY === true });
    render(); // validates --sort before any input is read
    const live = flags.interval ? new LiveView(process.stdout, render) : undefined;
    // `… | shark stats --interval 5s | head`: when the reader leaves, stop reading too.
    if (live) process.stdout.on('error', (err) => isEpipe(err) && this.outputClosed());
    if (live) live.start(parseDuration(flags.interval!));
    let input: Awaited<ReturnType<typeof read>>;
    try {
      // Rows are named from entries (`--by request.headers.authorization`): group redacted entries.
      // A final table by a built-in grouping: workers aggregate their own entries, and only their tables come back.
      const onWorkers = !live && project !== undefined ? { by: flags.by, redact: { redact: flags.redact, 'no-redact': flags['no-redact'] }, into: (t: StatsWire) => stats.mergeWire(t) } : undefined;
      input = await read((batch) => stats.addBatch(batch), true, onWorkers);
    } catch (err) {
      live?.cancel();
      throw err;
    } finally {
      stats.close();
    }
    // Stopped (Ctrl-C), at end of input or at damage: the final table covers everything received.
    if (live) live.finish();
    else process.stdout.write(render());
    // Names are bounded (names.ts): rows past the bound show addresses, and say so.
    const noValue = noValueWarning(flags.by, stats.count, stats.valueless);
    if (noValue) warn(noValue);
    if (stats.cutKeys > 0) warn(`${stats.cutKeys} entr${stats.cutKeys === 1 ? 'y' : 'ies'} grouped by a value longer than ${MAX_KEY_CHARS} characters: rows named by its start (…)`);
    if (stats.folded > 0) warn(`${stats.folded} entr${stats.folded === 1 ? 'y' : 'ies'} of groups past the first ${MAX_GROUPS} counted in the ${OTHER_GROUP} row`);
    if (stats.names.cutNames > 0) warn(cutNamesNote(stats.names.cutNames));
    if (stats.names.dropped > 0) warn(`the name book was full (${MAX_NAMED_IPS} addresses): ${stats.names.dropped} name(s) not kept, those rows show addresses`);
    if (input.damage) throw input.damage;
    return ExitCode.OK;
  }
}
