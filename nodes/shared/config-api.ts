/**
 * What a cara-config node offers the flow nodes that use it. Flow nodes depend on this
 * interface only, never on the config node's implementation.
 */
import type { Node, NodeAPI, NodeStatus } from 'node-red';
import type { CaraClient } from '../../src/client';
import { CaraError, isCaraError } from '../../src/errors';
import { errorStatusText, failed, idle } from './status';

export interface CaraConfigNode extends Node {
  /** The ready client; rejects with the deploy-time error (bad certificate, bad URL). */
  client(): Promise<CaraClient>;
  /** Whether tokens are verified against the IAM's keys before they are handed out. */
  readonly verifyTokens: boolean;
  /** Calls `listener` now and on each change of the connection/token state; returns the unsubscribe. */
  subscribeStatus(listener: (status: NodeStatus) => void): () => void;
}

/** Finds the config node a flow node points at, or explains what is missing. */
export function findConfigNode(RED: NodeAPI, id: string | undefined): CaraConfigNode | CaraError {
  const node = id ? (RED.nodes.getNode(id) as CaraConfigNode | null) : null;
  if (!node || typeof node.client !== 'function') {
    return new CaraError('CARA_CONFIG', 'no CARA connection configured; select a cara-config node in this node\'s settings', {
      property: 'config',
    });
  }
  return node;
}

/** The config's connection state as shown under a flow node. */
export interface StatusMirror {
  /** The config's latest state: what the node shows at rest. */
  resting(): NodeStatus;
  /** The node shows its own status (working, or a failure): only a failing config overrides it. */
  hold(): void;
  /** Back to showing the config's state as it changes. */
  release(): void;
}

/**
 * Shows the config's connection state under `node` until the node closes (the config fans out
 * "token ok", "renewing", "failing"), except while the node shows its own (see StatusMirror).
 */
export function mirrorConfigStatus(node: Node, config: CaraConfigNode | CaraError): StatusMirror {
  if (isCaraError(config)) {
    const status = failed(errorStatusText(config));
    node.status(status);
    return { resting: () => status, hold: () => undefined, release: () => undefined };
  }
  let resting: NodeStatus = idle();
  let held = false;
  const unsubscribe = config.subscribeStatus((status) => {
    resting = status;
    // A red config state matters more than any one message's outcome.
    if (!held || status.fill === 'red') node.status(status);
  });
  node.on('close', (_removed: boolean, done: () => void) => {
    unsubscribe();
    done();
  });
  return {
    resting: () => resting,
    hold: () => {
      held = true;
    },
    release: () => {
      held = false;
    },
  };
}
