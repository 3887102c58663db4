/**
 * The request and response shapes of the FHIR Vault client. A node adapter builds one
 * FhirRequest from a message; FhirClient validates it completely before anything is sent.
 */

export type FhirInteraction =
  | 'read'
  | 'vread'
  | 'search'
  | 'create'
  | 'update'
  | 'patch'
  | 'delete'
  | 'history'
  | 'capabilities'
  | 'batch'
  | 'transaction'
  | 'operation';

/**
 * How search/history results are returned:
 * - `first`: the first page only (a Bundle, its `next` link rebased on the configured base);
 * - `merge`: every page merged into one searchset Bundle (within the bounds);
 * - `pages`: one response per page (FhirClient.pages);
 * - `resources`: one resource at a time (the adapter flattens FhirClient.pages).
 */
export type PagingMode = 'first' | 'merge' | 'pages' | 'resources';

export type FhirQueryValue = string | number | boolean;
export type FhirQuery = string | Record<string, FhirQueryValue | FhirQueryValue[]>;

export interface FhirPaging {
  mode: PagingMode;
  /** Stop after this many pages (default 100). */
  maxPages?: number;
  /** Stop once this many entries have been collected (default 10_000); the page that crosses it is cut to fit. */
  maxResources?: number;
}

export interface FhirRequest {
  interaction: FhirInteraction;
  /** Vault partition: the Account URN without `urn:cara:account:`; [A-Za-z0-9_-]{1,200}. */
  partition: string;
  /** Capitalised resource type name, /^[A-Z][A-Za-z]{0,63}$/. */
  resourceType?: string;
  /** Logical id, [A-Za-z0-9.-]{1,64}. */
  id?: string;
  /** vread: the version id, [A-Za-z0-9.-]{1,64}. */
  versionId?: string;
  /** Search parameters, or conditional criteria for conditional update/delete. */
  query?: FhirQuery;
  /** POST [type]/_search with a form body (long queries). Default GET. */
  searchVia?: 'GET' | 'POST';
  /** Resource, Bundle, JSON Patch array, FHIRPath Patch Parameters, operation Parameters. */
  body?: unknown;
  /** patch: default 'json-patch' when body is an array, 'fhirpath-patch' when it is Parameters. */
  patchFormat?: 'json-patch' | 'fhirpath-patch';
  /** operation: '$everything' or 'everything'; [A-Za-z][A-Za-z0-9_-]*. */
  operation?: string;
  /** operation: GET (query parameters) or POST (Parameters body). Default: POST when `body` is set, else GET (plan.ts). */
  operationMethod?: 'GET' | 'POST';
  /** update/delete by `query` instead of id. */
  conditional?: boolean;
  /** create: the If-None-Exist criteria (a search query string, without '?'). */
  ifNoneExist?: string;
  /** update/patch/delete: If-Match, e.g. W/"3". */
  ifMatch?: string;
  preferReturn?: 'minimal' | 'representation' | 'OperationOutcome';
  /** W3C trace context passed on; an invalid traceparent is dropped (tracestate with it). */
  traceparent?: string;
  tracestate?: string;
  paging?: FhirPaging;
}

export interface FhirResponseHeaders {
  location?: string;
  etag?: string;
  lastModified?: string;
  contentLocation?: string;
}

export interface FhirResponse {
  statusCode: number;
  /** resource | Bundle | OperationOutcome | undefined (empty body). */
  body: unknown;
  headers: FhirResponseHeaders;
}

/** Minimal Bundle shape the client reads (paging, merging). */
export interface FhirBundleLink {
  relation: string;
  url: string;
}

export interface FhirBundle {
  resourceType: 'Bundle';
  type?: string;
  total?: number;
  link?: FhirBundleLink[];
  entry?: Array<Record<string, unknown>>;
  meta?: Record<string, unknown>;
  [key: string]: unknown;
}

/** Meta tag set on a merged Bundle when a bound (maxPages/maxResources) stopped the paging. */
export const TRUNCATED_TAG = {
  system: 'https://github.com/node-red-contrib-cara/node-red-contrib-cara/paging',
  code: 'truncated',
  display: 'More results exist than were collected (maxPages/maxResources bound reached)',
} as const;

export const DEFAULT_MAX_PAGES = 100;
export const DEFAULT_MAX_RESOURCES = 10_000;
