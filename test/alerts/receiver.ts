// A webhook receiver for tests: records each POSTed JSON body; `answer` decides each reply (a status, or 'hang' to hold it open).
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One POST as it came. */
interface Received {
  body: unknown;
  headers: http.IncomingHttpHeaders;
  res: http.ServerResponse;
}

export async function startReceiver(answer: (n: number) => number | 'hang' = () => 204) {
  const received: Received[] = [];
  const waiting: (() => void)[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ body: JSON.parse(Buffer.concat(chunks).toString('utf8')), headers: req.headers, res });
      waiting.splice(0).forEach((wake) => wake());
      const status = answer(received.length);
      if (status !== 'hang') res.writeHead(status).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/SECRET-TOKEN`,
    received,
    async count(n: number) {
      while (received.length < n) await new Promise<void>((resolve) => waiting.push(resolve));
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
