/**
 * The one place that talks to undici. Every request has a timeout; every failure becomes a
 * CaraError whose message names the URL (without query) and never carries a secret.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { request, type Dispatcher } from 'undici';
import { CaraError } from './errors';
import { redact } from './redact';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD';

export interface HttpRequest {
  method: HttpMethod;
  url: URL;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Time allowed for the answer's headers, and again for each gap in its body. */
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface HttpResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

const NETWORK_ERROR_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND',
  'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_CONNECT_TIMEOUT',
]);
const TIMEOUT_ERROR_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/** Where a request went, for messages: origin and path, never the query (it may hold identifiers). */
export function describeUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

export async function sendHttp(dispatcher: Dispatcher, req: HttpRequest): Promise<HttpResponse> {
  try {
    const res = await request(req.url, {
      dispatcher,
      method: req.method,
      headers: req.headers,
      body: req.body,
      headersTimeout: req.timeoutMs,
      bodyTimeout: req.timeoutMs,
      signal: req.signal,
    });
    const body = Buffer.from(await res.body.arrayBuffer());
    return { statusCode: res.statusCode, headers: res.headers, body };
  } catch (err) {
    throw toNetworkError(err, req);
  }
}

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export function toNetworkError(err: unknown, req: Pick<HttpRequest, 'method' | 'url' | 'timeoutMs'>): CaraError {
  if (err instanceof CaraError) return err;
  const where = `${req.method} ${describeUrl(req.url)}`;
  const code = errorCode(err);
  const cause = errorCode((err as { cause?: unknown } | null)?.cause);
  const reason = redact(err instanceof Error ? err.message : String(err));
  if ((code && TIMEOUT_ERROR_CODES.has(code)) || (err instanceof Error && err.name === 'TimeoutError')) {
    return new CaraError('CARA_TIMEOUT', `${where}: no answer within ${req.timeoutMs} ms`, { retryable: true, cause: err });
  }
  if (err instanceof Error && err.name === 'AbortError') {
    return new CaraError('CARA_CLOSED', `${where}: aborted`, { cause: err });
  }
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || cause === 'UND_ERR_CONNECT_TIMEOUT') {
    return new CaraError('CARA_TIMEOUT', `${where}: could not connect within the timeout`, { retryable: true, cause: err });
  }
  const tlsHint = /certificate|alert|handshake|self.signed|verify/i.test(reason)
    ? ' (TLS: check the client certificate and the CA certificates trusted for this server)'
    : '';
  // Over TLS 1.3 a server that refuses our client certificate just closes the fresh connection:
  // undici sees "other side closed" before a single byte. Say so, or the user chases a network fault.
  const closedBeforeAnswer = code === 'UND_ERR_SOCKET' && socketBytesRead(err) === 0
    ? ' (closed before any answer: if this repeats, the server may refuse the client certificate)'
    : '';
  const retryable = (code !== undefined && NETWORK_ERROR_CODES.has(code)) || (cause !== undefined && NETWORK_ERROR_CODES.has(cause));
  return new CaraError('CARA_NETWORK', `${where} failed: ${reason}${tlsHint}${closedBeforeAnswer}`, { retryable: retryable && !tlsHint, cause: err });
}

function socketBytesRead(err: unknown): number | undefined {
  const bytesRead = (err as { socket?: { bytesRead?: unknown } } | null)?.socket?.bytesRead;
  return typeof bytesRead === 'number' ? bytesRead : undefined;
}

export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** Parses a JSON body, or explains (without echoing secrets) why it is not JSON. */
export function parseJsonBody(res: HttpResponse, what: string): unknown {
  const text = res.body.toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    const type = headerValue(res.headers, 'content-type') ?? 'no content type';
    const excerpt = redact(text.slice(0, 200)).replace(/\s+/g, ' ').trim();
    throw new CaraError('CARA_BAD_RESPONSE', `${what}: expected JSON, got ${type} (status ${res.statusCode})${excerpt ? `: ${excerpt}` : ''}`, {
      statusCode: res.statusCode,
    });
  }
}
