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
