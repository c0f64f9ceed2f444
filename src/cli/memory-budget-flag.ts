// `--memory-budget SIZE`, shared by every command that dissects packets.
import { Flags } from '@oclif/core';
import { ExitCode, UserError } from './errors.js';
import { parseSize } from './units.js';
import { defaultEngineOptions, type EngineOptions } from '../dissect/engine.js';

const MIN_BUDGET = 1024 * 1024;

export const memoryBudgetFlag = Flags.string({
  description: `state held at once (buffers, flows, pending requests, held entries) before the least recently active flows are evicted (default ${defaultEngineOptions.memoryBudget / 1024 / 1024}MB)`,
});

/** The flag's value as engine options (nothing when not given: the engine's default). */
export function memoryBudgetOption(text: string | undefined): Partial<EngineOptions> {
  if (text === undefined) return {};
  const bytes = parseSize(text, '--memory-budget');
  if (bytes < MIN_BUDGET) throw new UserError(`--memory-budget: '${text}' is too small (at least 1MB)`, ExitCode.USAGE);
  return { memoryBudget: bytes };
}
