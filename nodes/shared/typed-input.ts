/** Reading TypedInput settings (msg, flow, global, env, str, ...) the asynchronous way. */
import type { Node, NodeAPI, NodeMessage } from 'node-red';
import { CaraError } from '../../src/errors';
import { redact } from '../../src/redact';

export interface TypedSetting {
  value: string;
  type: string;
}

/**
 * A setting as prepared at deploy (prepareSetting): `fixed` holds the value of a type that cannot
 * change while the flow runs, evaluated once instead of once per message.
 */
export interface PreparedSetting extends TypedSetting {
  readonly fixed?: { readonly value: unknown };
}

/**
 * Types whose value is known at deploy (as the core change node treats them). 'msg' is read per
 * message but synchronously; flow/global (asynchronous context stores) and jsonata need the callback.
 */
const FIXED_AT_DEPLOY: ReadonlySet<string> = new Set(['str', 'num', 'bool', 'json', 'env']);

/**
 * Evaluates a fixed-type setting once. Left unprepared (evaluated per message, as before) when the
 * evaluation fails, so that each message still fails with the same error, or when it gives an
 * object (a 'json' setting): each message gets its own copy, which a flow may change.
 */
export function prepareSetting(RED: NodeAPI, node: Node, setting: TypedSetting): PreparedSetting {
  if (!FIXED_AT_DEPLOY.has(setting.type)) return setting;
  let value: unknown;
  try {
    value = RED.util.evaluateNodeProperty(setting.value, setting.type, node, {} as NodeMessage);
  } catch {
    return setting;
  }
  if (typeof value === 'object' && value !== null) return setting;
  return { value: setting.value, type: setting.type, fixed: { value } };
}

function evaluationError(setting: TypedSetting, err: Error): CaraError {
  // E.g. a JSONata expression that fails on this message: the message's fault, said as such.
  const property = `${setting.type}.${setting.value}`;
  return new CaraError('CARA_INPUT', `${property} could not be evaluated: ${redact(err.message)}`, { property, cause: err });
}

/** Evaluates a TypedInput; the callback form also reaches asynchronous context stores. */
export function evaluateTyped(RED: NodeAPI, node: Node, msg: NodeMessage, setting: TypedSetting): Promise<unknown> {
  return new Promise((resolve, reject) => {
    RED.util.evaluateNodeProperty(setting.value, setting.type, node, msg, (err: Error | null, result: unknown) => {
      if (!err) return resolve(result);
      reject(evaluationError(setting, err));
    });
  });
}

/**
 * Like evaluateTyped, but without a promise when none is needed: a prepared fixed value, or a
 * msg property (read synchronously, same error). A Promise only for flow, global, jsonata and
 * unprepared settings.
 */
export function evaluateTypedNow(RED: NodeAPI, node: Node, msg: NodeMessage, setting: PreparedSetting): unknown {
  if (setting.fixed) return setting.fixed.value;
  if (setting.type !== 'msg') return evaluateTyped(RED, node, msg, setting);
  try {
    return RED.util.evaluateNodeProperty(setting.value, 'msg', node, msg) as unknown;
  } catch (err) {
    throw evaluationError(setting, err as Error);
  }
}

/**
 * A value set in the node wins over the message; the node warns (once per node and property)
 * when the message tries to override it, as core nodes do, so a flow author sees why msg was ignored.
 * `msgProperty` is the conventional message property, e.g. `resourceType`.
 * Returns the value, or a Promise of it only when one is needed (see evaluateTypedNow); a failing
 * msg property throws synchronously.
 */
export function resolveSettingNow(
  RED: NodeAPI,
  node: Node,
  msg: NodeMessage,
  setting: PreparedSetting,
  msgProperty: string,
  warned: Set<string>,
): unknown {
  const fromMsg = (msg as Record<string, unknown>)[msgProperty];
  const setInNode = setting.type !== 'msg' && setting.value !== '';
  if (!setInNode) {
    return setting.type === 'msg' && setting.value !== '' ? evaluateTypedNow(RED, node, msg, setting) : fromMsg;
  }
  const configured = evaluateTypedNow(RED, node, msg, setting);
  if (configured instanceof Promise) return configured.then((value: unknown) => warnIfOverridden(RED, node, fromMsg, value, msgProperty, warned));
  return warnIfOverridden(RED, node, fromMsg, configured, msgProperty, warned);
}

function warnIfOverridden(RED: NodeAPI, node: Node, fromMsg: unknown, configured: unknown, msgProperty: string, warned: Set<string>): unknown {
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
