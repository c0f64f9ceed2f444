// Pratt (precedence-climbing) parser for both dialects. The dialects differ only
// in their operator tables:
//  - KFL1 (Kubeshark's basenine grammar): `and`/`or` share ONE level and group
//    from the right (`a and b or c` is `a and (b or c)`); `==`/`!=` above them,
//    `< <= > >=` above those; all right-recursive, as in basenine's grammar.
//  - KFL2 (a CEL subset): `?:` < `||` < `&&` < relations/`in` < `+ -` < `* / %`,
//    left-associative, as in CEL.

import type { BinaryOp, Node } from './ast.js';
import { PROTOCOL_ALIASES, PROTOCOL_NAMES } from './ast.js';
import { FilterSyntaxError } from './errors.js';
import { LinearRegex } from './linear-regex.js';
import { tokenize, type Token } from './lexer.js';

export type Dialect = 'kfl1' | 'kfl2';

interface InfixRule {
  bp: number;
  right: boolean;
  /** AST operator: logical ops become 'logical' nodes, the rest 'binary'. */
  op: BinaryOp | 'and' | 'or' | '?';
}

const KFL1_INFIX: Record<string, InfixRule> = {
  and: { bp: 10, right: true, op: 'and' },
  or: { bp: 10, right: true, op: 'or' },
  '==': { bp: 20, right: true, op: '==' },
  '!=': { bp: 20, right: true, op: '!=' },
  '<': { bp: 30, right: true, op: '<' },
  '<=': { bp: 30, right: true, op: '<=' },
  '>': { bp: 30, right: true, op: '>' },
  '>=': { bp: 30, right: true, op: '>=' },
};

const KFL2_INFIX: Record<string, InfixRule> = {
  '?': { bp: 5, right: true, op: '?' },
  '||': { bp: 10, right: false, op: 'or' },
  '&&': { bp: 20, right: false, op: 'and' },
  '==': { bp: 30, right: false, op: '==' },
  '!=': { bp: 30, right: false, op: '!=' },
  '<': { bp: 30, right: false, op: '<' },
  '<=': { bp: 30, right: false, op: '<=' },
  '>': { bp: 30, right: false, op: '>' },
  '>=': { bp: 30, right: false, op: '>=' },
  in: { bp: 30, right: false, op: 'in' },
  '+': { bp: 40, right: false, op: '+' },
  '-': { bp: 40, right: false, op: '-' },
  '*': { bp: 50, right: false, op: '*' },
  '/': { bp: 50, right: false, op: '/' },
  '%': { bp: 50, right: false, op: '%' },
};

const UNARY_BP = 90;

/**
 * How deep an expression may nest (parentheses, operators, calls, fields).
 * The compiled predicate is a closure per node, called recursively per entry:
 * an attacker's 20,000-deep expression would overflow the stack. Far above
 * what a person writes; a chain of one operator (`a or b or …`) is one
 * n-ary node, so a generated filter of any number of alternatives fits.
 */
export const MAX_NESTING = 1000;

export interface ParseResult {
  ast: Node | null;
  /** Human-readable notes (e.g. how a KFL1 and/or mix was grouped). */
  warnings: string[];
}

export function parse(src: string, dialect: Dialect): ParseResult {
  return new Parser(src, dialect).parseAll();
}

class Parser {
  private readonly tokens: Token[];
  private pos = 0;
  private depth = 0;
  private readonly infix: Record<string, InfixRule>;
  readonly warnings: string[] = [];

  constructor(
    private readonly src: string,
    private readonly dialect: Dialect,
  ) {
    this.tokens = tokenize(src, dialect);
    this.infix = dialect === 'kfl1' ? KFL1_INFIX : KFL2_INFIX;
  }

  parseAll(): ParseResult {
    if (this.peek().type === 'eof') return { ast: null, warnings: [] };
    const ast = this.expression(0);
    const t = this.peek();
    if (t.type !== 'eof') throw this.unexpected(t);
    checkNesting(ast);
    if (this.dialect === 'kfl1') this.checkMixedLogic(ast);
    else this.noteRawStrings();
    return { ast, warnings: this.warnings };
  }

  /**
   * Kubeshark's KFL1 examples compare with a regex, `response.status == r"4.*"`; written beside a
   * `&&` the expression is KFL2, where `r"4.*"` is CEL's raw string, compared as text: it matched
   * nothing, unsaid. Say so once, with what to write.
   */
  private noteRawStrings(): void {
    for (let i = 1; i < this.tokens.length; i++) {
      const t = this.tokens[i];
      const prev = this.tokens[i - 1];
      if (t.type !== 'string' || !/^[rR]["']/.test(t.text) || prev.type !== 'op' || (prev.value !== '==' && prev.value !== '!=')) continue;
      this.warnings.push(`${t.text} at column ${t.col} is a raw string in KFL2 (CEL), compared as text, not a regex: write x.matches(${JSON.stringify(t.value)}), or use KFL1 (and, or, not)`);
      return;
    }
  }

  private peek(): Token {
    return this.tokens[this.pos];
  }
  private next(): Token {
    return this.tokens[this.pos++];
  }
  private isOp(t: Token, v: string): boolean {
    return t.type === 'op' && t.value === v;
  }
  private expect(v: string): Token {
    const t = this.next();
    if (!this.isOp(t, v)) throw this.unexpected(t, v);
    return t;
  }
  unexpected(t: Token, wanted?: string): FilterSyntaxError {
    const what = t.type === 'eof' ? 'unexpected end of expression' : `unexpected '${t.text}'`;
    return new FilterSyntaxError(wanted ? `${what} (expected '${wanted}')` : what, t.col);
  }

  /** The infix rule for a token, or undefined when it ends the expression. */
  private infixRule(t: Token): InfixRule | undefined {
    if (t.type === 'op') return this.infix[t.value as string];
    if (t.type === 'ident') {
      const name = t.value as string;
      if (this.dialect === 'kfl1' && (name === 'and' || name === 'or')) return this.infix[name];
      if (this.dialect === 'kfl2' && name === 'in') return this.infix.in;
    }
    return undefined;
  }

  private expression(minBp: number): Node {
    if (++this.depth > MAX_NESTING) throw tooDeep(this.peek().col);
    const node = this.expressionAt(minBp);
    this.depth--;
    return node;
  }

  private expressionAt(minBp: number): Node {
    let left = this.prefix();
    for (;;) {
      const t = this.peek();
      if (t.type === 'op' && (t.value === '.' || t.value === '[' || t.value === '(')) {
        left = this.postfix(left);
        continue;
      }
      const rule = this.infixRule(t);
      if (!rule || rule.bp <= minBp) break;
      this.next();
      if (rule.op === '?') {
        const then = this.expression(0);
        this.expect(':');
        const otherwise = this.expression(rule.bp - 1);
        left = { kind: 'cond', test: left, then, else: otherwise, col: t.col };
        continue;
      }
      if (rule.op === 'and' || rule.op === 'or') {
        left = rule.right ? this.rightChain(left, rule.op, t.col, rule.bp) : leftChain(left, rule.op, this.expression(rule.bp), t.col);
        continue;
      }
      const right = this.expression(rule.right ? rule.bp - 1 : rule.bp);
      left = { kind: 'binary', op: rule.op, left, right, col: t.col };
    }
    return left;
  }

  /**
   * KFL1's `a and b or c …` (one precedence level, grouped from the right:
   * `a and (b or c)`), read term by term in a loop rather than by recursing
   * once per operator, so a long chain costs no stack; runs of one operator
   * become one n-ary node.
   */
  private rightChain(first: Node, op: 'and' | 'or', col: number, bp: number): Node {
    const terms = [first];
    const ops: Array<{ op: 'and' | 'or'; col: number }> = [{ op, col }];
    for (;;) {
      terms.push(this.expression(bp));
      const t = this.peek();
      const rule = this.infixRule(t);
      if (!rule || (rule.op !== 'and' && rule.op !== 'or')) break;
      this.next();
      ops.push({ op: rule.op, col: t.col });
    }
    // Fold from the right: the run of equal operators ending the chain is one node, and is the last term of the run before it.
    let node = terms[terms.length - 1];
    let i = ops.length - 1;
    while (i >= 0) {
      const runOp = ops[i].op;
      let start = i;
      while (start > 0 && ops[start - 1].op === runOp) start--;
      node = { kind: 'logical', op: runOp, terms: [...terms.slice(start, i + 1), node], col: ops[start].col };
      i = start - 1;
    }
    return node;
  }

  private prefix(): Node {
    const t = this.next();
    switch (t.type) {
      case 'number':
        return /^0[xX]/.test(t.text) || !/[.eE]/.test(t.text) ? { kind: 'literal', value: t.value as number, col: t.col } : { kind: 'literal', value: t.value as number, double: true, col: t.col };
      case 'string':
        return { kind: 'literal', value: t.value as string, col: t.col };
      case 'regex':
        return { kind: 'regex', source: t.value as string, re: compileRegex(t.value as string, t.col), col: t.col };
      case 'ident':
        return this.identifier(t);
      case 'op':
        break;
      default:
        throw this.unexpected(t);
    }
    const op = t.value as string;
    if (op === '!' || op === '-') {
      const arg = this.expression(UNARY_BP);
      return { kind: 'unary', op, arg, col: t.col };
    }
    if (op === '(') {
      const inner = this.expression(0);
      this.expect(')');
      if (inner.kind === 'logical') inner.parenthesised = true;
      inner.from = t.col;
      return inner;
    }
    if (op === '[' && this.dialect === 'kfl2') {
      const items = this.list(']');
      return { kind: 'list', items, col: t.col };
    }
    if (op === '{' && this.dialect === 'kfl2') {
      const entries: Array<[Node, Node]> = [];
      if (!this.isOp(this.peek(), '}')) {
        for (;;) {
          const k = this.expression(0);
          this.expect(':');
          entries.push([k, this.expression(0)]);
          if (this.isOp(this.peek(), ',')) {
            this.next();
            if (this.isOp(this.peek(), '}')) break;
            continue;
          }
          break;
        }
      }
      this.expect('}');
      return { kind: 'map', entries, col: t.col };
    }
    throw this.unexpected(t);
  }

  private identifier(t: Token): Node {
    const name = t.value as string;
    const col = t.col;
    if (name === 'true' || name === 'false') return { kind: 'literal', value: name === 'true', col };
    if (name === 'null' || name === 'nil') return { kind: 'literal', value: null, col };
    if (this.dialect === 'kfl1' && name === 'not') {
      return { kind: 'unary', op: '!', arg: this.expression(UNARY_BP), col };
    }
    if (name === 'and' || name === 'or' || (name === 'in' && this.dialect === 'kfl2')) throw this.unexpected(t);
    const after = this.peek();
    const followed = after.type === 'op' && (after.value === '.' || after.value === '[' || after.value === '(');
    if (!followed && this.dialect === 'kfl1' && PROTOCOL_NAMES.has(name)) {
      return { kind: 'protocol', name: PROTOCOL_ALIASES[name] ?? name, col };
    }
    if (this.isOp(after, '(')) {
      this.next();
      return { kind: 'call', name, target: null, args: this.list(')'), col };
    }
    return { kind: 'ident', name, col };
  }

  private postfix(left: Node): Node {
    const t = this.next();
    if (t.value === '.') {
      const nameTok = this.next();
      if (nameTok.type !== 'ident') throw this.unexpected(nameTok, 'a field name');
      const name = nameTok.value as string;
      if (this.isOp(this.peek(), '(')) {
        this.next();
        return { kind: 'call', name, target: left, args: this.list(')'), col: nameTok.col };
      }
      return { kind: 'member', target: left, name, col: nameTok.col };
    }
    if (t.value === '[') {
      const index = this.expression(0);
      this.expect(']');
      return { kind: 'index', target: left, index, col: t.col };
    }
    // '(' after something that is not a name: `(a)(b)`.
    throw this.unexpected(t);
  }

  /** Comma-separated expressions up to `close` (the opening token is consumed). */
  private list(close: string): Node[] {
    const items: Node[] = [];
    if (this.isOp(this.peek(), close)) {
      this.next();
      return items;
    }
    for (;;) {
      items.push(this.expression(0));
      const t = this.next();
      if (this.isOp(t, ',')) {
        if (this.isOp(this.peek(), close)) {
          this.next();
          return items;
        }
        continue;
      }
      if (this.isOp(t, close)) return items;
      throw this.unexpected(t, close);
    }
  }

  /** KFL1: warn when an unparenthesised chain mixes `and` and `or`, saying how it grouped. */
  private checkMixedLogic(node: Node): void {
    const visit = (n: Node): void => {
      if (n.kind === 'logical' && !n.parenthesised) {
        const chain: Node[] = [];
        const ops: string[] = [];
        let cur: Node = n;
        while (cur.kind === 'logical' && !cur.parenthesised) {
          for (const term of cur.terms.slice(0, -1)) {
            chain.push(term);
            ops.push(cur.op);
          }
          cur = cur.terms[cur.terms.length - 1];
        }
        chain.push(cur);
        if (ops.includes('and') && ops.includes('or')) {
          this.warnings.push(
            `KFL1 'and' and 'or' share one precedence level and group from the right: read as ${this.grouped(chain, ops)}; add parentheses to say otherwise`,
          );
        }
        chain.forEach(visit);
        return;
      }
      for (const child of children(n)) visit(child);
    };
    visit(node);
  }

  private grouped(chain: Node[], ops: string[]): string {
    const text = chain.map((c) => this.sourceOf(c));
    let out = text[text.length - 1];
    for (let i = ops.length - 1; i >= 0; i--) {
      out = i === ops.length - 1 ? `${text[i]} ${ops[i]} ${out}` : `${text[i]} ${ops[i]} (${out})`;
    }
    return out;
  }

  /** Source text of a node: from its first column to just before the next chain operator. */
  private sourceOf(n: Node): string {
    const start = firstCol(n) - 1;
    // Find the token after the node's last token: walk tokens from start until an
    // `and`/`or` at depth 0 or the end.
    let depth = 0;
    let endCol = this.src.length + 1;
    for (const t of this.tokens) {
      if (t.col - 1 < start) continue;
      if (t.type === 'op' && (t.value === '(' || t.value === '[')) depth++;
      if (t.type === 'op' && (t.value === ')' || t.value === ']')) {
        if (depth === 0) {
          endCol = t.col;
          break;
        }
        depth--;
      }
      if (depth === 0 && t.type === 'ident' && (t.value === 'and' || t.value === 'or') && t.col - 1 > start) {
        endCol = t.col;
        break;
      }
      if (t.type === 'eof') endCol = t.col;
    }
    return this.src.slice(start, endCol - 1).trim();
  }
}

/** KFL2's left-grouped `a && b && c`: `c` joins the node `a && b` made (unless that was written in parentheses). */
function leftChain(left: Node, op: 'and' | 'or', right: Node, col: number): Node {
  if (left.kind === 'logical' && left.op === op && !left.parenthesised) {
    left.terms.push(right);
    return left;
  }
  return { kind: 'logical', op, terms: [left, right], col };
}

function tooDeep(col: number): FilterSyntaxError {
  return new FilterSyntaxError(`expression nested deeper than ${MAX_NESTING} levels`, col);
}

/** The AST's depth, walked without recursion (the parser's own depth is bounded as it reads; this bounds what it built). */
function checkNesting(root: Node): void {
  const stack: Array<[Node, number]> = [[root, 1]];
  while (stack.length > 0) {
    const [n, d] = stack.pop()!;
    if (d > MAX_NESTING) throw tooDeep(n.col);
    for (const c of children(n)) stack.push([c, d + 1]);
  }
}

function firstCol(n: Node): number {
  if (n.from !== undefined) return n.from;
  let col = n.col;
  for (const c of children(n)) col = Math.min(col, firstCol(c));
  return col;
}

export function children(n: Node): Node[] {
  switch (n.kind) {
    case 'list':
      return n.items;
    case 'map':
      return n.entries.flat();
    case 'member':
      return [n.target];
    case 'index':
      return [n.target, n.index];
    case 'call':
      return n.target ? [n.target, ...n.args] : n.args;
    case 'unary':
      return [n.arg];
    case 'binary':
      return [n.left, n.right];
    case 'logical':
      return n.terms;
    case 'cond':
      return [n.test, n.then, n.else];
    default:
      return [];
  }
}

/** A user regex, compiled once on RE2 (linear time: src/filter/linear-regex.ts). */
export function compileRegex(source: string, col: number): LinearRegex {
  try {
    return LinearRegex.compile(source);
  } catch (err) {
    throw new FilterSyntaxError(`bad regular expression ${JSON.stringify(source)} (${(err as Error).message})`, col);
  }
}
