// A capture stream (already sniffed as pcap/pcapng) dissected into entries.
import type { Entry } from '../model/entry.js';
import { dissectPackets, type EngineOptions } from '../dissect/engine.js';
import { openCapture } from './capture/reader.js';
import { SECRETS_TLS_KEYLOG } from './capture/pcapng-parser.js';
import { TlsKeyLog } from '../dissect/tls/keylog.js';
import type { EntrySourceOptions } from './entry-source.js';

export async function* dissectStream(
  head: Buffer,
  rest: AsyncIterable<Buffer>,
  name: string,
  opts: EntrySourceOptions,
): AsyncGenerator<Entry[]> {
  const engine = opts.dissect as Partial<EngineOptions> | undefined;
  // Secrets a pcapng carries (Decryption Secrets Blocks) join the --tls-keylog ones; an empty log decrypts nothing.
  const tlsKeys = engine?.tlsKeys ?? new TlsKeyLog();
  const onSecrets = (type: number, data: Buffer): void => {
    if (type === SECRETS_TLS_KEYLOG) tlsKeys.addText(data.toString('latin1'), (line, why) => opts.onWarning?.(`${name}: decryption secrets block line ${line}: ${why}; skipped`));
  };
  const reader = openCapture(head, rest, name, { onSecrets });
  yield* dissectPackets(reader.batches(), { ...engine, tlsKeys, signal: opts.signal });
}
