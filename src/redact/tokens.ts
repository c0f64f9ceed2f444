// Secrets known by their shape, whatever field or line holds them: PEM private
// keys (and OpenPGP, PuTTY and SSH2 private keys), JSON Web Tokens (every
// Kubernetes service-account token is one) and encrypted ones (JWE), the API
// keys whose issuers give them a fixed prefix (GitHub, Slack, AWS, Google;
// GitLab, Stripe, OpenAI, Anthropic, npm, Hugging Face, Vault…), and Slack and
// Discord webhook URLs. Names tell the redactor where most secrets are;
// these are the ones that travel under any name (a ConfigMap value, a log
// line, a kubeconfig in a body).
//
// Every scan is linear: a quick test for any marker, then one walk over the
// string's token runs (indexOf for PEM markers). No regular expression with a
// repeated class runs over attacker text, so no input can make one backtrack.

import { REDACTED } from './redacted.js';

/**
 * A marker of each shape below (a JWT's "eyJ", a PEM header, an AWS key id, a GitHub or Slack
 * prefix): strings without one (nearly all) cost this one test. Few alternatives on purpose: V8
 * scans for a set of first characters, and each prefix with a new one costs every body ~10% more.
 * The other issuers' prefixes (OTHER_MARKER) were once found only in a string that also had one of
 * these, so a bare Stripe or GitLab key went unread; they are tested second, on strings long
 * enough to hold one.
 */
const COMMON_MARKER = /eyJ|-----BEGIN|A(?:KIA|SIA|Iza)|gh[pousr]_|xox[abeprs]-/;
/** The other issuers' prefixes: each key is at least this long, so shorter strings skip their pattern. */
const MIN_PREFIXED = 20;
const OTHER_MARKER = /github_pat_|gl(?:pat|rt|dt|ptt|oas|cbt|ft|imt|agent|soat|ffct)-|glsa_|glc_eyJ|xapp-|[sr]k_(?:live|test)_|whsec_|sk-(?:ant|proj|svcacct|admin)-|T3BlbkFJ|npm_|hf_|SG\.|dop_v1_|pypi-|AGE-SECRET-KEY-|hv[sbr]\.|ATATT3|dp\.(?:st|pt|sa|ct|scim|audit)\.|lin_api_|PMAK-|sntry[su]_|NRAK-|tskey-|PuTTY-User-Key-File-|---- BEGIN SSH2|hooks\.slack\.com\/|discord(?:app)?\.com\/api\/webhooks\/|IncomingWebhook\//;
/** Every marker in one pattern (redis-values.ts reads it as part of its own). */
export const TOKEN_MARKER = new RegExp(`${COMMON_MARKER.source}|${OTHER_MARKER.source}`);
/** A Telegram bot token: 5 digits, `:` and 34 characters at the least. */
const MIN_TELEGRAM = 40;
/** The shortest token found here (`xoxb-` and ten characters): shorter strings are not searched. */
const MIN_TOKEN = 15;

/** Could `s` hold a token these scans take out? */
export function mayHoldToken(s: string): boolean {
  if (s.length < MIN_TOKEN) return false;
  if (COMMON_MARKER.test(s) || (s.length >= MIN_PREFIXED && OTHER_MARKER.test(s))) return true;
  // A Telegram bot token's `:A` by indexOf: as a pattern's first character `:` (every JSON text's) cost each test.
  return (s.length >= MIN_TELEGRAM && s.indexOf(':A') >= 0) || (s.length >= LEGACY_VAULT_LENGTH && hasLegacyVaultToken(s));
}

/**
 * A Vault token from before Vault 1.10: `s.` and 24 random letters and digits. `s.` alone starts too
 * much text to be a marker (`items.`, `this.s.x`), so each one is looked at where it stands: a run of
 * its own (no letter, digit, `.`, `-` or `_` before the `s` or after the 24), and random-looking
 * (legacyVaultToken). indexOf is the scan, each look is bounded: linear.
 */
function hasLegacyVaultToken(s: string): boolean {
  for (let at = s.indexOf('s.'); at >= 0; at = s.indexOf('s.', at + 2)) {
    const before = at > 0 ? s.charCodeAt(at - 1) : 0x20;
    if (before < 128 && TOKEN_CHAR[before] === 1) continue;
    let end = at + 2;
    while (end < s.length && end - at <= LEGACY_VAULT_LENGTH) {
      const c = s.charCodeAt(end);
      if (c >= 128 || TOKEN_CHAR[c] === 0) break;
      end++;
    }
    // Only a run of the token's length (a `.` after it aside) is looked at closer.
    if (end - at >= LEGACY_VAULT_LENGTH && legacyVaultToken(s.slice(at, end))) return true;
  }
  return false;
}

/** `s.` and 24 characters. */
const LEGACY_VAULT_LENGTH = 26;

/**
 * A run that is a legacy Vault token: `s.` then 24 letters and digits (a `.` closing a sentence
 * after it aside), both cases, and a digit or six capitals. A random one has them nearly always (no
 * digit in 24: 1.5 %; then fewer than six capitals: rarer still); a name in camel case
 * (`s.getElementsByClassName`) has neither.
 */
function legacyVaultToken(run: string): boolean {
  if (run.length === LEGACY_VAULT_LENGTH + 1 && run.endsWith('.')) run = run.slice(0, -1);
  if (run.length !== LEGACY_VAULT_LENGTH || !run.startsWith('s.')) return false;
  let upper = 0;
  let lower = 0;
  let digit = 0;
  for (let i = 2; i < run.length; i++) {
    const c = run.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) upper++;
    else if (c >= 0x61 && c <= 0x7a) lower++;
    else if (c >= 0x30 && c <= 0x39) digit++;
    else return false;
  }
  return upper > 0 && lower > 0 && (digit > 0 || upper >= 6);
}

/** `s` with every PEM private key, JWT and prefixed API key replaced by [REDACTED]; `s` itself when none. */
export function redactTokens(s: string): string {
  if (!mayHoldToken(s)) return s;
  return redactTokenRuns(redactWebhookUrls(redactPuttyKeys(redactPemKeys(s))));
}

const PEM_BEGIN = '-----BEGIN ';
const PEM_DASHES = '-----';
const PEM_END = '-----END ';
const MAX_PEM_LABEL = 64;

/**
 * PEM blocks whose label names a private key (`RSA PRIVATE KEY`, `PRIVATE KEY`,
 * `ENCRYPTED PRIVATE KEY`, `OPENSSH PRIVATE KEY`…): from the BEGIN line to the
 * END line's closing dashes. A block without its END (a body cut short) is
 * redacted to the end of the string. Certificates and public keys stay.
 */
function redactPemKeys(s: string): string {
  let from = s.indexOf(PEM_BEGIN);
  if (from < 0) return s;
  let out = '';
  let copied = 0;
  while (from >= 0) {
    const labelStart = from + PEM_BEGIN.length;
    // A label is short: its closing dashes are looked for only that far (a long search per BEGIN would not be linear).
    const labelLength = s.slice(labelStart, labelStart + MAX_PEM_LABEL + PEM_DASHES.length).indexOf(PEM_DASHES);
    const labelEnd = labelStart + labelLength;
    const label = s.slice(labelStart, labelEnd);
    // OpenPGP armour names its secret keys `PGP PRIVATE KEY BLOCK` (`gpg --export-secret-keys -a`).
    if (labelLength < 0 || !(label.endsWith('PRIVATE KEY') || label === 'PGP PRIVATE KEY BLOCK')) {
      from = s.indexOf(PEM_BEGIN, labelStart);
      continue;
    }
    const end = s.indexOf(PEM_END, labelEnd + PEM_DASHES.length);
    const close = end < 0 ? -1 : s.indexOf(PEM_DASHES, end + PEM_END.length);
    const blockEnd = close < 0 ? s.length : close + PEM_DASHES.length;
    out += s.slice(copied, from) + REDACTED;
    copied = blockEnd;
    from = blockEnd >= s.length ? -1 : s.indexOf(PEM_BEGIN, blockEnd);
  }
  return copied === 0 ? s : out + s.slice(copied);
}

/**
 * Does `s` open a private key block it does not close (`-----BEGIN RSA PRIVATE KEY-----` and no END
 * after it)? A key kept as a list of its lines (`["-----BEGIN …", "MIIE…", "-----END …"]`, a
 * configuration's array) goes on in the strings that follow, to the one that closes it.
 */
export function opensPrivateKey(s: string): boolean {
  const begin = s.lastIndexOf(PEM_BEGIN);
  if (begin < 0) return false;
  const labelStart = begin + PEM_BEGIN.length;
  const labelLength = s.slice(labelStart, labelStart + MAX_PEM_LABEL + PEM_DASHES.length).indexOf(PEM_DASHES);
  if (labelLength < 0) return false;
  const label = s.slice(labelStart, labelStart + labelLength);
  return (label.endsWith('PRIVATE KEY') || label === 'PGP PRIVATE KEY BLOCK') && s.indexOf(PEM_END, labelStart) < 0;
}

/** Does `s` hold a PEM END line (the last line of a key kept as a list of lines)? */
export function closesPemBlock(s: string): boolean {
  return s.indexOf(PEM_END) >= 0;
}

/**
 * The SSH2 public key file format (RFC 4716) used for private keys too (ssh.com, `puttygen -O
 * private-sshcom`): `---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----` to its END line, like PEM's.
 */
function redactSsh2Keys(s: string): string {
  let from = s.indexOf(SSH2_BEGIN);
  if (from < 0) return s;
  let out = '';
  let copied = 0;
  while (from >= 0) {
    const end = s.indexOf(SSH2_END, from + SSH2_BEGIN.length);
    const close = end < 0 ? -1 : s.indexOf(' ----', end + SSH2_END.length);
    const blockEnd = close < 0 ? s.length : close + 5;
    out += s.slice(copied, from) + REDACTED;
    copied = blockEnd;
    from = blockEnd >= s.length ? -1 : s.indexOf(SSH2_BEGIN, blockEnd);
  }
  return out + s.slice(copied);
}
const SSH2_BEGIN = '---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----';
const SSH2_END = '---- END SSH2 ENCRYPTED PRIVATE KEY';

/**
 * Webhook URLs whose last path segment is the credential (anyone holding the URL can post):
 * Slack's `hooks.slack.com/services/T…/B…/<secret>` (and its workflow triggers) and Discord's
 * `discord.com/api/webhooks/<id>/<token>`, as an Alertmanager or CI configuration carries them. The host
 * and the ids stay; the last segment goes. A Microsoft Teams incoming webhook
 * (`<tenant>.webhook.office.com/webhookb2/<group>@<tenant>/IncomingWebhook/<id>/<owner>/<signature>`,
 * before 2021 on `outlook.office.com/webhook/`) is known by its `IncomingWebhook/` wherever its host
 * is (a decrypted call's path has none): everything after it goes, as the id alone was the secret
 * before Teams added the signature. A path is read once, to its first character that cannot be in it.
 */
function redactWebhookUrls(s: string): string {
  for (const marker of WEBHOOK_MARKERS) s = redactWebhookPaths(s, marker);
  return s.length >= MIN_PREFIXED ? redactWebhookPaths(s, TEAMS_MARKER, true) : s;
}
const TEAMS_MARKER = 'IncomingWebhook/';

/** `s` with the last segment (or, `whole`, all) of each path after `marker` redacted. */
function redactWebhookPaths(s: string, marker: string, whole = false): string {
  let at = s.indexOf(marker);
  if (at < 0) return s;
  let out = '';
  let copied = 0;
  while (at >= 0) {
    const from = at + marker.length;
    let end = from;
    while (end < s.length && URL_PATH_CHAR[s.charCodeAt(end)] === 1) end++;
    const slash = whole ? from - 1 : s.lastIndexOf('/', end - 1);
    // An id before the secret, and a secret of some length: the host alone is no webhook.
    if ((whole || slash > from) && end - slash > 8) {
      out += s.slice(copied, slash + 1) + REDACTED;
      copied = end;
    }
    at = s.indexOf(marker, end > from ? end : from);
  }
  return copied === 0 ? s : out + s.slice(copied);
}
const WEBHOOK_MARKERS = ['hooks.slack.com/', 'discord.com/api/webhooks/', 'discordapp.com/api/webhooks/'];
const WEBHOOK_HOSTS = new Set(WEBHOOK_MARKERS.map((m) => m.slice(0, m.indexOf('/'))));

/** Is `host` (a Host header or an authority, with a port or not) a webhook host? */
export function isWebhookHost(host: string): boolean {
  return host.length <= MAX_WEBHOOK_HOST && WEBHOOK_HOSTS.has(hostName(host));
}
const MAX_WEBHOOK_HOST = 32;

function hostName(host: string): string {
  const colon = host.indexOf(':');
  return (colon >= 0 ? host.slice(0, colon) : host).toLowerCase();
}

/**
 * A request's path to a webhook host (`hooks.slack.com`, its `Host` header or HTTP/2 authority, a
 * port after it or not): the path with its secret segment redacted as the whole URL's would be (a
 * call decrypted with a key log has the host apart from the path). The path itself when the host is
 * another or nothing changed.
 */
export function redactWebhookPath(host: string, path: string): string {
  const name = hostName(host);
  if (!WEBHOOK_HOSTS.has(name) || !path.startsWith('/')) return path;
  const red = redactWebhookUrls(name + path);
  return red.startsWith(name) && red !== name + path ? red.slice(name.length) : path;
}
/** Characters of a webhook URL's path (no query, no fragment). */
const URL_PATH_CHAR = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_/') URL_PATH_CHAR[c.charCodeAt(0)] = 1;

const PUTTY_HEADER = 'PuTTY-User-Key-File-';
const PUTTY_PRIVATE = 'Private-Lines:';
const PUTTY_MAC = 'Private-MAC:';
/** A PuTTY key file's header, type and public part fit in this much: the private lines are looked for only that far. */
const MAX_PUTTY_HEAD = 4096;

/**
 * PuTTY key files (`.ppk`, versions 2 and 3): the header and the public lines stay (they say which
 * key it is, as a certificate does); from `Private-Lines:` to the end of the `Private-MAC:` line is
 * the private key (plain when `Encryption: none`), redacted whole; to the end of the string when
 * the MAC line never comes (a body cut short).
 */
function redactPuttyKeys(s: string): string {
  s = redactSsh2Keys(s);
  let from = s.indexOf(PUTTY_HEADER);
  if (from < 0) return s;
  let out = '';
  let copied = 0;
  /** The next `Private-Lines:` at or after `from`, found once and reused by every header before it (linear). */
  let next = -1;
  while (from >= 0) {
    if (next < from) next = s.indexOf(PUTTY_PRIVATE, from);
    if (next < 0) break;
    if (next - from > MAX_PUTTY_HEAD) {
      from = s.indexOf(PUTTY_HEADER, from + PUTTY_HEADER.length);
      continue;
    }
    const start = next;
    const mac = s.indexOf(PUTTY_MAC, start);
    const eol = mac < 0 ? -1 : s.indexOf('\n', mac);
    const end = mac < 0 ? s.length : eol < 0 ? s.length : s.charCodeAt(eol - 1) === 0x0d ? eol - 1 : eol;
    out += s.slice(copied, start) + REDACTED;
    copied = end;
    from = end >= s.length ? -1 : s.indexOf(PUTTY_HEADER, end);
  }
  return copied === 0 ? s : out + s.slice(copied);
}

/** Characters of a token run: base64url, and '.' (a JWT's separator). */
const TOKEN_CHAR = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.') TOKEN_CHAR[c.charCodeAt(0)] = 1;

/**
 * Each run of token characters is one candidate: a JWT (two `eyJ…` segments,
 * then the signature) or a key with an issuer's prefix. Whole runs only: a
 * token glued to other letters is not one anyone can lift out either.
 */
function redactTokenRuns(s: string): string {
  let out = '';
  let copied = 0;
  let i = 0;
  const n = s.length;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c >= 128 || TOKEN_CHAR[c] === 0) {
      i++;
      continue;
    }
    let end = i + 1;
    while (end < n) {
      const d = s.charCodeAt(end);
      if (d >= 128 || TOKEN_CHAR[d] === 0) break;
      end++;
    }
    const hit = tokenWithin(s, i, end);
    if (hit) {
      out += s.slice(copied, hit[0]) + REDACTED;
      copied = hit[1];
    }
    i = end;
  }
  return copied === 0 ? s : out + s.slice(copied);
}

/** Where a token lies in the run s[start, end), or undefined. Searches stay inside the run (linear in all). */
function tokenWithin(s: string, start: number, end: number): [number, number] | undefined {
  const run = s.slice(start, end);
  // A JWT: header and payload segments are base64url JSON objects, so both open with "eyJ"; the
  // signature (if any) is the segment after them. Walk the run's '.'-separated segments.
  if (run.includes('eyJ')) {
    let seg = 0;
    let prevStart = -1;
    let prevJson = false;
    while (seg < run.length) {
      let dot = run.indexOf('.', seg);
      if (dot < 0) dot = run.length;
      const json = dot - seg >= MIN_JWT_SEGMENT && run.startsWith('eyJ', seg);
      // A JWE (RFC 7516 compact form): a JSON header naming its `enc`, then four segments (encrypted
      // key, empty with `dir`; IV; ciphertext; tag), the whole run from the header on.
      if (json && !prevJson && isJweHeader(run.slice(seg, dot)) && countDots(run, dot) === 3) return [start + seg, end];
      if (json && prevJson) {
        let sigEnd = dot;
        if (dot < run.length) {
          const next = run.indexOf('.', dot + 1);
          sigEnd = next < 0 ? run.length : next;
        }
        return [start + prevStart, start + sigEnd];
      }
      prevJson = json;
      prevStart = seg;
      seg = dot + 1;
    }
  }
  for (const [prefix, min] of PREFIXED) {
    if (!run.startsWith(prefix) || run.length < prefix.length + min) continue;
    // An Atlassian token ends in `=` and 8 hex digits of checksum, outside the run.
    if (prefix === 'ATATT3' && s.charCodeAt(end) === 0x3d /* = */) return [start, end + 1 + hexRun(s, end + 1, 8)];
    return [start, end];
  }
  if (run.startsWith('sk-') && run.length >= OPENAI_LEGACY_MIN && run.includes(OPENAI_MARK)) return [start, end];
  if (legacyVaultToken(run)) return [start, start + LEGACY_VAULT_LENGTH];
  const telegram = telegramSecret(s, start, run);
  if (telegram > 0) return [start, start + telegram];
  return undefined;
}

/** How many hex digits (at most `max`) stand at `from`. */
function hexRun(s: string, from: number, max: number): number {
  let n = 0;
  while (n < max && from + n < s.length && /[0-9A-Fa-f]/.test(s[from + n])) n++;
  return n;
}

/** The secret half of a Telegram bot token: 35 characters (34 in Telegram's own documentation); a run this long at most is looked at. */
const TELEGRAM_SECRET = 35;
const MIN_TELEGRAM_SECRET = 34;

/**
 * A Telegram bot token, `<bot id>:<35 characters>` (`/bot123456789:AAH…/sendMessage`, a bot
 * framework's configuration): the run after the `:` starts with `A` (every token Telegram issues
 * starts `AA`; its documentation's example `123456:ABC-DEF…`), is 34 or 35 characters of base64url (a
 * `.` ending a sentence aside) and follows 5 to 16 digits. The bot id stays (it is the bot's public
 * user id); the secret goes.
 */
function telegramSecret(s: string, start: number, run: string): number {
  if (start < 6 || s.charCodeAt(start - 1) !== 0x3a /* : */ || run.charCodeAt(0) !== 0x41 /* A */) return 0;
  const length = run.endsWith('.') ? run.length - 1 : run.length;
  if (length < MIN_TELEGRAM_SECRET || length > TELEGRAM_SECRET) return 0;
  for (let i = 0; i < length; i++) if (run.charCodeAt(i) === 0x2e /* . */) return 0;
  let digits = 0;
  for (let i = start - 2; i >= 0 && digits <= 16; i--) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) break;
    digits++;
  }
  return digits >= 5 && digits <= 16 ? length : 0;
}

/** A base64url segment that decodes to a JOSE header with an `enc` member (a JWS header has none). */
function isJweHeader(segment: string): boolean {
  return segment.length <= MAX_JWE_HEADER && Buffer.from(segment, 'base64url').toString('latin1').includes('"enc"');
}
/** Longer headers are not decoded (a JWE header with a few members is ~100 characters). */
const MAX_JWE_HEADER = 2048;

/** The '.' in `run` after `from` (exclusive), counted up to 5. */
function countDots(run: string, from: number): number {
  let n = 0;
  for (let i = run.indexOf('.', from + 1); i >= 0 && n < 5; i = run.indexOf('.', i + 1)) n++;
  return n;
}

/** The shortest JWT header or payload: `{"alg":"x"}` is 15 characters of base64url. */
const MIN_JWT_SEGMENT = 10;

/** Issuer prefixes and the fewest characters after them (fewer is not one of their keys). */
const PREFIXED: Array<[string, number]> = [
  ['ghp_', 36], ['gho_', 36], ['ghu_', 36], ['ghs_', 36], ['ghr_', 36], ['github_pat_', 22], // GitHub
  // GitLab: personal, runner, deploy, pipeline trigger, OAuth application, CI job, feed, incoming mail,
  // agent, SCIM and feature flag client tokens (its documentation's token prefix table).
  ['glpat-', 20], ['glrt-', 20], ['gldt-', 20], ['glptt-', 20], ['gloas-', 20], ['glcbt-', 20], ['glft-', 20],
  ['glimt-', 20], ['glagent-', 20], ['glsoat-', 20], ['glffct-', 20],
  ['xoxb-', 10], ['xoxp-', 10], ['xoxa-', 10], ['xoxe-', 10], ['xoxr-', 10], ['xoxs-', 10], ['xapp-', 10], // Slack
  ['sk_live_', 16], ['rk_live_', 16], ['sk_test_', 16], ['rk_test_', 16], ['whsec_', 24], // Stripe (keys, webhook signing secrets)
  ['sk-ant-', 20], ['sk-proj-', 20], ['sk-svcacct-', 20], ['sk-admin-', 20], // Anthropic, OpenAI (project, service account, admin keys)
  ['AKIA', 16], ['ASIA', 16], // AWS access key ids (what a secret access key is used with)
  ['AIza', 35], // Google API keys
  ['npm_', 36], ['hf_', 30], // npm, Hugging Face
  ['SG.', 60], ['dop_v1_', 64], ['pypi-', 50], ['AGE-SECRET-KEY-', 50], // SendGrid, DigitalOcean, PyPI, age
  ['hvs.', 24], ['hvb.', 24], ['hvr.', 24], // HashiCorp Vault service, batch and recovery tokens (1.10 and later)
  ['glsa_', 32], ['glc_eyJ', 32], // Grafana service account and Grafana Cloud access policy tokens
  ['ATATT3', 50], // Atlassian API tokens (Jira, Confluence, Bitbucket)
  ['dp.st.', 40], ['dp.pt.', 40], ['dp.sa.', 40], ['dp.ct.', 40], ['dp.scim.', 40], ['dp.audit.', 40], // Doppler
  ['lin_api_', 40], ['PMAK-', 50], ['NRAK-', 27], ['tskey-', 20], // Linear, Postman, New Relic, Tailscale
  ['sntrys_', 40], ['sntryu_', 40], // Sentry organisation and user tokens
];

/**
 * An OpenAI key from before project keys: `sk-`, 20 characters, `T3BlbkFJ` (base64 of "OpenAI") and 20
 * more. `sk-` alone starts too many slugs to be a prefix; the word inside it is the mark.
 */
const OPENAI_MARK = 'T3BlbkFJ';
const OPENAI_LEGACY_MIN = 40;

/**
 * Kubernetes' WebSocket bearer subprotocol: a browser cannot set `Authorization` on a WebSocket, so
 * dashboards open exec and attach with `Sec-WebSocket-Protocol: base64url.bearer.authorization.k8s.io.<token
 * in base64url>, v4.channel.k8s.io`. The token's encoding hides its JWT shape; the prefix names it.
 */
export function redactBearerSubprotocol(s: string): string {
  if (s.indexOf(K8S_BEARER_PROTOCOL) < 0) return s;
  return s.replace(K8S_BEARER_TOKEN, `$1${REDACTED}`);
}
const K8S_BEARER_PROTOCOL = 'bearer.authorization.k8s.io.';

/**
 * A token sent as the subprotocol after one that names it (`Sec-WebSocket-Protocol: access_token,
 * <token>`: a browser cannot set `Authorization` on a WebSocket, so Hasura, Home Assistant-style
 * gateways and many SPAs pass it so). `isSecretName` judges the item before; the item after it goes.
 */
export function redactSubprotocolTokens(s: string, isSecretName: (name: string) => boolean): string {
  if (s.indexOf(',') < 0 || s.length > MAX_SUBPROTOCOLS) return s;
  const items = s.split(',');
  let changed = false;
  for (let i = 1; i < items.length; i++) {
    const name = items[i - 1].trim();
    const value = items[i].trim();
    if (value === '' || value === REDACTED || !(SUBPROTOCOL_NAMES.has(name.toLowerCase()) || isSecretName(name))) continue;
    items[i] = items[i].replace(value, REDACTED);
    changed = true;
  }
  return changed ? items.join(',') : s;
}
/** Items that name a token after them but are not sensitive names of their own. */
const SUBPROTOCOL_NAMES = new Set(['bearer', 'authorization', 'auth']);
const MAX_SUBPROTOCOLS = 64 * 1024;
/** The literal prefix, then one run of base64url characters: each match is found once, linear. */
const K8S_BEARER_TOKEN = /(bearer\.authorization\.k8s\.io\.)[A-Za-z0-9_=-]+/g;
