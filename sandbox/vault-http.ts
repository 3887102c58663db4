/**
 * The HTTP face of the FHIR Vault: `[base]/<partition>/<type>[/<id>...]` as HAPI FHIR JPA with
 * URL partitioning serves it. Order of checks for every request: record it, apply faults,
 * `metadata` (public), bearer token (401), partition name (400), resource type / id (404/400),
 * body (400/415), scopes (403), partition existence (404 for reads), then the FHIR router.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { allOk, getStatus, isResourceType } from '@medplum/core';
import type { FhirRequest, FhirRouter, HttpMethod } from '@medplum/fhir-router';
import type { OperationOutcome, OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import type { FaultInjector } from './faults';
import { bearerChallenge, readBody, recordOf, sendJson, verifyBearer, type RecordedRequest, type TokenIssuer } from './https-server';
import { decideAccess, isWrite, PARTITION_NAME_RULE, writtenResources } from './vault-access';
import { capabilityStatement } from './vault-capability';
import type { VaultRepository } from './vault-repository';

export interface VaultHttpContext {
  iam: TokenIssuer;
  internalBase: string;
  router: FhirRouter;
  /** Returns the partition's repository; creates it only when `create` is true. */
  partition(name: string, create: boolean): VaultRepository | undefined;
  requests: RecordedRequest[];
  faults: FaultInjector;
  startedAt: string;
}

const FHIR_JSON = 'application/fhir+json';
const ID_RULE = /^[A-Za-z0-9.-]{1,64}$/;
const METHODS = new Set<HttpMethod>(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);
/** R5 resource types the platform uses that the R4 engine does not know. */
const EXTRA_RESOURCE_TYPES = new Set(['Permission']);

export function vaultHandler(ctx: VaultHttpContext): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    const rawBody = await readBody(req);
    ctx.requests.push(recordOf(req, rawBody));
    const method = (req.method ?? 'GET').toUpperCase();
    if (await ctx.faults.apply({ method, path: req.url ?? '/' }, res, faultBody)) return;

    const url = new URL(req.url ?? '/', 'https://vault.invalid');
    const segments = url.pathname.split('/').filter(Boolean);
    if (segments[0] !== 'fhir') return sendOutcome(res, 404, 'not-found', `No FHIR endpoint at ${url.pathname}: the base is /fhir`);
    const rest = segments.slice(1);

    const isMetadata = rest.length >= 1 && rest.length <= 2 && rest[rest.length - 1] === 'metadata';
    if (isMetadata && (method === 'GET' || method === 'HEAD')) {
      if (rest.length === 2 && !PARTITION_NAME_RULE.test(decodeSegment(rest[0]))) return sendPartitionError(res, rest[0]);
      return sendResource(res, method, 200, capabilityStatement(ctx.internalBase, ctx.startedAt));
    }

    const bearer = await verifyBearer(req.headers.authorization, ctx.iam);
    if (!bearer.ok) {
      return sendOutcome(res, 401, 'login', bearer.description, { 'WWW-Authenticate': bearerChallenge('invalid_token', bearer.description) });
    }
    if (method !== 'HEAD' && !METHODS.has(method as HttpMethod)) return sendOutcome(res, 405, 'not-supported', `Method ${method} is not supported`);
    if (rest.length === 0) return sendOutcome(res, 400, 'processing', 'A partition is required: [base]/<partition>/<type>...');
    const partitionName = decodeSegment(rest[0]);
    if (!PARTITION_NAME_RULE.test(partitionName)) return sendPartitionError(res, rest[0]);

    const path = rest.slice(1).map(decodeSegment);
    const [type, id] = path;
    if (type && !type.startsWith('_') && !type.startsWith('$') && !isKnownType(type)) {
      return sendOutcome(res, 404, 'not-supported', `Unknown resource type '${type}'`);
    }
    if (id && !id.startsWith('_') && !id.startsWith('$') && !ID_RULE.test(id)) {
      return sendOutcome(res, 400, 'processing', `Invalid resource id "${id}": expected [A-Za-z0-9.-]{1,64}`);
    }

    const parsed = parseBody(req.headers['content-type'], rawBody, method);
    if (!parsed.ok) return sendOutcome(res, parsed.status, 'invalid', parsed.message);

    const write = isWrite(method, path, parsed.body);
    const access = decideAccess(bearer.scopes, write, writtenResources(method, parsed.body));
    if (!access.allowed) {
      return sendOutcome(res, 403, 'forbidden', access.reason, {
        'WWW-Authenticate': bearerChallenge('insufficient_scope', access.reason, access.requiredScope),
      });
    }

    const repo = ctx.partition(partitionName, write);
    if (!repo) return sendOutcome(res, 404, 'not-found', `Partition "${partitionName}" does not exist`);

    const fhirRequest: FhirRequest = {
      method: (method === 'HEAD' ? 'GET' : method) as HttpMethod,
      url: rest.slice(1).join('/') + url.search,
      pathname: '',
      params: {},
      query: {},
      body: parsed.body,
      headers: req.headers,
      config: {},
    };
    const [outcome, resource] = await ctx.router.handleRequest(fhirRequest, repo);
    const status = getStatus(outcome);
    if (status >= 400 || !resource) {
      const body = method === 'DELETE' && status === 200 ? deletedOutcome() : outcome;
      return sendResource(res, method, status, withoutId(body));
    }
    const headers = resourceHeaders(resource, method, `${ctx.internalBase}/${partitionName}`);
    const prefer = preferReturn(req.headers.prefer as string | undefined);
    if (write && prefer === 'minimal') return sendResource(res, 'HEAD', status, undefined, headers);
    if (write && prefer === 'OperationOutcome') return sendResource(res, method, status, withoutId(outcome.id === allOk.id ? informational('Operation succeeded') : outcome), headers);
    return sendResource(res, method, status, resource, headers);
  };
}

function isKnownType(type: string): boolean {
  return isResourceType(type) || EXTRA_RESOURCE_TYPES.has(type);
}

/** HAPI decodes `+` as a space in partition names (and then refuses them). */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment.replace(/\+/g, ' '));
  } catch {
    return segment;
  }
}

type ParsedBody = { ok: true; body: unknown } | { ok: false; status: number; message: string };

function parseBody(contentType: string | undefined, raw: string, method: string): ParsedBody {
  if (raw.length === 0) return { ok: true, body: undefined };
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (type === 'application/x-www-form-urlencoded') {
    const form: Record<string, string | string[]> = {};
    for (const [k, v] of new URLSearchParams(raw)) {
      const prev = form[k];
      form[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
    }
    return { ok: true, body: form };
  }
  if (type !== '' && type !== FHIR_JSON && type !== 'application/json' && type !== 'application/json-patch+json') {
    return { ok: false, status: 415, message: `Unsupported content type "${type}" for ${method}: send application/fhir+json (or application/json-patch+json for PATCH)` };
  }
  try {
    return { ok: true, body: JSON.parse(raw) as unknown };
  } catch (err) {
    return { ok: false, status: 400, message: `The request body is not valid JSON: ${err instanceof Error ? err.message : String(err)}` };
  }
}

function resourceHeaders(resource: Resource, method: string, partitionBase: string): Record<string, string> {
  const headers: Record<string, string> = {};
  const versionId = resource.meta?.versionId;
  const single = !['Bundle', 'OperationOutcome', 'Parameters', 'CapabilityStatement'].includes(resource.resourceType);
  if (!single || !versionId) return headers;
  headers.ETag = `W/"${versionId}"`;
  if (resource.meta?.lastUpdated) headers['Last-Modified'] = new Date(resource.meta.lastUpdated).toUTCString();
  if (method === 'POST' || method === 'PUT' || method === 'PATCH') {
    // Like HAPI behind a proxy, the Location is built on the server's own (internal) base.
    headers.Location = `${partitionBase}/${resource.resourceType}/${resource.id}/_history/${versionId}`;
    headers['Content-Location'] = headers.Location;
  }
  return headers;
}

function preferReturn(prefer: string | undefined): string | undefined {
  return prefer ? /return=([A-Za-z]+)/.exec(prefer)?.[1] : undefined;
}

function sendResource(res: ServerResponse, method: string, status: number, body: Resource | undefined, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  if (body === undefined || method === 'HEAD') {
    res.writeHead(status, { ...headers, 'Content-Length': '0' });
    res.end();
    return;
  }
  sendJson(res, status, body, headers, FHIR_JSON);
}

function sendOutcome(res: ServerResponse, status: number, code: OperationOutcomeIssue['code'], text: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics: text }] }, headers, FHIR_JSON);
}

function sendPartitionError(res: ServerResponse, raw: string): void {
  sendOutcome(res, 400, 'processing', `Partition name "${decodeSegment(raw)}" is not valid: expected [A-Za-z0-9_-]{1,200}`);
}

function faultBody(status: number): { contentType: string; body: OperationOutcome } {
  const code: OperationOutcomeIssue['code'] = status === 401 ? 'login' : status === 429 ? 'throttled' : status >= 500 ? 'transient' : 'processing';
  return {
    contentType: `${FHIR_JSON};charset=utf-8`,
    body: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics: `Injected fault: HTTP ${status}` }] },
  };
}

function deletedOutcome(): OperationOutcome {
  return informational('Successfully deleted 1 resource(s)');
}

function informational(text: string): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'informational', diagnostics: text }] };
}

/** Medplum marks outcomes with ids ("ok", "not-found"); HAPI's carry none. */
function withoutId(outcome: OperationOutcome): OperationOutcome {
  const { id, ...rest } = outcome;
  void id;
  return rest;
}
