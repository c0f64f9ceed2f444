// The two uses of a JSONata expression, each under the limits (jsonata.ts):
// `filter --jsonata` asks which entries match, `stats --by` each entry's key.
// The expression is compiled here first, so a bad one is a usage error (exit
// 2, with its column) before any input is read; it is evaluated on its own
// process (jsonata-process.ts), started with the first batch.

import type { Entry } from '../model/entry.js';
import { compileJsonataExpression, DEFAULT_JSONATA_LIMITS, LimitAccount, OUTCOME, type JsonataOptions } from './jsonata.js';
import { JsonataProcess } from './jsonata-process.js';

/** The expression compiled here (a bad one is a usage error now), its process, and the account of its limits. */
function startEvaluation(expr: string, opts: JsonataOptions, mode: 'match' | 'key'): { evaluator: JsonataProcess; account: LimitAccount } {
  const what = opts.what ?? 'JSONata';
  const limits = { ...DEFAULT_JSONATA_LIMITS, ...opts.limits };
  compileJsonataExpression(expr, limits, what);
  const account = new LimitAccount(limits, what, opts.onWarning);
  const evaluator = new JsonataProcess({ expr, limits, mode }, opts.signal, (o) => account.note(o));
  return { evaluator, account };
}

/** `filter --jsonata`: whether each entry matches. */
export class JsonataFilter {
  private readonly evaluator: JsonataProcess;
  private readonly account: LimitAccount;

  constructor(expr: string, opts: JsonataOptions = {}) {
    ({ evaluator: this.evaluator, account: this.account } = startEvaluation(expr, opts, 'match'));
  }

  /**
   * Per NDJSON line: whether it matched (an entry over a limit does not);
   * undefined when it is not an entry (parse it to say why). `binary`: the
   * lines are their bytes as latin1 strings (readRawLines' `binary`).
   */
  async matchLines(texts: string[], binary = false): Promise<Array<boolean | undefined>> {
    const outcomes = await this.evaluator.run({ texts, binary });
    return outcomes.map((o) => (o === OUTCOME.BAD_LINE ? undefined : o === true));
  }

  async matchEntries(entries: Entry[]): Promise<boolean[]> {
    const outcomes = await this.evaluator.run({ entries });
    return outcomes.map((o) => o === true);
  }

  /** Ends the evaluating process and says how many entries hit a limit. */
  close(): void {
    this.evaluator.close();
    this.account.finish();
  }
}

/** `stats --by EXPR`: each entry's key; null when it has none (or hit a limit), undefined when the run was stopped first. */
export class JsonataKeys {
  private readonly evaluator: JsonataProcess;
  private readonly account: LimitAccount;

  constructor(expr: string, opts: JsonataOptions = {}) {
    ({ evaluator: this.evaluator, account: this.account } = startEvaluation(expr, opts, 'key'));
  }

  async keys(entries: Entry[]): Promise<Array<string | null | undefined>> {
    const outcomes = await this.evaluator.run({ entries });
    return outcomes.map((o) => (o === OUTCOME.CANCELLED ? undefined : typeof o === 'string' ? o : null));
  }

  /** Ends the evaluating process and says how many entries hit a limit. */
  close(): void {
    this.evaluator.close();
    this.account.finish();
  }
}
