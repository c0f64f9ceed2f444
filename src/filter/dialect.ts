// Which dialect an expression is written in, from its own tokens: `&&`/`||`,
// CEL-only functions, KFL2's flat variables and its paths through an endpoint's
// pod, service or node (`src.pod.name`) mean KFL2; `and`/`or`/`not`,
// `r"…"` regexes, `nil` and KFL1-only helpers mean KFL1. With no sign either
// way (`dns`, `response.status == 404`) it is KFL1, the dialect of the seeds
// and of most published queries; both read such expressions the same way.

import type { Dialect } from './parser.js';
import { tokenize, type Token } from './lexer.js';
import { ENTRY_ROOTS, KFL2_VARIABLES } from './kfl2-variables.js';
import { PROTOCOL_NAMES } from './ast.js';

const KFL2_FUNCTIONS = new Set(['size', 'map_get', 'now', 'duration', 'timestamp', 'matches', 'string', 'int', 'double', 'has', 'lowerAscii', 'upperAscii']);
/** CEL's macros, called as methods (`dns_questions.exists(q, …)`): KFL1 has no such helper. */
const KFL2_METHODS = new Set(['exists', 'all', 'exists_one', 'filter', 'map']);
const KFL1_FUNCTIONS = new Set(['datetime', 'limit', 'rlimit', 'leftOff', 'redact', 'json', 'len']);

// KFL2 variables that start like an entry path but go through one of the
// endpoint's string fields (`src.pod.name`: entry.src.pod is the pod's name):
// read as KFL1 they would reach into a string and never match, so they can
// only mean KFL2 (Kubeshark's own examples use them alone: `dst.pod.namespace == "production"`).
const KFL2_ONLY_PATHS = new Set(
  [...KFL2_VARIABLES.keys()].filter((name) => {
    const parts = name.split('.');
    return parts.length === 3 && (parts[0] === 'src' || parts[0] === 'dst') && ['pod', 'service', 'node'].includes(parts[1]);
  }),
);

export function detectDialect(expr: string): Dialect {
  let tokens: Token[];
  try {
    tokens = tokenize(expr, 'kfl1');
  } catch {
    return 'kfl1';
  }
  let kfl2 = 0;
  let kfl1 = 0;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    const prev = tokens[i - 1];
    const next = tokens[i + 1];
    if (t.type === 'op') {
      if (t.value === '&&' || t.value === '||') return 'kfl2';
      if (['?', '+', '*', '/', '%', '{'].includes(t.value as string)) kfl2++;
      continue;
    }
    if (t.type === 'regex') kfl1++;
    if (t.type === 'string' && t.text.startsWith('`')) kfl1++;
    if (t.type !== 'ident') continue;
    const name = t.value as string;
    if (name === 'and' || name === 'or' || name === 'not' || name === 'nil') return 'kfl1';
    if (name === 'in') kfl2++;
    const isCall = next?.type === 'op' && next.value === '(';
    if (isCall && KFL2_FUNCTIONS.has(name)) kfl2++;
    if (isCall && prev?.type === 'op' && prev.value === '.' && KFL2_METHODS.has(name)) kfl2++;
    if (isCall && KFL1_FUNCTIONS.has(name)) kfl1++;
    const isRoot = !(prev?.type === 'op' && prev.value === '.');
    if (isRoot && !isCall && !ENTRY_ROOTS.has(name) && !PROTOCOL_NAMES.has(name) && KFL2_VARIABLES.has(name)) kfl2++;
    if (isRoot && KFL2_ONLY_PATHS.has(dottedPath(tokens, i, 3))) kfl2++;
  }
  return kfl2 > kfl1 ? 'kfl2' : 'kfl1';
}

/** The name `a.b.c` spelled by up to `parts` identifiers joined by dots from token i on ("" when it is shorter). */
function dottedPath(tokens: Token[], i: number, parts: number): string {
  const names: string[] = [];
  for (let j = i; names.length < parts; j += 2) {
    const t = tokens[j];
    if (t?.type !== 'ident') return '';
    names.push(t.value as string);
    if (names.length < parts && !(tokens[j + 1]?.type === 'op' && tokens[j + 1].value === '.')) return '';
  }
  return names.join('.');
}
