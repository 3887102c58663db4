/**
 * Type-level search (GET `Type?...`, POST `Type/_search`) of the Vault: Medplum's matching,
 * with HAPI's answers around it: 400 for a parameter it cannot honour, `_sort` computed
 * once per resource, every match kept for paging (vault-pages.ts), `_include`/`_revinclude`.
 */
import { allOk, badRequest, evalFhirPath, getSearchParameter, parseSearchRequest } from '@medplum/core';
import type { SortRule } from '@medplum/core';
import type { FhirRepository, FhirRouteHandler } from '@medplum/fhir-router';
import type { Resource } from '@medplum/fhirtypes';
import { firstSearchPage, pageSize, single, type PageContext } from './vault-pages';

type Query = Record<string, string | string[] | undefined>;

/** Medplum's in-memory matching knows these parameter types only; others would silently match nothing. */
const MATCHABLE_TYPES = new Set(['reference', 'string', 'uri', 'token', 'date']);

export function searchHandler(pageContext: (repo: FhirRepository) => PageContext): FhirRouteHandler {
  return async (req, repo) => {
    const { resourceType } = req.params;
    const query = req.method === 'POST' ? { ...req.query, ...formBody(req.body) } : req.query;
    const searchRequest = parseSearchRequest(resourceType, query);
    for (const filter of searchRequest.filters ?? []) {
      const param = filter.code.includes('.') || filter.code === '_has' ? undefined : getSearchParameter(resourceType, filter.code);
      if (!param) return [badRequest(`Unknown or unsupported search parameter "${filter.code}" for resource type "${resourceType}"`)];
      if (!MATCHABLE_TYPES.has(param.type)) {
        return [badRequest(`Search parameter "${filter.code}" (type ${param.type}) is not supported by the sandbox vault`)];
      }
    }
    const count = pageSize(single(query._count));
    const summaryCount = single(query._summary) === 'count';
    const offsetText = single(query._offset);
    for (const rule of searchRequest.sortRules ?? []) {
      if (!getSearchParameter(resourceType, rule.code)) return [badRequest(`Unknown _sort parameter "${rule.code}" for resource type "${resourceType}"`)];
    }
    const all = await pageContext(repo).repo.search({
      ...searchRequest,
      count: undefined,
      offset: undefined,
      include: undefined,
      revInclude: undefined,
      sortRules: undefined,
    });
    const matches = (all.entry ?? []).map((e) => e.resource as Resource);
    const sorted = searchRequest.sortRules?.length ? sortResources(resourceType, matches, searchRequest.sortRules) : matches;
    const keys = sorted.map((r) => `${resourceType}/${r.id}`);
    return [
      allOk,
      await firstSearchPage(pageContext(repo), {
        keys,
        count: summaryCount ? 0 : count,
        offset: offsetText === undefined ? undefined : Math.max(0, Number.parseInt(offsetText, 10) || 0),
        selfPath: resourceType,
        query: toSearchParams(query),
        include: searchRequest.include ?? [],
        revInclude: searchRequest.revInclude ?? [],
      }),
    ];
  };
}

/**
 * `_sort` with each key computed once per resource (Medplum's memory store evaluates FHIRPath
 * in every comparison, which takes seconds for 1,000s of resources). Missing values sort last.
 */
function sortResources(resourceType: string, resources: Resource[], rules: SortRule[]): Resource[] {
  const expressions = rules.map((rule) => getSearchParameter(resourceType, rule.code)?.expression as string);
  const keyed = resources.map((resource) => ({ resource, keys: expressions.map((e) => sortKey(evalFhirPath(e, resource)[0])) }));
  keyed.sort((a, b) => {
    for (let i = 0; i < rules.length; i++) {
      const x = a.keys[i];
      const y = b.keys[i];
      if (x === y) continue;
      if (x === undefined) return 1;
      if (y === undefined) return -1;
      const order = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
      if (order !== 0) return rules[i].descending ? -order : order;
    }
    return 0;
  });
  return keyed.map((k) => k.resource);
}

function sortKey(value: unknown): string | number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string' || typeof value === 'number') return value;
  const v = value as { value?: unknown; start?: unknown; text?: unknown; coding?: { code?: unknown }[] };
  if (typeof v.value === 'number' || typeof v.value === 'string') return v.value; // Quantity
  if (typeof v.start === 'string') return v.start; // Period
  if (typeof v.text === 'string') return v.text;
  if (typeof v.coding?.[0]?.code === 'string') return v.coding[0].code;
  return JSON.stringify(value);
}

function formBody(body: unknown): Query {
  return body && typeof body === 'object' && !Array.isArray(body) ? (body as Query) : {};
}

export function toSearchParams(query: Query): URLSearchParams {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) params.append(key, v);
  }
  return params;
}
