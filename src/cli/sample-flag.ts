// `--sample-rate R` (tap, agent): keep about R of the connections, whole (src/capture/sample.ts).

import { Flags } from '@oclif/core';
import { ExitCode, UserError } from './errors.js';

export const sampleRateFlag = Flags.string({
  description: 'keep about this share of the connections (0 < R ≤ 1), each whole, chosen the same on every node; the rest are skipped before dissection (counted)',
  helpValue: 'R',
});

/** The flag's value as a rate, or undefined when not given. */
export function sampleRateFromFlag(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const r = Number(text.trim().replace(/%$/, '')) / (text.trim().endsWith('%') ? 100 : 1);
  if (!(r > 0 && r <= 1)) throw new UserError(`--sample-rate: '${text}' is not a share in (0, 1] (e.g. 0.1 or 10%)`, ExitCode.USAGE);
  return r;
}
