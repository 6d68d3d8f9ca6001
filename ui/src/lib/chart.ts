// Data shaping for the small SVG bar chart: sorted, labelled bars scaled to a width,
// with a "nice" axis maximum. Pure functions, so the chart's geometry is unit-tested.

export interface Datum {
  key: string;
  label: string;
  value: number;
}

export interface Bar extends Datum {
  /** Top of the bar's row, in px. */
  y: number;
  /** Bar length, in px (0 for a zero value, at least 2 px otherwise so it stays visible). */
  width: number;
}

export interface BarLayout {
  bars: Bar[];
  max: number;
  height: number;
}

/** The smallest of 1, 2, 5 × 10^k that is at least `v` (so the axis ends on a round number). */
export function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/** Lays out horizontal bars, largest first (ties by label), in `width` px. */
export function layoutBars(data: Datum[], width: number, rowHeight = 26): BarLayout {
  const sorted = data
    .filter((d) => d.value > 0)
    .sort((a, b) => b.value - a.value || a.label.localeCompare(b.label));
  const max = niceMax(Math.max(0, ...sorted.map((d) => d.value)));
  const bars = sorted.map((d, i) => ({
    ...d,
    y: i * rowHeight,
    width: d.value === 0 ? 0 : Math.max(2, Math.round((d.value / max) * width)),
  }));
  return { bars, max, height: bars.length * rowHeight };
}

/** Counts per type → chart data, titled from the record types. */
export function countsToData(
  byType: Record<string, number>,
  titles: { name: string; title: string }[],
): Datum[] {
  return titles
    .map((t) => ({ key: t.name, label: t.title, value: byType[t.name] ?? 0 }))
    .filter((d) => d.value > 0);
}
