/**
 * One error class for everything the library reports. A node adapter passes it to
 * `done(err)` as it is; a Catch flow reads `code`, `statusCode` and `outcome`.
 * Messages are written for an integration engineer: what was wrong, where, what is expected.
 * They never contain a token, key or passphrase (see redact.ts).
 */
export type CaraErrorCode =
  /** A configuration value is missing or malformed (config node, node settings). */
  | 'CARA_CONFIG'
  /** Certificate material: unreadable file, wrong passphrase, key/cert mismatch, expired. */
  | 'CARA_CERTIFICATE'
  /** A value taken from the message is missing or malformed. Nothing was sent. */
  | 'CARA_INPUT'
  /** The authorization server answered with an OAuth error (`oauthError` holds its code). */
  | 'CARA_OAUTH'
  /** Discovery (ITI-103) metadata is unusable, e.g. its issuer does not match. */
  | 'CARA_DISCOVERY'
  /** A token failed local verification (signature, issuer, expiry). */
  | 'CARA_TOKEN_INVALID'
  /** AIM or the FHIR Vault answered with a non-success status. */
  | 'CARA_HTTP'
  /** AIM knows no account for the MPI-ID. */
  | 'CARA_UNKNOWN_PATIENT'
  /** The server answered something that is not what the protocol promises (e.g. not JSON). */
  | 'CARA_BAD_RESPONSE'
  /** The connection failed or was reset. */
  | 'CARA_NETWORK'
  /** No answer within the request timeout. */
  | 'CARA_TIMEOUT'
  /** A link from the server points at another origin or partition; not followed. */
  | 'CARA_UNSAFE_LINK'
  /** The client was closed (redeploy) while the request was pending. */
  | 'CARA_CLOSED'
  /** An unexpected failure inside the node or library (a bug, not a bad value): please report it. */
  | 'CARA_INTERNAL';

export interface CaraErrorDetails {
  /** HTTP status of the answer that caused the error, if any. */
  statusCode?: number;
  /** OAuth `error` code (`invalid_client`, `invalid_scope`, ...). */
  oauthError?: string;
  /** The FHIR OperationOutcome (or other JSON body) the server sent, for Catch flows. */
  outcome?: unknown;
  /** The property or setting that was wrong, e.g. `msg.payload` or `clientId`. */
  property?: string;
  /** Whether trying again later may succeed. */
  retryable?: boolean;
  cause?: unknown;
}

export class CaraError extends Error {
  override readonly name = 'CaraError';
  readonly code: CaraErrorCode;
  readonly statusCode?: number;
  readonly oauthError?: string;
  readonly outcome?: unknown;
  readonly property?: string;
  readonly retryable: boolean;

  constructor(code: CaraErrorCode, message: string, details: CaraErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.statusCode = details.statusCode;
    this.oauthError = details.oauthError;
    this.outcome = details.outcome;
    this.property = details.property;
    this.retryable = details.retryable ?? false;
  }
}

export function isCaraError(value: unknown): value is CaraError {
  return value instanceof CaraError;
}

/** Shorthand for the most common error: a bad value in the message or settings. */
export function inputError(property: string, problem: string, expected: string): CaraError {
  return new CaraError('CARA_INPUT', `${property} ${problem}; expected ${expected}`, { property });
}
