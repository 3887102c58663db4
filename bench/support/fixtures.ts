/** The FHIR documents the benchmark servers answer: a fixed ~1 KB Patient and search pages. */

export const PARTITION = 'bench-partition-0001';
export const PATIENT_ID = 'bench-patient-1';
/** Where HAPI thinks it lives: the vault's `next` links use this internal base, as CARA's do. */
export const INTERNAL_BASE = 'http://localhost:9051/fhir';

/** A Patient padded to exactly `bytes` bytes of JSON (the padding is a narrative div). */
export function patientJson(bytes = 1024): string {
  const resource = {
    resourceType: 'Patient',
    id: PATIENT_ID,
    meta: {
      versionId: '1',
      lastUpdated: '2025-01-01T00:00:00.000+00:00',
      tag: [{ system: 'https://terminology.cara.ch/CodeSystem/fhirvault-namespace', code: 'cara:scp' }],
    },
    identifier: [{ system: 'urn:cara:mpi_id', value: 'urn:cara:mpi_id:2.16.756.5.30.1.191.1.0.2.1/bench-1' }],
    active: true,
    name: [{ family: 'Muster', given: ['Anna', 'Maria'] }],
    gender: 'female',
    birthDate: '1970-01-01',
    address: [{ line: ['Rue du Bench 1'], city: 'Lausanne', postalCode: '1000', country: 'CH' }],
    text: { status: 'generated', div: '' },
  };
  const bare = JSON.stringify(resource).length;
  const filler = Math.max(0, bytes - bare - '<div xmlns="http://www.w3.org/1999/xhtml"></div>'.length);
  resource.text.div = `<div xmlns="http://www.w3.org/1999/xhtml">${'x'.repeat(filler)}</div>`;
  return JSON.stringify(resource);
}

/** One Observation of a search result, about 1 KB of JSON. */
function observation(index: number): Record<string, unknown> {
  return {
    resourceType: 'Observation',
    id: `obs-${index}`,
    meta: {
      versionId: '1',
      lastUpdated: '2025-01-01T00:00:00.000+00:00',
      profile: ['https://terminology.cara.ch/StructureDefinition/ScpObservationExternal'],
      tag: [{ system: 'https://terminology.cara.ch/CodeSystem/fhirvault-namespace', code: 'cara:scp' }],
    },
    identifier: [
      { system: 'urn:cara:account', value: `urn:cara:account:${PARTITION}` },
      { system: 'urn:ietf:rfc:3986', value: `urn:uuid:00000000-0000-4000-8000-${String(index).padStart(12, '0')}` },
    ],
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs', display: 'Vital Signs' }] }],
    code: { coding: [{ system: 'http://loinc.org', code: '29463-7', display: 'Body weight' }], text: 'Body weight' },
    subject: { reference: `Patient/${PATIENT_ID}` },
    effectiveDateTime: '2025-01-01T08:00:00+01:00',
    performer: [{ reference: 'Organization/bench-clinic', display: 'Clinique du Bench' }],
    valueQuantity: { value: 70 + (index % 30), unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
    note: [{ text: 'Measured in the morning before breakfast, patient standing, light clothing, calibrated scale number 4.' }],
  };
}

export interface SearchPages {
  /** Page bodies by offset (0, pageSize, 2*pageSize, ...). */
  pages: Map<number, Buffer>;
  total: number;
  pageSize: number;
  /** Bytes of JSON over all pages. */
  bytes: number;
}

/**
 * A searchset of `total` Observations in pages of `pageSize`, linked the way HAPI links them:
 * `next` on the internal base, `?_getpages=<search id>&_getpagesoffset=<n>&_count=<size>`.
 */
export function searchPages(total: number, pageSize: number, searchId = 'bench-search'): SearchPages {
  const pages = new Map<number, Buffer>();
  let bytes = 0;
  const pageUrl = (offset: number): string =>
    `${INTERNAL_BASE}/${PARTITION}?_getpages=${searchId}&_getpagesoffset=${offset}&_count=${pageSize}&_bundletype=searchset`;
  for (let offset = 0; offset < total; offset += pageSize) {
    const link = [{ relation: 'self', url: offset === 0 ? `${INTERNAL_BASE}/${PARTITION}/Observation?_count=${pageSize}` : pageUrl(offset) }];
    if (offset + pageSize < total) link.push({ relation: 'next', url: pageUrl(offset + pageSize) });
    const entry = [];
    for (let i = offset; i < Math.min(total, offset + pageSize); i += 1) {
      entry.push({ fullUrl: `${INTERNAL_BASE}/${PARTITION}/Observation/obs-${i}`, resource: observation(i), search: { mode: 'match' } });
    }
    const body = Buffer.from(JSON.stringify({ resourceType: 'Bundle', id: `${searchId}-${offset}`, type: 'searchset', total, link, entry }));
    bytes += body.length;
    pages.set(offset, body);
  }
  return { pages, total, pageSize, bytes };
}
