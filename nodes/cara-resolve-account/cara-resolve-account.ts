/**
 * cara-resolve-account: MPI-ID -> Account URN and vault partition (AIM). A thin adapter:
 * reads the MPI-ID from its TypedInput, asks the config's AimClient, writes the answer on msg.
 */
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { findConfigNode, mirrorConfigStatus } from '../shared/config-api';
import { onInput } from '../shared/input-handler';
import { ok } from '../shared/status';
import { evaluateTyped, setMessageProperty } from '../shared/typed-input';
import { CaraError, isCaraError } from '../../src/errors';
import { normalizeMpiId } from '../../src/mpi-id';

interface ResolveAccountNodeDef extends NodeDef {
  config: string;
  /** TypedInput of the MPI-ID; default msg.payload. */
  mpiId?: string;
  mpiIdType?: string;
  /** Where the answer goes (msg property paths). */
  accountUrnProperty?: string;
  partitionProperty?: string;
  /** Seconds a resolution is reused; 0 = ask AIM for every message. */
  cacheTtl?: number | string;
  /** What an unknown patient does: fail the message, or leave by the second output. */
  unknownPatient?: 'error' | 'output2';
}

const DEFAULT_CACHE_TTL_SECONDS = 300;

/** A property path must name a msg property; an empty field falls back to the default. */
function propertyPath(value: string | undefined, fallback: string): string {
  const trimmed = (value ?? '').trim().replace(/^msg\./, '');
  return trimmed === '' ? fallback : trimmed;
}

function cacheTtlMs(value: number | string | undefined): number {
  if (value === undefined || value === '') return DEFAULT_CACHE_TTL_SECONDS * 1000;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new CaraError('CARA_CONFIG', `cache TTL "${String(value)}" is not valid; expected a number of seconds (0 = no cache)`, {
      property: 'cacheTtl',
    });
  }
  return Math.round(seconds * 1000);
}

export = function (RED: NodeAPI): void {
  function setUp(node: Node, def: ResolveAccountNodeDef): void {
    const mpiIdSetting = { value: def.mpiId ?? 'payload', type: def.mpiIdType || 'msg' };
    const accountUrnProperty = propertyPath(def.accountUrnProperty, 'accountUrn');
    const partitionProperty = propertyPath(def.partitionProperty, 'partition');
    const routeUnknown = def.unknownPatient === 'output2';
    const mpiIdLabel = mpiIdSetting.type === 'msg' ? `msg.${mpiIdSetting.value}` : 'MPI-ID';

    let settingsError: CaraError | undefined;
    let maxAgeMs = 0;
    try {
      maxAgeMs = cacheTtlMs(def.cacheTtl);
    } catch (err) {
      settingsError = err as CaraError;
    }

    const config = findConfigNode(RED, def.config);
    const statusMirror = mirrorConfigStatus(node, config);
    if (isCaraError(config)) settingsError ??= config;
    if (settingsError) node.status({ fill: 'red', shape: 'ring', text: RED._('cara-resolve-account.status.notConfigured') });
    // Translated once: an i18n lookup per message was 7 % of the CPU of a cached feed (bench/).
    const resolvedStatus = ok(RED._('cara-resolve-account.status.resolved'));
    const cachedStatus = ok(RED._('cara-resolve-account.status.cached'));
    const unknownStatus = ok(RED._('cara-resolve-account.status.unknown'));

    onInput(
      node,
      RED._('cara-resolve-account.status.resolving'),
      async ({ msg, send }) => {
        if (settingsError) throw settingsError;
        if (isCaraError(config)) throw config;
        const raw = await evaluateTyped(RED, node, msg, mpiIdSetting);
        const mpiIdUrn = normalizeMpiId(raw, mpiIdLabel);
        const client = await config.client();
        try {
          // The node's TTL is the oldest answer it accepts: nodes sharing a config share one cache.
          const resolution = await client.aim.resolve(mpiIdUrn, { maxAgeMs });
          setMessageProperty(RED, msg, accountUrnProperty, resolution.accountUrn);
          setMessageProperty(RED, msg, partitionProperty, resolution.partition);
          send(routeUnknown ? [msg, null] : msg);
          return resolution.cached ? cachedStatus : resolvedStatus;
        } catch (err) {
          if (!routeUnknown || !isCaraError(err) || err.code !== 'CARA_UNKNOWN_PATIENT') throw err;
          const unknown = msg as NodeMessage;
          unknown.statusCode = err.statusCode ?? 404;
          unknown.error = { message: err.message, code: err.code };
          send([null, unknown]);
          return unknownStatus;
        }
      },
      statusMirror,
    );
  }
  function CaraResolveAccountNode(this: Node, def: ResolveAccountNodeDef): void {
    RED.nodes.createNode(this, def);
    setUp(this, def);
  }
  RED.nodes.registerType('cara-resolve-account', CaraResolveAccountNode);
};
