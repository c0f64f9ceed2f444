// Tokens of text are not credentials. A tokenizer (`{"tokens": ["Hello",
// " world"], "ids": [15496, 995]}`), a language model's log probabilities
// (`{"token": "Hello", "logprob": -0.3}`, the legacy `logprobs.tokens`) and a
// search engine's analyzer (Elasticsearch's `_analyze`: `{"token": "quick",
// "start_offset": 4, "position": 1}`) call pieces of text `token` and
// `tokens`, the names every access token goes by. They are known by what
// stands beside them (numbers or lists under a tokenizer's names) or, for a
// list, by its pieces (a leading space, a word-piece mark, punctuation alone):
// no credential looks like that. Such values are still searched for secrets
// by their shape (a key pasted into a prompt is still a key).

import { normaliseName } from './names.js';

/**
 * Names a tokenizer, a model's logprobs or an analyzer put beside `token` or `tokens`, holding a
 * number or a list (normalised: `start_offset` → `startoffset`).
 */
const TOKENIZER_SIBLINGS = new Set([
  'logprob', 'logprobs', 'toplogprobs', 'tokenlogprobs', 'textoffset', 'startoffset', 'endoffset', 'position',
  'positionlength', 'ids', 'tokenids', 'inputids', 'offsets', 'offsetmapping', 'attentionmask',
]);
/** `x-tokens`, `_tokens`: longer names are not `token` or `tokens` however written. */
const MAX_NAME = 8;
/** Members of an object looked at for a sibling; a hostile object has any number. */
const MAX_SIBLINGS = 64;
/** A piece of text cut by a tokenizer is short: a list with a longer string is judged as secrets would be. */
const MAX_PIECE = 32;
/** A longer list is judged as secrets would be (a tokenizer's answer to a long text carries `ids` beside it). */
const MAX_PIECES = 4096;

/** Is `o[key]` (`token` or `tokens`) text cut into tokens rather than a credential? */
export function isTextTokens(o: Record<string, unknown>, key: string, value: unknown): boolean {
  if (key.length > MAX_NAME) return false;
  const n = normaliseName(key);
  if (n !== 'token' && n !== 'tokens') return false;
  if (n === 'token') return typeof value === 'string' && isShortPiece(value) && hasTokenizerSibling(o);
  if (!Array.isArray(value) || value.length > MAX_PIECES) return false;
  // Beside a tokenizer's names, pieces are enough (objects in the list are judged member by member).
  if (hasTokenizerSibling(o)) return value.every((v) => typeof v !== 'string' || isShortPiece(v));
  return areWordPieces(value);
}

/** Short, and not letters and digits together over 12 characters (as a credential is). */
function isShortPiece(v: string): boolean {
  return v.length <= MAX_PIECE && !(v.length > 12 && /\p{L}/u.test(v) && /\p{N}/u.test(v));
}

function hasTokenizerSibling(o: Record<string, unknown>): boolean {
  let seen = 0;
  for (const k in o) {
    if (++seen > MAX_SIBLINGS) return false;
    const v = o[k];
    if ((typeof v === 'number' || Array.isArray(v)) && TOKENIZER_SIBLINGS.has(normaliseName(k))) return true;
  }
  return false;
}

/**
 * A list of short strings at least one of which only a tokenizer makes: a piece after a space
 * (`" world"`), with a word-piece mark (`Ġworld`, `▁world`, `##ing`) or with no letter or digit at all
 * (`"!"`, `","`). None may look like a credential (letters and digits together over 12 characters: a
 * list of keys split at `, ` has its spaces too), and all must be strings.
 */
function areWordPieces(list: unknown[]): boolean {
  if (list.length < 2) return false;
  let piece = false;
  for (const v of list) {
    if (typeof v !== 'string' || !isShortPiece(v)) return false;
    if (!piece && isTokenizerPiece(v)) piece = true;
  }
  return piece;
}

function isTokenizerPiece(v: string): boolean {
  if (v === '') return false;
  if (v[0] === ' ' || v[0] === '\u0120' || v[0] === '\u2581' || v.startsWith('##')) return true; // Ġ (GPT-2 BPE), ▁ (SentencePiece), ## (WordPiece)
  return !/[\p{L}\p{N}]/u.test(v);
}
