/**
 * cara-config: one CARA connection (environment, client id, scope, client certificate).
 *
 * At deploy it builds one CaraClient (one mTLS agent, one token manager) shared by every node
 * that uses this config, and fans the token state out to them as node status. A bad setting or
 * certificate is reported once here (node.error) and shown as a red ring on every user.
 */
import type { NodeAPI, NodeDef, NodeStatus } from 'node-red';
import { createCaraClient, type CaraClient } from '../../src/client';
import { CaraError } from '../../src/errors';
import type { TokenState } from '../../src/token';
import { daysUntilExpiry, expiresSoon } from '../../src/tls';
import type { CaraConfigNode } from '../shared/config-api';
import { toCaraError } from '../shared/input-handler';
import { failed, idle, ok, shortReason, warning, working } from '../shared/status';
import {
  PRESETS,
  readSettings,
  sandboxUrls,
  type CaraConfigCredentials,
  type CaraConfigDefinition,
  type TlsConfigNodeLike,
  type Translate,
} from './settings';
import { testConnectionHandler } from './test-connection';

type CaraConfigDef = NodeDef & CaraConfigDefinition;

/** The implementation behind the CaraConfigNode contract. */
interface CaraConfigNodeImpl extends CaraConfigNode {
  credentials: CaraConfigCredentials;
  /** Whether cara-token verifies each token it hands out against the IAM's keys. */
  verifyTokens: boolean;
}

/** Local wall-clock time of an epoch, HH:MM:SS: stays true without a timer refreshing it. */
function clockTime(epochMs: number): string {
  return new Date(epochMs).toTimeString().slice(0, 8);
}

/**
 * The gist of a failure for a 40-character status: the OAuth error code or the network
 * reason, not the endpoint URL every message starts with. The full text goes to the log.
 */
export = function (RED: NodeAPI): void {
  const t: Translate = (key, params) => RED._(key, params);

  /** The status every user of the config shows for a token state. */
  function statusOf(state: TokenState, certificateWarning: string | undefined): NodeStatus {
    switch (state.state) {
      case 'idle':
        return certificateWarning ? warning(certificateWarning) : idle(t('cara-config.status.ready'));
      case 'renewing':
        return working(t('cara-config.status.renewing'));
      case 'ok': {
        // Both would not fit in a status: the certificate's expiry matters more than the token's.
        if (certificateWarning) return warning(t('cara-config.status.tokenOkCertificateExpires', { warning: certificateWarning }));
        return ok(t('cara-config.status.tokenOk', { time: clockTime(state.expiresAt) }));
      }
      case 'failing':
        // A still-valid token is being served: degraded (yellow), not down (red).
        return state.expiresAt !== undefined ? warning(shortReason(state.reason)) : failed(shortReason(state.reason));
    }
  }

  function CaraConfig(this: CaraConfigNodeImpl, def: CaraConfigDef): void {
    RED.nodes.createNode(this, def);
    setUp(this, def);
  }

  function setUp(node: CaraConfigNodeImpl, def: CaraConfigDef): void {
    const listeners = new Set<(status: NodeStatus) => void>();
    let current: NodeStatus = working(t('cara-config.status.starting'));
    let closed = false;
    let stopWatching: (() => void) | undefined;
    node.verifyTokens = def.verifyTokens === true;

    const publish = (status: NodeStatus): void => {
      current = status;
      for (const listener of listeners) listener(status);
    };

    const start = async (): Promise<CaraClient> => {
      const { settings, warnings } = readSettings(def, node.credentials ?? {}, {
        t,
        tlsConfigNode: (id) => RED.nodes.getNode(id) as unknown as TlsConfigNodeLike | null,
      });
      for (const text of warnings) node.warn(text);
      const client = await createCaraClient(settings);
      if (closed) {
        await client.close();
        throw new CaraError('CARA_CLOSED', t('cara-config.errors.closed'));
      }
      let certificateWarning: string | undefined;
      if (client.certificate && expiresSoon(client.certificate)) {
        certificateWarning = t('cara-config.status.certificateExpires', { days: daysUntilExpiry(client.certificate) });
        node.warn(t('cara-config.warn.certificateExpiresSoon', {
          subject: client.certificate.subject,
          date: client.certificate.validTo.toISOString().slice(0, 10),
        }));
      }
      const onState = (state: TokenState): void => publish(statusOf(state, certificateWarning));
      client.tokens.on('state', onState);
      stopWatching = () => client.tokens.off('state', onState);
      onState(client.tokens.state);
      // The first token is asked for at deploy: every user node then shows at once whether the
      // connection works ("token ok" or "invalid_client"), and the first message does not wait.
      // A failure is reported through the token state; messages get it through done(err).
      client.tokens.get().catch(() => undefined);
      return client;
    };

    const ready = start();
    ready.catch((err: unknown) => {
      const error = toCaraError(err);
      if (closed) return;
      node.error(t('cara-config.errors.deploy', { reason: error.message }));
      publish(failed(error.message));
    });

    node.client = () => ready;
    node.subscribeStatus = (listener) => {
      listeners.add(listener);
      listener(current);
      return () => {
        listeners.delete(listener);
      };
    };

    node.on('close', (_removed: boolean, done: () => void) => {
      closed = true;
      listeners.clear();
      stopWatching?.();
      ready
        .then((client) => client.close(), () => undefined)
        .catch((err: unknown) => node.warn(toCaraError(err).message))
        .finally(done);
    });
  }

  RED.nodes.registerType<CaraConfigNodeImpl, CaraConfigDef, Record<string, never>, CaraConfigCredentials>('cara-config', CaraConfig, {
    credentials: {
      certPem: { type: 'text' },
      keyPem: { type: 'password' },
      pfx: { type: 'password' },
      passphrase: { type: 'password' },
      caPem: { type: 'text' },
    },
  });

  // The editor previews the URLs of a preset environment from here: one source of truth.
  RED.httpAdmin.get('/cara-config/environments', RED.auth.needsPermission('cara-config.read'), (req, res) => {
    const port = Number(req.query.sandboxPort);
    const sandbox = sandboxUrls(Number.isInteger(port) && port > 0 && port < 65534 ? port : undefined);
    res.json({ ...PRESETS, sandbox });
  });

  // "Test connection" in the dialog: one token with the dialog's current values, never the token itself.
  RED.httpAdmin.post('/cara-config/:id/test', RED.auth.needsPermission('cara-config.write'), testConnectionHandler(RED, t));
};
