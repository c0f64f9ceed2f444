// `shark tap -l app=reviews,tier!=cache`: kubectl's label selectors, matched
// against the pods the tap already watches (the watch reads every pod for
// names anyway, so the selector is applied here, not sent to the API server).
//
// The grammar is apimachinery's labels.Parse, as kubectl accepts it:
// requirements separated by commas, each one of
//   key  !key  key=value  key==value  key!=value
//   key in (a,b)  key notin (a,b)  key>3  key<3
// where a key is an optional DNS-subdomain prefix and '/', then a name of at
// most 63 characters, and values are names (or empty). `!=` and `notin` also
// match pods without the label, as in Kubernetes.

type Op = '=' | '!=' | 'in' | 'notin' | 'exists' | '!' | '>' | '<';

interface Requirement {
  key: string;
  op: Op;
  values: string[];
}

export type LabelMatcher = (labels: Record<string, string> | undefined) => boolean;

const NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$/;
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const INTEGER = /^-?[0-9]{1,18}$/;

/** The selector as a matcher; throws an Error naming what is wrong and where. */
export function parseLabelSelector(source: string): LabelMatcher {
  const reqs = new Parser(source).requirements();
  return (labels) => reqs.every((r) => matches(r, labels ?? {}));
}

function matches(r: Requirement, labels: Record<string, string>): boolean {
  const has = Object.hasOwn(labels, r.key);
  const value = has ? labels[r.key] : undefined;
  switch (r.op) {
    case 'exists':
      return has;
    case '!':
      return !has;
    case '=':
    case 'in':
      return has && r.values.includes(value as string);
    case '!=':
    case 'notin':
      return !has || !r.values.includes(value as string);
    case '>':
    case '<': {
      if (!has || !INTEGER.test(value as string)) return false;
      const v = Number(value);
      const bound = Number(r.values[0]);
      return r.op === '>' ? v > bound : v < bound;
    }
  }
}

class Parser {
  private pos = 0;

  constructor(private readonly s: string) {}

  requirements(): Requirement[] {
    const out: Requirement[] = [];
    this.space();
    if (this.pos === this.s.length) throw this.error('empty selector');
    for (;;) {
      out.push(this.requirement());
      this.space();
      if (this.pos === this.s.length) return out;
      if (this.s[this.pos] !== ',') throw this.error(`expected ',' or the end`);
      this.pos++;
    }
  }

  private requirement(): Requirement {
    this.space();
    if (this.s[this.pos] === '!') {
      this.pos++;
      return { key: this.key(), op: '!', values: [] };
    }
    const key = this.key();
    this.space();
    const rest = this.s.slice(this.pos);
    if (rest === '' || rest[0] === ',') return { key, op: 'exists', values: [] };
    if (rest.startsWith('==') || rest.startsWith('!=')) {
      this.pos += 2;
      return { key, op: rest[0] === '=' ? '=' : '!=', values: [this.value()] };
    }
    if (rest[0] === '=') {
      this.pos++;
      return { key, op: '=', values: [this.value()] };
    }
    if (rest[0] === '>' || rest[0] === '<') {
      this.pos++;
      const v = this.value();
      if (!INTEGER.test(v)) throw this.error(`'${rest[0]}' needs an integer, not "${v}"`);
      return { key, op: rest[0] as '>' | '<', values: [v] };
    }
    const word = /^(notin|in)(?=[\s(])/.exec(rest);
    if (word) {
      this.pos += word[1].length;
      return { key, op: word[1] as 'in' | 'notin', values: this.set() };
    }
    throw this.error(`expected an operator (=, ==, !=, in, notin, >, <) after "${key}"`);
  }

  private key(): string {
    this.space();
    const start = this.pos;
    while (this.pos < this.s.length && !/[\s,=!<>()]/.test(this.s[this.pos])) this.pos++;
    const key = this.s.slice(start, this.pos);
    if (key === '') throw this.error('expected a label key');
    const slash = key.indexOf('/');
    const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
    const name = slash >= 0 ? key.slice(slash + 1) : key;
    if (prefix !== undefined && (prefix.length > 253 || !SUBDOMAIN.test(prefix))) throw this.error(`bad key prefix "${prefix}" (a DNS subdomain)`, start);
    if (!NAME.test(name)) throw this.error(`bad label key "${key}" (at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)`, start);
    return key;
  }

  private value(): string {
    this.space();
    const start = this.pos;
    while (this.pos < this.s.length && !/[\s,()]/.test(this.s[this.pos])) this.pos++;
    const v = this.s.slice(start, this.pos);
    if (v !== '' && !NAME.test(v)) throw this.error(`bad label value "${v}" (at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)`, start);
    return v;
  }

  private set(): string[] {
    this.space();
    if (this.s[this.pos] !== '(') throw this.error(`expected '(' to open the set of values`);
    this.pos++;
    const values: string[] = [];
    for (;;) {
      values.push(this.value());
      this.space();
      const c = this.s[this.pos];
      if (c === ',') {
        this.pos++;
        continue;
      }
      if (c === ')') {
        this.pos++;
        break;
      }
      throw this.error(`expected ',' or ')' in the set of values`);
    }
    if (values.length === 1 && values[0] === '') throw this.error('the set of values is empty');
    return values;
  }

  private space(): void {
    while (this.pos < this.s.length && /\s/.test(this.s[this.pos])) this.pos++;
  }

  private error(what: string, at = this.pos): Error {
    return new Error(`bad label selector "${this.s}": ${what} (at character ${at + 1})`);
  }
}
