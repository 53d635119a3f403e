/**
 * Reads the byte examples of docs/PROTOCOL.md §13 so that a test can replay them against a real server.
 *
 * Inside the code blocks of each `### 13.N` subsection, a wire line is one of:
 *
 *     S→C  00 00 00 3d  {"type":"reply",…}       a control frame: its 4-byte prefix, two spaces, the JSON payload
 *     C→S  68 65 6c 6c 6f       body …           raw bytes (a body, data frames), then a comment
 *     C→S  bytes 4096..9999 …                    bytes 4096 to 9999 inclusive of the section's example file
 *     C→S  (FIN) …                               the client half-closes
 *
 * Every server hello starts a new connection. Any other line is prose. Hexdump blocks (`00000000  00 00 …
 * |…|`) are collected too: each must be consistent in itself and appear in the section's byte streams.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Who sends a wire line. */
export type Direction = 'C→S' | 'S→C';

/** One wire line of an example session. */
export type WireLine = { direction: Direction; line: number } & (
  | { kind: 'frame'; json: string; bytes: Buffer }
  | { kind: 'raw'; bytes: Buffer }
  | { kind: 'range'; from: number; to: number }
  | { kind: 'fin' }
);

/** A hexdump block (`hexdump -C` style, it may start at any offset): its bytes and the line it starts on. */
export interface Hexdump {
  line: number;
  bytes: Buffer;
}

/** One `### 13.N` subsection. */
export interface ExampleSection {
  number: string;
  title: string;
  /** Wire lines split into connections (each begins with a server hello). */
  connections: WireLine[][];
  hexdumps: Hexdump[];
}

/** Path of the protocol document. */
export const PROTOCOL_DOC = fileURLToPath(new URL('../../docs/PROTOCOL.md', import.meta.url));

const WIRE = /^(C→S|S→C) {2}(.*)$/u;
const FRAME = /^((?:[0-9a-f]{2} ){3}[0-9a-f]{2}) {2}(\{.*\})$/;
const RAW = /^((?:[0-9a-f]{2})(?: [0-9a-f]{2})*)(?: {2,}.*)?$/;
const RANGE = /^bytes (\d+)\.\.(\d+)(?:\s.*)?$/;
const FIN = /^\(FIN\)(?:\s.*)?$/;
const HEXDUMP = /^([0-9a-f]{8}) {2}((?:[0-9a-f]{2} ?)+?) *\|(.*)\|$/;

function hexBytes(text: string): Buffer {
  return Buffer.from(text.replace(/ /g, ''), 'hex');
}

/** Parses one wire line (the text after the direction); throws with the doc line number on a malformed one. */
function parseWire(direction: Direction, rest: string, line: number): WireLine {
  const frame = FRAME.exec(rest);
  if (frame) {
    const prefix = hexBytes(frame[1]!);
    const payload = Buffer.from(frame[2]!, 'utf8');
    if (prefix.readUInt32BE(0) !== payload.length) {
      throw new Error(`PROTOCOL.md line ${line}: prefix says ${prefix.readUInt32BE(0)} bytes, the JSON has ${payload.length} (0x${payload.length.toString(16)})`);
    }
    JSON.parse(frame[2]!);
    return { direction, line, kind: 'frame', json: frame[2]!, bytes: Buffer.concat([prefix, payload]) };
  }
  const range = RANGE.exec(rest);
  if (range) return { direction, line, kind: 'range', from: Number(range[1]), to: Number(range[2]) };
  if (FIN.test(rest)) return { direction, line, kind: 'fin' };
  const raw = RAW.exec(rest);
  if (raw) return { direction, line, kind: 'raw', bytes: hexBytes(raw[1]!) };
  throw new Error(`PROTOCOL.md line ${line}: a ${direction} line that is neither a frame, raw bytes, a byte range nor (FIN): ${rest}`);
}

/** Checks a hexdump's offsets and its ASCII column against its bytes; returns the bytes. */
function parseHexdump(rows: { text: string; line: number }[]): Hexdump {
  const pieces: Buffer[] = [];
  let offset = parseInt(HEXDUMP.exec(rows[0]!.text)![1]!, 16);
  for (const { text, line } of rows) {
    const match = HEXDUMP.exec(text)!;
    if (parseInt(match[1]!, 16) !== offset) throw new Error(`PROTOCOL.md line ${line}: hexdump offset ${match[1]} should be ${offset.toString(16).padStart(8, '0')}`);
    const bytes = hexBytes(match[2]!.trim());
    const ascii = [...bytes].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    if (ascii !== match[3]) throw new Error(`PROTOCOL.md line ${line}: hexdump text column |${match[3]}| should be |${ascii}|`);
    pieces.push(bytes);
    offset += bytes.length;
  }
  return { line: rows[0]!.line, bytes: Buffer.concat(pieces) };
}

function isServerHello(wire: WireLine): boolean {
  return wire.kind === 'frame' && wire.direction === 'S→C' && (JSON.parse(wire.json) as { type?: unknown }).type === 'hello';
}

/** Splits wire lines at each server hello. */
function splitConnections(wires: WireLine[], section: string): WireLine[][] {
  const connections: WireLine[][] = [];
  for (const wire of wires) {
    if (isServerHello(wire)) connections.push([]);
    const current = connections.at(-1);
    if (!current) throw new Error(`§${section}: PROTOCOL.md line ${wire.line} comes before any server hello`);
    current.push(wire);
  }
  return connections;
}

/** All hexdump blocks of a text, checked in themselves (used for the whole document). */
export function parseHexdumps(lines: string[], firstLine = 1): Hexdump[] {
  const dumps: Hexdump[] = [];
  let rows: { text: string; line: number }[] = [];
  lines.forEach((text, i) => {
    if (HEXDUMP.test(text)) {
      rows.push({ text, line: firstLine + i });
      return;
    }
    if (rows.length > 0) dumps.push(parseHexdump(rows));
    rows = [];
  });
  if (rows.length > 0) dumps.push(parseHexdump(rows));
  return dumps;
}

/** The subsections of §13, parsed. */
export function readExampleSections(text = readFileSync(PROTOCOL_DOC, 'utf8')): ExampleSection[] {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => /^## 13\. /.test(l));
  if (start < 0) throw new Error('PROTOCOL.md has no "## 13." section');
  const endAt = lines.findIndex((l, i) => i > start && /^## /.test(l));
  const body = lines.slice(start, endAt < 0 ? undefined : endAt);
  const sections: ExampleSection[] = [];
  let current: { number: string; title: string; wires: WireLine[]; from: number; to: number } | undefined;
  const finish = (): void => {
    if (!current) return;
    const own = body.slice(current.from, current.to);
    sections.push({
      number: current.number, title: current.title,
      connections: splitConnections(current.wires, current.number),
      hexdumps: parseHexdumps(own, start + current.from + 1),
    });
  };
  let inCode = false;
  body.forEach((text, i) => {
    const heading = /^### (13\.\d+) (.*)$/.exec(text);
    if (heading) {
      if (current) current.to = i;
      finish();
      current = { number: heading[1]!, title: heading[2]!, wires: [], from: i, to: body.length };
      return;
    }
    if (text.startsWith('```')) inCode = !inCode;
    const wire = inCode ? WIRE.exec(text) : null;
    if (wire && current) current.wires.push(parseWire(wire[1] as Direction, wire[2]!, start + i + 1));
  });
  finish();
  return sections;
}
