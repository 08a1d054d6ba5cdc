/** A round upper bound for an axis: 1, 2, 5 × 10^n at or above `max`. */
export function niceMax(max: number, integers = false): number {
  if (!(max > 0)) return 1;
  if (integers && max <= 4) return Math.ceil(max);
  const exp = Math.floor(Math.log10(max));
  const base = 10 ** exp;
  for (const m of [1, 2, 5, 10]) if (m * base >= max) return m * base;
  return 10 * base;
}

/** Evenly spaced tick values from 0 to `top` (inclusive); whole numbers only for counts. */
export function ticks(top: number, count = 4, integers = false): number[] {
  if (integers && top < count) count = Math.max(1, Math.ceil(top));
  const step = top / count;
  return Array.from({ length: count + 1 }, (_, i) => Number((i * step).toPrecision(6)));
}

export interface Bar {
  x: number;
  y: number;
  width: number;
  height: number;
  value: number;
  label: string;
}

/** Bars for `values` in a plot of `width` × `height` with a gap ratio between bars. */
export function bars(values: { label: string; value: number }[], width: number, height: number, top: number, gap = 0.25): Bar[] {
  if (values.length === 0) return [];
  const slot = width / values.length;
  const w = Math.max(1, slot * (1 - gap));
  return values.map((v, i) => {
    const h = top > 0 ? (Math.max(0, v.value) / top) * height : 0;
    return { x: i * slot + (slot - w) / 2, y: height - h, width: w, height: h, value: v.value, label: v.label };
  });
}

/** An SVG path through the points that have a value; gaps break the line. */
export function linePath(values: (number | null)[], width: number, height: number, top: number): string {
  if (values.length === 0) return '';
  const slot = width / values.length;
  let d = '';
  let pen = false;
  values.forEach((v, i) => {
    if (v === null || Number.isNaN(v)) {
      pen = false;
      return;
    }
    const x = i * slot + slot / 2;
    const y = height - (top > 0 ? (v / top) * height : 0);
    d += `${pen ? 'L' : 'M'}${x.toFixed(1)},${y.toFixed(1)}`;
    pen = true;
  });
  return d;
}
