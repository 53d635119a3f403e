/** The text of a bar line at any width, and the rate it shows: pure functions, no terminal. */
import { describe, expect, it } from 'vitest';
import { fitName, layoutBarLine, rewrappedRows, textColumns, type BarLine } from '../src/ui/bar-line.js';
import { formatEta } from '../src/ui/format.js';
import { RateMeter } from '../src/ui/rate-meter.js';

const drawBar = (progress: number, size: number): string => '█'.repeat(Math.round(progress * size)).padEnd(size, '░');

const fileLine = (texts: BarLine['texts'] = {}): BarLine => ({
  name: 'backups/2026-12-02/db.dump',
  progress: 0.42,
  texts: { percent: '42%', bytes: '  420 MiB / 1000 MiB', rate: '61.0 MiB/s', eta: 'ETA 9s', ...texts },
  priority: ['percent', 'eta', 'bar', 'rate', 'bytes'],
  nameWidth: 26,
});

describe('layoutBarLine', () => {
  it('stays within the width at any width, keeping the most wanted parts', () => {
    for (let columns = 1; columns <= 200; columns++) {
      const line = layoutBarLine(fileLine(), columns, drawBar);
      expect(textColumns(line), `${columns}: ${line}`).toBeLessThan(Math.max(2, columns));
    }
  });

  it('shows everything from 80 columns, drops the bytes at 60, then the rate, then the bar', () => {
    const at = (columns: number): string => layoutBarLine(fileLine(), columns, drawBar);
    for (const columns of [80, 120]) expect(at(columns)).toMatch(/db\.dump +█+░+ +42% +420 MiB \/ 1000 MiB +61\.0 MiB\/s +ETA 9s$/);
    expect(at(60)).toMatch(/db\.dump +█+░+ +42% +61\.0 MiB\/s +ETA 9s$/);
    expect(at(40)).toMatch(/^…?[\w./-]+ +█+░+ +42% +ETA 9s$/);
    expect(at(30)).toMatch(/^…?[\w./-]+ +42% +ETA 9s$/);
    expect(at(12)).toMatch(/^…?[\w./-]+$/);
  });

  it('keeps the room of a text not known yet blank, so that the bar does not move when it comes', () => {
    const before = layoutBarLine(fileLine({ rate: undefined, eta: undefined }), 100, drawBar);
    const after = layoutBarLine(fileLine(), 100, drawBar);
    expect(before).not.toMatch(/B\/s|ETA/);
    expect(before.indexOf('█')).toBe(after.indexOf('█'));
    expect(before.indexOf('42%')).toBe(after.indexOf('42%'));
  });

  it('gives a wide terminal to the name (up to what it needs) and the bar (up to 40)', () => {
    const line = layoutBarLine(fileLine(), 200, drawBar);
    expect(line.startsWith('backups/2026-12-02/db.dump  ')).toBe(true);
    expect(line.match(/[█░]+/)![0]).toHaveLength(40);
  });
});

describe('fitName', () => {
  it('pads, or keeps the end behind "…", in exact columns', () => {
    expect(fitName('db.dump', 10)).toBe('db.dump   ');
    expect(fitName('a/very/long/name.tar.gz', 12)).toBe('…name.tar.gz');
    expect(textColumns(fitName('a/very/long/name.tar.gz', 12))).toBe(12);
  });

  it('counts wide characters as two columns and draws control characters as "?"', () => {
    expect(textColumns('日本語.txt')).toBe(10);
    expect(textColumns(fitName('写真/日本語のファイル.jpg', 11))).toBeLessThanOrEqual(11);
    expect(fitName('evil\u001b[2Jname\n.txt', 20)).toBe('evil?[2Jname?.txt   ');
  });
});

describe('rewrappedRows', () => {
  it('counts the rows bar lines take once a narrower terminal rewraps them, and where the cursor is', () => {
    expect(rewrappedRows([95, 79], 120)).toEqual({ rows: 2, cursorRow: 1 });
    expect(rewrappedRows([95, 79], 56)).toEqual({ rows: 4, cursorRow: 3 });
    expect(rewrappedRows([99], 40)).toEqual({ rows: 3, cursorRow: 2 });
    expect(rewrappedRows([80], 40)).toEqual({ rows: 2, cursorRow: 1 });
  });
});

describe('RateMeter', () => {
  it('has no rate right after a start, then the rate over its window; a stall falls to 0', () => {
    const meter = new RateMeter(4000, 600);
    meter.reset(0, 10_000);
    meter.record(1_000_000, 10_200);
    expect(meter.perSecond(10_300)).toBeUndefined();
    for (let t = 10_400; t <= 12_000; t += 200) meter.record(((t - 10_000) / 1000) * 5_000_000, t);
    expect(meter.perSecond(12_000)).toBeCloseTo(5_000_000, -3);
    expect(meter.perSecond(20_000)).toBe(0);
  });

  it('starts over at a resumed offset', () => {
    const meter = new RateMeter(4000, 600);
    meter.reset(0, 0);
    meter.record(9_000_000, 1000);
    meter.reset(4_000_000, 1100);
    expect(meter.perSecond(1200)).toBeUndefined();
    meter.record(5_000_000, 2100);
    expect(meter.perSecond(2100)).toBeCloseTo(1_000_000, -3);
  });
});

describe('formatEta', () => {
  it('whole seconds, minutes and hours', () => {
    expect([0.2, 45, 185, 7500, 400_000].map(formatEta)).toEqual(['1s', '45s', '3m05s', '2h05m', '>99h']);
  });
});
