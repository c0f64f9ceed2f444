// Placeholder until the engine lands: capture inputs → entries.
import type { Entry } from '../model/entry.js';
import { UserError } from '../cli/errors.js';
import type { EntrySourceOptions } from './entry-source.js';

// eslint-disable-next-line require-yield
export async function* dissectStream(
  _head: Buffer,
  _rest: AsyncIterable<Buffer>,
  name: string,
  _opts: EntrySourceOptions,
): AsyncGenerator<Entry[]> {
  throw new UserError(`${name}: capture dissection is not built yet`);
}
