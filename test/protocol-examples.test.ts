/**
 * Every byte example of docs/PROTOCOL.md §13 is replayed against a real server, so that the written
 * protocol cannot drift from the implementation: the client's lines are sent as documented, the
 * server's replies must be the documented bytes (its random nonce aside).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseHexdumps, PROTOCOL_DOC, readExampleSections, type ExampleSection, type WireLine } from './helpers/doc-examples.js';
import { replayConnection, type ReplayFixture } from './helpers/replay.js';
import { FTX_BIN, TEST_STATE_HOME } from './helpers/cli.js';
import { withServer } from './helpers/server.js';

/** What each example assumes of the server and the client's files; a new example needs an entry. */
const FIXTURES: Record<string, ReplayFixture & { prepare?: (root: string) => Promise<void> }> = {
  '13.1': { token: 's3cret' },
  '13.2': { file: Buffer.from(Array.from({ length: 10_000 }, (_, i) => i % 251)) },
  '13.3': {
    prepare: async (root) => {
      await mkdir(join(root, 'site'));
      await writeFile(join(root, 'site/b.txt'), 'other');
    },
  },
  '13.4': {},
  '13.5': {},
};

const sections = readExampleSections();

/** Everything one direction of a section sends, connection after connection (ranges from its file). */
function streamOf(section: ExampleSection, direction: WireLine['direction']): Buffer[] {
  const file = FIXTURES[section.number]?.file;
  return section.connections.map((wires) => Buffer.concat(wires.filter((w) => w.direction === direction).map((w) => {
    if (w.kind === 'frame' || w.kind === 'raw') return w.bytes;
    if (w.kind === 'range') return file?.subarray(w.from, w.to + 1) ?? Buffer.alloc(0);
    return Buffer.alloc(0);
  })));
}

describe('docs/PROTOCOL.md §13 byte examples', () => {
  it('are found: every subsection has at least one connection and a fixture', () => {
    expect(sections.map((s) => s.number)).toEqual(expect.arrayContaining(['13.1', '13.2', '13.3', '13.4']));
    for (const section of sections) {
      expect(section.connections.length, `§${section.number}`).toBeGreaterThan(0);
      expect(FIXTURES[section.number], `§${section.number} needs a fixture in this test`).toBeDefined();
    }
  });

  for (const section of sections) {
    it(`§${section.number} ${section.title}: replayed against a real server, replies as documented`, async () => {
      const fixture = FIXTURES[section.number] ?? {};
      // The examples show the in-band protocol as it travels in plain text (--insecure-plaintext); over TLS it is the same inside.
      await withServer(fixture.token ? { token: fixture.token, insecurePlaintext: true } : {}, async ({ server, root }) => {
        await fixture.prepare?.(root);
        for (const wires of section.connections) await replayConnection(server.port, wires, fixture);
      });
    });

    it(`§${section.number}: every hexdump is a piece of the session's bytes`, () => {
      const streams = [...streamOf(section, 'C→S'), ...streamOf(section, 'S→C')];
      for (const dump of section.hexdumps) {
        expect(streams.some((s) => s.includes(dump.bytes)), `hexdump at PROTOCOL.md line ${dump.line}`).toBe(true);
      }
    });
  }

  it('every hexdump in the document agrees with its text column and offsets', () => {
    const dumps = parseHexdumps(readFileSync(PROTOCOL_DOC, 'utf8').split('\n'));
    expect(dumps.length).toBeGreaterThan(3);
  });

  it('§13.3 is byte for byte what `ftx put site <host> --if-exists rename` sends and gets', async () => {
    const section = sections.find((s) => s.number === '13.3')!;
    await withServer({}, async ({ server, root, scratch }) => {
      await FIXTURES['13.3']!.prepare!(root);
      await mkdir(join(scratch, 'site/img'), { recursive: true });
      await writeFile(join(scratch, 'site/a.txt'), 'hello', { mode: 0o644 });
      await writeFile(join(scratch, 'site/b.txt'), 'world\n', { mode: 0o644 });
      for (const name of ['a.txt', 'b.txt']) await utimes(join(scratch, 'site', name), 1_700_000_000, 1_700_000_000);
      const recorder = await recordingProxy(server.port);
      try {
        const result = await runFtxIn(scratch, ['put', 'site', `127.0.0.1:${recorder.port}`, '--if-exists', 'rename']);
        expect(result.code, result.stderr).toBe(0);
      } finally {
        await recorder.close();
      }
      // The client id is the run's secret (an HMAC, §4.4): the document shows a stand-in of the same length.
      const sent = recorder.sent().toString('latin1').replace(/"clientId":"[0-9a-f]{32}"/, '"clientId":"00112233445566778899aabbccddeeff"');
      expect(sent).toBe(streamOf(section, 'C→S')[0]!.toString('latin1'));
      const nonce = /"nonce":"([0-9a-f]{64})"/.exec(recorder.received().toString('latin1'))![1]!;
      const documented = streamOf(section, 'S→C')[0]!.toString('latin1');
      const documentedNonce = /"nonce":"([0-9a-f]{64})"/.exec(documented)![1]!;
      expect(recorder.received().toString('latin1').replace(nonce, documentedNonce)).toBe(documented);
    });
  });
});

/** Runs the built CLI with `cwd` as its working directory (the example's paths are relative). */
function runFtxIn(cwd: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [FTX_BIN, ...args], { cwd, env: { ...process.env, FTX_TOKEN: '', XDG_STATE_HOME: TEST_STATE_HOME }, timeout: 30_000 }, (error, _stdout, stderr) => {
      if (error && typeof error.code !== 'number') reject(error);
      else resolve({ code: error ? (error.code as number) : 0, stderr });
    });
  });
}

/** A loopback proxy to `targetPort` that records both directions of its connections. */
async function recordingProxy(targetPort: number): Promise<{ port: number; sent: () => Buffer; received: () => Buffer; close: () => Promise<void> }> {
  const sent: Buffer[] = [];
  const received: Buffer[] = [];
  const sockets = new Set<Socket>();
  const proxy = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    client.on('data', (d: Buffer) => { sent.push(d); upstream.write(d); });
    upstream.on('data', (d: Buffer) => { received.push(d); client.write(d); });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const address = proxy.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no address');
  return {
    port: address.port,
    sent: () => Buffer.concat(sent),
    received: () => Buffer.concat(received),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    },
  };
}
