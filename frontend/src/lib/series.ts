// The four series the chart draws, with the CSS colour each one takes.

import type { TimeseriesPoint } from '../api/types';

export type SeriesKey = 'page_views' | 'add_to_carts' | 'purchases' | 'revenue';

export interface SeriesInfo {
  key: SeriesKey;
  label: string;
  /** A CSS custom property, so light and dark mode each get a colour with enough contrast. */
  colorVar: string;
  money: boolean;
}

export const SERIES: readonly SeriesInfo[] = [
  { key: 'page_views', label: 'Page views', colorVar: '--series-views', money: false },
  { key: 'add_to_carts', label: 'Add to carts', colorVar: '--series-carts', money: false },
  { key: 'purchases', label: 'Purchases', colorVar: '--series-purchases', money: false },
  { key: 'revenue', label: 'Revenue', colorVar: '--series-revenue', money: true },
];

/** uPlot's columns: interval starts in Unix seconds, then one column per series. */
export function toColumns(points: TimeseriesPoint[]): [number[], ...number[][]] {
  return [
    points.map((p) => Date.parse(p.t) / 1000),
    ...SERIES.map((s) => points.map((p) => p[s.key])),
  ];
}
