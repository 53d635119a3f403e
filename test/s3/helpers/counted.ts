/** Counting a client's S3 commands, for tests that check what an operation costs on the store. */
import type { S3Client } from '@aws-sdk/client-s3';

/** Counts the S3 commands a client sends, by name, and the most HEADs in flight at once ("HEAD in flight"). */
export function counted(client: S3Client): Map<string, number> {
  const counts = new Map<string, number>();
  let heads = 0;
  client.middlewareStack.add((next, context) => async (args) => {
    const name = (context as { commandName?: string }).commandName ?? '?';
    counts.set(name, (counts.get(name) ?? 0) + 1);
    if (name !== 'HeadObjectCommand') return next(args);
    counts.set('HEAD in flight', Math.max(counts.get('HEAD in flight') ?? 0, ++heads));
    try {
      return await next(args);
    } finally {
      heads -= 1;
    }
  }, { step: 'initialize', name: 'ftxTestCount' });
  return counts;
}
