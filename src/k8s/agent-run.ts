// What a node agent's run (`shark agent`, started by `shark tap` in its
// DaemonSet pod) is given by the command: who it is, where its entries go,
// how it stops, and what the CLI pushed down to it. The two kinds of run,
// packets (agent-capture-run.ts) and --tls (agent-tls-run.ts), share it.
import type { LineSink } from '../output/stdout-sink.js';
import type { Entry } from '../model/entry.js';

export interface AgentRun {
  /** The node name put in every entry. */
  node: string;
  /** A line on stderr, `agent NODE: …` (what `kubectl logs` and the CLI show). */
  say(m: string): void;
  /** Aborted to stop: a signal, a stop control line, stdin's end, the run's lease lapsed. */
  stop: AbortController;
  /** stdout's reader went away. */
  outputClosed(): void;
  /** One line per entry, flushed at once: the CLI merges the agents with a short window. */
  sink: LineSink;
  /** `shark tap -f KFL`, pushed down: only matching entries cross the API server. */
  keep: ((e: Entry) => boolean) | undefined;
  /** `--protocols`, pushed down. */
  protocols: string[];
  /** Secrets taken out here, on the node, so they never cross the API server. */
  redact: (e: Entry) => Entry | void;
  statsEveryMs: number;
  maxBody: number;
  noBodies: boolean;
}
