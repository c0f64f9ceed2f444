// The `--tls-keylog FILE` flag, one definition for every command that reads
// captures (dissect, tap, stats, map, filter): TLS sessions the key log has
// secrets for are decrypted and the protocol inside dissected.

import { Flags } from '@oclif/core';
import { loadKeyLogFile, type TlsKeyLog } from '../dissect/tls/keylog.js';

/** `scope` prefixes the description (tap: "local: "). */
export function tlsKeylogFlag(scope = '') {
  return Flags.string({ description: `${scope}decrypt TLS with the secrets in this NSS key log (SSLKEYLOGFILE) and dissect what is inside`, helpValue: 'FILE' });
}

/**
 * The key log the flag names; undefined without the flag. Bad lines are
 * warnings. Read once at start, or with `follow` (a live capture: clients
 * append to SSLKEYLOGFILE as they connect) also as it grows.
 */
export function tlsKeysFromFlag(path: string | undefined, warn: (message: string) => void, follow = false): TlsKeyLog | undefined {
  return path ? loadKeyLogFile(path, warn, undefined, follow) : undefined;
}
