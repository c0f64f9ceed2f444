// Key tests (project.ts's KeyTest) that a field spec sent to a worker thread
// may hold: functions do not cross threads, so they travel by name.

import { KeyTest } from './project.js';

/** Any spelling of an HTTP Host header, or HTTP/2's :authority. */
export const HOST_HEADER_KEYS = new KeyTest((k) => k === ':authority' || k.toLowerCase() === 'host', [4, 10]);

export const NAMED_KEY_TESTS: ReadonlyMap<string, KeyTest> = new Map([['host-header', HOST_HEADER_KEYS]]);
