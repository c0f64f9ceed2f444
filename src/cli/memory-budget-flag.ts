// `--memory-budget SIZE`, shared by every command that dissects packets.
import { Flags } from '@oclif/core';
import { ExitCode, UserError } from './errors.js';
import { parseSize } from './units.js';
import type { EngineOptions } from '../dissect/engine.js';
// Not the engine itself: a command loads it only when it dissects.
import { DEFAULT_MEMORY_BUDGET } from '../dissect/memory-budget.js';

const MIN_BUDGET = 1024 * 1024;

export const memoryBudgetFlag = Flags.string({
  description: `state held at once (buffers, flows, pending requests, held entries) before the least recently active flows are evicted; shared out among --workers (default ${DEFAULT_MEMORY_BUDGET / 1024 / 1024}MB, at least 16MB for each worker)`,
});

/** The flag's value as engine options (nothing when not given: the engine's default). */
export function memoryBudgetOption(text: string | undefined): Partial<EngineOptions> {
  if (text === undefined) return {};
  const bytes = parseSize(text, '--memory-budget');
  if (bytes < MIN_BUDGET) throw new UserError(`--memory-budget: '${text}' is too small (at least 1MB)`, ExitCode.USAGE);
  return { memoryBudget: bytes };
}
