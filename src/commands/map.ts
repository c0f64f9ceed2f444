import { Args, Flags } from '@oclif/core';
import { inputsFrom, readFileFlag } from '../cli/read-file-flag.js';
import { SharkCommand } from '../cli/base-command.js';
import { decodeAsFlag, decodeAsRules } from '../cli/decode-as-flag.js';
import { tlsKeylogFlag, tlsKeysFromFlag } from '../cli/tls-keylog-flag.js';
import { ExitCode } from '../cli/errors.js';
import { consumeEntries } from '../stats/consume.js';
import { compileKfl } from '../stats/kfl.js';
import { MapAggregator, MAP_FIELDS, MAP_LEVELS, MAX_EDGES, type MapLevel } from '../map/graph.js';
import { parseEdgeLabel } from '../map/labels.js';
import { MAX_NAME_CHARS } from '../model/bounded-name.js';
import { renderDot } from '../output/dot.js';
import { renderMermaid } from '../output/mermaid.js';
import { workersFlag, workersFromFlag, consumerWorkerSpec } from '../cli/workers-flag.js';
import { redactFlags, redactorFromFlags } from '../redact/flags.js';
import { prose } from '../cli/prose.js';

export default class MapCommand extends SharkCommand {
  static override summary = 'Service map as Graphviz DOT, Mermaid or JSON';
  static override description = prose(`Reads entries (NDJSON, or pcap/pcapng dissected on the fly) from FILEs or stdin and draws
who talks to whom: one node per pod/workload/service/namespace, one edge per (source, destination, protocol).
Names: Kubernetes metadata, else DNS names answered in the capture, else HTTP Host / TLS SNI, else IP:port.

A damaged input is used up to the damage: the map is printed, then one line says where, and the exit code is 3.`);
  static override examples = [
    'shark map capture.pcap | dot -Tsvg > map.svg',
    'shark map --level service --min-requests 10 entries.ndjson | dot -Tpng > map.png',
    "shark map --filter 'http' --paths --edge-label protocol,requests,errors capture.pcap",
    'shark map --format mermaid capture.pcap >> README.md',
    'shark map --format json capture.pcap | jq .edges',
  ];
  static override strict = false;
  static override args = { file: Args.string({ description: 'entry (NDJSON) or capture (pcap/pcapng) files; - or none for stdin' }) };
  static override flags = {
    ...readFileFlag,
    format: Flags.string({ description: 'output format', options: ['dot', 'mermaid', 'json'], default: 'dot' }),
    level: Flags.string({ description: 'what a node is', options: MAP_LEVELS, default: 'workload' }),
    'edge-label': Flags.string({ description: 'label parts: protocol,requests,bytes,latency,errors | all | none', default: 'all' }),
    'min-requests': Flags.integer({ description: 'hide edges with fewer requests', min: 0, default: 0 }),
    filter: Flags.string({ description: 'draw only entries matching this KFL expression' }),
    paths: Flags.boolean({ description: 'list the top paths of each edge under its label' }),
    'top-paths': Flags.integer({ description: 'with --paths: how many paths per edge', min: 1, default: 3 }),
    strict: Flags.boolean({ description: 'a bad NDJSON line is fatal (exit 3) instead of skipped' }),
    'decode-as': decodeAsFlag(),
    'tls-keylog': tlsKeylogFlag(),
    workers: workersFlag,
    ...redactFlags,
  };

  protected async execute(): Promise<number> {
    const { flags, argv } = await this.parse(MapCommand);
    const decodeAs = decodeAsRules(flags['decode-as']);
    const tlsKeys = tlsKeysFromFlag(flags['tls-keylog'], (m) => process.stderr.write(`map: ${m}\n`));
    const labels = { parts: parseEdgeLabel(flags['edge-label']), paths: flags.paths ? flags['top-paths'] : 0 };
    const kfl = flags.filter !== undefined ? await compileKfl(flags.filter) : undefined;
    const predicate = kfl?.predicate;
    // Labels and --paths come from entries: they are counted redacted (the filter sees them as they are).
    const map = new MapAggregator(flags.level as MapLevel, predicate, redactorFromFlags(flags, 'map'));
    // Without a filter the map reads a few fields of each entry: only those are read from NDJSON.
    const project = predicate ? undefined : MAP_FIELDS;
    // …none of them a body: bodies need not be decoded (EngineOptions.bodiesUnread).
    const bodiesUnread = project !== undefined;
    const onWarning = (m: string) => process.stderr.write(`map: ${m}\n`);
    const inputs = inputsFrom(flags, argv);
    const input = await consumeEntries(inputs, (batch) => map.add(batch), { stop: this.stop.signal, graceMs: 1500, strict: flags.strict, project, onWarning, dissect: { decodeAs, tlsKeys, bodiesUnread }, workers: await workersFromFlag(flags.workers, inputs), parallel: consumerWorkerSpec(flags, { decodeAs, bodiesUnread }) });
    const graph = map.graph({ minRequests: flags['min-requests'], topPaths: Math.max(flags['top-paths'], 5) });
    const text =
      flags.format === 'json'
        ? JSON.stringify({ ...graph, entries: map.entries }) + '\n'
        : flags.format === 'mermaid'
          ? renderMermaid(graph, labels)
          : renderDot(graph, labels);
    process.stdout.write(text);
    for (const line of kfl?.report() ?? []) onWarning(`--filter: ${line}`);
    if (map.droppedCalls > 0) onWarning(`more than ${MAX_EDGES} edges: ${map.droppedCalls} call(s) of later edges counted, not drawn`);
    const cut = map.cutNames + map.names.cutNames;
    if (cut > 0) onWarning(`${cut} name(s), address(es) or path(s) longer than ${MAX_NAME_CHARS} characters cut (…)`);
    // Damaged input: the map of everything before the damage is out; now say where (exit 3).
    if (input.damage) throw input.damage;
    return ExitCode.OK;
  }
}
