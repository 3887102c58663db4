/**
 * The Vault's CapabilityStatement (`[base]/metadata`, also `[base]/DEFAULT/metadata` and
 * `[base]/<partition>/metadata`, as HAPI serves it). The Medplum router serves none, so it is
 * built here from the loaded definitions: every resource type, its search parameters, the
 * interactions and operations the sandbox implements.
 */
import { getResourceTypes, getSearchParameters } from '@medplum/core';
import type { CapabilityStatement, CapabilityStatementRestResource } from '@medplum/fhirtypes';

const TYPE_INTERACTIONS: CapabilityStatementRestResource['interaction'] = [
  'read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'history-type', 'create', 'search-type',
].map((code) => ({ code: code as 'read' }));

let cached: { base: string; statement: CapabilityStatement } | undefined;

export function capabilityStatement(internalBase: string, startedAt: string): CapabilityStatement {
  if (cached?.base === internalBase) return cached.statement;
  const resource: CapabilityStatementRestResource[] = getResourceTypes()
    .sort()
    .map((type) => ({
      type,
      profile: `http://hl7.org/fhir/StructureDefinition/${type}`,
      interaction: TYPE_INTERACTIONS,
      versioning: 'versioned-update',
      readHistory: true,
      updateCreate: true,
      conditionalCreate: true,
      conditionalRead: 'not-supported',
      conditionalUpdate: true,
      conditionalDelete: 'single',
      searchInclude: ['*'],
      searchRevInclude: ['*'],
      searchParam: Object.values(getSearchParameters(type) ?? {}).map((p) => ({
        name: p.code as string,
        type: p.type,
        ...(p.url ? { definition: p.url } : {}),
      })),
      operation: [
        { name: 'validate', definition: 'http://hl7.org/fhir/OperationDefinition/Resource-validate' },
        ...(type === 'Patient' ? [{ name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything' }] : []),
      ],
    }));
  const statement: CapabilityStatement = {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: startedAt,
    publisher: 'CARA local sandbox',
    kind: 'instance',
    software: { name: 'CARA FHIR Vault sandbox (HAPI FHIR JPA emulation on the Medplum engine)', version: '0.1.0' },
    implementation: { description: 'CARA FHIR Vault (local sandbox), URL partitioning: [base]/<partition>/<type>', url: internalBase },
    // The platform is built on R5 (5.0.0); its REST API is R4's. The engine validates with R4 definitions.
    fhirVersion: '5.0.0' as CapabilityStatement['fhirVersion'],
    format: ['application/fhir+json', 'json'],
    patchFormat: ['application/json-patch+json'],
    rest: [
      {
        mode: 'server',
        security: {
          cors: false,
          service: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'OAuth' }] }],
          description: 'Mutual TLS with a client certificate of the CARA PKI, and an IUA access token (ITI-72: Authorization: Bearer). Reads need a ns:cara:<namespace>.Reader or .Contributor scope, writes a .Contributor scope.',
        },
        resource,
        interaction: [{ code: 'transaction' }, { code: 'batch' }, { code: 'history-system' }],
      },
    ],
  };
  cached = { base: internalBase, statement };
  return statement;
}
