// App processes for multi-process tests and benches: the child announces its port, the parent spawns and waits.
import { type ChildProcess, spawn } from 'node:child_process';
import type { Server } from 'node:http';
import { createInterface } from 'node:readline';

/** Child side: listen on a free loopback port, tell the parent, exit when the parent's pipe closes. */
export function listenForParent(app: { listen(port: number, host: string, callback: () => void): Server }): void {
  const server = app.listen(0, '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`);
  });
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

/** Parent side: runs a TypeScript app file in its own Node process and resolves with its port. */
export async function spawnApp(file: string, env: Record<string, string>): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', file], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`${file} exited with ${code}`)));
  });
  return { port: (JSON.parse(line) as { port: number }).port, child };
}
