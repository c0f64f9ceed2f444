// .proto files (proto2/proto3) read into a schema gRPC messages can be decoded
// with: messages and their fields, enums, and services' methods by their
// gRPC path (/pkg.Service/Method). `shark dissect --proto DIR` loads every
// .proto under DIR. Only what decoding needs is kept; options, reserved
// ranges and extensions are read past. A syntax error names the file and line.

import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { UserError } from '../../cli/errors.js';
import { readFileBounded } from '../../input/bounded-file.js';

export interface FieldDef {
  name: string;
  number: number;
  /** Scalar type name (int32, string …) or a message/enum name as written. */
  type: string;
  repeated: boolean;
  /** map<K, V>: key and value types. */
  map?: { key: string; value: string };
  /** Fully-qualified name once resolved, for message and enum types. */
  resolved?: string;
}

export interface MessageDef {
  fullName: string;
  fields: Map<number, FieldDef>;
}

export interface EnumDef {
  fullName: string;
  values: Map<number, string>;
}

export interface MethodDef {
  input: string;
  output: string;
  clientStreaming: boolean;
  serverStreaming: boolean;
}

export interface ProtoSchema {
  messages: Map<string, MessageDef>;
  enums: Map<string, EnumDef>;
  /** By gRPC path: "/pkg.Service/Method". */
  methods: Map<string, MethodDef>;
}

export const SCALARS = new Set([
  'double', 'float', 'int32', 'int64', 'uint32', 'uint64', 'sint32', 'sint64',
  'fixed32', 'fixed64', 'sfixed32', 'sfixed64', 'bool', 'string', 'bytes',
]);

/**
 * A .proto file may come from anywhere (a shared repository, a vendor's
 * bundle): `--proto /dev/zero` read until memory ran out, and 20,000 nested
 * messages overflowed the parser's stack (an internal error, exit 70), their
 * dotted names growing with the square of the depth. The largest real files
 * (googleapis) are well under 1 MB and nest a few levels.
 */
export const MAX_PROTO_FILE_BYTES = 8 * 1024 * 1024;
export const MAX_PROTO_NESTING = 64;

interface Token {
  text: string;
  line: number;
  kind: 'ident' | 'number' | 'string' | 'symbol';
}

function tokenize(src: string, file: string): Token[] {
  const out: Token[] = [];
  let line = 1;
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (c === '\n') {
      line++;
      i++;
    } else if (/\s/.test(c)) i++;
    else if (src.startsWith('//', i)) {
      while (i < src.length && src[i] !== '\n') i++;
    } else if (src.startsWith('/*', i)) {
      const end = src.indexOf('*/', i + 2);
      const stop = end < 0 ? src.length : end + 2;
      for (let k = i; k < stop; k++) if (src[k] === '\n') line++;
      i = stop;
    } else if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < src.length && src[j] !== c) j += src[j] === '\\' ? 2 : 1;
      if (j >= src.length) throw new UserError(`${file}:${line}: unterminated string`);
      out.push({ text: src.slice(i + 1, j), line, kind: 'string' });
      i = j + 1;
    } else if (/[A-Za-z_.]/.test(c)) {
      let j = i;
      while (j < src.length && /[A-Za-z0-9_.]/.test(src[j])) j++;
      out.push({ text: src.slice(i, j), line, kind: 'ident' });
      i = j;
    } else if (/[0-9-+]/.test(c)) {
      let j = i + 1;
      while (j < src.length && /[0-9A-Za-z.+-]/.test(src[j])) j++;
      out.push({ text: src.slice(i, j), line, kind: 'number' });
      i = j;
    } else {
      out.push({ text: c, line, kind: 'symbol' });
      i++;
    }
  }
  return out;
}

/** Recursive-descent reader over one file's tokens. */
class ProtoFileParser {
  private pos = 0;
  private pkg = '';
  readonly messages: MessageDef[] = [];
  readonly enums: EnumDef[] = [];
  readonly services: { fullName: string; methods: Map<string, MethodDef>; scope: string }[] = [];
  /** Fields whose type names still need resolving, with the scope they were declared in. */
  readonly pending: { field: FieldDef; scope: string }[] = [];
  readonly pendingMethods: { method: MethodDef; scope: string }[] = [];

  constructor(
    private readonly tokens: Token[],
    private readonly file: string,
  ) {}

  parse(): void {
    while (!this.done()) {
      const t = this.next();
      switch (t.text) {
        case 'syntax':
        case 'edition':
        case 'option':
        case 'import':
          this.skipStatement();
          break;
        case 'package':
          this.pkg = this.next().text;
          this.expect(';');
          break;
        case 'message':
          this.message(this.pkg, 1, t);
          break;
        case 'enum':
          this.enumDef(this.pkg);
          break;
        case 'service':
          this.service();
          break;
        case 'extend':
          this.skipBlockAfterName();
          break;
        case ';':
          break;
        default:
          this.fail(t, `unexpected '${t.text}'`);
      }
    }
  }

  private message(scope: string, depth: number, at: Token): void {
    if (depth > MAX_PROTO_NESTING) this.fail(at, `messages nested deeper than ${MAX_PROTO_NESTING} levels`);
    const name = this.next().text;
    const fullName = scope ? `${scope}.${name}` : name;
    const def: MessageDef = { fullName, fields: new Map() };
    this.messages.push(def);
    this.expect('{');
    while (!this.peekIs('}')) {
      const t = this.next();
      switch (t.text) {
        case 'message':
          this.message(fullName, depth + 1, t);
          break;
        case 'enum':
          this.enumDef(fullName);
          break;
        case 'option':
        case 'reserved':
        case 'extensions':
          this.skipStatement();
          break;
        case 'extend':
          this.skipBlockAfterName();
          break;
        case 'oneof':
          this.next();
          this.expect('{');
          while (!this.peekIs('}')) {
            const f = this.next();
            if (f.text === 'option') this.skipStatement();
            else this.field(def, fullName, f, false);
          }
          this.expect('}');
          break;
        case ';':
          break;
        case 'repeated':
          this.field(def, fullName, this.next(), true);
          break;
        case 'optional':
        case 'required':
          this.field(def, fullName, this.next(), false);
          break;
        default:
          this.field(def, fullName, t, false);
      }
    }
    this.expect('}');
  }

  private field(def: MessageDef, scope: string, typeToken: Token, repeated: boolean): void {
    let field: FieldDef;
    if (typeToken.text === 'map') {
      this.expect('<');
      const key = this.next().text;
      this.expect(',');
      const value = this.next().text;
      this.expect('>');
      const name = this.next().text;
      this.expect('=');
      field = { name, number: this.number(), type: 'map', repeated: true, map: { key, value } };
    } else if (typeToken.text === 'group') {
      this.fail(typeToken, 'proto2 groups are not supported');
    } else {
      if (typeToken.kind !== 'ident') this.fail(typeToken, `expected a field type, found '${typeToken.text}'`);
      const name = this.next().text;
      this.expect('=');
      field = { name, number: this.number(), type: typeToken.text, repeated };
    }
    if (this.peekIs('[')) this.skipUntil(']');
    this.expect(';');
    def.fields.set(field.number, field);
    this.pending.push({ field, scope });
  }

  private enumDef(scope: string): void {
    const name = this.next().text;
    const def: EnumDef = { fullName: scope ? `${scope}.${name}` : name, values: new Map() };
    this.enums.push(def);
    this.expect('{');
    while (!this.peekIs('}')) {
      const t = this.next();
      if (t.text === 'option' || t.text === 'reserved') {
        this.skipStatement();
        continue;
      }
      if (t.text === ';') continue;
      this.expect('=');
      const n = this.number();
      if (this.peekIs('[')) this.skipUntil(']');
      this.expect(';');
      if (!def.values.has(n)) def.values.set(n, t.text);
    }
    this.expect('}');
  }

  private service(): void {
    const name = this.next().text;
    const fullName = this.pkg ? `${this.pkg}.${name}` : name;
    const methods = new Map<string, MethodDef>();
    this.services.push({ fullName, methods, scope: this.pkg });
    this.expect('{');
    while (!this.peekIs('}')) {
      const t = this.next();
      if (t.text === 'option') {
        this.skipStatement();
        continue;
      }
      if (t.text === ';') continue;
      if (t.text !== 'rpc') this.fail(t, `expected 'rpc', found '${t.text}'`);
      const method = this.next().text;
      this.expect('(');
      const clientStreaming = this.peekIs('stream') && Boolean(this.next());
      const input = this.next().text;
      this.expect(')');
      if (this.next().text !== 'returns') this.fail(this.tokens[this.pos - 1], "expected 'returns'");
      this.expect('(');
      const serverStreaming = this.peekIs('stream') && Boolean(this.next());
      const output = this.next().text;
      this.expect(')');
      if (this.peekIs('{')) this.skipUntil('}');
      else this.expect(';');
      const def: MethodDef = { input, output, clientStreaming, serverStreaming };
      methods.set(method, def);
      this.pendingMethods.push({ method: def, scope: this.pkg });
    }
    this.expect('}');
  }

  private number(): number {
    const t = this.next();
    const n = Number(t.text);
    if (!Number.isInteger(n)) this.fail(t, `expected a number, found '${t.text}'`);
    return n;
  }

  private skipStatement(): void {
    let depth = 0;
    while (!this.done()) {
      const t = this.next().text;
      if (t === '{' || t === '[' || t === '(') depth++;
      else if (t === '}' || t === ']' || t === ')') depth--;
      else if (t === ';' && depth <= 0) return;
    }
  }

  private skipBlockAfterName(): void {
    this.next();
    this.skipUntil('}');
  }

  /** Skip a bracketed group whose opener is next, up to its matching closer. */
  private skipUntil(closer: string): void {
    const opener = closer === ']' ? '[' : closer === '}' ? '{' : '(';
    let depth = 0;
    while (!this.done()) {
      const t = this.next().text;
      if (t === opener) depth++;
      else if (t === closer && --depth <= 0) return;
    }
  }

  private expect(text: string): void {
    const t = this.next();
    if (t.text !== text) this.fail(t, `expected '${text}', found '${t.text}'`);
  }

  private peekIs(text: string): boolean {
    return this.tokens[this.pos]?.text === text;
  }

  private next(): Token {
    const t = this.tokens[this.pos++];
    if (!t) throw new UserError(`${this.file}: unexpected end of file`);
    return t;
  }

  private done(): boolean {
    return this.pos >= this.tokens.length;
  }

  private fail(t: Token, what: string): never {
    throw new UserError(`${this.file}:${t.line}: ${what}`);
  }
}

/** Find `name` as protobuf does: from the innermost scope outwards; a leading dot is absolute. */
function resolve(name: string, scope: string, known: (full: string) => boolean): string | undefined {
  if (name.startsWith('.')) return known(name.slice(1)) ? name.slice(1) : undefined;
  const parts = scope ? scope.split('.') : [];
  for (let i = parts.length; i >= 0; i--) {
    const candidate = [...parts.slice(0, i), name].join('.');
    if (known(candidate)) return candidate;
  }
  return undefined;
}

function protoFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...protoFiles(path));
    else if (name.endsWith('.proto')) out.push(path);
  }
  return out;
}

/** Parse .proto sources (name → text) into one schema. */
export function parseProtoSources(sources: { name: string; text: string }[]): ProtoSchema {
  const schema: ProtoSchema = { messages: new Map(), enums: new Map(), methods: new Map() };
  const parsers = sources.map((s) => {
    const p = new ProtoFileParser(tokenize(s.text, s.name), s.name);
    p.parse();
    return p;
  });
  for (const p of parsers) {
    for (const m of p.messages) schema.messages.set(m.fullName, m);
    for (const e of p.enums) schema.enums.set(e.fullName, e);
  }
  const known = (full: string) => schema.messages.has(full) || schema.enums.has(full);
  for (const p of parsers) {
    for (const { field, scope } of p.pending) {
      const type = field.map ? field.map.value : field.type;
      if (!SCALARS.has(type)) field.resolved = resolve(type, scope, known);
    }
    for (const s of p.services) {
      for (const [name, m] of s.methods) {
        m.input = resolve(m.input, s.scope, known) ?? m.input;
        m.output = resolve(m.output, s.scope, known) ?? m.output;
        schema.methods.set(`/${s.fullName}/${name}`, m);
      }
    }
  }
  return schema;
}

/** Every .proto under `dir` (recursively). */
export function loadProtoDir(dir: string): ProtoSchema {
  let files: string[];
  try {
    files = statSync(dir).isDirectory() ? protoFiles(dir) : [dir];
  } catch {
    throw new UserError(`--proto: ${dir}: no such file or directory`);
  }
  if (files.length === 0) throw new UserError(`--proto: ${dir}: no .proto files`);
  return parseProtoSources(files.map((f) => ({ name: relative(process.cwd(), f) || f, text: readBounded(f) })));
}

/** A file's text, read no further than MAX_PROTO_FILE_BYTES (a device or a FIFO too). */
function readBounded(path: string): string {
  const bytes = readFileBounded(path, MAX_PROTO_FILE_BYTES);
  if (!bytes) throw new UserError(`--proto: ${path}: larger than ${MAX_PROTO_FILE_BYTES / (1024 * 1024)} MB`);
  return bytes.toString('utf8');
}
