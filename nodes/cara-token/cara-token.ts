/**
 * cara-token: the access token of a cara-config, for flows (ITI-71 get / renew), and checks of
 * a token (ITI-102 introspection, local signature verification).
 *
 * A thin adapter: it reads its settings and the message, asks the config's CaraClient, and
 * writes the answer on the message. The token itself is only ever written where the flow
 * asked for it (the output property, optionally msg.headers.Authorization).
 */
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import type { CaraClient } from '../../src/client';
import { CaraError, inputError } from '../../src/errors';
import type { AccessToken } from '../../src/token';
import { findConfigNode, mirrorConfigStatus, type CaraConfigNode } from '../shared/config-api';
import { onInput } from '../shared/input-handler';
import { evaluateTyped, setMessageProperty } from '../shared/typed-input';

const TOKEN_ACTIONS = ['get', 'renew', 'introspect', 'verify'] as const;
type TokenAction = (typeof TOKEN_ACTIONS)[number];

/** The TypedInput type meaning "the config's current token" (the default). */
const CURRENT_TOKEN = 'current';

interface CaraTokenDef extends NodeDef {
  config?: string;
  action?: string;
  /** The token to introspect / verify (TypedInput). */
  token?: string;
  tokenType?: string;
  /** Where the result goes (a msg property path). */
  property?: string;
  setAuthorizationHeader?: boolean;
}

/** What msg.token describes (never the token value itself). */
interface TokenDescription {
  tokenType: 'Bearer';
  /** ISO 8601. */
  expiresAt: string;
  /** Whole seconds left at the time of the message. */
  expiresIn: number;
  scope?: string;
  claims?: Record<string, unknown>;
}

function describeToken(token: AccessToken, claims: Record<string, unknown> | undefined, now: number): TokenDescription {
  return {
    tokenType: token.tokenType,
    expiresAt: new Date(token.expiresAt).toISOString(),
    expiresIn: Math.max(0, Math.floor((token.expiresAt - now) / 1000)),
    ...(token.scope ? { scope: token.scope } : {}),
    ...(claims ? { claims } : {}),
  };
}


export = function (RED: NodeAPI): void {
  function CaraToken(this: Node, def: CaraTokenDef): void {
    RED.nodes.createNode(this, def);
    setUp(this, def);
  }

  function setUp(node: Node, def: CaraTokenDef): void {
    const action = (TOKEN_ACTIONS as readonly string[]).includes(def.action ?? '') ? (def.action as TokenAction) : 'get';
    const property = (def.property ?? '').trim() || 'payload';
    const tokenSetting = { value: def.token ?? '', type: def.tokenType || CURRENT_TOKEN };
    const config = findConfigNode(RED, def.config);
    const statusMirror = mirrorConfigStatus(node, config);

    /** The token to check: the config's current one, or one the flow supplies. */
    async function tokenToCheck(msg: NodeMessage): Promise<string | undefined> {
      if (tokenSetting.type === CURRENT_TOKEN) return undefined;
      const value = await evaluateTyped(RED, node, msg, tokenSetting);
      if (typeof value !== 'string' || value.trim() === '') {
        const where = tokenSetting.type === 'str' ? 'the token setting' : `${tokenSetting.type}.${tokenSetting.value}`;
        throw inputError(where, 'holds no token', 'an access token (a JWT string)');
      }
      return value.trim();
    }

    async function handOut(client: CaraClient, msg: NodeMessage, token: AccessToken): Promise<void> {
      const claims = (config as CaraConfigNode).verifyTokens ? (await client.verify(token.value)).claims : token.claims;
      setMessageProperty(RED, msg, property, token.value);
      (msg as NodeMessage & { token?: TokenDescription }).token = describeToken(token, claims as Record<string, unknown> | undefined, Date.now());
      if (def.setAuthorizationHeader) {
        const target = msg as NodeMessage & { headers?: Record<string, unknown> };
        const headers = typeof target.headers === 'object' && target.headers !== null ? target.headers : {};
        // Core http request nodes send msg.headers as they are; drop any other spelling first.
        for (const name of Object.keys(headers)) if (name.toLowerCase() === 'authorization') delete headers[name];
        target.headers = { ...headers, Authorization: `Bearer ${token.value}` };
      }
    }

    onInput(
      node,
      RED._(`cara-token.status.${action}`),
      async ({ msg, send }) => {
        if (config instanceof CaraError) throw config;
        const client = await config.client();
        switch (action) {
          case 'get':
            await handOut(client, msg, await client.tokens.get());
            break;
          case 'renew':
            await handOut(client, msg, await client.tokens.renew());
            break;
          case 'introspect':
            setMessageProperty(RED, msg, property, await client.introspect(await tokenToCheck(msg)));
            break;
          case 'verify':
            setMessageProperty(RED, msg, property, await client.verify(await tokenToCheck(msg)));
            break;
        }
        send(msg);
        return undefined;
      },
      statusMirror,
    );
  }

  RED.nodes.registerType('cara-token', CaraToken);
};
