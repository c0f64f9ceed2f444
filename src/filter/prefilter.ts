// What an expression needs of an entry before anything else: when every way
// for it to be true goes through "protocol is X", readers may skip entries
// (or raw lines) of other protocols without evaluating — or parsing — them.

import type { Node } from './ast.js';
import { PROTOCOL_ALIASES, PROTOCOL_NAMES } from './ast.js';

/** The protocols an entry must have for the expression to be true, or undefined when unknown/any. */
export function requiredProtocols(n: Node): string[] | undefined {
  switch (n.kind) {
    case 'protocol':
      return [n.name];
    case 'ident':
      // KFL2 protocol flags are variables.
      return PROTOCOL_NAMES.has(n.name) ? [PROTOCOL_ALIASES[n.name] ?? n.name] : undefined;
    case 'logical': {
      const l = requiredProtocols(n.left);
      const r = requiredProtocols(n.right);
      if (n.op === 'and') {
        if (!l) return r;
        if (!r) return l;
        return l.filter((p) => r.includes(p));
      }
      if (!l || !r) return undefined;
      return [...new Set([...l, ...r])];
    }
    default:
      return undefined;
  }
}
