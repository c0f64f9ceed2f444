// The key log `--tls-keylog FILE` (tls-keylog-flag.ts) names. Apart from the
// flag's definition so that a worker thread, which gets the path in its spec,
// does not load the command-line library (~60 ms per thread).

import { loadKeyLogFile, type TlsKeyLog } from '../dissect/tls/keylog.js';

/**
 * The key log the flag names; undefined without the flag. Bad lines are
 * warnings. Read once at start, or with `follow` (a live capture: clients
 * append to SSLKEYLOGFILE as they connect) also as it grows.
 */
export function tlsKeysFromFlag(path: string | undefined, warn: (message: string) => void, follow = false): TlsKeyLog | undefined {
  return path ? loadKeyLogFile(path, warn, undefined, follow) : undefined;
}
