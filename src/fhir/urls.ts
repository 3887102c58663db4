/**
 * Validation of everything that goes into a vault URL, and URL building.
 *
 * Each path segment is checked against a strict pattern BEFORE a URL is built, so that
 * `../`, `?`, `#`, `%2F`, spaces, URNs or unicode never reach the server as path; query
 * values go through URLSearchParams.
 */
import { CaraError, inputError } from '../errors';
import type { FhirQuery } from './types';

export const PARTITION_PATTERN = /^[A-Za-z0-9_-]{1,200}$/;
export const RESOURCE_TYPE_PATTERN = /^[A-Z][A-Za-z]{0,63}$/;
export const ID_PATTERN = /^[A-Za-z0-9.-]{1,64}$/;
export const OPERATION_PATTERN = /^\$?[A-Za-z][A-Za-z0-9_-]{0,63}$/;

/** A short, printable rendering of a rejected value for messages (never the whole input). */
function shown(value: unknown): string {
  if (typeof value !== 'string') return value === undefined ? 'is missing' : `is a ${typeof value}, not a string`;
  if (value === '') return 'is empty';
  const printable = JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}...` : value);
  return `${printable} is not allowed`;
}

function check(value: unknown, pattern: RegExp, property: string, expected: string): string {
  // '.' and '..' match the id pattern but would walk the URL path.
  if (typeof value !== 'string' || !pattern.test(value) || value === '.' || value === '..') {
    throw inputError(property, shown(value), expected);
  }
  return value;
}

export function validatePartition(value: unknown, property = 'partition'): string {
  return check(value, PARTITION_PATTERN, property, 'a vault partition name: letters, digits, "_" or "-", 1 to 200 characters (the Account URN without "urn:cara:account:")');
}

export function validateResourceType(value: unknown, property = 'resourceType'): string {
  return check(value, RESOURCE_TYPE_PATTERN, property, 'a FHIR resource type such as "Observation" (a capitalised name of letters)');
}

export function validateId(value: unknown, property = 'id'): string {
  return check(value, ID_PATTERN, property, 'a FHIR id: letters, digits, "-" or ".", 1 to 64 characters');
}

export function validateVersionId(value: unknown, property = 'versionId'): string {
  return check(value, ID_PATTERN, property, 'a FHIR version id: letters, digits, "-" or ".", 1 to 64 characters');
}

/** '$everything' or 'everything' -> '$everything'. */
export function normalizeOperation(value: unknown, property = 'operation'): string {
  const op = check(value, OPERATION_PATTERN, property, 'an operation name such as "$everything" or "everything" (a letter, then letters, digits, "_" or "-")');
  return op.startsWith('$') ? op : `$${op}`;
}

function scalar(value: unknown, property: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'boolean') return String(value);
  throw inputError(property, `has a value of type ${value === null ? 'null' : typeof value}`, 'strings, numbers or booleans (or arrays of them)');
}

/**
 * Search parameters -> URLSearchParams. A string is parsed (a leading '?' is ignored) and
 * re-encoded, so that it cannot smuggle a '#' or raw spaces into the URL; an object's array
 * values repeat the parameter (`code=a&code=b`, which FHIR reads as AND).
 * In a string, '+' means a space (form encoding, as HAPI reads it too): write %2B for a
 * literal plus (e.g. a time zone), or pass the query as an object.
 */
export function toSearchParams(query: FhirQuery | undefined, property = 'query'): URLSearchParams {
  if (query === undefined || query === null) return new URLSearchParams();
  if (typeof query === 'string') {
    const text = query.trim().replace(/^\?/, '');
    if (text.includes('#')) throw inputError(property, 'contains "#"', 'a query string such as "status=active&_count=50" (encode "#" as %23)');
    return new URLSearchParams(text);
  }
  if (typeof query !== 'object' || Array.isArray(query)) {
    throw inputError(property, `is a ${Array.isArray(query) ? 'array' : typeof query}`, 'a query string or an object of search parameters');
  }
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (name === '') throw inputError(property, 'has an empty parameter name', 'search parameter names such as "status" or "_count"');
    if (value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) params.append(name, scalar(item, `${property}.${name}`));
  }
  return params;
}

/**
 * The one rule for a configured service URL (issuer, endpoints, AIM, FHIR base): https (every
 * CARA service is mutual TLS), no user:password, no query or fragment. CARA_CONFIG naming
 * `property` otherwise. Used by client.ts for the settings and here for the FHIR base, so that
 * the library used without the node's checks applies the same rule.
 */
export function parseServiceUrl(property: string, value: string, example = 'https://ws-fhir-mtls.cara.ch/fhir'): URL {
  const fail = (problem: string, expected: string): never => {
    throw new CaraError('CARA_CONFIG', `${property} ${problem}; expected ${expected}`, { property });
  };
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    return fail(`"${value}" is not a URL`, `an https URL such as ${example}`);
  }
  if (url.protocol !== 'https:') fail(`"${value}" does not use https`, 'an https URL (every CARA service is mutual TLS)');
  if (url.username || url.password) fail('contains user credentials', 'a URL without user:password');
  if (url.search || url.hash) fail('has a query or fragment', 'a URL without "?" or "#"');
  return url;
}

const TRAILING_SLASHES = /\/+$/;

/** The configured FHIR base (e.g. https://ws-fhir-mtls.cara.ch/fhir), without trailing '/'. */
export function normalizeBaseUrl(baseUrl: string): URL {
  const url = parseServiceUrl('fhirBaseUrl', baseUrl);
  url.pathname = url.pathname.replace(TRAILING_SLASHES, '');
  return url;
}

/**
 * `${base}/${partition}/${segments...}?${params}`. Segments must already be validated;
 * they are joined as they are (validated segments need no encoding; `$` is legal in paths).
 */
export function vaultUrl(base: URL, partition: string, segments: string[], params?: URLSearchParams): URL {
  // Copy and set, one path for every base: the setters encode what a parse of joined text would not.
  const url = new URL(base.href);
  url.pathname = [base.pathname.replace(TRAILING_SLASHES, ''), partition, ...segments].join('/');
  const search = params?.toString() ?? '';
  url.search = search ? `?${search}` : '';
  return url;
}
