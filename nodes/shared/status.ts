/** The small vocabulary of node status shown under every CARA node. */
import type { NodeStatus } from 'node-red';
import type { CaraError } from '../../src/errors';

export const STATUS_TEXT_MAX = 40;

export function working(text: string): NodeStatus {
  return { fill: 'blue', shape: 'dot', text };
}

export function ok(text: string): NodeStatus {
  return { fill: 'green', shape: 'dot', text };
}

export function idle(text = ''): NodeStatus {
  return { fill: 'grey', shape: 'ring', text };
}

export function warning(text: string): NodeStatus {
  return { fill: 'yellow', shape: 'ring', text: shorten(text) };
}

export function failed(text: string): NodeStatus {
  return { fill: 'red', shape: 'ring', text: shorten(text) };
}

/** Status text must stay short; the full reason goes to the error / debug sidebar. */
export function shorten(text: string): string {
  return text.length > STATUS_TEXT_MAX ? `${text.slice(0, STATUS_TEXT_MAX - 1)}…` : text;
}

/**
 * The part of a library message worth the few characters of a status: messages start with
 * the endpoint ("POST https://.../token failed: ..."), which would push the reason out of view.
 */
export function shortReason(message: string): string {
  const oauth = /\((\d{3}) ([a-z_]+)\b/.exec(message);
  if (oauth) return `${oauth[2]} (${oauth[1]})`;
  const network = /\bfailed: (.+)$/.exec(message);
  return network?.[1] ?? message;
}

/** Status text for an error: the OAuth code, the HTTP status, a timeout, else the short reason. */
export function errorStatusText(err: CaraError): string {
  if (err.oauthError) return err.statusCode ? `${err.oauthError} (${err.statusCode})` : err.oauthError;
  if (err.code === 'CARA_TIMEOUT') return 'timeout';
  if (err.code === 'CARA_UNKNOWN_PATIENT') return 'unknown patient';
  if (err.code === 'CARA_HTTP' && err.statusCode !== undefined) return `HTTP ${err.statusCode}`;
  return shortReason(err.message);
}
