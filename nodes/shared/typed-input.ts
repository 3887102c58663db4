/** Reading TypedInput settings (msg, flow, global, env, str, ...) the asynchronous way. */
import type { Node, NodeAPI, NodeMessage } from 'node-red';
import { CaraError } from '../../src/errors';
import { redact } from '../../src/redact';

export interface TypedSetting {
  value: string;
  type: string;
}

/** Evaluates a TypedInput; the callback form also reaches asynchronous context stores. */
export function evaluateTyped(RED: NodeAPI, node: Node, msg: NodeMessage, setting: TypedSetting): Promise<unknown> {
  return new Promise((resolve, reject) => {
    RED.util.evaluateNodeProperty(setting.value, setting.type, node, msg, (err: Error | null, result: unknown) => {
      if (!err) return resolve(result);
      // E.g. a JSONata expression that fails on this message: the message's fault, said as such.
      const property = `${setting.type}.${setting.value}`;
      reject(new CaraError('CARA_INPUT', `${property} could not be evaluated: ${redact(err.message)}`, { property, cause: err }));
    });
  });
}

/**
 * A value set in the node wins over the message; the node warns (once per node and property)
 * when the message tries to override it, as core nodes do, so a flow author sees why msg was ignored.
 * `msgProperty` is the conventional message property, e.g. `resourceType`.
 */
export async function resolveSetting(
  RED: NodeAPI,
  node: Node,
  msg: NodeMessage,
  setting: TypedSetting,
  msgProperty: string,
  warned: Set<string>,
): Promise<unknown> {
  const fromMsg = (msg as Record<string, unknown>)[msgProperty];
  const setInNode = setting.type !== 'msg' && setting.value !== '';
  if (!setInNode) {
    return setting.type === 'msg' && setting.value !== '' ? evaluateTyped(RED, node, msg, setting) : fromMsg;
  }
  const configured = await evaluateTyped(RED, node, msg, setting);
  if (fromMsg !== undefined && fromMsg !== configured && !warned.has(msgProperty)) {
    warned.add(msgProperty);
    // Each node's catalogue carries this key: Node-RED namespaces messages per node type.
    node.warn(RED._(`${node.type}.warn.msgOverrideIgnored`, { property: `msg.${msgProperty}` }));
  }
  return configured;
}

/** Writes `value` at a msg property path such as `accountUrn` or `cara.token`. */
export function setMessageProperty(RED: NodeAPI, msg: NodeMessage, path: string, value: unknown): void {
  RED.util.setMessageProperty(msg, path, value, true);
}
