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
      const each = n.terms.map(requiredProtocols);
      if (n.op === 'and') {
        // Every term must hold: what each known term needs, all at once.
        let need: string[] | undefined;
        for (const r of each) if (r) need = need ? need.filter((p) => r.includes(p)) : r;
        return need;
      }
      // One term is enough: any term that needs nothing makes the whole need nothing.
      if (each.some((r) => !r)) return undefined;
      return [...new Set(each.flat() as string[])];
    }
    default:
      return undefined;
  }
}
