/**
 * MPI-IDs as AIM wants them: `urn:cara:mpi_id:<root OID>/<extension>`.
 */
import { inputError } from './errors';

export const MPI_ID_URN_PREFIX = 'urn:cara:mpi_id:';

/** ISO OID: arcs of digits without leading zeros, first arc 0, 1 or 2, at least two arcs. */
const OID = /^[0-2](\.(0|[1-9][0-9]*))+$/;
/** The MPI-PID itself: digits, a UUID or similar; nothing that could alter a URL or JSON. */
const EXTENSION = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const EXPECTED = '"urn:cara:mpi_id:<root OID>/<extension>" or "<root OID>/<extension>", e.g. urn:cara:mpi_id:2.16.756.5.30.1.191.1.0.2.1/123456';

/**
 * Accepts the URN or the bare `<oid>/<extension>` form (surrounding spaces ignored, the
 * URN prefix in any case) and returns the URN form. Anything else is CARA_INPUT naming
 * `property`.
 */
export function normalizeMpiId(input: unknown, property = 'mpiId'): string {
  if (typeof input !== 'string' || input.trim() === '') {
    throw inputError(property, input === undefined || input === null || input === '' ? 'is missing' : `is a ${typeof input}, not a string`, EXPECTED);
  }
  let value = input.trim();
  if (value.toLowerCase().startsWith(MPI_ID_URN_PREFIX)) value = value.slice(MPI_ID_URN_PREFIX.length);
  const slash = value.indexOf('/');
  if (slash < 0) throw inputError(property, 'has no "/" between the root OID and the extension', EXPECTED);
  const oid = value.slice(0, slash);
  const extension = value.slice(slash + 1);
  if (!OID.test(oid) || oid.length > 128) throw inputError(property, 'does not start with a valid root OID (digits separated by dots)', EXPECTED);
  if (!EXTENSION.test(extension)) {
    throw inputError(property, 'has an invalid extension (letters, digits, ".", "_", "-", ":", at most 128)', EXPECTED);
  }
  return `${MPI_ID_URN_PREFIX}${oid}/${extension}`;
}
