/**
 * Demo data of the local sandbox: four patients known to AIM, each with a vault partition and
 * a Patient resource; the first one has a complete Shared Care Plan (CarePlan, Goals,
 * CareTeam, Organization, one earlier external Observation), shaped by the CARA profiles:
 * namespace tag `cara:scp`, identifiers `urn:cara:account` and `urn:cara:scp` (plus
 * `urn:cara:org_id` on the Organization), values written as full URNs.
 *
 * Resource ids are fixed (e.g. `CarePlan/scp-careplan`) so examples and docs can name them.
 */
import type { CarePlan, CareTeam, Goal, Identifier, Meta, Observation, Organization, Patient, Resource } from '@medplum/fhirtypes';
import { NAMESPACE_TAG_SYSTEM } from './vault-access';
import type { RunningVault } from './vault';

export const SCP_NAMESPACE_SYSTEM = NAMESPACE_TAG_SYSTEM;
export const SCP_NAMESPACE_TAG = { system: SCP_NAMESPACE_SYSTEM, code: 'cara:scp' } as const;
export const AUTHX_NAMESPACE_TAG = { system: SCP_NAMESPACE_SYSTEM, code: 'cara:authx' } as const;

const PROFILE_BASE = 'https://terminology.cara.ch/StructureDefinition';
export const SCP_PROFILES = {
  carePlan: `${PROFILE_BASE}/ScpCarePlan`,
  careTeam: `${PROFILE_BASE}/ScpCareTeam`,
  goal: `${PROFILE_BASE}/ScpGoal`,
  organization: `${PROFILE_BASE}/ScpTeamMemberOrganization`,
  observationExternal: `${PROFILE_BASE}/ScpObservationExternal`,
} as const;

export const LOINC = 'http://loinc.org';
/** The observation codes the seeded plan tracks (its Goals' `target.measure`). */
export const SCP_TRACKED_CODES = {
  bodyWeight: { system: LOINC, code: '29463-7', display: 'Body weight' },
  systolicBloodPressure: { system: LOINC, code: '8480-6', display: 'Systolic blood pressure' },
} as const;

/** MPI-IDs of the CARA integration community (root OID 2.16.756.5.30.1.191.1.0.2.1). */
const MPI_ROOT = 'urn:cara:mpi_id:2.16.756.5.30.1.191.1.0.2.1';

export interface SeedPatient {
  mpiIdUrn: string;
  accountUrn: string;
  /** The Account URN without `urn:cara:account:`. */
  partition: string;
  name: string;
}

function seedPatient(mpiExtension: string, account: string, name: string): SeedPatient {
  return { mpiIdUrn: `${MPI_ROOT}/${mpiExtension}`, accountUrn: `urn:cara:account:${account}`, partition: account, name };
}

export const seedPatients: SeedPatient[] = [
  seedPatient('e2d9dbec-9f49-4944-8b6b-790e88d2bd0f', '19776259-4d3e-4a1d-85e3-f1c6e48ec7f1', 'Marie Dubois'),
  seedPatient('5b0d1f7e-2c4a-4d8e-9a61-0f3c2b7d9e14', '7c1e4b2a-93d5-4f60-8e27-b5a9c0d3e812', 'Jean Müller'),
  seedPatient('a3f68c21-7e0b-4b95-8d4f-2c19e6b0a757', 'c2a7d9e4-1f38-4b6c-a05d-93e8f71b2c46', 'Sofia Rossi'),
  seedPatient('0c94e7b3-5d21-4a8f-b6e0-7f3a2d1c9b58', 'e5b83f10-6a4c-4d97-9c2e-18f0a7b6d3c9', 'Luca Bernasconi'),
];

/** The patient whose vault holds the full Shared Care Plan. */
export const scpPatient: SeedPatient = seedPatients[0];

/** The SCP's own identifier (`urn:cara:scp`). */
export const SCP_URN = 'urn:cara:scp:0f5e2d7c-8a41-4b39-9c6e-d2a7b1f08e53';
export const SCP_ORG_ID_URN = 'urn:cara:org_id:2.16.756.5.30.1.178.1';

export async function seedVault(vault: RunningVault): Promise<void> {
  for (const patient of seedPatients) {
    const repo = vault.repository(patient.partition);
    await repo.createResource(patientResource(patient));
    if (patient === scpPatient) {
      for (const resource of sharedCarePlan(patient)) await repo.createResource(resource);
    }
  }
}

function patientResource(p: SeedPatient): Patient {
  const [given, ...family] = p.name.split(' ');
  return {
    resourceType: 'Patient',
    id: 'patient',
    meta: { tag: [{ ...AUTHX_NAMESPACE_TAG }] },
    identifier: [
      { system: 'urn:cara:account', value: p.accountUrn },
      { system: 'urn:cara:mpi_id', value: p.mpiIdUrn },
    ],
    active: true,
    name: [{ given: [given], family: family.join(' ') }],
  };
}

function scpMeta(profile: string): Meta {
  return { profile: [profile], tag: [{ ...SCP_NAMESPACE_TAG }] };
}

function scpIdentifiers(p: SeedPatient): Identifier[] {
  return [
    { system: 'urn:cara:account', value: p.accountUrn },
    { system: 'urn:cara:scp', value: SCP_URN },
  ];
}

function sharedCarePlan(p: SeedPatient): Resource[] {
  const subject = { reference: 'Patient/patient' };
  const organization: Organization = {
    resourceType: 'Organization',
    id: 'scp-organization',
    meta: scpMeta(SCP_PROFILES.organization),
    identifier: [...scpIdentifiers(p), { system: 'urn:cara:org_id', value: SCP_ORG_ID_URN }],
    active: true,
    name: 'Clinique du Lac (sandbox)',
  };
  const goal = (id: string, text: string, measure: (typeof SCP_TRACKED_CODES)[keyof typeof SCP_TRACKED_CODES], low: number, high: number, unit: string): Goal => ({
    resourceType: 'Goal',
    id,
    meta: scpMeta(SCP_PROFILES.goal),
    identifier: scpIdentifiers(p),
    lifecycleStatus: 'active',
    category: [{ coding: [{ system: 'https://terminology.cara.ch/CodeSystem/scp-goal-type', code: 'parameter' }] }],
    description: { text },
    subject,
    target: [
      {
        measure: { coding: [{ ...measure }], text: measure.display },
        detailRange: { low: { value: low, unit, system: 'http://unitsofmeasure.org', code: unit }, high: { value: high, unit, system: 'http://unitsofmeasure.org', code: unit } },
      },
    ],
  });
  const weightGoal = goal('scp-goal-weight', 'Keep body weight between 60 and 75 kg', SCP_TRACKED_CODES.bodyWeight, 60, 75, 'kg');
  const pressureGoal = goal('scp-goal-bp', 'Systolic blood pressure below 140 mmHg', SCP_TRACKED_CODES.systolicBloodPressure, 100, 140, 'mm[Hg]');
  const careTeam: CareTeam = {
    resourceType: 'CareTeam',
    id: 'scp-careteam',
    meta: scpMeta(SCP_PROFILES.careTeam),
    identifier: scpIdentifiers(p),
    status: 'active',
    name: 'Shared Care Plan team',
    subject,
    participant: [
      {
        role: [{ coding: [{ system: 'https://terminology.cara.ch/CodeSystem/scp-participant-role', code: 'organization' }] }],
        member: { reference: 'Organization/scp-organization', display: organization.name },
      },
    ],
  };
  const carePlan: CarePlan = {
    resourceType: 'CarePlan',
    id: 'scp-careplan',
    meta: scpMeta(SCP_PROFILES.carePlan),
    identifier: scpIdentifiers(p),
    status: 'active',
    // 'directive' is R5 (the platform's version); the R4 engine stores it as given.
    intent: 'directive' as CarePlan['intent'],
    title: 'Shared Care Plan',
    created: '2025-01-15T09:00:00Z',
    subject,
    careTeam: [{ reference: 'CareTeam/scp-careteam' }],
    goal: [{ reference: 'Goal/scp-goal-weight' }, { reference: 'Goal/scp-goal-bp' }],
  };
  const earlierObservation: Observation = {
    resourceType: 'Observation',
    id: 'scp-observation-weight-1',
    meta: scpMeta(SCP_PROFILES.observationExternal),
    identifier: [{ system: 'urn:cara:account', value: p.accountUrn }],
    status: 'final',
    code: { coding: [{ ...SCP_TRACKED_CODES.bodyWeight }] },
    subject,
    effectiveDateTime: '2025-02-01T08:30:00Z',
    performer: [{ reference: 'Organization/scp-organization' }],
    valueQuantity: { value: 72.5, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
  };
  return [organization, weightGoal, pressureGoal, careTeam, carePlan, earlierObservation];
}
