/**
 * The new connections the client (any undici Agent in this process, the nodes' included)
 * opens, per origin, and whether their TLS session was resumed (abbreviated handshake, no
 * certificate exchange) or full. Read from undici's `undici:client:connected` diagnostics
 * channel, so the library is observed without being changed.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';
import { TLSSocket } from 'node:tls';

export interface NewConnection {
  /** performance.now() of the moment the connection was ready. */
  at: number;
  /** `host:port` */
  host: string;
  /** undefined for a plain (non-TLS) connection. */
  resumed?: boolean;
}

interface ConnectedMessage {
  connectParams: { hostname: string; port: string | number };
  socket: unknown;
}

const CHANNEL = 'undici:client:connected';

export class ConnectionLog {
  readonly connections: NewConnection[] = [];
  private readonly onConnected = (message: unknown): void => {
    const { connectParams, socket } = message as ConnectedMessage;
    this.connections.push({
      at: performance.now(),
      host: `${connectParams.hostname}:${connectParams.port}`,
      resumed: socket instanceof TLSSocket ? socket.isSessionReused() : undefined,
    });
  };

  constructor() {
    diagnosticsChannel.subscribe(CHANNEL, this.onConnected);
  }

  stop(): void {
    diagnosticsChannel.unsubscribe(CHANNEL, this.onConnected);
  }

  /** Connections to `origin` (an https URL) ready between `from` and `to`. */
  to(origin: string, from: number, to: number): NewConnection[] {
    const url = new URL(origin);
    const host = `${url.hostname}:${url.port || '443'}`;
    return this.connections.filter((c) => c.host === host && c.at >= from && c.at <= to);
  }
}
