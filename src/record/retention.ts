// Which old recordings to delete: older than --keep, or beyond --max-total
// (oldest first). Planning is a pure function of the folder list and a clock,
// so the boundaries are tested without waiting; applying it renames a folder
// out of the way first so a half-deleted recording is never mistaken for one.

import { readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { INCOMPLETE, MANIFEST, type Manifest } from './manifest.js';

export interface Recording {
  /** Folder name: `<name>-<YYYYMMDDTHHMMSSZ>`. */
  folder: string;
  path: string;
  /** ms: when it started (from the folder name). */
  start: number;
  /** ms: when it ended (manifest), else its start. */
  end: number;
  bytes: number;
  complete: boolean;
}

export interface RetentionPolicy {
  /** Delete recordings that ended more than this many ms ago. */
  keepMs?: number;
  /** Delete oldest recordings until the total is at most this many bytes. */
  maxTotalBytes?: number;
}

const STAMP = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z(?:-\d+)?$/;

/** `20261123T033600Z` for a folder name (sortable, no colons). */
export function folderStamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
}

export function parseStamp(stamp: string): number | undefined {
  const m = STAMP.exec(stamp);
  if (!m) return undefined;
  return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
}

function folderBytes(path: string): number {
  let total = 0;
  for (const f of readdirSync(path, { withFileTypes: true })) {
    const p = join(path, f.name);
    total += f.isDirectory() ? folderBytes(p) : statSync(p).size;
  }
  return total;
}

/** Recordings of `name` in `dir`, oldest first. */
export function listRecordings(dir: string, name: string): Recording[] {
  const prefix = `${name}-`;
  const out: Recording[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const folder of names) {
    if (!folder.startsWith(prefix)) continue;
    const start = parseStamp(folder.slice(prefix.length));
    if (start === undefined) continue;
    const path = join(dir, folder);
    if (!statSync(path).isDirectory()) continue;
    // Only shark's own recordings: a folder that merely has the name (a user's
    // `nightly-20250101T000000Z` of notes) holds neither file and is never touched.
    const manifest = readJson(join(path, MANIFEST)) as Partial<Manifest> | undefined;
    const complete = manifest?.name === name && typeof manifest.version === 'number';
    if (!complete && (readJson(join(path, INCOMPLETE)) as { name?: unknown } | undefined)?.name !== name) continue;
    // An unfinished one ages from the folder name.
    const t = complete ? Date.parse(String(manifest.end)) : NaN;
    const end = Number.isFinite(t) ? t : start;
    out.push({ folder, path, start, end, bytes: folderBytes(path), complete });
  }
  return out.sort((a, b) => a.start - b.start || a.folder.localeCompare(b.folder));
}

/** A small JSON file's value; undefined when it is missing or not JSON. */
function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Recordings to delete, oldest first; `protect` (the one being written) is never chosen. */
export function planRetention(recordings: Recording[], policy: RetentionPolicy, now: number, protect?: string): Recording[] {
  const doomed = new Set<Recording>();
  if (policy.keepMs !== undefined) {
    for (const r of recordings) if (r.folder !== protect && now - r.end > policy.keepMs) doomed.add(r);
  }
  if (policy.maxTotalBytes !== undefined) {
    let total = recordings.filter((r) => !doomed.has(r)).reduce((s, r) => s + r.bytes, 0);
    for (const r of recordings) {
      if (total <= policy.maxTotalBytes) break;
      if (doomed.has(r) || r.folder === protect) continue;
      doomed.add(r);
      total -= r.bytes;
    }
  }
  return recordings.filter((r) => doomed.has(r));
}

const TRASH_PREFIX = '.deleting-';

/** Delete the planned recordings (all of `name`); returns the folders removed. */
export function applyRetention(dir: string, doomed: Recording[], name?: string): string[] {
  const removed: string[] = [];
  for (const r of doomed) {
    const trash = join(dir, `${TRASH_PREFIX}${r.folder}`);
    renameSync(r.path, trash);
    rmSync(trash, { recursive: true, force: true });
    removed.push(r.folder);
  }
  // Leftovers of a deletion that was itself interrupted: only names this
  // retention gives its trash (`.deleting-<name>-<stamp>`), never any dot-folder.
  if (name !== undefined) {
    const prefix = `${TRASH_PREFIX}${name}-`;
    for (const f of readdirSync(dir)) {
      if (f.startsWith(prefix) && parseStamp(f.slice(prefix.length)) !== undefined) rmSync(join(dir, f), { recursive: true, force: true });
    }
  }
  return removed;
}
