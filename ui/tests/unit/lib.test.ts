import { describe, expect, it } from 'vitest';
import { bars, linePath, niceMax, ticks } from '../../src/lib/chart';
import { axisSeconds, formatMs, formatSeconds, initials, slugify, verticalLabel } from '../../src/lib/format';
import { mouthOf, visemeAt, wavBlob } from '../../src/lib/speech';

describe('chart maths', () => {
  it('rounds axis tops to 1-2-5 steps, whole numbers for small counts', () => {
    expect(niceMax(0)).toBe(1);
    expect(niceMax(7)).toBe(10);
    expect(niceMax(12)).toBe(20);
    expect(niceMax(430)).toBe(500);
    expect(niceMax(3, true)).toBe(3);
    expect(ticks(100)).toEqual([0, 25, 50, 75, 100]);
    expect(ticks(1, 4, true)).toEqual([0, 1]);
    expect(ticks(3, 4, true)).toEqual([0, 1, 2, 3]);
  });

  it('draws one bar per value, scaled to the top', () => {
    const b = bars(
      [
        { label: 'a', value: 0 },
        { label: 'b', value: 5 },
        { label: 'c', value: 10 },
      ],
      300,
      100,
      10,
    );
    expect(b).toHaveLength(3);
    expect(b[0].height).toBe(0);
    expect(b[1].height).toBe(50);
    expect(b[2].y).toBe(0);
    expect(b[1].x).toBeGreaterThan(b[0].x);
  });

  it('breaks lines where values are missing', () => {
    expect(linePath([1, null, 1], 300, 100, 2)).toBe('M50.0,50.0M250.0,50.0');
    expect(linePath([], 10, 10, 1)).toBe('');
  });
});

describe('speech', () => {
  const cues = [
    { viseme: 'sil', start: 0, end: 10 },
    { viseme: 'E', start: 10, end: 110 },
    { viseme: 'nn', start: 110, end: 180 },
  ];

  it('finds the viseme sounding at a time', () => {
    expect(visemeAt(cues, 0)).toBe('sil');
    expect(visemeAt(cues, 10)).toBe('E');
    expect(visemeAt(cues, 179.9)).toBe('nn');
    expect(visemeAt(cues, 500)).toBe('sil');
    expect(visemeAt([], 5)).toBe('sil');
  });

  it('knows a mouth for each of the 15 visemes', () => {
    for (const v of ['sil', 'PP', 'FF', 'TH', 'DD', 'kk', 'CH', 'SS', 'nn', 'RR', 'aa', 'E', 'ih', 'oh', 'ou']) {
      expect(mouthOf(v)).toBeDefined();
    }
    expect(mouthOf('aa').open).toBeGreaterThan(mouthOf('PP').open);
    expect(mouthOf('unknown')).toEqual(mouthOf('sil'));
  });

  it('decodes base64 WAV', async () => {
    const blob = wavBlob(btoa('RIFF\u0000\u0001'));
    expect(blob.type).toBe('audio/wav');
    expect(new Uint8Array(await blob.arrayBuffer())).toEqual(new Uint8Array([82, 73, 70, 70, 0, 1]));
  });
});

describe('format', () => {
  it('makes slugs the API accepts', () => {
    expect(slugify('Sales Assistant')).toBe('sales-assistant');
    expect(slugify('  Ünïcode -- Café! ')).toBe('unicode-cafe');
    expect(slugify('x'.repeat(80))).toHaveLength(64);
  });

  it('formats durations and initials', () => {
    expect(formatMs(850)).toBe('850 ms');
    expect(formatMs(12_500)).toBe('12.5 s');
    expect(formatMs(null)).toBe('—');
    expect(formatSeconds(0.42)).toBe('0.4 s');
    expect(formatSeconds(75)).toBe('1 min 15 s');
    expect(initials('Sales Assistant')).toBe('SA');
    expect(initials('aria')).toBe('AR');
    expect(verticalLabel('real-estate')).toBe('Real estate');
    expect(verticalLabel('hr')).toBe('HR');
    expect([0, 0.025, 0.05, 0.075, 0.1].map(axisSeconds)).toEqual(['0s', '0.025s', '0.05s', '0.075s', '0.1s']);
    expect(axisSeconds(42.4)).toBe('42s');
  });
});
