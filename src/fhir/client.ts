/**
 * FhirClient: every FHIR REST interaction against one partition of the vault.
 *
 * A FhirRequest is validated completely (CARA_INPUT, nothing sent) and turned into one
 * planned HTTP request; AuthorizedHttp adds the token, retries and the timeout.
 */
import type { AuthorizedHttp } from '../authorized';
import { CaraError } from '../errors';
import { describeUrl, headerValue, type HttpMethod, type HttpResponse } from '../http';
import { isBundle, mergePages, pagingBounds, rebaseBundleLinks, rebaseLink, tryRebaseLink, walkPages, type Page, type PagingBounds } from './paging';
import { planRequest, type PlannedRequest } from './plan';
import { normalizeBaseUrl } from './urls';
import type { FhirBundle, FhirRequest, FhirResponse, FhirResponseHeaders } from './types';

export interface FhirClientOptions {
  http: AuthorizedHttp;
  /** e.g. https://ws-fhir-mtls.cara.ch/fhir */
  baseUrl: string;
}

export class FhirClient {
  private readonly http: AuthorizedHttp;
  readonly base: URL;

  constructor(o: FhirClientOptions) {
    this.http = o.http;
    this.base = normalizeBaseUrl(o.baseUrl);
  }

  /** Validates everything first (CARA_INPUT, nothing sent), then does one interaction (search/history: first page). */
  async request(req: FhirRequest): Promise<FhirResponse> {
    const plan = planRequest(this.base, req);
    return this.execute(plan, req.partition);
  }

  /**
   * For search/history: yields page after page, next links rebased and checked, within
   * maxPages/maxResources. Any other interaction yields its one response.
   */
  async *pages(req: FhirRequest): AsyncGenerator<FhirResponse> {
    const plan = planRequest(this.base, req);
    const bounds = pagingBounds(req.paging);
    if (plan.kind !== 'paged') {
      yield await this.execute(plan, req.partition);
      return;
    }
    for await (const page of this.walkPaged(plan, req, bounds)) yield page.response;
  }

  /** All pages merged into one Bundle (`total` = entries collected); a truncated result carries a meta tag and the `next` link. */
  async merged(req: FhirRequest): Promise<FhirResponse> {
    const plan = planRequest(this.base, req);
    if (plan.kind !== 'paged') return this.execute(plan, req.partition);
    return mergePages(this.walkPaged(plan, req, pagingBounds(req.paging)));
  }

  /** A search/history plan only: every page is a Bundle. */
  private async *walkPaged(plan: PlannedRequest, req: FhirRequest, bounds: PagingBounds): AsyncGenerator<Page> {
    const nextPlan = (url: URL): PlannedRequest => ({
      kind: 'paged',
      method: 'GET',
      url,
      headers: plan.pageHeaders,
      pageHeaders: plan.pageHeaders,
      idempotent: true,
      expect: 'bundle',
    });
    yield* walkPages(
      await this.executePaged(plan, req.partition),
      bounds,
      (next) => rebaseLink(next, this.base, req.partition),
      (url) => this.executePaged(nextPlan(url), req.partition),
    );
  }

  private async executePaged(plan: PlannedRequest, partition: string): Promise<FhirResponse & { body: FhirBundle }> {
    const res = await this.execute(plan, partition);
    // parseBody already refuses a paged answer that is not a Bundle; this narrows the type.
    if (!isBundle(res.body)) throw new CaraError('CARA_BAD_RESPONSE', `${plan.method} ${describeUrl(plan.url)} answered without a FHIR Bundle`, { statusCode: res.statusCode });
    return { ...res, body: res.body };
  }

  private async execute(plan: PlannedRequest, partition: string): Promise<FhirResponse> {
    const res = await this.http.send({
      method: plan.method,
      url: plan.url,
      headers: plan.headers,
      body: plan.body,
      idempotent: plan.idempotent,
    });
    const body = parseBody(res, plan);
    if (plan.kind === 'paged' && isBundle(body)) rebaseBundleLinks(body, this.base, partition);
    return { statusCode: res.statusCode, body, headers: this.responseHeaders(res, partition) };
  }

  private responseHeaders(res: HttpResponse, partition: string): FhirResponseHeaders {
    const headers: FhirResponseHeaders = {};
    // Location points into the vault on the server's internal base: rebased when it stays
    // in the partition, otherwise reported as sent (it is never followed).
    const link = (name: string): string | undefined => {
      const value = headerValue(res.headers, name);
      return value === undefined ? undefined : (tryRebaseLink(value, this.base, partition)?.href ?? value);
    };
    const location = link('location');
    const contentLocation = link('content-location');
    const etag = headerValue(res.headers, 'etag');
    const lastModified = headerValue(res.headers, 'last-modified');
    if (location !== undefined) headers.location = location;
    if (etag !== undefined) headers.etag = etag;
    if (lastModified !== undefined) headers.lastModified = lastModified;
    if (contentLocation !== undefined) headers.contentLocation = contentLocation;
    return headers;
  }
}

function parseBody(res: HttpResponse, plan: Pick<PlannedRequest, 'expect' | 'method' | 'url'>): unknown {
  if (res.statusCode === 304 || res.body.length === 0) {
    if (plan.expect === 'any') return undefined;
    throw badResponse(res, plan, 'an empty body');
  }
  const text = res.body.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text) as unknown;
  } catch {
    if (plan.expect === 'any') return text;
    throw badResponse(res, plan, `${headerValue(res.headers, 'content-type') ?? 'a body without content type'} that is not JSON`);
  }
  if (plan.expect === 'bundle' && !isBundle(parsed)) throw badResponse(res, plan, 'JSON that is not a Bundle');
  if (plan.expect === 'json' && (typeof parsed !== 'object' || parsed === null)) throw badResponse(res, plan, 'JSON that is not a resource');
  return parsed;
}

function badResponse(res: HttpResponse, plan: { method: HttpMethod; url: URL; expect: string }, got: string): CaraError {
  const expected = plan.expect === 'bundle' ? 'a FHIR Bundle' : 'a FHIR resource (JSON)';
  return new CaraError('CARA_BAD_RESPONSE', `${plan.method} ${describeUrl(plan.url)} answered ${res.statusCode} with ${got}; expected ${expected}`, {
    statusCode: res.statusCode,
  });
}
