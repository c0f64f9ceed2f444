// Commands Redis reports back as data: a MONITOR feed line (`1700000000.1 [0 10.0.0.1:5000] "HSET"
// "u:1" "password" "pw"`) and a SLOWLOG entry (`[id, time, µs, ["CONFIG", "SET", "requirepass",
// "pw"], client, name]`) quote another client's command whole (Redis before 7 hides only AUTH and
// HELLO there). Each quoted command is judged as that command is when shark sees it sent: `judge`
// gets its name and arguments and answers them redacted (the same array when nothing changed).
//
// A MONITOR line is read by one walk of its quoted arguments (Redis writes them with sdscatrepr:
// `\"`, `\\`, `\n` and `\xNN` escapes); a changed argument is written back as `"[REDACTED]"`, the
// others as they came.

import { REDACTED } from './redacted.js';

/** Judges a command's arguments (without the command's name): the same array back when nothing changed. */
export type CommandJudge = (command: string, args: unknown[]) => unknown[];

/** Arguments of one MONITOR line read; Redis writes every argument of the command (a hostile one has any number). */
const MAX_MONITOR_ARGS = 4096;

/** A MONITOR feed line with the secrets of the command it quotes redacted; the line itself when none. */
export function redactMonitorLine(line: string, judge: CommandJudge): string {
  const open = line.indexOf('] "');
  if (open < 0) return line;
  const spans: Array<[number, number]> = []; // each argument's quoted text, quotes included
  const args: string[] = [];
  let i = open + 2;
  while (i < line.length && line.charCodeAt(i) === 0x22 /* " */ && args.length < MAX_MONITOR_ARGS) {
    let value = '';
    let j = i + 1;
    for (; j < line.length && line.charCodeAt(j) !== 0x22; j++) {
      if (line.charCodeAt(j) === 0x5c /* \ */ && j + 1 < line.length) {
        const c = line[++j];
        if (c === 'x' && j + 2 < line.length) {
          value += String.fromCharCode(parseInt(line.slice(j + 1, j + 3), 16) || 0);
          j += 2;
        } else value += c === 'n' ? '\n' : c === 'r' ? '\r' : c === 't' ? '\t' : c;
      } else value += line[j];
    }
    spans.push([i, Math.min(j + 1, line.length)]);
    args.push(value);
    i = j + 2; // past the closing quote and the blank before the next argument
  }
  if (args.length < 2) return line;
  const judged = judge(args[0].toUpperCase(), args.slice(1));
  if (judged === args.slice(1) || judged.every((a, k) => a === args[k + 1])) return line;
  let out = '';
  let copied = 0;
  for (let k = 1; k < spans.length; k++) {
    if (judged[k - 1] === args[k]) continue;
    const shown = typeof judged[k - 1] === 'string' ? (judged[k - 1] as string) : REDACTED;
    out += line.slice(copied, spans[k][0]) + JSON.stringify(shown);
    copied = spans[k][1];
  }
  return out + line.slice(copied);
}

/** A SLOWLOG GET reply with each logged command judged; the reply itself when nothing changed. */
export function redactSlowlog(value: unknown, judge: CommandJudge): unknown {
  if (!Array.isArray(value)) return value;
  let out: unknown[] | undefined;
  for (let i = 0; i < value.length; i++) {
    const entry = value[i];
    // [id, unix time, microseconds, [command, args…], client address, client name]
    if (!Array.isArray(entry) || !Array.isArray(entry[3]) || typeof entry[3][0] !== 'string') continue;
    const words = entry[3] as unknown[];
    const judged = judge((words[0] as string).toUpperCase(), words.slice(1));
    if (judged.every((a, k) => a === words[k + 1])) continue;
    const copy = [...entry];
    copy[3] = [words[0], ...judged];
    (out ??= [...value])[i] = copy;
  }
  return out ?? value;
}

/**
 * A stream reply (XRANGE, XREVRANGE, XREAD, XREADGROUP, XCLAIM, XAUTOCLAIM): each entry is `[id,
 * [field, value, …]]` at any depth (XREAD's are under their stream's name, in an array or a RESP3
 * map). A value after a sensitive field name goes, as XADD's does when it is written.
 */
export function redactStreamEntries(value: unknown, isSecretField: (name: string) => boolean, hide: (s: string) => string, depth = 0): unknown {
  if (value === null || typeof value !== 'object' || depth > 8) return value;
  if (!Array.isArray(value)) {
    let out: Record<string, unknown> | undefined;
    const o = value as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      const nv = redactStreamEntries(o[k], isSecretField, hide, depth + 1);
      if (nv !== o[k]) (out ??= { ...o })[k] = nv;
    }
    return out ?? value;
  }
  if (value.length === 2 && typeof value[0] === 'string' && STREAM_ENTRY_ID.test(value[0]) && Array.isArray(value[1])) {
    const fields = value[1] as unknown[];
    let copy: unknown[] | undefined;
    for (let i = 1; i < fields.length; i += 2) {
      const name = fields[i - 1];
      const v = fields[i];
      if (typeof name === 'string' && typeof v === 'string' && isSecretField(name)) {
        const h = hide(v);
        if (h !== v) (copy ??= [...fields])[i] = h;
      }
    }
    return copy ? [value[0], copy] : value;
  }
  let out: unknown[] | undefined;
  for (let i = 0; i < value.length; i++) {
    const nv = redactStreamEntries(value[i], isSecretField, hide, depth + 1);
    if (nv !== value[i]) (out ??= [...value])[i] = nv;
  }
  return out ?? value;
}
const STREAM_ENTRY_ID = /^\d{1,20}-\d{1,20}$/;
