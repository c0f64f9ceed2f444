// The flags `shark tap` parsed, as its three modes (local-command.ts,
// cluster-command.ts, tls-command.ts) read them: the command's own flag
// table is the one list, so a flag added there is typed here too.
import type { Interfaces } from '@oclif/core';
import type Tap from '../commands/tap.js';

export type TapFlags = Interfaces.InferredFlags<(typeof Tap)['flags']>;
