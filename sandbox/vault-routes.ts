/**
 * The FHIR REST interactions of the Vault: Medplum's FhirRouter, with the handlers that must
 * behave like HAPI FHIR JPA replaced or added (search paging and _include, history at every
 * level, atomic transactions, create/update/patch details, $everything, $validate).
 * Routes are relative to one partition: `Observation/123`, `Observation?code=...`, ``.
 */
import { STATUS_CODES } from 'node:http';
import {
  allOk,
  badRequest,
  created,
  getStatus,
  OperationOutcomeError,
  preconditionFailed,
  singularize,
  validateResource,
} from '@medplum/core';
import { FhirRouter, processBatch } from '@medplum/fhir-router';
import type { FhirRepository, FhirResponse, FhirRouteHandler, HttpMethod } from '@medplum/fhir-router';
import type { Bundle, BundleEntry, OperationOutcome, Parameters, Resource } from '@medplum/fhirtypes';
import { firstHistoryPage, firstSearchPage, laterPage, pageSize, single, type PageContext, type PageStore } from './vault-pages';
import { searchHandler, toSearchParams } from './vault-search';
import { VaultRepository } from './vault-repository';

export interface VaultRouteContext {
  /** e.g. `http://localhost:9051/fhir` */
  internalBase: string;
  pages: PageStore;
}

export function createVaultRouter(ctx: VaultRouteContext): FhirRouter {
  const router = new FhirRouter();
  const pageContext = (repo: FhirRepository): PageContext => {
    const vault = asVault(repo);
    return { partitionBase: `${ctx.internalBase}/${vault.partition}`, repo: vault, pages: ctx.pages };
  };

  const search = searchHandler(pageContext);

  const history =
    (level: 'instance' | 'type' | 'partition'): FhirRouteHandler =>
    async (req, repo) => {
      const { resourceType, id } = req.params;
      const vault = asVault(repo);
      const sinceText = single(req.query._since);
      const since = sinceText ? isoInstant(sinceText) : undefined;
      const records = vault.versionHistory({ resourceType: level === 'partition' ? undefined : resourceType, id: level === 'instance' ? id : undefined, since });
      if (level === 'instance' && !vault.exists(resourceType, id) && !vault.isDeleted(resourceType, id)) {
        return [notFoundOutcome(`Resource ${resourceType}/${id} is not known`)];
      }
      const selfPath = level === 'partition' ? '_history' : level === 'type' ? `${resourceType}/_history` : `${resourceType}/${id}/_history`;
      return [allOk, firstHistoryPage(pageContext(repo), { records, count: pageSize(single(req.query._count)), selfPath, query: toSearchParams(req.query) })];
    };

  const everything: FhirRouteHandler = async (req, repo) => {
    const { id } = req.params; // routes: Patient/$everything, Patient/:id/$everything
    const vault = asVault(repo);
    const keys: string[] = [];
    if (id) {
      await vault.readResource('Patient', id); // 404/410 if absent
      keys.push(`Patient/${id}`);
    }
    const needle = id ? `"Patient/${id}"` : undefined;
    for (const r of vault.allResources()) {
      if (id && r.resourceType === 'Patient' && r.id === id) continue;
      if (!needle || JSON.stringify(r).includes(needle)) keys.push(`${r.resourceType}/${r.id}`);
    }
    const selfPath = id ? `Patient/${id}/$everything` : 'Patient/$everything';
    return [allOk, await firstSearchPage(pageContext(repo), { keys, count: pageSize(single(req.query._count)), selfPath, query: toSearchParams(req.query), include: [], revInclude: [] })];
  };

  const validate: FhirRouteHandler = async (req) => {
    const body = req.body as Resource | Parameters | undefined;
    const resource = body?.resourceType === 'Parameters' ? (body as Parameters).parameter?.find((p) => p.name === 'resource')?.resource : body;
    if (!resource) return [badRequest('No resource to validate')];
    if (resource.resourceType !== req.params.resourceType) return [badRequest(`Expected a ${req.params.resourceType}, got ${resource.resourceType}`)];
    let issues: OperationOutcome['issue'];
    try {
      issues = validateResource(resource);
    } catch (err) {
      issues = err instanceof OperationOutcomeError ? err.outcome.issue : [{ severity: 'error', code: 'invalid', diagnostics: String(err) }];
    }
    if (!issues || issues.length === 0) issues = [{ severity: 'information', code: 'informational', diagnostics: 'No issues detected during validation' }];
    return [allOk, { resourceType: 'OperationOutcome', issue: issues }];
  };

  replaceRoute(router, 'GET', '', (original) => async (req, repo, r, options) => {
    if (req.query._getpages !== undefined) return [allOk, await laterPage(pageContext(repo), req.query)];
    return original(req, repo, r, options);
  });

  replaceRoute(router, 'GET', ':resourceType', () => search);
  replaceRoute(router, 'POST', ':resourceType/_search', () => search);

  replaceRoute(router, 'POST', ':resourceType', (original) => async (req, repo, r, options) => {
    const body = req.body as Resource | undefined;
    if (!options?.batch && body?.id !== undefined) {
      return [badRequest(`Can not create resource with ID "${body.id}", ID must not be supplied on a create (POST) operation (use an HTTP PUT / update operation if you wish to supply an ID)`)];
    }
    return original(req, repo, r, options);
  });

  replaceRoute(router, 'PUT', ':resourceType/:id', (original) => async (req, repo, r, options) => {
    const { resourceType, id } = req.params;
    const existed = asVault(repo).exists(resourceType, id);
    const result = await original(req, repo, r, options);
    return !existed && getStatus(result[0]) === 200 && result[1] ? [created, result[1]] : result;
  });

  replaceRoute(router, 'PATCH', ':resourceType/:id', (original) => async (req, repo, r, options) => {
    const { resourceType, id } = req.params;
    if (req.body && !Array.isArray(req.body) && (req.body as Resource).resourceType === 'Parameters') {
      return [badRequest('FHIRPath Patch is not supported by the sandbox: send a JSON Patch (application/json-patch+json)')];
    }
    const ifMatch = versionOf(req.headers?.['if-match']);
    if (ifMatch !== undefined) {
      const current = await repo.readResource(resourceType, id);
      if (current.meta?.versionId !== ifMatch) return [preconditionFailed];
    }
    return original(req, repo, r, options);
  });

  replaceRoute(router, 'POST', '', () => async (req, repo, r) => {
    const bundle = req.body as Bundle | undefined;
    if (bundle?.resourceType !== 'Bundle') return [badRequest('Not a bundle: POST to a partition takes a batch or transaction Bundle')];
    const vault = asVault(repo);
    if (bundle.type === 'batch') return [allOk, decorateResponse(await processBatch(req, repo, r, bundle), pageContext(repo).partitionBase)];
    if (bundle.type !== 'transaction') return [badRequest(`Unrecognized bundle type: ${bundle.type}`)];
    // Run as a batch inside a repository transaction: the first failed entry undoes everything.
    return vault.withTransaction(async () => {
      const response = await processBatch(req, repo, r, { ...bundle, type: 'batch' });
      const failed = (response.entry ?? []).find((e) => !e.response?.status?.startsWith('2'));
      if (failed) {
        throw new OperationOutcomeError(failed.response?.outcome ?? badRequest('Transaction failed'));
      }
      return [allOk, decorateResponse({ ...response, type: 'transaction-response' }, pageContext(repo).partitionBase)] as FhirResponse;
    });
  });

  router.add('GET', '_history', history('partition'), 'history-system');
  router.add('GET', ':resourceType/_history', history('type'), 'history-type');
  replaceRoute(router, 'GET', ':resourceType/:id/_history', () => history('instance'));
  router.add('GET', 'Patient/$everything', everything);
  router.add('GET', 'Patient/:id/$everything', everything);
  router.add('POST', ':resourceType/$validate', validate);
  router.add('POST', ':resourceType/:id/$validate', validate);
  return router;
}

/** Replaces the handler of a built-in route (so batch entries get the same behaviour). */
function replaceRoute(router: FhirRouter, method: HttpMethod, pattern: string, make: (original: FhirRouteHandler) => FhirRouteHandler): FhirRouteHandler {
  const route = router.router.routes.find(
    (r) => r.method === method && r.path.map((s) => (s.param ? `:${s.value}` : s.value)).join('/') === pattern,
  );
  if (!route) throw new Error(`FhirRouter has no route ${method} ${pattern}`);
  const original = route.handler;
  route.handler = make(original);
  return original;
}

/** HAPI-like batch/transaction response entries: "201 Created", location with version, etag, lastModified. */
function decorateResponse(bundle: Bundle, partitionBase: string): Bundle {
  const entry = (bundle.entry ?? []).map((e): BundleEntry => {
    const code = Number.parseInt(e.response?.status ?? '500', 10);
    const resource = e.resource;
    const versioned = resource && resource.resourceType !== 'Bundle' && resource.resourceType !== 'OperationOutcome' && resource.meta?.versionId;
    return {
      ...(versioned ? { fullUrl: `${partitionBase}/${resource.resourceType}/${resource.id}` } : {}),
      ...(resource ? { resource } : {}),
      response: {
        status: `${code} ${STATUS_CODES[code] ?? ''}`.trim(),
        ...(versioned ? { location: `${resource.resourceType}/${resource.id}/_history/${resource.meta?.versionId}`, etag: `W/"${resource.meta?.versionId}"`, lastModified: resource.meta?.lastUpdated } : {}),
        ...(code >= 300 && e.response?.outcome ? { outcome: e.response.outcome } : {}),
      },
    };
  });
  return { ...bundle, entry };
}

function asVault(repo: FhirRepository): VaultRepository {
  if (!(repo instanceof VaultRepository)) throw new Error('The vault router needs a VaultRepository');
  return repo;
}

export function versionOf(header: string | string[] | undefined): string | undefined {
  const value = header === undefined ? undefined : singularize(header);
  if (!value) return undefined;
  return /"([^"]+)"/.exec(value)?.[1] ?? value;
}

function isoInstant(text: string): string {
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) throw new OperationOutcomeError(badRequest(`Invalid _since "${text}": expected an instant`));
  return date.toISOString();
}

function notFoundOutcome(text: string): OperationOutcome {
  return { resourceType: 'OperationOutcome', id: 'not-found', issue: [{ severity: 'error', code: 'not-found', details: { text } }] };
}
