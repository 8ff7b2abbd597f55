// The `token-budget` command: picks the command, checks its line, connects within the deadline, prints, and returns the exit code.
import { COMMON_HELP, positiveOption, readLine } from './args';
import type { Command, LocalCommand, Output } from './command';
import { CliFailure, UsageError } from './errors';
import { flagsCommand } from './flags';
import { planCommand } from './plan';
import { openRedis, type Load } from './redis-client';
import { spendCommand } from './spend';
import { cliStore } from './store';
import { usageCommand } from './usage';
import { packageVersion } from './version';

const COMMANDS: Record<string, Command | LocalCommand> = {
  flags: flagsCommand,
  usage: usageCommand,
  spend: spendCommand,
  plan: planCommand,
};

export const ROOT_HELP = `Usage: token-budget <command> [arguments] [options]

For operators in an incident: switch features off and read budgets in the Redis
your app's redisStore uses, without a deploy. For the deploy: the worst case a
budget file allows.

Commands:
  flags list|get|set NAME on|off   kill switches of budget.featureFlag()
  usage user ID [--limit N]        what a user has used this period (usage quota NAME ID for other quotas)
  spend [--feature F]              what this hour and today have cost (budget.costMeter())
  plan FILE [--users T=N,…]        the most a budget file lets be spent per minute, hour, day, 30 days

Run token-budget <command> --help for a command's arguments.

${COMMON_HELP}

Exit status: 0 done, 1 Redis unreachable or no Redis client installed (plan: a bad
budget file), 2 bad arguments, 3 plan: the worst case is over --max-daily-usd or --max-monthly-usd.`;

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  env: NodeJS.ProcessEnv;
  /** How client packages are loaded (tests give one that finds none). */
  load?: Load;
}

/** Prints what a command found and returns its exit status. */
function print(output: Output, json: boolean, io: CliIo): number {
  io.out(json ? JSON.stringify(output.json, null, 2) : output.text);
  if (output.failure !== undefined) io.err(`token-budget: ${output.failure}`);
  return output.exitCode ?? 0;
}

/** Runs one command line (without `node` and the script); resolves with the exit code, never rejects. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const name = argv[0];
  // Own keys only: `token-budget toString` is an unknown command, not Object.prototype's method.
  const command = name === undefined || !Object.hasOwn(COMMANDS, name) ? undefined : COMMANDS[name];
  try {
    if (!command) {
      const line = readLine(argv);
      if (line.values.help && line.positionals.length === 0) {
        io.out(ROOT_HELP);
        return 0;
      }
      if (line.values.version && line.positionals.length === 0) {
        io.out(packageVersion() ?? 'unknown');
        return 0;
      }
      throw new UsageError(
        name === undefined || name.startsWith('-') ? 'A command is missing.' : `Unknown command ${JSON.stringify(name)}.`,
      );
    }
    const line = readLine(argv, command.options);
    if (line.values.help) {
      io.out(command.help);
      return 0;
    }
    if ('runLocal' in command) return print(command.runLocal(line), line.values.json === true, io);
    command.check(line);
    const url = (line.values.redis as string | undefined) ?? io.env.REDIS_URL;
    if (!url) throw new UsageError('No Redis given: pass --redis redis://host:port or set REDIS_URL.');
    const timeoutMs = positiveOption(line.values.timeout, 'timeout') ?? 3000;
    const prefix = (line.values.prefix as string | undefined) ?? 'tb:';
    const redis = await openRedis(url, timeoutMs, line.values.client as string | undefined, io.load);
    try {
      const output = await command.run({ ...line, redis, store: cliStore(redis.client, prefix, timeoutMs), prefix, timeoutMs });
      return print(output, line.values.json === true, io);
    } finally {
      await redis.close();
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`token-budget: ${err.message}\nRun token-budget ${command ? `${name} ` : ''}--help for usage.`);
      return err.exitCode;
    }
    if (err instanceof CliFailure) {
      io.err(`token-budget: ${err.message}`);
      return err.exitCode;
    }
    io.err(`token-budget: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return 1;
  }
}
