import { Args, Flags } from '@oclif/core';
import { inputsFrom, readFileFlag } from '../cli/read-file-flag.js';
import { SharkCommand } from '../cli/base-command.js';
import { decodeAsFlag, decodeAsRules } from '../cli/decode-as-flag.js';
import { tlsKeylogFlag, tlsKeysFromFlag } from '../cli/tls-keylog-flag.js';
import { consumerWorkerSpec, workersFlag, workersFromFlag } from '../cli/workers-flag.js';
import { redactFlags, redactorFromFlags } from '../redact/flags.js';
import { useColour, type ColourMode } from '../output/formats/colour.js';
import { checkInputs } from '../input/entries.js';
import { prose } from '../cli/prose.js';

export default class View extends SharkCommand {
  static override summary = 'Browse calls in the terminal: a list, a detail pane and a KFL filter box';
  static override description = prose(`An interactive terminal view of calls, like termshark for tshark or Kubeshark's dashboard:
a scrolling list (one line per call), the selected call's request and response, a filter box opened with /
(KFL1 or KFL2, applied as you type, errors shown with their column, Enter keeps it, Esc restores the last one),
per-protocol counts, and follow mode for live input.

Reads captures (pcap/pcapng, dissected on the fly), entry files (NDJSON), or stdin, e.g. from a live tap.
Keys come from the terminal even when stdin carries the calls. The last --keep calls are held (the oldest
are let go, and counted). q quits.`);
  static override examples = [
    '<%= config.bin %> view examples/bookinfo-mix.pcap',
    "<%= config.bin %> view --filter 'http and response.status >= 500' examples/http-errors.pcap",
    '<%= config.bin %> tap -A | <%= config.bin %> view',
  ];
  static override strict = false;
  static override args = { file: Args.string({ description: 'captures or entry files; "-" or none for stdin', required: false }) };
  static override flags = {
    ...readFileFlag,
    filter: Flags.string({ description: 'start with this KFL filter in the filter box' }),
    keep: Flags.integer({ description: 'hold at most this many calls (the oldest are let go)', min: 100, default: 20_000 }),
    color: Flags.string({ description: 'colour: auto (unless NO_COLOR is set; FORCE_COLOR=1 or 0 forces it), always, never', options: ['auto', 'always', 'never'], default: 'auto' }),
    'decode-as': decodeAsFlag(),
    workers: workersFlag,
    'tls-keylog': tlsKeylogFlag(),
    ...redactFlags,
  };

  protected async execute(): Promise<number> {
    const { argv, flags } = await this.parse(View);
    const warn = (m: string) => process.stderr.write(`view: ${m}\n`);
    const { runView } = await import('../view/run-view.js');
    const inputs = inputsFrom(flags, argv);
    // A missing or unreadable input (or no stdin) is said before the screen is taken, not after `q`.
    checkInputs(inputs.length === 0 ? ['-'] : inputs);
    return runView({
      inputs,
      colour: useColour(flags.color as ColourMode, process.stdout.isTTY === true),
      redact: redactorFromFlags(flags, 'view'),
      capacity: flags.keep,
      filter: flags.filter,
      dissect: { decodeAs: decodeAsRules(flags['decode-as']), tlsKeys: tlsKeysFromFlag(flags['tls-keylog'], warn) },
      workers: await workersFromFlag(flags.workers, inputs),
      parallel: consumerWorkerSpec(flags, { decodeAs: decodeAsRules(flags['decode-as']) }),
      signal: this.stop.signal,
    });
  }
}
