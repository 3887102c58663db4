/**
 * Client certificate checks of the sandbox IAM (RFC 8705 tls_client_auth), shared by the
 * oidc-provider mTLS hooks (token endpoint) and the hand-written introspection endpoint.
 */
import type { X509Certificate } from 'node:crypto';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';

/** The certificate the peer presented in the TLS handshake, if any. */
export function peerCertificate(socket: Socket): X509Certificate | undefined {
  if (!(socket instanceof TLSSocket)) return undefined;
  return socket.getPeerX509Certificate();
}

/**
 * True when Node verified the presented chain against the sandbox CA (the server's `ca`)
 * and the certificate is within its validity period. The server does not reject the
 * handshake itself, so this is where a foreign or expired certificate is refused.
 */
export function peerCertificateAuthorized(socket: Socket): boolean {
  return socket instanceof TLSSocket && socket.authorized && peerCertificate(socket) !== undefined;
}

/** The common name of a subject (or a DN string such as `CN=x,O=y`). */
export function commonNameOf(distinguishedName: string): string | undefined {
  for (const part of distinguishedName.split(/\n|,(?=\s*[A-Za-z.0-9]+=)/)) {
    const match = /^\s*CN=(.*)$/.exec(part);
    if (match) return match[1].trim();
  }
  return undefined;
}

/** The DN registered for a client: oidc-provider's `tls_client_auth_subject_dn`. */
export function subjectDnFor(commonName: string): string {
  return `CN=${commonName}`;
}

/** Subject match by common name, as the brief asks (the organisation part is not compared). */
export function peerCommonNameMatches(socket: Socket, expectedCommonName: string): boolean {
  const cert = peerCertificate(socket);
  return cert !== undefined && commonNameOf(cert.subject) === expectedCommonName;
}

/** All three checks of tls_client_auth for one registered common name. */
export function peerAuthenticatesAs(socket: Socket, expectedCommonName: string): boolean {
  return peerCertificateAuthorized(socket) && peerCommonNameMatches(socket, expectedCommonName);
}
