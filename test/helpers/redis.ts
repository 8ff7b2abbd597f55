// Private redis-server processes for tests (single nodes, a small cluster, on free loopback ports) and clients of every supported family.
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import IoRedis5, { Cluster as IoRedisCluster5 } from 'ioredis';
import IoRedis6, { Cluster as IoRedisCluster6 } from 'ioredis6';
import { createClient, createCluster } from 'redis';
import { createClient as createClient4, createCluster as createCluster4 } from 'redis4';
import { createClient as createClient5, createCluster as createCluster5 } from 'redis5';
import type { RedisClient } from '../../lib/store/redis-transport';

const run = promisify(execFile);

/** One redis-server of our own (never the shared one on 6379), nothing persisted unless asked. */
export interface RedisServer {
  readonly port: number;
  /** `redis://127.0.0.1:<port>`, for `createClient({ url })`. */
  readonly url: string;
  /** SIGKILL; resolves once the process is gone. Connections drop, as in a crash. */
  kill(): Promise<void>;
  /** SIGSTOP: connections stay open and nothing answers, as with a stalled server. */
  stop(): void;
  /** SIGCONT: a stopped server resumes and runs what was written to it meanwhile. */
  cont(): void;
  /**
   * Starts the server again on the same port and directory (a cluster node keeps its slots): empty, unless it was
   * started with persistence (`appendonly`), then with what it had persisted. Kills it first if it runs.
   */
  restart(): Promise<void>;
  /** Kills the server and deletes its directory. */
  close(): Promise<void>;
}

export interface RedisClusterServers {
  /** The masters, each owning a share of the slots. */
  readonly nodes: RedisServer[];
  /** For `createCluster({ rootNodes })`. */
  readonly rootNodes: { url: string }[];
  close(): Promise<void>;
}

/** A started cluster with a connected node-redis cluster client; `close()` ends both. */
export async function startConnectedCluster(masters = 3) {
  const servers = await startCluster(masters);
  const client = createCluster({ rootNodes: servers.rootNodes });
  client.on('error', () => {});
  await client.connect();
  return {
    servers,
    client,
    close: async () => {
      client.destroy();
      await servers.close();
    },
  };
}

/** A client as an app makes it, connected, and how the test ends it. */
export interface TestClient {
  readonly client: RedisClient;
  close(): Promise<void>;
}

/** One client library at one major version, able to connect to a single server or to a cluster. */
export interface ClientFamily {
  /** The library and its installed version, e.g. `node-redis 4.7.1`. */
  readonly name: string;
  /** Whether `single` can speak RESP3 with map replies as objects (`{ resp3: true }`). */
  readonly resp3: boolean;
  /** A client of one server; RESP2 unless `resp3` is asked (and supported). */
  single(server: RedisServer, options?: { resp3?: boolean }): Promise<TestClient>;
  cluster(servers: RedisClusterServers): Promise<TestClient>;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports -- a package.json read by name, for the suite titles
const versionOf = (pkg: string) => (require(`${pkg}/package.json`) as { version: string }).version;

/** A node-redis client or cluster, connected; ended with `destroy()` (5, 6) or `disconnect()` (4). */
async function nodeRedis(
  client: RedisClient & { connect(): Promise<unknown>; destroy?(): void; disconnect(): Promise<unknown> },
): Promise<TestClient> {
  client.on('error', () => {});
  await client.connect();
  return {
    client,
    close: async () => {
      if (client.destroy) client.destroy();
      else await client.disconnect();
    },
  };
}

/** An ioredis client or cluster (they connect by themselves), once ready. */
async function ioRedis(client: IoRedis5 | IoRedis6 | IoRedisCluster5 | IoRedisCluster6): Promise<TestClient> {
  const events = client as unknown as {
    on(event: string, listener: (...args: unknown[]) => void): unknown;
    once(event: string, listener: () => void): unknown;
  };
  events.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    events.once('ready', resolve);
    events.once('end', () => reject(new Error('ioredis could not connect')));
  });
  return { client, close: async () => client.disconnect() };
}

const clusterNodes = (servers: RedisClusterServers) => servers.nodes.map((node) => ({ host: '127.0.0.1', port: node.port }));
const resp = (options?: { resp3?: boolean }) => (options?.resp3 ? { RESP: 3 as const } : {});

/** Every client the package supports, as the contract suite runs against them. */
export const CLIENT_FAMILIES: readonly ClientFamily[] = [
  {
    name: `node-redis ${versionOf('redis4')}`,
    resp3: false,
    single: (server) => nodeRedis(createClient4({ url: server.url })),
    cluster: (servers) => nodeRedis(createCluster4({ rootNodes: servers.rootNodes })),
  },
  {
    name: `node-redis ${versionOf('redis5')}`,
    resp3: true,
    single: (server, options) => nodeRedis(createClient5({ url: server.url, ...resp(options) })),
    cluster: (servers) => nodeRedis(createCluster5({ rootNodes: servers.rootNodes })),
  },
  {
    name: `node-redis ${versionOf('redis')}`,
    resp3: true,
    single: (server, options) => nodeRedis(createClient({ url: server.url, ...resp(options) })),
    cluster: (servers) => nodeRedis(createCluster({ rootNodes: servers.rootNodes })),
  },
  {
    name: `ioredis ${versionOf('ioredis')}`,
    resp3: false,
    single: (server) => ioRedis(new IoRedis5(server.port, '127.0.0.1')),
    cluster: (servers) => ioRedis(new IoRedisCluster5(clusterNodes(servers))),
  },
  {
    name: `ioredis ${versionOf('ioredis6')}`,
    resp3: true,
    // ioredis 6 speaks RESP3 by default, with RESP2-shaped replies unless `replyMapping: 'resp3'`.
    single: (server, options) =>
      ioRedis(
        new IoRedis6({ port: server.port, host: '127.0.0.1', ...(options?.resp3 ? { replyMapping: 'resp3' as const } : {}) }),
      ),
    cluster: (servers) => ioRedis(new IoRedisCluster6(clusterNodes(servers))),
  },
];

export interface StartRedisOptions {
  /** More `redis-server` arguments, after the defaults (nothing persisted), which they override: e.g. `--appendonly yes`. */
  args?: string[];
}

/** Starts a redis-server on a free loopback port and resolves once it answers PING. */
export function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  return startServer(options.args ?? []);
}

/** Starts `masters` cluster-enabled servers, joins them (no replicas) and waits for `cluster_state:ok` on each. */
export async function startCluster(masters = 3): Promise<RedisClusterServers> {
  const clusterArgs = ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000'];
  const nodes = await Promise.all(Array.from({ length: masters }, () => startServer(clusterArgs)));
  const close = async () => {
    await Promise.all(nodes.map((node) => node.close()));
  };
  try {
    const addresses = nodes.map((node) => `127.0.0.1:${node.port}`);
    await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes']);
    for (const node of nodes) {
      await waitFor(async () =>
        (await run('redis-cli', ['-p', String(node.port), 'cluster', 'info'])).stdout.includes('cluster_state:ok'),
      );
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { nodes, rootNodes: nodes.map((node) => ({ url: node.url })), close };
}

/**
 * Servers die with the process that started them, even when a test forgets close()
 * or Jest kills its worker: `setpriv --pdeathsig` asks the kernel to SIGKILL them.
 * (An `exit` hook would not do: Jest gives each test file its own `process` object.)
 */
const dieWithParent = spawnSync('setpriv', ['--version']).status === 0 ? ['setpriv', '--pdeathsig', 'KILL'] : [];

async function startServer(extraArgs: string[]): Promise<RedisServer> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'tb-redis-'));
    try {
      let child = await spawnServer(port, dir, extraArgs);
      const kill = async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      };
      return {
        port,
        url: `redis://127.0.0.1:${port}`,
        kill,
        stop: () => child.kill('SIGSTOP'),
        cont: () => child.kill('SIGCONT'),
        restart: async () => {
          await kill();
          child = await spawnServer(port, dir, extraArgs);
        },
        close: async () => {
          await kill();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      // Another process took the port between the probe and the start: try another.
      if (attempt === 5) throw err;
    }
  }
}

async function spawnServer(port: number, dir: string, extraArgs: string[]): Promise<ChildProcess> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extraArgs];
  const [command, ...commandArgs] = [...dieWithParent, 'redis-server', ...args];
  const child = spawn(command!, commandArgs, { stdio: 'ignore' });
  // A server a test forgot to close must not keep the test process alive.
  child.unref();
  try {
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`redis-server on port ${port} exited with code ${child.exitCode}`);
      return ping(port);
    });
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return child;
}

/** A port free on 127.0.0.1 whose cluster bus port (port + 10000) is free too. */
async function freePort(): Promise<number> {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 25000);
    if ((await portIsFree(port)) && (await portIsFree(port + 10000))) return port;
  }
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    const done = (answer: boolean) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

/** Polls `condition` every 20 ms for up to 10 s. */
async function waitFor(condition: () => Promise<boolean>): Promise<void> {
  const giveUpAt = Date.now() + 10_000;
  while (!(await condition())) {
    if (Date.now() > giveUpAt) throw new Error('redis-server did not become ready within 10 s');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
