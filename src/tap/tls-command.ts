// `shark tap --tls` on this machine: OpenSSL's plaintext by eBPF uprobes
// (src/tls-capture/tap.ts does the run), with the flags turned into its options.
import { ExitCode, UserError } from '../cli/errors.js';
import { parseDuration, parseSize } from '../cli/units.js';
import { LineSink } from '../output/stdout-sink.js';
import { outputFromFlags } from '../cli/output-flag.js';
import { redactorFromFlags } from '../redact/flags.js';
import { loadProtoDir } from '../dissect/protocols/proto-schema.js';
import { decodeAsRules } from '../cli/decode-as-flag.js';
import { memoryBudgetOption } from '../cli/memory-budget-flag.js';
import { defaultLibraries } from '../tls-capture/loader.js';
import type { CommandIo } from '../cli/command-io.js';
import type { TapFlags } from './flags.js';

export async function tapTls(flags: TapFlags, io: CommandIo): Promise<number> {
  if (flags.pcap || flags.write) throw new UserError('--tls writes entries: there are no packets to write (--pcap, -w)', ExitCode.USAGE);
  const ringSize = parseSize(flags['tls-ring-size'], '--tls-ring-size');
  if (ringSize < 4096 || (ringSize & (ringSize - 1)) !== 0) throw new UserError('--tls-ring-size must be a power of two of at least 4KB (e.g. 8MB)', ExitCode.USAGE);
  const { runTlsTap, tlsSummary } = await import('../tls-capture/tap.js');
  const { ProcessIdentities } = await import('../tls-capture/process-identity.js');
  const { formatter } = outputFromFlags(flags, process.stdout);
  const sink = new LineSink(process.stdout, { onClosed: () => io.outputClosed(), format: formatter });
  const result = await runTlsTap({
    libs: [...defaultLibraries(), ...(flags['tls-lib'] ?? [])],
    scan: flags['tls-scan'],
    ringSize,
    // On a node, each process's container (and pod uid) from its cgroup, as the cluster agents give it.
    identities: new ProcessIdentities(),
    durationMs: flags.duration !== undefined ? parseDuration(flags.duration, '--duration') : undefined,
    count: flags.count,
    signal: io.signal,
    sink,
    transforms: [redactorFromFlags(flags, 'tap')],
    engine: {
      maxBody: parseSize(flags['max-body'], '--max-body'),
      noBodies: flags['no-bodies'],
      protoSchema: flags.proto ? loadProtoDir(flags.proto) : undefined,
      decodeAs: decodeAsRules(flags['decode-as']),
      ...memoryBudgetOption(flags['memory-budget']),
    },
    onReady: (files) => process.stderr.write(`tap: --tls: hooked ${files.length > 0 ? files.join(', ') : 'no OpenSSL yet (watching new processes)'}\n`),
    onNote: (line) => process.stderr.write(`tap: --tls: ${line}\n`),
  });
  await sink.finish();
  process.stderr.write(`tap: ${tlsSummary(result)}\n`);
  return ExitCode.OK;
}
