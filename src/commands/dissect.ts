import { Args, Flags } from '@oclif/core';
import { inputsFrom, readFileFlag } from '../cli/read-file-flag.js';
import { SharkCommand } from '../cli/base-command.js';
import { ExitCode, UserError } from '../cli/errors.js';
import { knownProtocols, dissectors, decodeAsOnly } from '../dissect/registry.js';
import { LineSink } from '../output/stdout-sink.js';
import { runDissect } from '../input/dissect-run.js';
import { dissectionNotes } from '../input/dissect-summary.js';
import { parseSize, parseDuration } from '../cli/units.js';
import type { Entry } from '../model/entry.js';
import { InputProgress } from '../output/progress.js';
import { loadProtoDir } from '../dissect/protocols/proto-schema.js';
import { tlsKeylogFlag, tlsKeysFromFlag } from '../cli/tls-keylog-flag.js';
import { keyLogTextForWorkers } from '../cli/tls-keylog-file.js';
import { decodeAsFlag, decodeAsRules } from '../cli/decode-as-flag.js';
import { memoryBudgetFlag, memoryBudgetOption } from '../cli/memory-budget-flag.js';
import { redactFlags, redactorFromFlags } from '../redact/flags.js';
import { outputFlags, outputFromFlags } from '../cli/output-flag.js';
import { workersFlag, workersFromFlag } from '../cli/workers-flag.js';
import type { ClusterSnapshot } from '../model/cluster.js';
import { prose } from '../cli/prose.js';

export default class Dissect extends SharkCommand {
  static override description = prose(`Dissect pcap/pcapng captures into API-call entries (NDJSON, one per line).

On a terminal each call is one readable line instead (-o compact); pipes and
files get NDJSON unless -o says otherwise.

Reads files, or stdin when none (or "-") is given. Entries come out in order of
their requests' first packets. A damaged capture is dissected up to the damage,
then one line on stderr says where, and the exit code is 3.`);

  static override examples = [
    '<%= config.bin %> dissect examples/bookinfo-mix.pcap',
    '<%= config.bin %> dissect examples/bookinfo-mix.pcap | head',
    '<%= config.bin %> dissect -o detail -c 3 examples/http-errors.pcap',
    '<%= config.bin %> dissect --protocols http,dns examples/bookinfo-mix.pcap',
    'tcpdump -i eth0 -w - | <%= config.bin %> dissect',
    '<%= config.bin %> dissect --packets -c 5 examples/bookinfo-mix.pcap',
    '<%= config.bin %> dissect --proto test/fixtures/proto test/fixtures/captures/lab-grpc.pcap',
    '<%= config.bin %> dissect -d tcp.port==50051,http2 test/fixtures/captures/lab-grpc.pcap',
  ];

  static override strict = false;
  static override args = { file: Args.string({ description: 'capture (pcap/pcapng) or entry (NDJSON) files; "-" or none for stdin', required: false }) };

  static override flags = {
    ...readFileFlag,
    protocols: Flags.string({ description: 'keep only these protocols (comma-separated), e.g. http,dns' }),
    'max-body': Flags.string({ description: 'keep at most this many body bytes per message (e.g. 16KB)', default: '16KB' }),
    'no-bodies': Flags.boolean({ description: 'drop request and response bodies' }),
    count: Flags.integer({ char: 'c', description: 'stop after this many entries (packets with --packets)', min: 1 }),
    packets: Flags.boolean({ description: 'print one line per packet instead of per API call' }),
    ...outputFlags,
    'request-timeout': Flags.string({ description: 'a request unanswered for this long (capture time) is emitted unanswered', default: '30s' }),
    'memory-budget': memoryBudgetFlag,
    ...redactFlags,
    kube: Flags.boolean({ description: 'name endpoints from the current Kubernetes cluster (live lookups)' }),
    meta: Flags.string({ description: 'name endpoints from a saved cluster snapshot (a record manifest.json)' }),
    context: Flags.string({ description: 'kubeconfig context (with --kube)' }),
    kubeconfig: Flags.string({ description: 'path to the kubeconfig file (with --kube)' }),
    proto: Flags.string({ description: 'decode gRPC messages with the .proto files in this directory (or file)' }),
    'tls-keylog': tlsKeylogFlag(),
    'decode-as': decodeAsFlag(),
    workers: workersFlag,
    'list-protocols': Flags.boolean({ description: 'list the protocols shark dissects and exit' }),
  };

  protected async execute(): Promise<number> {
    const { argv, flags } = await this.parse(Dissect);
    const inputs = inputsFrom(flags, argv);
    if (flags['list-protocols']) {
      for (const d of [...dissectors, ...decodeAsOnly].sort((a, b) => a.name.localeCompare(b.name))) {
        process.stdout.write(`${d.name}\t${d.transport}\t${d.ports.join(',') || '-'}\t${d.reference}\n`);
      }
      return ExitCode.OK;
    }
    const protocols = flags.protocols ? flags.protocols.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean) : [];
    const known = knownProtocols();
    for (const p of protocols) {
      if (!known.includes(p)) throw new UserError(`--protocols: unknown protocol '${p}' (known: ${known.join(', ')})`);
    }
    const decodeAs = decodeAsRules(flags['decode-as']);
    const workers = await workersFromFlag(flags.workers, inputs);
    // With workers, names from the cluster come from one snapshot each worker enriches from (before redacting).
    let snapshot: ClusterSnapshot | undefined;
    if (workers > 1 && (flags.kube || flags.meta)) {
      const { enrichmentSnapshot } = await import('../k8s/enrichment.js');
      snapshot = await enrichmentSnapshot({ kube: flags.kube, meta: flags.meta, context: flags.context, kubeconfig: flags.kubeconfig });
    }
    // With workers, they redact (each builds the redactor from the same flags); this thread only counts.
    const transforms = workers > 1 ? { fns: [], close: async () => {} } : await this.buildTransforms(flags);
    if (workers > 1 && flags['no-redact']) redactorFromFlags(flags, 'dissect'); // says on stderr that redaction is off
    const { formatter } = outputFromFlags(flags, process.stdout, { entriesOnly: !flags.packets, what: '--packets' });
    const sink = new LineSink(process.stdout, { onClosed: () => this.outputClosed(), format: formatter });
    const warn = (m: string) => process.stderr.write(`dissect: ${m}\n`);
    const timeout = parseDuration(flags['request-timeout'], '--request-timeout');
    let entries = 0;
    const progress = new InputProgress(() => `${entries} entries`);
    const counting = (e: Entry) => {
      entries++;
      return e;
    };
    const tlsKeys = tlsKeysFromFlag(flags['tls-keylog'], warn);
    const engine = {
      protocols,
      maxBody: parseSize(flags['max-body'], '--max-body'),
      noBodies: flags['no-bodies'],
      decodeAs,
      requestTimeoutMs: timeout,
      reorderWindowMs: timeout + 1000,
      ...memoryBudgetOption(flags['memory-budget']),
    };
    try {
      const result = await runDissect({
        inputs,
        engine: { ...engine, protoSchema: flags.proto ? loadProtoDir(flags.proto) : undefined, tlsKeys },
        workers,
        parallel: { engine, tlsKeylog: flags['tls-keylog'], tlsKeylogText: keyLogTextForWorkers(flags['tls-keylog']), proto: flags.proto, redact: { redact: flags.redact, 'no-redact': flags['no-redact'] }, snapshot },
        count: flags.count,
        packets: flags.packets,
        transforms: [...transforms.fns, counting],
        sink,
        onOpen: (name, stream) => progress.opened(name, stream),
        signal: this.stop.signal,
        onWarning: warn,
      });
      await sink.finish();
      // Lost or damaged, copies read once, and (with a key log, or secrets the capture carried) how decryption went.
      for (const note of dissectionNotes(undefined, result, tlsKeys !== undefined)) warn(note);
    } finally {
      progress.stop();
      await transforms.close();
    }
    return ExitCode.OK;
  }

  /** Enrichment (names from Kubernetes) then redaction, each only when asked for / not disabled. */
  private async buildTransforms(flags: {
    kube: boolean;
    meta?: string;
    context?: string;
    kubeconfig?: string;
    'no-redact': boolean;
    redact?: string;
  }): Promise<{ fns: ((e: Entry) => Entry | void)[]; close: () => Promise<void> }> {
    const fns: ((e: Entry) => Entry | void)[] = [];
    let close = async () => {};
    if (flags.kube || flags.meta) {
      const { makeEnrichment } = await import('../k8s/enrichment.js');
      const enrichment = await makeEnrichment({ kube: flags.kube, meta: flags.meta, context: flags.context, kubeconfig: flags.kubeconfig });
      if (enrichment) {
        fns.push((e) => enrichment.enrich(e));
        close = () => enrichment.close();
      }
    }
    if (flags['no-redact']) redactorFromFlags(flags, 'dissect'); // only says on stderr that redaction is off
    else fns.push(redactorFromFlags(flags, 'dissect'));
    return { fns, close };
  }
}
