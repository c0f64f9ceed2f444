// The key log `--tls-keylog FILE` (tls-keylog-flag.ts) names. Apart from the
// flag's definition so that a worker thread, which gets the path in its spec,
// does not load the command-line library (~60 ms per thread).

import { statSync } from 'node:fs';
import { keyLogFromText, loadKeyLogFile, type TlsKeyLog } from '../dissect/tls/keylog.js';

/**
 * Key logs that are not regular files (a FIFO: `--tls-keylog <(kubectl exec
 * … cat keys)`), as this thread read them: what a FIFO gave is gone from it,
 * so the worker threads are given the text (keyLogTextForWorkers), not the path.
 */
const streamed = new Map<string, string>();

/**
 * The key log the flag names; undefined without the flag. Bad lines are
 * warnings. Read once at start, or with `follow` (a live capture: clients
 * append to SSLKEYLOGFILE as they connect) also as it grows. `text`: a
 * worker's copy of what the main thread read from a FIFO.
 */
export function tlsKeysFromFlag(path: string | undefined, warn: (message: string) => void, follow = false, text?: string): TlsKeyLog | undefined {
  if (!path) return undefined;
  if (text !== undefined) return keyLogFromText(path, text, warn);
  return loadKeyLogFile(path, warn, undefined, follow, (read) => {
    if (!isRegularFile(path)) streamed.set(path, read);
  });
}

/** The text worker threads load in place of reading `path` again: set when this thread read it from a FIFO. */
export function keyLogTextForWorkers(path: string | undefined): string | undefined {
  return path === undefined ? undefined : streamed.get(path);
}

/** The key log is not a regular file (a FIFO, a character device): it can be read only once. */
export function isRegularFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return true;
  }
}
