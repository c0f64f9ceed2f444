// The `--tls-keylog FILE` flag, one definition for every command that reads
// captures (dissect, tap, stats, map, filter): TLS sessions the key log has
// secrets for are decrypted and the protocol inside dissected.

import { Flags } from '@oclif/core';
export { tlsKeysFromFlag } from './tls-keylog-file.js';

/** `scope` prefixes the description (tap: "local: "). */
export function tlsKeylogFlag(scope = '') {
  return Flags.string({ description: `${scope}decrypt TLS with the secrets in this NSS key log (SSLKEYLOGFILE) and dissect what is inside`, helpValue: 'FILE' });
}
