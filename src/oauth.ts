/**
 * OAuth error answers (RFC 6749 §5.2, RFC 7662 §2.3) of the token and introspection
 * endpoints, read one way: `{error, error_description}` becomes CARA_OAUTH, anything else
 * CARA_HTTP. Everything the server wrote passes through `scrub` first.
 */
import { CaraError } from './errors';
import { headerValue, type HttpResponse } from './http';

/** Refusals a retry cannot fix: reported, never retried in the background. */
export const PERMANENT_OAUTH_ERRORS: ReadonlySet<string> = new Set([
  'invalid_client', 'invalid_scope', 'unauthorized_client', 'invalid_grant', 'unsupported_grant_type', 'invalid_request',
]);

const OAUTH_HINTS: Record<string, string> = {
  invalid_client: '; check the client id and that the client certificate is the one registered with CARA for it',
  invalid_scope: '; check the scope: only the namespaces registered for this client may be asked for',
  unauthorized_client: '; this client is not allowed the client_credentials grant',
};

function jsonObject(res: HttpResponse): Record<string, unknown> | undefined {
  try {
    const parsed = JSON.parse(res.body.toString('utf8')) as unknown;
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The CaraError for a non-success answer of an OAuth endpoint; `where` names the request. */
export function oauthRefusal(res: HttpResponse, where: string, scrub: (text: string) => string): CaraError {
  const doc = jsonObject(res);
  const retryableStatus = res.statusCode >= 500 || res.statusCode === 429;
  if (typeof doc?.error === 'string') {
    const error = scrub(doc.error);
    const description = typeof doc.error_description === 'string' ? scrub(doc.error_description) : undefined;
    return new CaraError('CARA_OAUTH', `${where} refused (${res.statusCode} ${error}${description ? `: ${description}` : ''})${OAUTH_HINTS[error] ?? ''}`, {
      statusCode: res.statusCode,
      oauthError: error,
      outcome: { error, ...(description !== undefined ? { error_description: description } : {}) },
      retryable: !PERMANENT_OAUTH_ERRORS.has(error) && (retryableStatus || error === 'temporarily_unavailable' || error === 'server_error'),
    });
  }
  const type = headerValue(res.headers, 'content-type') ?? 'no content type';
  return new CaraError('CARA_HTTP', `${where} answered ${res.statusCode} (${scrub(type)}) without an OAuth error`, {
    statusCode: res.statusCode,
    retryable: retryableStatus,
  });
}
