/**
 * Search and history results of the FHIR Vault, paged the way HAPI FHIR JPA pages them:
 * the first page comes back at once, the rest is kept under a search id and served by
 * `GET [base]/<partition>?_getpages=<id>&_getpagesoffset=<n>&_count=<c>&_bundletype=searchset`.
 * Every link (`self`, `next`, `previous`, `fullUrl`) is built on the INTERNAL base
 * (`http://localhost:9051/fhir`), as HAPI behind a proxy leaks it; clients must rebase them.
 * With `_offset` in the query, paging is by offset instead (links repeat the query).
 */
import { randomUUID } from 'node:crypto';
import { badRequest, evalFhirPath, getSearchParameter, gone, Operator, OperationOutcomeError, parseSearchRequest } from '@medplum/core';
import type { IncludeTarget } from '@medplum/core';
import type { Bundle, BundleEntry, BundleLink, Reference, Resource } from '@medplum/fhirtypes';
import type { HistoryRecord, VaultRepository } from './vault-repository';

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 1000;
/** Kept searches; the oldest is forgotten first (its next links then answer 410, as HAPI's expired searches). */
const MAX_KEPT_SEARCHES = 2000;
const MAX_INCLUDE_ROUNDS = 4;

type Snapshot =
  | { kind: 'searchset'; partition: string; keys: string[]; include: IncludeTarget[]; revInclude: IncludeTarget[]; count: number }
  | { kind: 'history'; partition: string; records: HistoryRecord[]; count: number };

export class PageStore {
  private readonly kept = new Map<string, Snapshot>();

  keep(snapshot: Snapshot): string {
    const id = randomUUID();
    this.kept.set(id, snapshot);
    if (this.kept.size > MAX_KEPT_SEARCHES) {
      const oldest = this.kept.keys().next().value;
      if (oldest !== undefined) this.kept.delete(oldest);
    }
    return id;
  }

  /** A search of another partition is not found: links never lead across partitions. */
  find(id: string, partition: string): Snapshot | undefined {
    const s = this.kept.get(id);
    return s && s.partition === partition ? s : undefined;
  }
}

export interface PageContext {
  /** `<internal base>/<partition>` */
  partitionBase: string;
  repo: VaultRepository;
  pages: PageStore;
}

export function pageSize(value: string | undefined, fallback = DEFAULT_PAGE_SIZE): number {
  if (value === undefined || value === '') return fallback;
  const n = Number.parseInt(value, 10);
  if (!Number.isFinite(n) || n < 0) throw new OperationOutcomeError(badRequest(`Invalid _count "${value}": expected a non-negative integer`));
  return Math.min(n, MAX_PAGE_SIZE);
}

/** First page of a search whose matches (`keys`, "Type/id", in order) are known. */
export async function firstSearchPage(
  ctx: PageContext,
  o: { keys: string[]; count: number; offset?: number; selfPath: string; query: URLSearchParams; include: IncludeTarget[]; revInclude: IncludeTarget[] },
): Promise<Bundle> {
  const offset = o.offset ?? 0;
  const links: BundleLink[] = [{ relation: 'self', url: `${ctx.partitionBase}/${o.selfPath}${queryString(o.query)}` }];
  const more = offset + o.count < o.keys.length && o.count > 0;
  if (o.offset !== undefined) {
    // Offset paging: the next link repeats the query with a larger _offset.
    if (more) links.push({ relation: 'next', url: withOffset(ctx, o.selfPath, o.query, offset + o.count) });
    if (offset > 0) links.push({ relation: 'previous', url: withOffset(ctx, o.selfPath, o.query, Math.max(0, offset - o.count)) });
  } else if (more) {
    const id = ctx.pages.keep({ kind: 'searchset', partition: ctx.repo.partition, keys: o.keys, include: o.include, revInclude: o.revInclude, count: o.count });
    links.push({ relation: 'next', url: getPagesUrl(ctx, id, o.count, o.count, 'searchset') });
  }
  const entry = await searchEntries(ctx, o.keys.slice(offset, offset + o.count), o.include, o.revInclude);
  return searchsetBundle(o.keys.length, links, entry);
}

/** A later page: `[partition]?_getpages=<id>&_getpagesoffset=<n>&_count=<c>`. */
export async function laterPage(ctx: PageContext, query: Record<string, string | string[] | undefined>): Promise<Bundle> {
  const id = single(query._getpages) ?? '';
  const snapshot = ctx.pages.find(id, ctx.repo.partition);
  if (!snapshot) {
    throw new OperationOutcomeError({
      ...gone,
      issue: [{ severity: 'error', code: 'processing', diagnostics: `Search id "${id}" does not exist and may have expired` }],
    });
  }
  const offset = Math.max(0, Number.parseInt(single(query._getpagesoffset) ?? '0', 10) || 0);
  const count = pageSize(single(query._count), snapshot.count);
  const total = snapshot.kind === 'searchset' ? snapshot.keys.length : snapshot.records.length;
  const links: BundleLink[] = [{ relation: 'self', url: getPagesUrl(ctx, id, offset, count, snapshot.kind) }];
  if (count > 0 && offset + count < total) links.push({ relation: 'next', url: getPagesUrl(ctx, id, offset + count, count, snapshot.kind) });
  if (offset > 0) links.push({ relation: 'previous', url: getPagesUrl(ctx, id, Math.max(0, offset - count), count, snapshot.kind) });
  if (snapshot.kind === 'history') return historyBundle(ctx, total, links, snapshot.records.slice(offset, offset + count));
  const entry = await searchEntries(ctx, snapshot.keys.slice(offset, offset + count), snapshot.include, snapshot.revInclude);
  return searchsetBundle(total, links, entry);
}

/** First page of a history (instance, type or partition level), newest version first. */
export function firstHistoryPage(ctx: PageContext, o: { records: HistoryRecord[]; count: number; selfPath: string; query: URLSearchParams }): Bundle {
  const links: BundleLink[] = [{ relation: 'self', url: `${ctx.partitionBase}/${o.selfPath}${queryString(o.query)}` }];
  if (o.count > 0 && o.count < o.records.length) {
    const id = ctx.pages.keep({ kind: 'history', partition: ctx.repo.partition, records: o.records, count: o.count });
    links.push({ relation: 'next', url: getPagesUrl(ctx, id, o.count, o.count, 'history') });
  }
  return historyBundle(ctx, o.records.length, links, o.records.slice(0, o.count));
}

function historyBundle(ctx: PageContext, total: number, link: BundleLink[], records: HistoryRecord[]): Bundle {
  const entry: BundleEntry[] = records.map((r) => ({
    fullUrl: `${ctx.partitionBase}/${r.resourceType}/${r.id}`,
    ...(r.resource ? { resource: JSON.parse(JSON.stringify(r.resource)) as Resource } : {}),
    request: { method: r.method, url: r.method === 'POST' ? r.resourceType : `${r.resourceType}/${r.id}` },
    response: {
      status: r.method === 'POST' ? '201 Created' : r.method === 'DELETE' ? '204 No Content' : '200 OK',
      etag: `W/"${r.versionId}"`,
      lastModified: r.lastUpdated,
    },
  }));
  return { resourceType: 'Bundle', id: randomUUID(), meta: { lastUpdated: new Date().toISOString() }, type: 'history', total, link, entry };
}

function searchsetBundle(total: number, link: BundleLink[], entry: BundleEntry[]): Bundle {
  return {
    resourceType: 'Bundle',
    id: randomUUID(),
    meta: { lastUpdated: new Date().toISOString() },
    type: 'searchset',
    total,
    link,
    ...(entry.length > 0 ? { entry } : {}),
  };
}

async function searchEntries(ctx: PageContext, keys: string[], include: IncludeTarget[], revInclude: IncludeTarget[]): Promise<BundleEntry[]> {
  const matches: Resource[] = [];
  for (const key of keys) {
    const resource = await readKey(ctx.repo, key);
    if (resource) matches.push(resource); // deleted since the search ran: left out
  }
  const seen = new Set(matches.map(keyOf));
  const included = await includedResources(ctx.repo, matches, include, revInclude, seen);
  const entryOf = (resource: Resource, mode: 'match' | 'include'): BundleEntry => ({
    fullUrl: `${ctx.partitionBase}/${resource.resourceType}/${resource.id}`,
    resource,
    search: { mode },
  });
  return [...matches.map((r) => entryOf(r, 'match')), ...included.map((r) => entryOf(r, 'include'))];
}

/** `_include` (also `:iterate`) and `_revinclude` for the resources of one page. */
async function includedResources(
  repo: VaultRepository,
  matches: Resource[],
  include: IncludeTarget[],
  revInclude: IncludeTarget[],
  seen: Set<string>,
): Promise<Resource[]> {
  const out: Resource[] = [];
  let frontier = matches;
  for (let round = 0; round < MAX_INCLUDE_ROUNDS && frontier.length > 0; round++) {
    const found: Resource[] = [];
    const add = (r: Resource): void => {
      const key = keyOf(r);
      if (seen.has(key)) return;
      seen.add(key);
      found.push(r);
    };
    for (const target of include) {
      if (round > 0 && target.modifier !== Operator.ITERATE) continue;
      for (const resource of frontier) {
        if (resource.resourceType !== target.resourceType) continue;
        for (const key of referencesOf(resource, target)) {
          const ref = await readKey(repo, key);
          if (ref) add(ref);
        }
      }
    }
    for (const target of revInclude) {
      if (round > 0 && target.modifier !== Operator.ITERATE) continue;
      const refs = frontier.map(keyOf);
      if (refs.length === 0) continue;
      const found2 = await repo.searchResources(parseSearchRequest(target.resourceType, { [target.searchParam]: refs.join(',') }));
      for (const r of found2) add(r);
    }
    out.push(...found);
    frontier = found;
  }
  return out;
}

function referencesOf(resource: Resource, target: IncludeTarget): string[] {
  const param = getSearchParameter(resource.resourceType, target.searchParam);
  if (!param?.expression || param.type !== 'reference') return [];
  const keys: string[] = [];
  for (const value of evalFhirPath(param.expression, resource)) {
    const reference = typeof value === 'string' ? value : (value as Reference).reference;
    const match = reference ? /^([A-Z][A-Za-z]+)\/([A-Za-z0-9.-]{1,64})$/.exec(reference) : null;
    if (match && (!target.targetType || target.targetType === match[1])) keys.push(reference as string);
  }
  return keys;
}

async function readKey(repo: VaultRepository, key: string): Promise<Resource | undefined> {
  const [type, id] = key.split('/');
  try {
    return await repo.readResource(type, id);
  } catch {
    return undefined;
  }
}

function keyOf(resource: Resource): string {
  return `${resource.resourceType}/${resource.id}`;
}

function getPagesUrl(ctx: PageContext, id: string, offset: number, count: number, bundleType: string): string {
  return `${ctx.partitionBase}?_getpages=${id}&_getpagesoffset=${offset}&_count=${count}&_bundletype=${bundleType}`;
}

function withOffset(ctx: PageContext, selfPath: string, query: URLSearchParams, offset: number): string {
  const q = new URLSearchParams(query);
  q.set('_offset', String(offset));
  return `${ctx.partitionBase}/${selfPath}${queryString(q)}`;
}

function queryString(query: URLSearchParams): string {
  const s = query.toString();
  return s ? `?${s}` : '';
}

export function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[value.length - 1] : value;
}
