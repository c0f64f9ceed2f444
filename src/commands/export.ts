import { Args, Flags } from '@oclif/core';
import { inputsFrom, readFileFlag } from '../cli/read-file-flag.js';
import { SharkCommand } from '../cli/base-command.js';
import { decodeAsFlag, decodeAsRules } from '../cli/decode-as-flag.js';
import { tlsKeylogFlag, tlsKeysFromFlag } from '../cli/tls-keylog-flag.js';
import { parseSize } from '../cli/units.js';
import { ExitCode, UserError } from '../cli/errors.js';
import { TextOut } from '../output/text-out.js';
import { redactFlags, redactorFromFlags } from '../redact/flags.js';
import { readInputs } from '../catalog/read.js';
import { workersFlag, workersFromFlag, consumerWorkerSpec } from '../cli/workers-flag.js';
import { HAR_TAIL, harEntry, harHead } from '../catalog/har.js';
import { prose } from '../cli/prose.js';

export default class ExportCommand extends SharkCommand {
  static override summary = 'Export HTTP calls as HAR 1.2 (browser dev tools, HAR viewers, replay tools)';
  static override description = prose(`Reads entries (NDJSON), captures (dissected on the fly) or recording folders from FILEs or stdin and writes
one HAR 1.2 document of their HTTP/1, HTTP/2, gRPC and GraphQL calls, in capture order, streamed (memory does
not grow with the input). Times come from the capture (startedDateTime: the request's first packet; time and
timings.wait: until the response's last packet). Secrets are redacted unless --no-redact. Other protocols are
skipped and counted on stderr.`);
  static override examples = [
    'shark export --har examples/bookinfo-mix.pcap > bookinfo.har',
    'shark export --har -o calls.har --max-body 4KB examples/http-errors.pcap',
    "shark filter 'http and response.status >= 500' capture.pcap | shark export --har > errors.har",
  ];
  static override strict = false;
  static override args = { file: Args.string({ description: 'entry (NDJSON) or capture files, or recording folders; - or none for stdin' }) };
  static override flags = {
    ...readFileFlag,
    har: Flags.boolean({ description: 'write HAR 1.2 (the only export format so far; required)' }),
    output: Flags.string({ char: 'o', description: 'write here instead of stdout' }),
    'max-body': Flags.string({ description: 'keep at most this many body characters per message (e.g. 16KB)', default: '16KB' }),
    meta: Flags.string({ description: 'name endpoints from a saved cluster snapshot (a record manifest.json)' }),
    strict: Flags.boolean({ description: 'a bad NDJSON line is fatal (exit 3) instead of skipped' }),
    'decode-as': decodeAsFlag(),
    workers: workersFlag,
    'tls-keylog': tlsKeylogFlag(),
    ...redactFlags,
  };

  protected async execute(): Promise<number> {
    const { flags, argv } = await this.parse(ExportCommand);
    if (!flags.har) throw new UserError('name the format: --har', ExitCode.USAGE);
    const warn = (m: string) => process.stderr.write(`export: ${m}\n`);
    const maxBody = parseSize(flags['max-body'], '--max-body');
    const out = await TextOut.open(flags.output, () => this.outputClosed());
    const opts = { maxBody, creatorVersion: this.config.version };
    let written = 0;
    let skipped = 0;
    const write = (s: string) => out.write(s);
    // The head waits for the first entry (or the end): an input that cannot
    // be opened is then one line on stderr, with no half document on stdout.
    let started = false;
    const start = async () => {
      if (started) return;
      started = true;
      await write(harHead(opts));
    };
    const inputs = inputsFrom(flags, argv);
    const input = await readInputs(
      inputs,
      async (batch) => {
        const parts: string[] = [];
        for (const e of batch) {
          const h = harEntry(e, opts);
          if (!h) {
            skipped++;
            continue;
          }
          // One entry a line, whatever the batches were (so --workers gives the same bytes).
          parts.push((written++ === 0 ? '' : ',\n') + JSON.stringify(h));
        }
        if (parts.length) {
          await start();
          await write(parts.join(''));
        }
      },
      {
        stop: this.stop.signal,
        graceMs: 1500,
        strict: flags.strict,
        onWarning: warn,
        meta: flags.meta,
        dissect: { decodeAs: decodeAsRules(flags['decode-as']), tlsKeys: tlsKeysFromFlag(flags['tls-keylog'], warn), maxBody },
        workers: await workersFromFlag(flags.workers, inputs),
        parallel: consumerWorkerSpec(flags, { decodeAs: decodeAsRules(flags['decode-as']), maxBody }),
        redact: redactorFromFlags(flags, 'export'),
      },
    );
    // Always a whole document, also after damage or Ctrl-C: what was read is valid HAR.
    await start();
    await write(HAR_TAIL);
    await out.end();
    if (skipped) warn(`${written} HTTP call${written === 1 ? '' : 's'} written; ${skipped} entr${skipped === 1 ? 'y' : 'ies'} of other protocols (or without a request or a valid time) skipped`);
    if (input.damage) throw input.damage;
    return ExitCode.OK;
  }
}
