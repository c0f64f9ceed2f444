import { Args, Flags } from '@oclif/core';
import { inputsFrom, readFileFlag } from '../cli/read-file-flag.js';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SharkCommand } from '../cli/base-command.js';
import { decodeAsFlag, decodeAsRules } from '../cli/decode-as-flag.js';
import { tlsKeylogFlag, tlsKeysFromFlag } from '../cli/tls-keylog-flag.js';
import { ExitCode, UserError } from '../cli/errors.js';
import { redactFlags, redactorFromFlags } from '../redact/flags.js';
import { loadProtoDir } from '../dissect/protocols/proto-schema.js';
import { Catalog, CATALOG_FIELDS, DEFAULT_MAX_ENDPOINTS, deepBodiesNote, foldedNote, largeBodiesNote } from '../catalog/endpoints.js';
import { DEFAULT_FOLD_THRESHOLD, deepPathsNote } from '../catalog/path-template.js';
import { cutNamesNote } from '../model/bounded-name.js';
import { readInputs } from '../catalog/read.js';
import { workersFlag, workersFromFlag, consumerWorkerSpec } from '../cli/workers-flag.js';
import { httpServices, openApiDocument, serviceMatches } from '../catalog/openapi.js';
import { renderCatalog, type CatalogFormat } from '../catalog/render.js';
import { cutCellsNote, tableWidth } from '../output/table.js';
import { escapeForTerminal } from '../output/formats/terminal-text.js';
import { prose } from '../cli/prose.js';

export default class CatalogCommand extends SharkCommand {
  static override summary = 'The API catalogue: every endpoint seen, per service, with calls, errors and latency; --openapi writes OpenAPI 3.1';
  static override description = prose(`Reads entries (NDJSON), captures (pcap/pcapng, dissected on the fly) or shark record recording folders
(their saved Kubernetes context names the services) from FILEs or stdin. Paths are templated: numbers, UUIDs,
hashes, dates and tokens become {id}, {uuid}, {hash}, {date}, {token}; a position with more distinct values
than --fold-threshold becomes {param}. gRPC is service/method, GraphQL the operation, Redis the command and key
shape, SQL the statement with literals as ?, Kafka the API and topics.

Memory grows with the number of distinct endpoints (at most --max-endpoints; beyond, calls are counted into
the service's "(other)" row and said on stderr), not with the number of calls.

With --openapi, writes one OpenAPI 3.1 document per HTTP service: to stdout when there is one (or --service
picks one), else to --out DIR as <service>.openapi.json. Examples in it are taken from redacted traffic.`);
  static override examples = [
    'shark catalog examples/bookinfo-mix.pcap',
    'shark catalog --format markdown examples/http-errors.pcap > api.md',
    'shark catalog --openapi --service reviews.bookinfo.svc.cluster.local:80 examples/bookinfo-mix.pcap > openapi.json',
    'shark catalog --openapi --out specs/ recordings/nightly-20261123T020000Z',
    'shark dissect capture.pcap | shark catalog --fold-threshold 50',
  ];
  static override strict = false;
  static override args = { file: Args.string({ description: 'entry (NDJSON) or capture files, or recording folders; - or none for stdin' }) };
  static override flags = {
    ...readFileFlag,
    format: Flags.string({ description: 'output format of the catalogue', options: ['table', 'json', 'markdown'], default: 'table' }),
    openapi: Flags.boolean({ description: 'write OpenAPI 3.1 documents (one per HTTP service) instead of the catalogue' }),
    service: Flags.string({ description: 'only this service (ns/name, name, host or host:port)' }),
    out: Flags.string({ description: 'with --openapi: write <service>.openapi.json files into this folder' }),
    'fold-threshold': Flags.integer({ description: 'distinct values at one path position before it becomes {param}', default: DEFAULT_FOLD_THRESHOLD, min: 1 }),
    'max-endpoints': Flags.integer({ description: 'most endpoints kept apart; later new ones are counted into "(other)"', default: DEFAULT_MAX_ENDPOINTS, min: 1 }),
    'required-ratio': Flags.string({ description: 'with --openapi: a field present in at least this share of bodies is required (0..1)', default: '1' }),
    meta: Flags.string({ description: 'name endpoints from a saved cluster snapshot (a record manifest.json)' }),
    proto: Flags.string({ description: 'decode gRPC messages with these .proto files (directory or file): their schemas join the catalogue' }),
    strict: Flags.boolean({ description: 'a bad NDJSON line is fatal (exit 3) instead of skipped' }),
    'decode-as': decodeAsFlag(),
    workers: workersFlag,
    'tls-keylog': tlsKeylogFlag(),
    ...redactFlags,
  };

  protected async execute(): Promise<number> {
    const { flags, argv } = await this.parse(CatalogCommand);
    const warn = (m: string) => process.stderr.write(`catalog: ${m}\n`);
    const ratio = Number(flags['required-ratio']);
    if (!(ratio > 0 && ratio <= 1)) throw new UserError(`--required-ratio: expected a number in (0, 1], got "${flags['required-ratio']}"`, ExitCode.USAGE);
    if (flags.out && !flags.openapi) throw new UserError('--out goes with --openapi', ExitCode.USAGE);
    // The catalogue redacts each entry itself, after noting which auth scheme it used (see CatalogOptions.redact).
    const redact = redactorFromFlags(flags, 'catalog');
    const catalog = new Catalog({ foldThreshold: flags['fold-threshold'], maxEndpoints: flags['max-endpoints'], details: flags.openapi || flags.proto !== undefined, redact });
    const inputs = inputsFrom(flags, argv);
    const input = await readInputs(inputs, (batch) => catalog.addBatch(batch), {
      stop: this.stop.signal,
      graceMs: 1500,
      strict: flags.strict,
      onWarning: warn,
      meta: flags.meta,
      // The table needs a few fields of each line; OpenAPI needs headers and bodies too.
      project: flags.openapi || flags.proto ? undefined : CATALOG_FIELDS,
      dissect: { decodeAs: decodeAsRules(flags['decode-as']), tlsKeys: tlsKeysFromFlag(flags['tls-keylog'], warn), protoSchema: flags.proto ? loadProtoDir(flags.proto) : undefined },
      workers: await workersFromFlag(flags.workers, inputs),
      parallel: consumerWorkerSpec(flags, { decodeAs: decodeAsRules(flags['decode-as']) }),
    });
    let endpoints = catalog.list();
    if (flags.service) endpoints = endpoints.filter((e) => serviceMatches(e.service, flags.service!));
    const limits = catalog.limits();
    if (limits.foldedCalls) warn(foldedNote(limits));
    if (limits.untrackedPositions) warn(`${limits.untrackedPositions} path positions not tracked for folding (limit reached)`);
    if (catalog.names.cutNames) warn(cutNamesNote(catalog.names.cutNames));
    if (catalog.templater.deepPaths) warn(deepPathsNote(catalog.templater.deepPaths));
    if (limits.deepBodies) warn(deepBodiesNote(limits.deepBodies));
    if (limits.largeBodies) warn(largeBodiesNote(limits.largeBodies));

    if (flags.openapi) {
      let graphql = catalog.graphqlTargets();
      if (flags.service) graphql = graphql.filter((e) => serviceMatches(e.service, flags.service!));
      const services = httpServices(endpoints, graphql);
      if (catalog.graphqlUntracked) warn(`more than ${catalog.maxEndpoints} GraphQL HTTP endpoints: ${catalog.graphqlUntracked} GraphQL call(s) to later ones not described in OpenAPI (--max-endpoints)`);
      const omitted: string[] = [];
      const refExamples: string[] = [];
      const nameless: string[] = [];
      const docOf = (s: string) =>
        openApiDocument(s, endpoints, {
          requiredRatio: ratio,
          graphql,
          onOmitted: (name) => omitted.push(`${s} ${name}`),
          onExampleDropped: (op) => refExamples.push(`${s} ${op}`),
          onNamelessParameter: (op) => nameless.push(`${s} ${op}`),
        });
      if (services.length === 0) {
        warn(flags.service ? `no HTTP endpoints of service "${flags.service}"` : 'no HTTP endpoints in the input');
        if (input.damage) throw input.damage;
        return ExitCode.CHECK_FAILED;
      }
      if (flags.out) {
        await mkdir(flags.out, { recursive: true }).catch((err: Error) => {
          throw new UserError(`${flags.out}: cannot create folder (${err.message})`, ExitCode.OUTPUT);
        });
        const taken = new Set<string>();
        for (const s of services) {
          const file = join(flags.out, `${uniqueFileStem(taken, s)}.openapi.json`);
          await writeFile(file, JSON.stringify(docOf(s), null, 2) + '\n').catch((err: Error) => {
            throw new UserError(`${file}: cannot write (${err.message})`, ExitCode.OUTPUT);
          });
          // A service's name comes from the traffic (a pod name, a Host header): escaped before it reaches a terminal.
          warn(`${escapeForTerminal(s)}: ${file}`);
        }
      } else if (services.length > 1) {
        throw new UserError(`${services.length} HTTP services (${services.slice(0, 5).map((n) => escapeForTerminal(n)).join(', ')}${services.length > 5 ? ', …' : ''}): pick one with --service, or write them all with --out DIR`, ExitCode.USAGE);
      } else {
        process.stdout.write(JSON.stringify(docOf(services[0]), null, 2) + '\n');
      }
      if (refExamples.length) {
        const shown = refExamples.slice(0, 3).map((o) => escapeForTerminal(o)).join('; ');
        warn(`${refExamples.length} body example(s) left out of OpenAPI: they hold a "$ref" member, which OpenAPI tools follow as a reference: ${shown}${refExamples.length > 3 ? ` (and ${refExamples.length - 3} more)` : ''}`);
      }
      if (nameless.length) {
        const shown = nameless.slice(0, 3).map((o) => escapeForTerminal(o)).join('; ');
        warn(`${nameless.length} parameter(s) with an empty name left out of OpenAPI (\`?=value\`): ${shown}${nameless.length > 3 ? ` (and ${nameless.length - 3} more)` : ''}`);
      }
      if (omitted.length) {
        // Names come from the traffic (attacker-written): escaped before they reach a terminal.
        const shown = omitted.slice(0, 3).map((o) => escapeForTerminal(o)).join('; ');
        warn(`${omitted.length} endpoint(s) left out of OpenAPI (a method it has no field for, or a target that is not a /path): ${shown}${omitted.length > 3 ? ` (and ${omitted.length - 3} more)` : ''}`);
      }
    } else {
      process.stdout.write(renderCatalog(endpoints, limits, flags.format as CatalogFormat, tableWidth(process.stdout), (n) => warn(cutCellsNote(n))));
    }
    if (input.damage) throw input.damage;
    return ExitCode.OK;
  }
}

/**
 * A file name for a service's document, unique in this run: names that differ
 * only in characters a file name cannot hold (`日本:80`, `中国:80`; `a/b`,
 * `a_b`) would otherwise write one file, the last service's, over the others.
 */
function uniqueFileStem(taken: Set<string>, service: string): string {
  const stem = service.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^\./, '_') || '_';
  let out = stem;
  for (let n = 2; taken.has(out); n++) out = `${stem}-${n}`;
  taken.add(out);
  return out;
}
