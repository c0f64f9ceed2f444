import { Flags } from '@oclif/core';
import { inputsFrom, readFileFlag } from '../cli/read-file-flag.js';
import { SharkCommand } from '../cli/base-command.js';
import { decodeAsFlag, decodeAsRules } from '../cli/decode-as-flag.js';
import { tlsKeylogFlag, tlsKeysFromFlag } from '../cli/tls-keylog-flag.js';
import { ExitCode, UserError } from '../cli/errors.js';
import { workersFlag, workersFromFlag, consumerWorkerSpec } from '../cli/workers-flag.js';
import { redactFlags, redactList } from '../redact/flags.js';
import { outputFlags, outputFromFlags } from '../cli/output-flag.js';
import { prose } from '../cli/prose.js';

export default class Filter extends SharkCommand {
  static override description = prose(`Keep the entries that match a filter: KFL1 or KFL2 (Kubeshark's filter languages), or JSONata.

Reads NDJSON entries or pcap/pcapng captures (dissected on the fly) from files, or stdin when none (or "-") is given, and writes matching entries unchanged as NDJSON (on a terminal: one readable line per call, see -o), except that secrets (tokens, passwords, cookies…) are redacted unless --no-redact. The dialect is told from the expression (&& || → KFL2, and/or → KFL1) unless --dialect says. See docs/filters.md.`);

  static override examples = [
    `<%= config.bin %> filter '!dns and !error and request.path != "/healthz"' entries.ndjson`,
    `<%= config.bin %> filter 'http && status_code >= 500 && path.contains("/api")' capture.pcap`,
    `<%= config.bin %> dissect capture.pcap | <%= config.bin %> filter 'dns and response.rcode != 0'`,
    `<%= config.bin %> filter --count 'response.status == 404' entries.ndjson`,
    `<%= config.bin %> filter -o detail 'response.status >= 500' examples/http-errors.pcap`,
    `<%= config.bin %> filter --jsonata 'response.status >= 500 and $contains(request.path, "/api")' entries.ndjson`,
  ];

  static override strict = false;
  static override args = {};
  static override usage = ['filter EXPR [FILE...]', 'filter --jsonata EXPR [FILE...]'];

  static override flags = {
    ...readFileFlag,
    jsonata: Flags.string({ description: 'filter with this JSONata expression instead of KFL (then every argument is a file)' }),
    dialect: Flags.string({ description: 'KFL dialect of EXPR', options: ['kfl1', 'kfl2', 'auto'], default: 'auto' }),
    count: Flags.boolean({ char: 'c', description: 'print only the number of matching entries' }),
    invert: Flags.boolean({ char: 'v', description: 'keep the entries that do NOT match' }),
    first: Flags.integer({ char: 'n', description: 'stop after N matching entries', min: 0 }),
    strict: Flags.boolean({ description: 'a bad input line is fatal (exit 3) instead of reported and skipped' }),
    'jsonata-timeout': Flags.integer({ description: 'time limit per entry for a --jsonata expression, in ms (an entry over it is a non-match)', default: 500, min: 1 }),
    'decode-as': decodeAsFlag(),
    'tls-keylog': tlsKeylogFlag(),
    workers: workersFlag,
    ...redactFlags,
    ...outputFlags,
  };

  protected async execute(): Promise<number> {
    const { argv, flags } = await this.parse(Filter);
    const args = argv as string[];
    let expr = '';
    if (flags.jsonata === undefined) {
      if (args.length === 0) throw new UserError('missing filter expression (usage: shark filter EXPR [FILE...])', ExitCode.USAGE);
      expr = args.shift() as string;
    }
    const decodeAs = decodeAsRules(flags['decode-as']);
    const tlsKeys = tlsKeysFromFlag(flags['tls-keylog'], (m) => process.stderr.write(`filter: ${m}\n`));
    if (flags['no-redact']) process.stderr.write('filter: redaction is off: secrets in the traffic appear in the output\n');
    const { formatter } = outputFromFlags(flags, process.stdout, { entriesOnly: !flags.count, what: '--count' });
    const { runFilter } = await import('../filter/run.js');
    // What is left after the expression: the files.
    const inputs = inputsFrom(flags, args);
    await runFilter({
      inputs,
      expr,
      jsonata: flags.jsonata,
      jsonataTimeoutMs: flags['jsonata-timeout'],
      dialect: flags.dialect as 'kfl1' | 'kfl2' | 'auto',
      count: flags.count,
      invert: flags.invert,
      first: flags.first,
      strict: flags.strict,
      format: formatter,
      redact: redactList(flags),
      noRedact: flags['no-redact'],
      dissect: { decodeAs, tlsKeys },
      workers: await workersFromFlag(flags.workers, inputs),
      parallel: consumerWorkerSpec(flags, { decodeAs }),
      signal: this.stop.signal,
      onWarning: (m) => process.stderr.write(`filter: ${m}\n`),
      onClosed: () => this.outputClosed(),
    });
    return ExitCode.OK;
  }
}
