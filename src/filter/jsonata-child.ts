// The process a JSONata expression runs in (jsonata-process.ts starts and
// watches it). It takes batches of NDJSON lines or entries, in order, and
// sends back one outcome per entry: matched or not, or the key, or the limit
// it hit; at least every POST_EVERY_MS while it works (after each entry when
// asked), so that silence tells the watching process that an entry is
// overrunning its time.

import type { Entry } from '../model/entry.js';
import { entryShapeProblem } from '../ndjson/entry-shape.js';
import { binaryToText } from '../ndjson/read.js';
import { compileJsonataExpression, evaluateEntry, OUTCOME, outcomeOf, type CompiledJsonata, type Outcome } from './jsonata.js';
import type { JsonataJob, JsonataReply, JsonataSetup } from './jsonata-wire.js';

/** Send what is done at least this often within a batch: silence longer than the time limit is an overrun. */
const POST_EVERY_MS = 50;

let setup: JsonataSetup | undefined;
let compiled: CompiledJsonata | undefined;
let queue: Promise<void> = Promise.resolve();

process.on('message', (m: JsonataSetup | JsonataJob) => {
  if (!setup) {
    setup = m as JsonataSetup;
    compiled = compileJsonataExpression(setup.expr, setup.limits);
    send({ ready: true });
    return;
  }
  const job = m as JsonataJob;
  // One batch at a time, in order: evaluation awaits, and a later message must not start in between.
  queue = queue.then(() => run(job));
});
// Shark decides when this process ends (it kills it); a Ctrl-C reaches the whole process group.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => process.exit(0));
// Shark is gone (even killed): nothing is left to answer.
process.on('disconnect', () => process.exit(0));

async function run(job: JsonataJob): Promise<void> {
  const texts = job.texts;
  const n = texts ? texts.length : job.entries!.length;
  let from = job.from;
  let results: Outcome[] = [];
  let postedAt = Date.now();
  for (let i = 0; i < n; i++) {
    // null: an entry shark could not send (jsonata-process.ts).
    const entry = texts ? parse(job.binary ? binaryToText(texts[i]) : texts[i]) : (job.entries![i] ?? undefined);
    results.push(entry === undefined ? OUTCOME.BAD_LINE : await evaluate(entry));
    if (i < n - 1 && (job.each || Date.now() - postedAt >= POST_EVERY_MS)) {
      send({ from, results });
      from += results.length;
      results = [];
      postedAt = Date.now();
    }
  }
  send({ from, results });
}

function send(reply: JsonataReply): void {
  // Gone (shark ended): 'disconnect' ends this process.
  if (process.connected) process.send!(reply);
}

async function evaluate(entry: Entry): Promise<Outcome> {
  const r = await evaluateEntry(compiled!, entry);
  try {
    return outcomeOf(r, setup!.mode);
  } catch {
    // A value nested too deeply to walk (truthiness recurses into arrays).
    return OUTCOME.DEPTH;
  }
}

/** The entry a line holds; undefined when it is not one (shark parses it again to say why). */
function parse(text: string): Entry | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v) || entryShapeProblem(v) !== undefined) return undefined;
  return v as Entry;
}
