// Loopback ports for tests: one that nothing listens on (now), for a server to take or a client to be refused by.
import { createServer } from 'node:net';

/** A loopback port nothing listens on: the OS's pick, released at once. */
export async function unusedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
