import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Flags } from '@oclif/core';
import { SharkCommand } from '../cli/base-command.js';
import { ExitCode, UserError } from '../cli/errors.js';
import { captureBufferFlags, captureBufferOptions } from '../cli/capture-buffer-flags.js';
import { snaplenFlag, snaplenFrom } from '../cli/snaplen-flag.js';
import { parseDuration, parseSize } from '../cli/units.js';
import { memoryBudgetFlag, memoryBudgetOption } from '../cli/memory-budget-flag.js';
import { record, recordSummary, type RecordSource } from '../record/recorder.js';
import { redactFlags, redactorFromFlags } from '../redact/flags.js';
import { liveWorkersFlag, workersFromFlag } from '../cli/workers-flag.js';
import { stdinProblem } from '../input/stdin.js';
import { prose } from '../cli/prose.js';

export default class Record extends SharkCommand {
  static override description = prose(`Record traffic for cron: bounded, rotated, checksummed, never half-written.

Captures live (-i IFACE) or reads a capture or entry stream on stdin, into
DIR/<name>-<UTC time>/: rotated pcap files, the dissected entries (NDJSON,
--gzip to compress) and manifest.json (times, counts, sha256 of every file,
command line, Kubernetes objects). Retention (--keep, --max-total) is applied
at every run, oldest first. A run killed midway leaves whole files plus an
INCOMPLETE marker; the next run completes it. One run per name at a time
(exit 5 otherwise); disk full exits 6 keeping every whole file.`);

  static override examples = [
    '<%= config.bin %> record --name nightly --out /var/lib/shark -i eth0 --duration 10m --keep 7d',
    '<%= config.bin %> record --name web --out rec -i eth0 -f "tcp port 80" --rotate-size 100MB --max-total 5GB',
    '<%= config.bin %> tap -i eth0 --pcap | <%= config.bin %> record --name piped --out rec --until-idle 30s',
    '<%= config.bin %> dissect capture.pcap | <%= config.bin %> record --name entries --out rec --gzip',
  ];

  static override flags = {
    name: Flags.string({ description: 'recording name (folders are <name>-<UTC time>)', required: true }),
    out: Flags.string({ char: 'o', description: 'folder that holds the recordings', required: true }),
    interface: Flags.string({ char: 'i', description: 'capture live on this interface (repeat for several); else read stdin', multiple: true }),
    filter: Flags.string({ char: 'f', description: 'BPF capture filter (with -i)' }),
    snaplen: snaplenFlag('bytes kept per packet (with -i, at most 65535)'),
    'buffer-size': Flags.string({ char: 'B', description: 'kernel capture ring (with -i); see shark tap --help', default: '128MB' }),
    ...captureBufferFlags,
    duration: Flags.string({ description: 'stop after this long (e.g. 10m)' }),
    packets: Flags.integer({ description: 'stop after this many packets (entries for an entry stream)', min: 1 }),
    'until-idle': Flags.string({ description: 'stop when nothing arrived for this long (e.g. 30s)' }),
    'rotate-size': Flags.string({ description: 'start a new file before one passes this size (e.g. 100MB)' }),
    'rotate-every': Flags.string({ description: 'start a new file every so much capture time (e.g. 5m)' }),
    keep: Flags.string({ description: 'delete recordings of this name older than this (e.g. 7d)' }),
    'max-total': Flags.string({ description: 'delete the oldest recordings of this name beyond this total (e.g. 5GB)' }),
    gzip: Flags.boolean({ description: 'gzip the entry files' }),
    'no-entries': Flags.boolean({ description: 'keep packets only, do not dissect' }),
    workers: liveWorkersFlag,
    'memory-budget': memoryBudgetFlag,
    ...redactFlags,
    kube: Flags.boolean({
      description: 'save the cluster objects in the manifest (default: when a kubeconfig exists)',
      allowNo: true,
    }),
    context: Flags.string({ description: 'kubeconfig context for the snapshot' }),
    kubeconfig: Flags.string({ description: 'kubeconfig file for the snapshot' }),
    quiet: Flags.boolean({ char: 'q', description: 'no summary line (errors are still printed)' }),
    now: Flags.string({ description: 'pretend the run starts at this ISO time (tests of retention)', hidden: true }),
  };

  protected async execute(): Promise<number> {
    const { flags } = await this.parse(Record);
    const ms = (v: string | undefined, flag: string) => (v === undefined ? undefined : parseDuration(v, flag));
    const bytes = (v: string | undefined, flag: string) => (v === undefined ? undefined : parseSize(v, flag));
    // A zero rotation size or period would start a new file for every packet; a zero duration records nothing.
    const positive = (n: number | undefined, flag: string) => {
      if (n === 0) throw new UserError(`${flag}: must be more than 0`, ExitCode.USAGE);
      return n;
    };
    const interfaces = flags.interface ?? [];
    if (interfaces.length === 0 && process.stdin.isTTY) {
      throw new UserError('nothing to record: give -i IFACE, or pipe a capture or entries into stdin', ExitCode.USAGE);
    }
    // A directory or a closed stdin would be recorded as an empty recording.
    const stdinWrong = interfaces.length === 0 ? stdinProblem() : undefined;
    if (stdinWrong) throw new UserError(`<stdin>: ${stdinWrong}${stdinWrong === 'closed' ? ': give -i IFACE, or pipe a capture or entries into stdin' : ''}`, ExitCode.USAGE);
    if (interfaces.length === 0 && (flags.filter || flags.snaplen)) {
      throw new UserError('-f and --snaplen need -i (stdin is recorded as it comes)', ExitCode.USAGE);
    }
    const source: RecordSource =
      interfaces.length > 0
        ? {
            kind: 'live',
            interfaces,
            filter: flags.filter,
            snaplen: snaplenFrom(flags.snaplen),
            bufferSize: parseSize(flags['buffer-size'], '--buffer-size'),
            buffers: captureBufferOptions(flags),
          }
        : { kind: 'stream', stream: process.stdin, name: '<stdin>' };
    const wantKube =
      flags.kube ?? (flags.kubeconfig !== undefined || !!process.env.KUBECONFIG || existsSync(join(homedir(), '.kube', 'config')));
    let now: (() => Date) | undefined;
    if (flags.now) {
      const fake = Date.parse(flags.now);
      if (!Number.isFinite(fake)) throw new UserError(`--now: '${flags.now}' is not an ISO time`, ExitCode.USAGE);
      const offset = fake - Date.now();
      now = () => new Date(Date.now() + offset);
    }
    const started = Date.now();
    const result = await record({
      name: flags.name,
      outDir: flags.out,
      source,
      durationMs: positive(ms(flags.duration, '--duration'), '--duration'),
      maxPackets: flags.packets,
      untilIdleMs: positive(ms(flags['until-idle'], '--until-idle'), '--until-idle'),
      rotateBytes: positive(bytes(flags['rotate-size'], '--rotate-size'), '--rotate-size'),
      rotateEveryMs: positive(ms(flags['rotate-every'], '--rotate-every'), '--rotate-every'),
      keepMs: ms(flags.keep, '--keep'),
      maxTotalBytes: bytes(flags['max-total'], '--max-total'),
      gzip: flags.gzip,
      entries: !flags['no-entries'],
      engine: memoryBudgetOption(flags['memory-budget']),
      workers: await workersFromFlag(flags.workers),
      redact: flags['no-entries'] ? undefined : redactorFromFlags(flags, 'record'),
      command: process.argv.slice(1),
      kube: wantKube ? { context: flags.context, kubeconfig: flags.kubeconfig } : undefined,
      now,
      signal: this.stop.signal,
      onReady: () => {
        if (!flags.quiet && interfaces.length > 0) process.stderr.write(`record: listening on ${interfaces.join(', ')}\n`);
      },
      onBadLine: (line) => process.stderr.write(`record: ${line}\n`),
      onNote: (line) => {
        if (!flags.quiet) process.stderr.write(`record: ${line}\n`);
      },
    });
    if (!flags.quiet) process.stderr.write(`record: ${recordSummary(result, Date.now() - started)}\n`);
    return ExitCode.OK;
  }
}
