// Name and value pairs inside protobuf messages read without a schema (gRPC
// messages without --proto): an entry of a map<string, …> is a message whose
// field 1 is the key and field 2 the value, and so is OpenTelemetry's
// KeyValue (attributes) with the value one level down. Envoy's ext_authz
// CheckRequest carries every request's headers so (`authorization`,
// `cookie`); OTLP spans carry `http.request.header.authorization`. Without a
// schema the key is only a string beside the value: this pairs them, and a
// sensitive key's value goes as a header's or a JSON field's would.

import type { SensitiveNames } from './names.js';
import { REDACTED } from './redacted.js';

interface ProtoFieldLike {
  field: number;
  wireType: string;
  value?: unknown;
  message?: unknown;
  bytes?: unknown;
}

function isProtoField(v: unknown): v is ProtoFieldLike {
  return v !== null && typeof v === 'object' && typeof (v as ProtoFieldLike).field === 'number' && typeof (v as ProtoFieldLike).wireType === 'string';
}

/**
 * Is a map key sensitive? Judged as a header name when it reads as one (words joined by `-`:
 * `x-api-key`, `Ocp-Apim-Subscription-Key`, where a name ending in `key` is a key), as a path by its
 * last segment (`/app/db/password`; a key/value store's keys), else as a field name: a bare word
 * ending in `key` (`monkey`, `/zoo/monkey`) is not a key, `authorization` and `api_key` are.
 */
export function sensitiveKey(key: string, names: SensitiveNames): boolean {
  const slash = key.lastIndexOf('/');
  if (slash >= 0) return names.test(key.slice(slash + 1), 'field');
  return key.indexOf('-') > 0 ? names.test(key, 'header') || names.test(key, 'field') : names.test(key, 'field');
}

/**
 * A field list that is a key and its value (fields 1 and 2, once each) whose key is sensitive: the
 * list with the value replaced by `[REDACTED]` (a nested value message too, whole). Undefined when
 * the list is not such a pair or its key is not sensitive.
 */
export function redactProtoPair(list: unknown[], names: SensitiveNames, remember: (s: string) => void): unknown[] | undefined {
  if (list.length !== 2 || !isProtoField(list[0]) || !isProtoField(list[1])) return undefined;
  const key = list.find((f) => (f as ProtoFieldLike).field === 1) as ProtoFieldLike | undefined;
  const valueAt = list.findIndex((f) => (f as ProtoFieldLike).field === 2);
  if (!key || valueAt < 0 || key.wireType !== 'len' || typeof key.value !== 'string') return undefined;
  if (!sensitiveKey(key.value, names)) return undefined;
  const value = list[valueAt] as ProtoFieldLike;
  if (value.value === REDACTED) return undefined;
  if (typeof value.value === 'string') remember(value.value);
  const copy = [...list];
  copy[valueAt] = { field: 2, wireType: value.wireType, value: REDACTED };
  return copy;
}
