/**
 * Removes secrets from any text before it reaches a log, a status, an error or debug output.
 * Known secrets (the current token, passphrases) are replaced exactly; shapes that look like
 * secrets (JWTs, bearer values, PEM private keys, form-encoded tokens) are replaced by pattern,
 * so an unknown token in a server's error body is caught too.
 */
const PATTERNS: ReadonlyArray<[RegExp, string]> = [
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g, '[REDACTED PRIVATE KEY]'],
  [/\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g, '[REDACTED JWT]'],
  [/\b(Bearer|DPoP)\s+[A-Za-z0-9._~+/=-]{8,}/gi, '$1 [REDACTED]'],
  [/\b((?:access_|refresh_|id_)?token|passphrase|password|client_secret)=([^&\s"']+)/gi, '$1=[REDACTED]'],
  [/("(?:access_token|refresh_token|id_token|token|passphrase|password|client_secret)"\s*:\s*)"[^"]*"/gi, '$1"[REDACTED]"'],
];

export function redact(text: string, knownSecrets: Iterable<string | undefined> = []): string {
  let result = text;
  for (const secret of knownSecrets) {
    // Short values (an empty passphrase, "1234") would shred ordinary words; patterns cover them.
    if (secret && secret.length >= 6) result = result.split(secret).join('[REDACTED]');
  }
  for (const [pattern, replacement] of PATTERNS) result = result.replace(pattern, replacement);
  return result;
}

/** Members whose value is a secret whatever it looks like (an opaque token, a password). */
const SECRET_MEMBER = /^(?:access_token|refresh_token|id_token|token|passphrase|password|client_secret|authorization)$/i;
/** Deeper JSON than this is cut: an error body is for reading, not for a stack overflow. */
const MAX_DEPTH = 64;

/**
 * A copy of a parsed JSON value (an error body from a server) with every string, keys
 * included, passed through `scrub`, and secret-named members replaced outright: a gateway
 * that echoes the request's Authorization header must not put the token in a Catch flow.
 */
export function redactJson(value: unknown, scrub: (text: string) => string, depth = 0): unknown {
  if (typeof value === 'string') return scrub(value);
  if (typeof value !== 'object' || value === null) return value;
  if (depth >= MAX_DEPTH) return '[TRUNCATED]';
  if (Array.isArray(value)) return value.map((item) => redactJson(item, scrub, depth + 1));
  // fromEntries defines properties: a "__proto__" member stays data, as JSON.parse made it.
  return Object.fromEntries(
    Object.entries(value).map(([key, member]) => [
      scrub(key),
      SECRET_MEMBER.test(key) && member !== null && member !== '' ? '[REDACTED]' : redactJson(member, scrub, depth + 1),
    ]),
  );
}
