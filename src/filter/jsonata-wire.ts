// What passes between shark and the process evaluating a JSONata expression
// (jsonata-process.ts, jsonata-child.ts), over the child's IPC channel.

import type { Entry } from '../model/entry.js';
import type { JsonataLimits, Outcome } from './jsonata.js';

/** The first message: what to evaluate. */
export interface JsonataSetup {
  expr: string;
  limits: JsonataLimits;
  /** `match`: whether each entry matched (filter); `key`: its value as a key (stats --by). */
  mode: 'match' | 'key';
}

/** A batch: NDJSON lines (parsed there) or entries; `from` numbers its first entry. */
export interface JsonataJob {
  from: number;
  texts?: string[];
  /** The texts are their lines' bytes as latin1 strings (cheaper to read and to send than UTF-8 decoded). */
  binary?: boolean;
  entries?: Entry[];
  /** Answer each entry as soon as it is evaluated (after an overrun: see jsonata-process.ts). */
  each?: boolean;
}

/** From the child: `ready` once it compiled the expression, then outcomes of consecutive entries, the first numbered `from`. */
export type JsonataReply = { ready: true } | { from: number; results: Outcome[] };
