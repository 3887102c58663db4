/**
 * FhirRequest -> one planned HTTP request (method, URL, headers, body), after validating
 * every field. Nothing here does I/O: an invalid request fails before anything is sent.
 */
import { inputError } from '../errors';
import type { HttpMethod } from '../http';
import type { FhirInteraction, FhirRequest } from './types';
import {
  normalizeOperation,
  toSearchParams,
  validateId,
  validatePartition,
  validateResourceType,
  validateVersionId,
  vaultUrl,
} from './urls';

export interface PlannedRequest {
  /** `paged`: search/history (Bundle with next links); `batch`: batch/transaction; `single`: the rest. */
  kind: 'paged' | 'batch' | 'single';
  method: HttpMethod;
  url: URL;
  headers: Record<string, string>;
  body?: string;
  /** Headers for follow-up page requests (Accept, trace context). */
  pageHeaders: Record<string, string>;
  idempotent: boolean;
  /** What a 2xx body must be: a Bundle, a JSON resource, or anything (empty allowed). */
  expect: 'bundle' | 'json' | 'any';
}

const INTERACTIONS: ReadonlySet<FhirInteraction> = new Set<FhirInteraction>([
  'read', 'vread', 'search', 'create', 'update', 'patch', 'delete', 'history', 'capabilities', 'batch', 'transaction', 'operation',
]);
const PREFER_RETURN = new Set(['minimal', 'representation', 'OperationOutcome']);
const FHIR_JSON = 'application/fhir+json';
const JSON_PATCH = 'application/json-patch+json';
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
/** tracestate: printable ASCII only (no header injection), bounded as the W3C spec does. */
const TRACESTATE = /^[\x20-\x7e]{1,512}$/;
const ETAG = /^(W\/)?"[\x21\x23-\x7e]*"$/;
const BARE_VERSION = /^[A-Za-z0-9.-]{1,64}$/;
const ALL_ZEROS = /^0+$/;

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A body may come as a value or as JSON text (e.g. from a template node). */
function bodyValue(req: FhirRequest): unknown {
  if (typeof req.body !== 'string') return req.body;
  try {
    return JSON.parse(req.body) as unknown;
  } catch {
    throw inputError('body', 'is text that is not JSON', 'a FHIR resource as an object or JSON text');
  }
}

function resourceBody(req: FhirRequest): JsonObject {
  const body = bodyValue(req);
  if (!isObject(body) || typeof body.resourceType !== 'string') {
    throw inputError('body', body === undefined ? 'is missing' : 'is not a FHIR resource', 'a FHIR resource: an object with a "resourceType"');
  }
  validateResourceType(body.resourceType, 'body.resourceType');
  return body;
}

/** The resource type from the request, else from the body; both must agree when both are given. */
function typeFor(req: FhirRequest, body?: JsonObject): string {
  if (req.resourceType !== undefined && req.resourceType !== '') {
    const type = validateResourceType(req.resourceType);
    if (body && body.resourceType !== type) {
      throw inputError('body.resourceType', `is "${String(body.resourceType)}" but resourceType is "${type}"`, 'the same resource type in both');
    }
    return type;
  }
  if (body) return body.resourceType as string;
  throw inputError('resourceType', 'is missing', 'a FHIR resource type such as "Observation"');
}

/** The trace context headers, or undefined when there is none (most messages: nothing to copy). */
function traceHeaders(req: FhirRequest): Record<string, string> | undefined {
  if (req.traceparent === undefined) return undefined;
  const match = typeof req.traceparent === 'string' ? TRACEPARENT.exec(req.traceparent.trim()) : null;
  // An invalid traceparent is dropped (W3C: start a new trace), and its tracestate with it.
  if (!match || match[1] === 'ff' || ALL_ZEROS.test(match[2]) || ALL_ZEROS.test(match[3])) return undefined;
  const headers: Record<string, string> = { traceparent: match[0] };
  if (typeof req.tracestate === 'string' && TRACESTATE.test(req.tracestate)) headers.tracestate = req.tracestate;
  return headers;
}

function ifMatch(value: unknown): string {
  if (typeof value === 'string' && ETAG.test(value.trim())) return value.trim();
  if (typeof value === 'string' && BARE_VERSION.test(value.trim())) return `W/"${value.trim()}"`;
  throw inputError('ifMatch', 'is not an ETag', 'a version ETag such as W/"3" (or just the version id, 3)');
}

function ifNoneExist(value: unknown, type: string): string {
  if (typeof value !== 'string') throw inputError('ifNoneExist', 'is not a string', 'search criteria such as "identifier=urn:oid:1.2.3|42"');
  // Accept "Observation?identifier=..." and "?identifier=..." as well as the bare criteria.
  const trimmed = value.trim();
  const prefix = `${type}?`;
  const criteria = (trimmed.startsWith(prefix) ? trimmed.slice(prefix.length) : trimmed).replace(/^\?/, '');
  const params = toSearchParams(criteria, 'ifNoneExist');
  if (params.size === 0) throw inputError('ifNoneExist', 'is empty', 'search criteria such as "identifier=urn:oid:1.2.3|42"');
  return params.toString();
}

function conditionalParams(req: FhirRequest): URLSearchParams {
  const params = toSearchParams(req.query);
  if (params.size === 0) {
    throw inputError('query', `is empty for a conditional ${req.interaction}`, 'search criteria that identify the resource, e.g. "identifier=urn:oid:1.2.3|42"');
  }
  return params;
}

function requireId(req: FhirRequest): string {
  if (req.id === undefined || req.id === '') {
    throw inputError('id', `is missing for ${req.interaction}`, req.interaction === 'read' || req.interaction === 'vread'
      ? 'the id of the resource to read'
      : 'the id of the resource (or set conditional with search criteria in query)');
  }
  return validateId(req.id);
}

function patchContent(req: FhirRequest): { contentType: string; body: unknown } {
  const body = bodyValue(req);
  const isParameters = isObject(body) && body.resourceType === 'Parameters';
  const format = req.patchFormat ?? (isParameters ? 'fhirpath-patch' : 'json-patch');
  if (format === 'json-patch') {
    if (!Array.isArray(body) || !body.every((op) => isObject(op) && typeof op.op === 'string' && typeof op.path === 'string')) {
      throw inputError('body', 'is not a JSON Patch document', 'an array of operations such as [{"op":"replace","path":"/status","value":"amended"}]');
    }
    return { contentType: JSON_PATCH, body };
  }
  if (format === 'fhirpath-patch') {
    if (!isParameters) throw inputError('body', 'is not a Parameters resource', 'a FHIRPath Patch: a Parameters resource with "operation" parameters');
    return { contentType: FHIR_JSON, body };
  }
  throw inputError('patchFormat', `is "${String(format)}"`, '"json-patch" or "fhirpath-patch"');
}

/** Validates `req` completely and returns the one HTTP request it means. */
export function planRequest(base: URL, req: FhirRequest): PlannedRequest {
  if (!isObject(req)) throw inputError('request', 'is not an object', 'a FHIR request description');
  if (!INTERACTIONS.has(req.interaction)) {
    throw inputError('interaction', `"${String(req.interaction)}" is not known`, [...INTERACTIONS].join(', '));
  }
  const partition = validatePartition(req.partition);
  const trace = traceHeaders(req);
  // Two objects: `headers` gets more below; the page requests must not see them.
  const pageHeaders: Record<string, string> = trace ? { accept: FHIR_JSON, ...trace } : { accept: FHIR_JSON };
  const headers: Record<string, string> = trace ? { accept: FHIR_JSON, ...trace } : { accept: FHIR_JSON };
  if (req.preferReturn !== undefined) {
    if (!PREFER_RETURN.has(req.preferReturn)) throw inputError('preferReturn', `is "${String(req.preferReturn)}"`, '"minimal", "representation" or "OperationOutcome"');
    headers.prefer = `return=${req.preferReturn}`;
  }
  const url = (segments: string[], params?: URLSearchParams): URL => vaultUrl(base, partition, segments, params);
  // No query (most reads): no empty URLSearchParams to build and serialise.
  const queryParams = (): URLSearchParams | undefined => (req.query === undefined || req.query === null ? undefined : toSearchParams(req.query));
  const json = (value: unknown, contentType = FHIR_JSON): string => {
    headers['content-type'] = contentType;
    return JSON.stringify(value);
  };
  const withIfMatch = (): void => {
    if (req.ifMatch !== undefined && req.ifMatch !== '') headers['if-match'] = ifMatch(req.ifMatch);
  };
  const single = (method: HttpMethod, target: URL, idempotent: boolean, expect: PlannedRequest['expect'], body?: string): PlannedRequest =>
    ({ kind: 'single', method, url: target, headers, body, pageHeaders, idempotent, expect });

  switch (req.interaction) {
    case 'read':
      return single('GET', url([typeFor(req), requireId(req)], queryParams()), true, 'json');
    case 'vread': {
      const type = typeFor(req);
      const id = requireId(req);
      if (req.versionId === undefined || req.versionId === '') throw inputError('versionId', 'is missing for vread', 'the version id to read, e.g. "2"');
      return single('GET', url([type, id, '_history', validateVersionId(req.versionId)], queryParams()), true, 'json');
    }
    case 'search': {
      const type = req.resourceType === undefined || req.resourceType === '' ? [] : [validateResourceType(req.resourceType)];
      const params = toSearchParams(req.query);
      const via = req.searchVia ?? 'GET';
      if (via !== 'GET' && via !== 'POST') throw inputError('searchVia', `is "${String(via)}"`, '"GET" or "POST"');
      if (via === 'POST') {
        // POST [type]/_search only reads: repeating it is harmless, so it is retried like a GET.
        headers['content-type'] = 'application/x-www-form-urlencoded';
        return { kind: 'paged', method: 'POST', url: url([...type, '_search']), headers, body: params.toString(), pageHeaders, idempotent: true, expect: 'bundle' };
      }
      return { kind: 'paged', method: 'GET', url: url(type, params), headers, pageHeaders, idempotent: true, expect: 'bundle' };
    }
    case 'history': {
      const segments: string[] = [];
      if (req.resourceType !== undefined && req.resourceType !== '') segments.push(validateResourceType(req.resourceType));
      if (req.id !== undefined && req.id !== '') {
        if (segments.length === 0) throw inputError('resourceType', 'is missing for the history of one resource', 'the type of the resource whose id is given');
        segments.push(validateId(req.id));
      }
      return { kind: 'paged', method: 'GET', url: url([...segments, '_history'], queryParams()), headers, pageHeaders, idempotent: true, expect: 'bundle' };
    }
    case 'capabilities':
      return single('GET', url(['metadata'], queryParams()), true, 'json');
    case 'create': {
      const body = resourceBody(req);
      const type = typeFor(req, body);
      if (req.ifNoneExist !== undefined && req.ifNoneExist !== '') headers['if-none-exist'] = ifNoneExist(req.ifNoneExist, type);
      return single('POST', url([type]), false, 'any', json(body));
    }
    case 'update': {
      const body = resourceBody(req);
      const type = typeFor(req, body);
      withIfMatch();
      if (req.conditional) return single('PUT', url([type], conditionalParams(req)), true, 'any', json(body));
      if ((req.id === undefined || req.id === '') && typeof body.id === 'string') req = { ...req, id: body.id };
      const id = requireId(req);
      if (body.id !== undefined && body.id !== id) {
        throw inputError('body.id', `is "${String(body.id).slice(0, 64)}" but id is "${id}"`, 'the same id in the URL and the resource (or no id in the resource)');
      }
      return single('PUT', url([type, id]), true, 'any', json(body));
    }
    case 'patch': {
      const type = typeFor(req);
      const content = patchContent(req);
      withIfMatch();
      const target = req.conditional ? url([type], conditionalParams(req)) : url([type, requireId(req)]);
      return single('PATCH', target, false, 'any', json(content.body, content.contentType));
    }
    case 'delete': {
      const type = typeFor(req);
      withIfMatch();
      const target = req.conditional ? url([type], conditionalParams(req)) : url([type, requireId(req)]);
      return single('DELETE', target, true, 'any');
    }
    case 'batch':
    case 'transaction': {
      const body = bodyValue(req);
      if (!isObject(body) || body.resourceType !== 'Bundle' || body.type !== req.interaction) {
        throw inputError('body', `is not a Bundle of type "${req.interaction}"`, `a Bundle with "type": "${req.interaction}" and its entries`);
      }
      return { kind: 'batch', method: 'POST', url: url([]), headers, body: json(body), pageHeaders, idempotent: false, expect: 'bundle' };
    }
    case 'operation': {
      const op = normalizeOperation(req.operation);
      const segments: string[] = [];
      if (req.resourceType !== undefined && req.resourceType !== '') segments.push(validateResourceType(req.resourceType));
      if (req.id !== undefined && req.id !== '') {
        if (segments.length === 0) throw inputError('resourceType', 'is missing for an instance operation', 'the type of the resource whose id is given');
        segments.push(validateId(req.id));
      }
      const body = bodyValue(req);
      const method = req.operationMethod ?? (body === undefined ? 'GET' : 'POST');
      if (method !== 'GET' && method !== 'POST') throw inputError('operationMethod', `is "${String(method)}"`, '"GET" or "POST"');
      const params = toSearchParams(req.query);
      if (method === 'GET') {
        if (body !== undefined) throw inputError('body', 'is set for an operation called with GET', 'no body (parameters go in query), or operationMethod "POST"');
        return single('GET', url([...segments, op], params), true, 'any');
      }
      if (body !== undefined && !isObject(body)) throw inputError('body', 'is not a FHIR resource', 'a Parameters resource (or the resource the operation takes)');
      // An operation may change data: a POST is never repeated after a failure.
      return single('POST', url([...segments, op], params), false, 'any', body === undefined ? undefined : json(body));
    }
  }
}
