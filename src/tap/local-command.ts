// `shark tap -i IFACE`: live capture on local interfaces (local.ts does the
// run), with the flags turned into its options and its summary on stderr.
import { ExitCode, UserError } from '../cli/errors.js';
import { parseDuration, parseSize } from '../cli/units.js';
import { LineSink } from '../output/stdout-sink.js';
import { outputFromFlags } from '../cli/output-flag.js';
import { behindLine, runLocalTap, tapSummary } from './local.js';
import { describeDecryption, describeQuicDecryption } from '../dissect/tls/keylog.js';
import { captureBufferOptions } from '../cli/capture-buffer-flags.js';
import { snaplenFrom } from '../cli/snaplen-flag.js';
import type { LiveStats } from '../capture/live.js';
import { tlsKeysFromFlag } from '../cli/tls-keylog-flag.js';
import { isRegularFile } from '../cli/tls-keylog-file.js';
import { redactorFromFlags } from '../redact/flags.js';
import { loadProtoDir } from '../dissect/protocols/proto-schema.js';
import { decodeAsRules } from '../cli/decode-as-flag.js';
import { memoryBudgetOption } from '../cli/memory-budget-flag.js';
import { workersFromFlag } from '../cli/workers-flag.js';
import { sampleRateFromFlag } from '../cli/sample-flag.js';
import { connectionSampler } from '../capture/sample.js';
import type { CommandIo } from '../cli/command-io.js';
import type { TapFlags } from './flags.js';

function linkTypeName(linkType: number): string {
  const names: Record<number, string> = { 0: 'null', 1: 'ethernet', 101: 'raw', 113: 'linux-sll', 276: 'linux-sll2' };
  return names[linkType] ?? `linktype ${linkType}`;
}

export async function tapLocal(flags: TapFlags, io: CommandIo): Promise<number> {
  if (flags.pcap && flags.write) throw new UserError('--pcap and -w cannot be used together', ExitCode.USAGE);
  if (flags.pcap && process.stdout.isTTY) {
    throw new UserError('--pcap writes binary packets: redirect stdout (> file.pcap, | shark dissect) or use -w FILE', ExitCode.USAGE);
  }
  const durationMs = flags.duration !== undefined ? parseDuration(flags.duration, '--duration') : undefined;
  const decodeAs = decodeAsRules(flags['decode-as']);
  const packetsOut = flags.pcap || flags.write !== undefined;
  const { formatter } = outputFromFlags(flags, process.stdout, { entriesOnly: !packetsOut, what: flags.pcap ? '--pcap' : '-w' });
  const sink = new LineSink(process.stdout, { onClosed: () => io.outputClosed(), format: formatter });
  let lastProgress: LiveStats | undefined;
  const rate = sampleRateFromFlag(flags['sample-rate']);
  const sampler = rate !== undefined ? connectionSampler(rate) : undefined;
  const result = await runLocalTap({
    keepPacket: sampler ? (p) => sampler.keep(p) : undefined,
    interfaces: flags.interface ?? [],
    filter: flags.filter,
    snaplen: snaplenFrom(flags.snaplen),
    bufferSize: parseSize(flags['buffer-size'], '--buffer-size'),
    buffers: captureBufferOptions(flags),
    durationMs,
    count: flags.count,
    signal: io.signal,
    // Every few seconds while dissection is behind: what waits, what was shed.
    onProgress: (s) => {
      const line = behindLine(s, lastProgress);
      lastProgress = s;
      if (line) process.stderr.write(`tap: behind: ${line}\n`);
    },
    onReady: (capture) => {
      const names = capture.interfaces.map((i) => `${i.name} (${linkTypeName(i.linkType)})`).join(', ');
      process.stderr.write(`tap: listening on ${names}, snaplen ${capture.interfaces[0].snaplen}\n`);
    },
    engine: {
      maxBody: parseSize(flags['max-body'], '--max-body'),
      noBodies: flags['no-bodies'],
      protoSchema: flags.proto ? loadProtoDir(flags.proto) : undefined,
      // Live: clients append to the key log as they connect, so it is followed, not read once.
      tlsKeys: tlsKeysFromFlag(flags['tls-keylog'], (m) => process.stderr.write(`tap: ${m}\n`), true),
      decodeAs,
      ...memoryBudgetOption(flags['memory-budget']),
    },
    parallel: { workers: await liveWorkers(flags), proto: flags.proto, tlsKeylog: flags['tls-keylog'] },
    output: flags.write
      ? { kind: 'file', path: flags.write }
      : flags.pcap
        ? { kind: 'packets', stream: process.stdout, onClosed: () => io.outputClosed() }
        : { kind: 'entries', sink, transforms: [redactorFromFlags(flags, 'tap')] },
  });
  if (!packetsOut) await sink.finish();
  process.stderr.write(`tap: ${tapSummary(result, !packetsOut)}\n`);
  // As dissect says it: how decryption with the key log went.
  if (flags['tls-keylog'] && !packetsOut && result.counters) {
    const c = result.counters;
    // A run with only QUIC sessions says how QUIC went, not "TLS: 0 sessions decrypted" (as dissect does).
    if (c['tls.decrypted-sessions'] || c['tls.no-key'] || !c['quic.connections']) process.stderr.write(`tap: ${describeDecryption(c)}\n`);
    const quic = describeQuicDecryption(c);
    if (quic) process.stderr.write(`tap: ${quic}\n`);
  }
  if (sampler) process.stderr.write(`tap: --sample-rate ${rate}: ${sampler.skipped} packets of connections outside the sample skipped\n`);
  return ExitCode.OK;
}

/**
 * Live dissection threads. Each follows the key log itself; a FIFO's lines go
 * to whichever thread reads them first, so with a FIFO one thread dissects
 * (said on stderr), and it has every secret.
 */
async function liveWorkers(flags: TapFlags): Promise<number> {
  const workers = await workersFromFlag(flags.workers);
  const keylog = flags['tls-keylog'];
  if (workers === 1 || !keylog || isRegularFile(keylog)) return workers;
  process.stderr.write(`tap: --tls-keylog ${keylog} is not a regular file (a FIFO): dissected by one thread, not ${workers}, so that it reads every line\n`);
  return 1;
}
