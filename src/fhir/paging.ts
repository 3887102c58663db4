/**
 * Links the vault returns (Bundle `next`/`self`, `Location`) and paging through them.
 *
 * HAPI builds links on its own notion of its base, often an internal address such as
 * `http://localhost:9051/fhir/<partition>/...`. Such links are never followed as they are.
 *
 * The rule (`rebaseLink`):
 *  1. The link is resolved against `${base}/${partition}/` (relative links are allowed).
 *  2. The partition segment is located:
 *     - link on the configured origin whose path starts with the base path: the first
 *       segment after the base path;
 *     - any other link: the segment right after the first segment named like the last
 *       segment of the base path (`fhir` for https://host/fhir; `fhir` when the base has
 *       no path), i.e. the link must look like `<anything>/fhir/<partition>[/...]`.
 *  3. That segment must be exactly the request's partition, and every later segment must
 *     be a plain FHIR path segment ([A-Za-z0-9_$.-], not `.`/`..`); otherwise the link is
 *     refused with CARA_UNSAFE_LINK and nothing is sent.
 *  4. The result is `${base}/${partition}/<later segments>` with the link's query kept as
 *     the server encoded it (paging cursors) and its fragment dropped.
 * The token therefore only ever goes to the configured base, within the same partition.
 */
import { CaraError, inputError } from '../errors';
import { vaultUrl } from './urls';
import {
  DEFAULT_MAX_PAGES,
  DEFAULT_MAX_RESOURCES,
  TRUNCATED_TAG,
  type FhirBundle,
  type FhirBundleLink,
  type FhirPaging,
  type FhirResponse,
} from './types';

const PLAIN_SEGMENT = /^[A-Za-z0-9_$.-]{1,200}$/;

function unsafe(reason: string): CaraError {
  return new CaraError('CARA_UNSAFE_LINK', `not following a link from the server: ${reason}`, { property: 'link' });
}

function segmentsOf(pathname: string): string[] {
  return pathname.split('/').filter((s) => s !== '');
}

/** Rebases a server link on the configured base; CARA_UNSAFE_LINK when it leaves the partition. */
export function rebaseLink(link: string, base: URL, partition: string): URL {
  let url: URL;
  try {
    url = new URL(link, `${base.href.replace(/\/+$/, '')}/${partition}/`);
  } catch {
    throw unsafe('it is not a URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw unsafe(`scheme ${url.protocol} is not http(s)`);

  const baseSegments = segmentsOf(base.pathname);
  const linkSegments = segmentsOf(url.pathname);
  const underBase =
    url.origin === base.origin && baseSegments.every((segment, i) => linkSegments[i] === segment);
  let partitionIndex: number;
  if (underBase) {
    partitionIndex = baseSegments.length;
  } else {
    const anchor = (baseSegments[baseSegments.length - 1] ?? 'fhir').toLowerCase();
    const anchorIndex = linkSegments.findIndex((s) => s.toLowerCase() === anchor);
    if (anchorIndex < 0) throw unsafe(`${url.origin}${url.pathname} is not recognisable as <server>/${anchor}/<partition>/...`);
    partitionIndex = anchorIndex + 1;
  }
  const linkPartition = linkSegments[partitionIndex];
  if (linkPartition !== partition) {
    throw unsafe(linkPartition === undefined ? 'it names no partition' : `it points at another partition ("${linkPartition.slice(0, 60)}")`);
  }
  const rest = linkSegments.slice(partitionIndex + 1);
  for (const segment of rest) {
    if (!PLAIN_SEGMENT.test(segment) || segment === '.' || segment === '..') throw unsafe('its path holds an unexpected segment');
  }
  const rebased = vaultUrl(base, partition, rest);
  rebased.search = url.search;
  return rebased;
}

/** Like rebaseLink, but returns undefined instead of throwing (for links we only report). */
export function tryRebaseLink(link: string, base: URL, partition: string): URL | undefined {
  try {
    return rebaseLink(link, base, partition);
  } catch {
    return undefined;
  }
}

export function isBundle(value: unknown): value is FhirBundle {
  return typeof value === 'object' && value !== null && (value as { resourceType?: unknown }).resourceType === 'Bundle';
}

function links(bundle: FhirBundle): FhirBundleLink[] {
  return Array.isArray(bundle.link)
    ? bundle.link.filter((l): l is FhirBundleLink => typeof l === 'object' && l !== null && typeof l.url === 'string')
    : [];
}

export function linkOf(bundle: FhirBundle, relation: string): string | undefined {
  return links(bundle).find((l) => l.relation === relation)?.url;
}

/** Rewrites the Bundle's links that can be rebased; those that cannot are left as they are. */
export function rebaseBundleLinks(bundle: FhirBundle, base: URL, partition: string): void {
  if (!Array.isArray(bundle.link)) return;
  for (const link of links(bundle)) {
    const rebased = tryRebaseLink(link.url, base, partition);
    if (rebased) link.url = rebased.href;
  }
}

export interface PagingBounds {
  maxPages: number;
  maxResources: number;
}

function positiveInteger(value: unknown, fallback: number, property: string): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw inputError(property, `is ${JSON.stringify(value)}`, 'a whole number of at least 1');
  }
  return value;
}

export function pagingBounds(paging: FhirPaging | undefined): PagingBounds {
  return {
    maxPages: positiveInteger(paging?.maxPages, DEFAULT_MAX_PAGES, 'paging.maxPages'),
    maxResources: positiveInteger(paging?.maxResources, DEFAULT_MAX_RESOURCES, 'paging.maxResources'),
  };
}

export interface Page {
  response: FhirResponse & { body: FhirBundle };
  /** A bound stopped the paging while the server had more. */
  truncated: boolean;
}

/**
 * Walks `next` links from `first`, one page in memory at a time. A page that would exceed
 * `maxResources` is cut to fit. `fetchPage` receives only rebased, checked URLs.
 */
export async function* walkPages(
  first: FhirResponse & { body: FhirBundle },
  bounds: PagingBounds,
  follow: (next: string) => URL,
  fetchPage: (url: URL) => Promise<FhirResponse & { body: FhirBundle }>,
): AsyncGenerator<Page> {
  let page = first;
  let pages = 0;
  let collected = 0;
  const seen = new Set<string>();
  for (;;) {
    const bundle = page.body;
    const next = linkOf(bundle, 'next');
    const entries = Array.isArray(bundle.entry) ? bundle.entry : [];
    const room = bounds.maxResources - collected;
    const cut = entries.length > room;
    if (cut) bundle.entry = entries.slice(0, room);
    collected += Math.min(entries.length, room);
    pages += 1;
    const boundReached = cut || pages >= bounds.maxPages || collected >= bounds.maxResources;
    yield { response: page, truncated: cut || (next !== undefined && boundReached) };
    if (next === undefined || boundReached) return;
    const nextUrl = follow(next);
    // A server that links a page to itself (or back) would loop until maxPages: stop.
    if (seen.has(nextUrl.href)) return;
    seen.add(nextUrl.href);
    page = await fetchPage(nextUrl);
  }
}

/** One searchset/history Bundle with every collected entry; `total` = entries collected. */
export async function mergePages(pages: AsyncGenerator<Page>): Promise<FhirResponse> {
  let first: FhirResponse | undefined;
  let type: string | undefined;
  let selfLink: string | undefined;
  let lastNext: string | undefined;
  let truncated = false;
  const entries: Array<Record<string, unknown>> = [];
  for await (const page of pages) {
    const bundle = page.response.body;
    if (!first) {
      first = page.response;
      type = typeof bundle.type === 'string' ? bundle.type : 'searchset';
      selfLink = linkOf(bundle, 'self');
    }
    if (Array.isArray(bundle.entry)) for (const entry of bundle.entry) entries.push(entry);
    lastNext = linkOf(bundle, 'next');
    truncated = page.truncated;
  }
  if (!first) throw new CaraError('CARA_BAD_RESPONSE', 'the search returned no page');
  const link: FhirBundleLink[] = [];
  if (selfLink) link.push({ relation: 'self', url: selfLink });
  if (truncated && lastNext) link.push({ relation: 'next', url: lastNext });
  const merged: FhirBundle = {
    resourceType: 'Bundle',
    type,
    ...(truncated ? { meta: { tag: [{ ...TRUNCATED_TAG }] } } : {}),
    total: entries.length,
    ...(link.length > 0 ? { link } : {}),
    entry: entries,
  };
  return { statusCode: first.statusCode, headers: first.headers, body: merged };
}
