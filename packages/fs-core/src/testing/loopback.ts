import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A test server listening on a free port of 127.0.0.1. */
export interface LoopbackServer {
  port: number;
  /** `http://127.0.0.1:<port>` */
  origin: string;
  /** Drops open connections (kept-alive or stalled ones too) and stops listening. */
  close(): Promise<void>;
}

/** Starts `server` on a free loopback port, for tests that stand in for or sit before a store. */
export async function listenOnLoopback(server: Server): Promise<LoopbackServer> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
