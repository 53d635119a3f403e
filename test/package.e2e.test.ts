/**
 * What `npm pack` ships: a LICENSE, source maps that match the code they describe, each package
 * either bundled or a dependency, and a tarball that `npm install -g` installs without warnings
 * into a working `ftx`.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { builtinModules, SourceMap, type SourceMapPayload } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FTX_VERSION } from '../src/version.js';
import { runCommand, startServedDir, stopServedDir, type ServedDir } from './helpers/cli.js';
import { listTree } from './helpers/server.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BUNDLE = join(ROOT, 'dist/cli/program.js');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  license: string; files: string[]; scripts: Record<string, string>; dependencies: Record<string, string>; devDependencies: Record<string, string>;
};

describe('package contents', () => {
  it('has an MIT LICENSE, as package.json says, and ships it', () => {
    expect(pkg.license).toBe('MIT');
    const license = readFileSync(join(ROOT, 'LICENSE'), 'utf8');
    expect(license).toMatch(/^MIT License\n/);
    expect(license).toContain('Permission is hereby granted, free of charge');
  });

  it("the bundle's source map points into the TypeScript that each line came from", () => {
    const payload = JSON.parse(readFileSync(`${BUNDLE}.map`, 'utf8')) as SourceMapPayload & { sourcesContent?: string[] };
    expect(readFileSync(BUNDLE, 'utf8')).toMatch(/\n\/\/# sourceMappingURL=program\.js\.map\n?$/);
    const map = new SourceMap(payload);
    const lines = readFileSync(BUNDLE, 'utf8').split('\n');
    // Code (not comments: those are not mapped) from two of our modules and from commander, looked up through the map.
    for (const [text, from] of [['receive files into a directory', 'src/cli/program.ts'], ['Expected a whole number.', 'src/cli/option-parsers.ts'], ['error: unknown option', 'commander/lib/command.js']] as const) {
      const line = lines.findIndex((l) => l.includes(text));
      expect(line, text).toBeGreaterThanOrEqual(0);
      const entry = map.findEntry(line, lines[line]!.indexOf(text)) as { originalSource?: string; originalLine?: number };
      expect(entry.originalSource, text).toContain(from);
      const index = payload.sources.indexOf(entry.originalSource!);
      const original = payload.sourcesContent?.[index] ?? readFileSync(resolve(dirname(BUNDLE), payload.sources[index]!), 'utf8');
      expect(original.split('\n')[entry.originalLine!], text).toContain(text);
    }
  });

  it('every other map embeds its sources (src/ is not shipped)', () => {
    const maps = readdirSync(join(ROOT, 'dist'), { recursive: true }).map(String).filter((f) => f.endsWith('.map'));
    expect(maps.length).toBeGreaterThan(10);
    for (const file of maps) {
      const payload = JSON.parse(readFileSync(join(ROOT, 'dist', file), 'utf8')) as { sources: string[]; sourcesContent?: unknown[] };
      expect(payload.sourcesContent?.length, file).toBe(payload.sources.length);
    }
  });

  it('a package is bundled or a runtime dependency, never both', () => {
    const bundle = readFileSync(BUNDLE, 'utf8');
    // What the bundle still loads at run time: node's own modules and the declared dependencies.
    const loaded = new Set([...bundle.matchAll(/(?:from\s*|import\(\s*|require\(\s*)["']([^"'./][^"']*)["']/g)].map((m) => m[1]!));
    const builtins = new Set(builtinModules.flatMap((name) => [name, `node:${name}`]));
    for (const name of loaded) expect(builtins.has(name) || name in pkg.dependencies, name).toBe(true);
    expect(bundle).toContain('node_modules/commander/');
    expect(Object.keys(pkg.dependencies)).not.toContain('commander');
    expect(Object.keys(pkg.devDependencies)).toContain('commander');
    // Loaded lazily by createRequire, so not bundled: they must stay dependencies.
    for (const lazy of ['cli-progress', 'minimatch']) {
      expect(bundle, lazy).not.toContain(`node_modules/${lazy}/`);
      expect(Object.keys(pkg.dependencies), lazy).toContain(lazy);
    }
    // The CLI modules that went into the bundle are not shipped beside it (they would import commander).
    expect(readdirSync(join(ROOT, 'dist/cli')).filter((f) => f.endsWith('.js')).sort()).toEqual(['bin.js', 'program.js']);
  });
});

describe('npm pack, then npm install -g of the tarball', () => {
  let served: ServedDir;
  beforeAll(async () => {
    served = await startServedDir('ftx-pack-');
  });
  afterAll(() => stopServedDir(served));

  it('installs without warnings, and the installed ftx runs', async () => {
    const npm = (args: string[]) => runCommand('npm', args, { npm_config_update_notifier: 'false' }, 120_000);
    const dir = served.tmp.dir;
    // --ignore-scripts: dist/ is built already (npm test), and rebuilding it would pull it from under the other tests.
    const pack = await npm(['pack', '--ignore-scripts', '--pack-destination', dir, ROOT]);
    expect(pack.code, pack.stderr).toBe(0);
    const tarball = join(dir, pack.stdout.trim().split('\n').at(-1)!);
    expect(existsSync(tarball)).toBe(true);
    const prefix = join(dir, 'prefix');
    const install = await npm(['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball]);
    expect(install.code, install.stderr).toBe(0);
    expect(install.stderr).not.toMatch(/warn/i);
    expect(install.stdout).not.toMatch(/warn/i);
    const ftx = join(prefix, 'bin', 'ftx');
    const installed = join(prefix, 'lib', 'node_modules', 'ftx');
    expect(existsSync(join(installed, 'LICENSE'))).toBe(true);
    expect(existsSync(join(installed, 'node_modules', 'commander'))).toBe(false);

    const version = await runCommand(ftx, ['--version']);
    expect(version.stdout.trim()).toBe(FTX_VERSION);
    const file = join(dir, 'packed.bin');
    await writeFile(file, randomBytes(70_000));
    const put = await runCommand(ftx, ['put', file, `127.0.0.1:${served.serve.port}`, '--exclude', '*.tmp']);
    expect(put.code, put.stderr).toBe(0);
    expect(put.stdout).toMatch(/^sent .*packed\.bin .* verified\n$/);
    expect(await listTree(served.root)).toEqual(['packed.bin']);
  }, 300_000);
});
