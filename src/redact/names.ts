// Is this key sensitive? Names are normalised (case, '-', '_', '.', spaces, an
// `x-` prefix) so `X-Api-Key`, `api_key` and `apiKey` are one name, then
// matched whole or by a suffix that only secrets end with. The answer per name
// is cached: a capture repeats the same few hundred header and field names, so
// the hot path is one Map lookup per key.

/** Kubeshark's default list of sensitive keys (matched whole, after normalising). */
export const DEFAULT_SENSITIVE_KEYS = [
  'token', 'authorization', 'authentication', 'cookie', 'userid', 'password', 'username', 'user', 'key',
  'passcode', 'pass', 'auth', 'authtoken', 'jwt', 'bearer', 'clientid', 'clientsecret', 'redirecturi',
  'phonenumber', 'zip', 'zipcode', 'address', 'country', 'firstname', 'lastname', 'middlename', 'fname',
  'lname', 'birthdate',
];

/** Whole names shark adds: the other places credentials travel under a fixed name. */
const SHARK_WHOLE = [
  'cookies', 'setcookie', 'proxyauthorization', 'authenticationinfo', 'proxyauthenticationinfo', 'secret',
  'pwd', 'passwd', 'passphrase', 'credential', 'credentials', 'privatekey', 'signature', 'sig', 'assertion',
  'session', 'sessionid', 'sid', 'otp', 'pin', 'requirepass', 'masterauth',
  // Consul/Nomad ACL tokens (SecretID), Vault AppRole (secret_id), OAuth device and PKCE secrets, a SAML
  // response (a signed assertion), a kubeconfig's private key.
  'secretid', 'devicecode', 'codeverifier', 'samlresponse', 'clientkeydata',
  // Password hashes (crackable offline) and Active Directory's password attribute.
  'passwordhash', 'pwdhash', 'unicodepwd',
  // Vault's unseal and recovery key shares (`vault operator init`, rekey): `keys` itself is judged by its neighbours (entry.ts).
  'keysbase64', 'recoverykeys', 'recoverykeysbase64', 'unsealkey', 'unsealkeys', 'recoverykey',
  // Two-factor codes and the one-time recovery codes that stand in for them.
  'mfacode', 'totpcode', 'otpcode', 'recoverycodes', 'backupcodes',
  // Passwords under a short `pass` after what they open (`DB_PASS`, keytool's `storepass`): `pass` is no
  // suffix (`bypass`, `compass`, `lowpass` filters), so these are listed whole.
  'dbpass', 'rootpass', 'adminpass', 'userpass', 'authpass', 'smtppass', 'mailpass', 'ldappass', 'redispass',
  'mysqlpass', 'pgpass', 'keypass', 'storepass', 'keystorepass', 'truststorepass',
  // RabbitMQ's image sets its first user's password from RABBITMQ_DEFAULT_PASS (in most charts' env).
  'rabbitmqdefaultpass', 'defaultpass',
  // A password typed twice (Rails' and Laravel's `password_confirmation`, a form's `passwordRepeat`).
  'passwordconfirmation', 'passwordconfirm', 'passwordrepeat', 'passwordagain', 'passwordretype', 'passwordverify', 'passwordcheck',
  // One-time and verification codes sent to log in, and a card's or phone's PIN; a Wi-Fi or VPN pre-shared key.
  'pincode', 'securitycode', 'verificationcode', 'twofactorcode', 'tfacode', 'smscode', 'totp', 'hotp', 'psk', 'presharedkey',
  // Telemetry vendors' API keys under their own header names (Honeycomb's X-Honeycomb-Team), JFrog
  // Artifactory's X-JFrog-Art-Api, and MySQL's password variable MYSQL_PWD (`pwd` is no suffix: `cwd`-like names).
  'honeycombteam', 'jfrogartapi', 'mysqlpwd',
  // sshpass's own variable (`SSHPASS=… sshpass -e ssh host`).
  'sshpass',
  // Alerting and telemetry keys under their own names: PagerDuty's Events v1 `service_key` (Alertmanager's
  // pagerduty_configs), New Relic's `license_key`, Firebase Cloud Messaging's legacy `serverKey`.
  'servicekey', 'licensekey', 'serverkey',
  // A wallet's recovery words and raw key, and the answer to an account's security question.
  'mnemonic', 'seedphrase', 'privkey', 'securityanswer',
  // Payment and identity numbers, beside Kubeshark's personal data.
  'cvv', 'cvv2', 'cvc', 'cvc2', 'ccnumber', 'creditcard', 'ssn', 'socialsecuritynumber',
  // What AWS Secrets Manager answers GetSecretValue with: the secret itself, text or bytes.
  'secretstring', 'secretbinary',
  // Grafana keeps every secret of a data source or a contact point under these (`httpHeaderValue1`, the
  // value of the header `httpHeaderName1` names, has no name of its own to go by).
  'securejsondata', 'securesettings',
];

/**
 * Suffixes that make any name a secret (`client_secret`, `access_token`,
 * `X-Amz-Security-Token`, `db_password`, `X-Jwt-Assertion`, `JSESSIONID`…).
 * Plurals are not suffixes on purpose: `max_tokens` is a count, not a token.
 */
const SECRET_SUFFIXES = [
  'token', 'secret', 'password', 'passwd', 'passphrase', 'apikey', 'credential', 'credentials', 'privatekey',
  'signature', 'assertion', 'sessionid', 'sessid', 'sessionkey', 'authorization', 'cookie', 'auth', 'jwt',
  // Cloud and crypto keys by their own names: AWS_SECRET_ACCESS_KEY, MinIO's secret_key, Azure's AccountKey and
  // SharedAccessKey, a master, encryption, signing or HMAC key.
  'secretkey', 'secretaccesskey', 'accountkey', 'sharedaccesskey', 'masterkey', 'encryptionkey', 'signingkey', 'hmackey',
  'cardnumber', // card_number, credit_card_number
  // A webhook's HMAC (X-Shopify-Hmac-Sha256: the digits after `sha` are taken off first).
  'hmac', 'hmacsha',
];

/**
 * Plurals that hold secrets when they hold a list or a map (`passwords: […]`, `apiKeys: {…}`,
 * `client_secrets`): their text values go, their numbers stay (`max_tokens: 100`, `tokens: [15496, 995]`
 * are counts and token ids) and objects in them are judged member by member (a ServiceAccount's
 * `secrets: [{name: sa-token}]` and `imagePullSecrets` name Secrets, they are not secrets). `keys`
 * is not one: `{"keys": ["user:1", …]}` is a listing everywhere.
 */
const PLURAL_STEMS = ['tokens', 'secrets', 'passwords', 'passwds', 'passphrases', 'apikeys', 'privatekeys', 'secretkeys', 'accesskeys', 'signingkeys', 'encryptionkeys', 'masterkeys', 'hmackeys'];

/**
 * Names redacted even in protocol structure (a field of a request object
 * rather than a header, parameter or body field): only names nothing but a
 * secret is called. `apiKey` (Kafka's API number), `key` (Redis) and
 * `sessionId` (Kafka fetch sessions) are structure there.
 */
const STRUCTURE_NAMES = [
  'cookie', 'cookies', 'setcookie', 'authorization', 'proxyauthorization', 'password', 'passwd', 'passphrase', 'secret',
  'clientsecret', 'accesstoken', 'refreshtoken', 'idtoken', 'privatekey', 'credentials', 'securejsondata', 'securesettings',
];

/**
 * Kubeshark's names for personal data and for ids (`user`, `address`, `key`, `clientid`): sensitive as a
 * field, but as the last part of a record's name (`SET cache:user …`) they name what the record is about,
 * not a secret it holds (see secretOnly).
 */
const PERSONAL_OR_ID = new Set(['userid', 'username', 'user', 'key', 'clientid', 'redirecturi', 'phonenumber', 'zip', 'zipcode', 'address', 'country', 'firstname', 'lastname', 'middlename', 'fname', 'lname', 'birthdate']);

/**
 * An environment variable's name that ends in `_KEY` (`APP_KEY`, Laravel's encryption key; `STRIPE_KEY`,
 * `SENDGRID_KEY`): in upper case, as only environments and .env files write names, `key` is a secret
 * key, where in JSON and text it is a word for anything (a `key` field is judged as Kubeshark does).
 * Not the keys that name or identify (`PRIMARY_KEY`, `CACHE_KEY`, `AWS_ACCESS_KEY`) or are public
 * (`STRIPE_PUBLISHABLE_KEY`, `RECAPTCHA_SITE_KEY`, `VAPID_PUBLIC_KEY`).
 */
export function isEnvironmentKey(name: string): boolean {
  if (name.length < 5 || name.length > 96 || !ENVIRONMENT_KEY.test(name)) return false;
  const before = name.slice(0, -4);
  return !NOT_SECRET_KEYS.has(before.slice(before.lastIndexOf('_') + 1));
}
/** `WORD_KEY`, upper case and digits: linear. */
const ENVIRONMENT_KEY = /^[A-Z][A-Z0-9_]*_KEY$/;
/** The word before `_KEY` of keys that are no secrets. */
const NOT_SECRET_KEYS = new Set([
  'PUBLIC', 'PUBLISHABLE', 'SITE', 'ACCESS', 'PRIMARY', 'PARTITION', 'SORT', 'CACHE', 'ROUTING', 'FOREIGN', 'SHARD',
  'HASH', 'LOOKUP', 'IDEMPOTENCY', 'OBJECT', 'GROUP', 'RECORD', 'TABLE', 'INDEX', 'BUCKET', 'QUEUE', 'TOPIC', 'STREAM',
  'LOCK', 'PREFIX', 'TENANT', 'PROJECT', 'MESSAGE', 'DEDUP', 'DEDUPLICATION', 'RANGE', 'ROW', 'SEARCH', 'S3', 'REDIS', 'CONFIG',
]);

/** A hash or digest of a password (`passwordDigest`, `pwHash`, `secret_hash`) is crackable offline: the word before it says so. */
const HASH_SUFFIXES = ['hash', 'hashed', 'digest', 'encrypted'];
const HASHED_SECRETS = ['password', 'passwd', 'pwd', 'pw', 'pass', 'passphrase', 'secret', 'pin'];

/**
 * Names a secret suffix would catch that the protocols define as something
 * else: a CORS flag (`true`), WebSocket's handshake nonce and its answer.
 * They stay readable unless the user names them (`--redact`).
 */
const NOT_SECRETS = new Set(['accesscontrolallowcredentials', 'secwebsocketkey', 'secwebsocketaccept']);

/**
 * Where a name was found. A header name ending in `key` (`Ocp-Apim-Subscription-Key`) is a key;
 * a JSON field `monkey` is not. The OAuth `code` is a secret only as a URL parameter.
 * `structure`: a field of a protocol's own request/response object.
 */
export type NameKind = 'header' | 'param' | 'field' | 'structure';

const HEADER = 1;
const PARAM = 2;
const FIELD = 4;
const STRUCTURE = 8;
/** Not a kind: the name is a plural of a secret (PLURAL_STEMS). */
const PLURAL = 16;
/** Not a kind: sensitive as a field, and not one of PERSONAL_OR_ID (a secret's name). */
const SECRET_ONLY = 32;
const KIND_BIT: Record<NameKind, number> = { header: HEADER, param: PARAM, field: FIELD, structure: STRUCTURE };
/** Bounded: an attacker can send endless distinct names; past this the cache starts over. */
const MAX_CACHED = 8192;

/** `X-Api-Key` → `apikey`, `client_secret` → `clientsecret`, `user[password]` → `password`. */
export function normaliseName(name: string): string {
  let n = name.toLowerCase();
  // Rails and PHP nest form fields (`user[password]`, `user[tokens][]`): the innermost name is the field's.
  if (n.endsWith(']')) n = innermostBracketName(n);
  if (n.length > 2 && n.charCodeAt(0) === 0x78 /* x */ && (n[1] === '-' || n[1] === '_')) n = n.slice(2);
  return n.replace(/[-_.\s]+/g, '');
}

/** `user[password]` → `password`, `a[b][]` → `b`; a name with no such part as it is. */
function innermostBracketName(n: string): string {
  let end = n.length;
  while (end >= 2 && n.charCodeAt(end - 1) === 0x5d && n.charCodeAt(end - 2) === 0x5b) end -= 2; // `[]`
  if (end < 2 || n.charCodeAt(end - 1) !== 0x5d) return n.slice(0, end);
  const open = n.lastIndexOf('[', end - 1);
  return open < 0 ? n : n.slice(open + 1, end - 1);
}

/**
 * Words after a secret's name that say how it is written, not what it is (`privateKeyPem`,
 * `private_key_openssh`, Rails' `secret_key_base`, `apiKeyB64`, `clientSecretValue`).
 */
const ENCODING_SUFFIXES = ['pem', 'der', 'openssh', 'pkcs8', 'pkcs1', 'b64', 'base64', 'hex', 'raw', 'bytes', 'value', 'plain', 'plaintext', 'cleartext', 'string', 'base', 'encoded'];

/** A secret's name with how it is written after it (ENCODING_SUFFIXES). */
function isEncodedSecret(n: string): boolean {
  for (const e of ENCODING_SUFFIXES) {
    if (!n.endsWith(e) || n.length === e.length) continue;
    const before = n.slice(0, n.length - e.length);
    return SECRET_SUFFIXES.some((s) => before.endsWith(s));
  }
  return false;
}

/** `passworddigest`, `pwhash`, `secrethash`: a password's hash under a name the suffixes miss. */
function isHashedSecret(n: string): boolean {
  for (const h of HASH_SUFFIXES) {
    if (!n.endsWith(h)) continue;
    const before = n.slice(0, n.length - h.length);
    return HASHED_SECRETS.some((s) => before.endsWith(s));
  }
  return false;
}

export class SensitiveNames {
  private readonly whole: Set<string>;
  private readonly structure: Set<string>;
  /** name → bit set of the kinds in which it is sensitive. */
  private readonly cache = new Map<string, number>();

  /** `extra`: more names (`--redact x-tenant`), matched whole after normalising. */
  constructor(extra: string[] = []) {
    const more = extra.map(normaliseName);
    this.whole = new Set([...DEFAULT_SENSITIVE_KEYS, ...SHARK_WHOLE, ...more]);
    // Names the user adds (`--redact x-tenant`) are redacted wherever they appear.
    this.structure = new Set([...STRUCTURE_NAMES, ...more]);
  }

  test(name: string, kind: NameKind): boolean {
    return (this.bits(name) & KIND_BIT[kind]) !== 0;
  }

  /** A plural of a secret's name (`passwords`, `apiKeys`, `refresh_tokens`) that is not sensitive itself. */
  plural(name: string): boolean {
    return (this.bits(name) & PLURAL) !== 0;
  }

  /**
   * A name only a secret has: sensitive as a field and not a name for personal data or an id. The last
   * part of a Redis key (`u:1:password`) is judged so: `SET cache:user …` holds a cached user, not a secret.
   */
  secretOnly(name: string): boolean {
    return (this.bits(name) & SECRET_ONLY) !== 0;
  }

  /** Sensitive as a field, or a plural of a secret's name: one lookup for a body's quick scan. */
  fieldOrPlural(name: string): boolean {
    return (this.bits(name) & (FIELD | PLURAL)) !== 0;
  }

  /** The kinds in which `name` is sensitive, and PLURAL: from the cache, or classified once. */
  private bits(name: string): number {
    let bits = this.cache.get(name);
    if (bits === undefined) {
      bits = isEnvironmentKey(name) ? HEADER | PARAM | FIELD | SECRET_ONLY : this.classify(normaliseName(name));
      if (this.cache.size >= MAX_CACHED) this.cache.clear();
      this.cache.set(name, bits);
    }
    return bits;
  }

  private classify(n: string): number {
    if (n === '' || (NOT_SECRETS.has(n) && !this.whole.has(n))) return 0;
    let bits = this.structure.has(n) ? STRUCTURE : 0;
    // A version or size after the name (`X-Hub-Signature-256`, `secret2`) does not make it less secret.
    let end = n.length;
    while (end > 0 && n.charCodeAt(end - 1) >= 0x30 && n.charCodeAt(end - 1) <= 0x39) end--;
    const stem = n.slice(0, end);
    if (this.whole.has(n) || SECRET_SUFFIXES.some((s) => stem.endsWith(s)) || isHashedSecret(stem) || isEncodedSecret(n)) {
      bits |= HEADER | PARAM | FIELD;
      return PERSONAL_OR_ID.has(n) && !this.structure.has(n) ? bits : bits | SECRET_ONLY;
    }
    if (n.endsWith('key')) bits |= HEADER;
    if (n === 'code') bits |= PARAM;
    if (PLURAL_STEMS.some((s) => stem.endsWith(s))) bits |= PLURAL;
    return bits;
  }
}
