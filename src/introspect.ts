/**
 * ITI-102 token introspection (RFC 7662): POST `token=...&client_id=...` to the IAM over the
 * same mTLS agent (the client certificate authenticates us). An inactive token yields
 * `{ active: false }` and nothing else, whatever the server added.
 */
import type { Dispatcher } from 'undici';
import { CaraError } from './errors';
import { describeUrl, parseJsonBody, sendHttp } from './http';
import { oauthRefusal } from './oauth';
import { redact } from './redact';

export interface IntrospectionResult {
  active: boolean;
  scope?: string;
  clientId?: string;
  /** Epoch seconds, as in the token. */
  exp?: number;
  /** Every other member the server returned (sub, iss, iat, cara:accountUrn, ...). */
  [claim: string]: unknown;
}

export interface IntrospectOptions {
  dispatcher: Dispatcher;
  endpoint: string;
  clientId: string;
  token: string;
  timeoutMs: number;
  /** Extra secrets to scrub from error text. */
  secrets?: string[];
}

export async function introspectToken(o: IntrospectOptions): Promise<IntrospectionResult> {
  const url = new URL(o.endpoint);
  const where = `introspection at ${describeUrl(url)}`;
  const scrub = (text: string): string => redact(text, [o.token, ...(o.secrets ?? [])]);
  const body = new URLSearchParams({ token: o.token, token_type_hint: 'access_token', client_id: o.clientId }).toString();
  const res = await sendHttp(o.dispatcher, {
    method: 'POST',
    url,
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body,
    timeoutMs: o.timeoutMs,
  });
  if (res.statusCode !== 200) throw oauthRefusal(res, where, scrub);
  let doc: unknown;
  try {
    doc = parseJsonBody(res, where);
  } catch (err) {
    throw new CaraError('CARA_BAD_RESPONSE', scrub((err as Error).message), { statusCode: res.statusCode });
  }
  const fields = (typeof doc === 'object' && doc !== null && !Array.isArray(doc) ? doc : {}) as Record<string, unknown>;
  if (typeof fields.active !== 'boolean') {
    throw new CaraError('CARA_BAD_RESPONSE', `${where}: the answer has no boolean "active" member (RFC 7662)`, { statusCode: res.statusCode });
  }
  if (!fields.active) return { active: false };
  const { client_id: clientId, ...claims } = fields;
  return {
    ...claims,
    active: true,
    ...(typeof clientId === 'string' ? { clientId } : {}),
  };
}
