// The offline upstream in its own process, so that counting big prompts never blocks the event loop of the app under test.
import { startOfflineUpstream } from '../../lib/testing';

startOfflineUpstream({ completionTokens: () => 5 })
  .then((upstream) => {
    process.stdout.write(`${JSON.stringify({ port: Number(new URL(upstream.baseURL).port) })}\n`);
    process.stdin.on('end', () => process.exit(0));
    process.stdin.resume();
  })
  .catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
