/**
 * Who may do what in the Vault, decided from the verified access token (the platform decides
 * per request from namespace scopes; its Permission resources are not emulated).
 *
 * - A read (GET, `_search`, `$validate`, `$everything`, a batch of GETs) needs any
 *   `ns:cara:<namespace>.Reader` or `ns:cara:<namespace>.Contributor` scope.
 * - A write (create, update, patch, delete, a batch/transaction with a write entry) needs a
 *   `ns:cara:<namespace>.Contributor` scope, and every resource written that carries a
 *   namespace tag (`meta.tag` system {@link NAMESPACE_TAG_SYSTEM}, code `cara:<namespace>`)
 *   needs `ns:cara:<namespace>.Contributor` for that very namespace.
 */
import type { Bundle, Resource } from '@medplum/fhirtypes';

export const NAMESPACE_TAG_SYSTEM = 'https://terminology.cara.ch/CodeSystem/fhirvault-namespace';

/** HAPI's rule for partition names in URLs. */
export const PARTITION_NAME_RULE = /^[A-Za-z0-9_-]{1,200}$/;

const NAMESPACE_SCOPE = /^ns:cara:([A-Za-z0-9_-]+)\.(Reader|Contributor)$/;

export type AccessDecision = { allowed: true } | { allowed: false; reason: string; requiredScope: string };

export function isWrite(method: string, pathAfterPartition: string[], body: unknown): boolean {
  if (method === 'GET' || method === 'HEAD') return false;
  if (method !== 'POST') return true;
  if (pathAfterPartition.length === 0) return hasWriteEntry(body);
  const last = pathAfterPartition[pathAfterPartition.length - 1];
  return !(last === '_search' || last.startsWith('$'));
}

export function decideAccess(scopes: string[], write: boolean, written: Resource[]): AccessDecision {
  const granted = scopes.map((s) => NAMESPACE_SCOPE.exec(s)).filter((m): m is RegExpExecArray => m !== null);
  if (!write) {
    return granted.length > 0
      ? { allowed: true }
      : { allowed: false, reason: 'Reading the FHIR Vault needs a ns:cara:<namespace>.Reader or .Contributor scope', requiredScope: 'ns:cara:scp.Reader' };
  }
  const contributorOf = new Set(granted.filter((m) => m[2] === 'Contributor').map((m) => m[1]));
  if (contributorOf.size === 0) {
    return { allowed: false, reason: 'Writing to the FHIR Vault needs a ns:cara:<namespace>.Contributor scope', requiredScope: 'ns:cara:scp.Contributor' };
  }
  for (const resource of written) {
    for (const namespace of namespacesOf(resource)) {
      if (!contributorOf.has(namespace)) {
        return {
          allowed: false,
          reason: `${resource.resourceType} is tagged with namespace cara:${namespace}: writing it needs the scope ns:cara:${namespace}.Contributor`,
          requiredScope: `ns:cara:${namespace}.Contributor`,
        };
      }
    }
  }
  return { allowed: true };
}

/** The resources a request writes: its body, or the entries of a batch/transaction that are not reads. */
export function writtenResources(method: string, body: unknown): Resource[] {
  if (!isResource(body)) return [];
  if (method === 'POST' && body.resourceType === 'Bundle') return writtenByBundle(body);
  return method === 'POST' || method === 'PUT' ? [body] : [];
}

function writtenByBundle(body: unknown): Resource[] {
  if (!isResource(body) || body.resourceType !== 'Bundle') return [];
  const out: Resource[] = [];
  for (const entry of (body as Bundle).entry ?? []) {
    const method = entry.request?.method;
    if (entry.resource && (method === 'POST' || method === 'PUT')) out.push(entry.resource);
  }
  return out;
}

function hasWriteEntry(body: unknown): boolean {
  if (!isResource(body) || body.resourceType !== 'Bundle') return false;
  return ((body as Bundle).entry ?? []).some((e) => e.request?.method !== undefined && e.request.method !== 'GET' && e.request.method !== 'HEAD');
}

function namespacesOf(resource: Resource): string[] {
  return (resource.meta?.tag ?? [])
    .filter((t) => t.system === NAMESPACE_TAG_SYSTEM && typeof t.code === 'string' && t.code.startsWith('cara:'))
    .map((t) => (t.code as string).slice('cara:'.length));
}

function isResource(value: unknown): value is Resource {
  return typeof value === 'object' && value !== null && typeof (value as { resourceType?: unknown }).resourceType === 'string';
}
