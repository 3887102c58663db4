/**
 * CaraClient: everything one cara-config needs, composed once at deploy and shared by every
 * node that uses that config: one mTLS Agent (a pool per origin), one token manager, the
 * AIM and FHIR clients.
 *
 * CONTRACT FILE: the interface below is what node adapters code against. The implementation
 * (createCaraClient) is completed when the token core (discovery/token/introspect/verify) and
 * the AIM/FHIR clients land.
 */
import type { CertificateInfo, TlsSettings } from './tls';
import type { TokenManager } from './token';
import type { IntrospectionResult } from './introspect';
import type { VerifiedToken } from './verify';
import type { AimClient } from './aim';
import type { FhirClient } from './fhir/client';

export interface CaraClientSettings {
  /** Client id registered with CARA (may contain '/'). */
  clientId: string;
  /** Space-separated scopes; empty or undefined = send no scope parameter. */
  scope?: string;
  /** IAM issuer (`https://<iam>/realms/cara`) used for ITI-103 discovery. */
  issuer?: string;
  /** Explicit endpoints win over discovery. */
  tokenEndpoint?: string;
  introspectionEndpoint?: string;
  jwksUri?: string;
  /** AIM origin, e.g. https://ws-authx-mtls-val.cara.ch */
  aimUrl?: string;
  /** FHIR base, e.g. https://ws-fhir-mtls-val.cara.ch/fhir */
  fhirBaseUrl?: string;
  tls: TlsSettings;
  /** Timeout of every request, ms. */
  timeoutMs: number;
}

export interface CaraClient {
  readonly settings: Readonly<CaraClientSettings>;
  readonly certificate?: CertificateInfo;
  readonly tokens: TokenManager;
  readonly aim: AimClient;
  readonly fhir: FhirClient;
  /** ITI-102: introspects `token`, or the current token when omitted. */
  introspect(token?: string): Promise<IntrospectionResult>;
  /** Verifies `token` (or the current one) locally against the JWKS. */
  verify(token?: string): Promise<VerifiedToken>;
  /** Scrubs the current token, passphrase and any secret-shaped text. */
  redact(text: string): string;
  /** Stops timers and closes every pooled connection. */
  close(): Promise<void>;
}
