/**
 * How the end-to-end tests talk to their servers. `npm test` runs the e2e files twice (vitest
 * projects in vitest.config.ts): plain, and with FTX_TEST_TLS=1, where the helpers give every server
 * and client they start a token, so that everything travels over TLS 1.3 with its PSK. A test that
 * sets its own token, or --insecure-plaintext, keeps it.
 */

/** True in the "tls" project. */
export const TEST_OVER_TLS = process.env.FTX_TEST_TLS === '1';

/** The token of the "tls" project (random enough for any address). */
export const TEST_TLS_TOKEN = 'ftx1_TestOverTls0123456789abcdefghijklmnopqrstuv';

/** FTX_TOKEN for a CLI process a helper starts: none, or the test token over TLS. */
export const DEFAULT_CLI_TOKEN = TEST_OVER_TLS ? TEST_TLS_TOKEN : '';

/** What a test's library client adds to its options: nothing, or the test token over TLS. */
export const testClientAuth: { token?: string } = TEST_OVER_TLS ? { token: TEST_TLS_TOKEN } : {};

/**
 * What a test's in-process server adds to its options: over TLS the test token, unless the test
 * gives a token, tokens or --insecure-plaintext itself.
 */
export function testServerAuth(options: { token?: string; tokens?: unknown; insecurePlaintext?: boolean } = {}): { token?: string } {
  const own = options.token !== undefined || options.tokens !== undefined || options.insecurePlaintext === true;
  return TEST_OVER_TLS && !own ? { token: TEST_TLS_TOKEN } : {};
}

/**
 * `ftx serve` arguments for the mode: over TLS a server with a token would listen on every interface
 * by default, so loopback is made explicit (tests never listen beyond it).
 */
export function serveArgsForMode(args: string[]): string[] {
  if (!TEST_OVER_TLS || args.includes('--host') || args.includes('-H')) return args;
  return [...args, '--host', '127.0.0.1'];
}

/** The environment of a spawned serve: the test token over TLS, unless the test gives tokens itself. */
export function serveTokenEnv(args: string[]): NodeJS.ProcessEnv {
  return { FTX_TOKEN: args.includes('--tokens') || args.includes('--insecure-plaintext') ? '' : DEFAULT_CLI_TOKEN };
}
