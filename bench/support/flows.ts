/** The node definitions the cases deploy: a cara-config for the bench peers, a core tls-config. */
import type { FlowNode } from './node-red';
import type { PeerInfo } from './peers';

export interface ConfigNode {
  node: FlowNode;
  credentials: Record<string, object>;
}

/** A cara-config (custom environment) for the bench peers, with the client certificate as PEM credentials. */
export function caraConfig(peers: PeerInfo, id: string, options: { shortTokens?: boolean } = {}): ConfigNode {
  return {
    node: {
      id,
      type: 'cara-config',
      name: `bench ${id}`,
      environment: 'custom',
      issuer: options.shortTokens ? peers.shortIssuer : peers.issuer,
      aimUrl: peers.aimOrigin,
      fhirBaseUrl: peers.fhirBase,
      clientId: peers.clientId,
      scope: peers.scope,
      certificateSource: 'pem',
      timeout: 30,
      verifyTokens: false,
    },
    credentials: { [id]: { certPem: peers.certPem, keyPem: peers.keyPem, caPem: peers.caPem } },
  };
}

/** A core tls-config node with the same client certificate and CA (server certificates verified). */
export function tlsConfig(peers: PeerInfo, id: string): ConfigNode {
  return {
    node: { id, type: 'tls-config', name: `bench ${id}`, cert: '', key: '', ca: '', certname: '', keyname: '', caname: '', servername: '', verifyservercert: true, alpnprotocol: '' },
    credentials: { [id]: { certdata: peers.certPem, keydata: peers.keyPem, cadata: peers.caPem } },
  };
}

export function mergeCredentials(...configs: ConfigNode[]): Record<string, object> {
  return Object.assign({}, ...configs.map((c) => c.credentials)) as Record<string, object>;
}
