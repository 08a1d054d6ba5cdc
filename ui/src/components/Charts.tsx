// SVG charts: bars for counts per day, a line for values with gaps, and
// horizontal bars for a few named values. Each has a text alternative.

import { bars, linePath, niceMax, ticks } from '../lib/chart';

const W = 640;
const H = 200;
const PAD = { left: 40, right: 12, top: 12, bottom: 28 };

function shortDate(iso: string): string {
  const [, m, d] = iso.split('-');
  return `${Number(m)}/${Number(d)}`;
}

function Axis({ top, format, integers = false }: { top: number; format: (v: number) => string; integers?: boolean }) {
  const plotH = H - PAD.top - PAD.bottom;
  return (
    <g class="axis">
      {ticks(top, 4, integers).map((t) => {
        const y = PAD.top + plotH - (t / top) * plotH;
        return (
          <g key={t}>
            <line x1={PAD.left} x2={W - PAD.right} y1={y} y2={y} class="grid" />
            <text x={PAD.left - 6} y={y + 4} text-anchor="end">
              {format(t)}
            </text>
          </g>
        );
      })}
    </g>
  );
}

function XLabels({ labels }: { labels: string[] }) {
  const plotW = W - PAD.left - PAD.right;
  const slot = plotW / Math.max(1, labels.length);
  const every = Math.ceil(labels.length / 10);
  return (
    <g class="axis">
      {labels.map((l, i) =>
        i % every === 0 || i === labels.length - 1 ? (
          <text key={l} x={PAD.left + i * slot + slot / 2} y={H - 8} text-anchor="middle">
            {shortDate(l)}
          </text>
        ) : null,
      )}
    </g>
  );
}

export function BarChart({
  title,
  data,
  unit = '',
}: {
  title: string;
  data: { label: string; value: number }[];
  unit?: string;
}) {
  const top = niceMax(Math.max(0, ...data.map((d) => d.value)), true);
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const total = data.reduce((s, d) => s + d.value, 0);
  return (
    <svg class="chart" viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${title} chart: ${total}${unit} in ${data.length} days`}>
      <Axis top={top} format={(v) => String(v)} integers />
      <g transform={`translate(${PAD.left},${PAD.top})`}>
        {bars(data, plotW, plotH, top).map((b) => (
          <rect class="bar mark" x={b.x} y={b.y} width={b.width} height={Math.max(b.height, b.value > 0 ? 1 : 0)} rx={2} data-value={b.value} key={b.label}>
            <title>{`${b.label}: ${b.value}${unit}`}</title>
          </rect>
        ))}
      </g>
      <XLabels labels={data.map((d) => d.label)} />
    </svg>
  );
}

export function LineChart({
  title,
  data,
  format,
}: {
  title: string;
  data: { label: string; value: number | null }[];
  format: (v: number) => string;
}) {
  const values = data.map((d) => d.value);
  const top = niceMax(Math.max(0, ...values.filter((v): v is number => v !== null)));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const slot = plotW / Math.max(1, data.length);
  return (
    <svg class="chart" viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${title} chart`}>
      <Axis top={top} format={format} />
      <g transform={`translate(${PAD.left},${PAD.top})`}>
        <path class="line" d={linePath(values, plotW, plotH, top)} />
        {data.map((d, i) =>
          d.value === null ? null : (
            <circle class="dot mark" key={d.label} cx={i * slot + slot / 2} cy={plotH - (d.value / top) * plotH} r={4} data-value={d.value}>
              <title>{`${d.label}: ${format(d.value)}`}</title>
            </circle>
          ),
        )}
      </g>
      <XLabels labels={data.map((d) => d.label)} />
    </svg>
  );
}

/** Horizontal bars for a few named values (e.g. latency p50/p95/avg). */
export function HBarChart({ title, data, format }: { title: string; data: { label: string; value: number | null }[]; format: (v: number) => string }) {
  const top = niceMax(Math.max(0, ...data.map((d) => d.value ?? 0)));
  const rowH = 34;
  const labelW = 56;
  const w = 640;
  const h = data.length * rowH + 8;
  const plotW = w - labelW - 90;
  return (
    <svg class="chart chart-h" viewBox={`0 0 ${w} ${h}`} role="img" aria-label={`${title} chart`}>
      {data.map((d, i) => {
        const y = 4 + i * rowH;
        const bw = d.value === null ? 0 : (d.value / top) * plotW;
        return (
          <g key={d.label}>
            <text x={labelW - 8} y={y + rowH / 2 + 4} text-anchor="end" class="axis-label">
              {d.label}
            </text>
            <rect x={labelW} y={y + 6} width={plotW} height={rowH - 12} rx={4} class="track" />
            {d.value !== null && (
              <rect x={labelW} y={y + 6} width={Math.max(bw, 2)} height={rowH - 12} rx={4} class={`hbar mark hbar-${i}`} data-value={d.value}>
                <title>{`${d.label}: ${format(d.value)}`}</title>
              </rect>
            )}
            <text x={labelW + plotW + 8} y={y + rowH / 2 + 4} class="value-label">
              {d.value === null ? '—' : format(d.value)}
            </text>
          </g>
        );
      })}
    </svg>
  );
}
