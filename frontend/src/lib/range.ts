// The date-range presets and what they mean as API parameters.

import type { Interval, Shop } from '../api/types';
import { addDays, daysBetween, todayIn } from './dates';

export type RangePreset = 'today' | '7d' | '30d' | 'all' | 'custom';

export const RANGE_PRESETS: readonly RangePreset[] = ['today', '7d', '30d', 'all', 'custom'];

export const RANGE_LABELS: Record<RangePreset, string> = {
  today: 'Today',
  '7d': 'Last 7 days',
  '30d': 'Last 30 days',
  all: 'All time',
  custom: 'Custom',
};

/** `from` inclusive and `to` exclusive, as local dates; both absent for all time. */
export interface DateRange {
  from?: string;
  to?: string;
}

/** What the picker holds: a preset, plus inclusive first and last days when custom. */
export interface RangeChoice {
  range: RangePreset;
  from: string | null;
  to: string | null;
}

/**
 * The API range for a choice in `tz`. The rolling presets include today, so "last 7 days"
 * is today and the six days before it.
 */
export function resolveRange(choice: RangeChoice, tz: string, now: Date = new Date()): DateRange {
  const today = todayIn(tz, now);
  const tomorrow = addDays(today, 1);
  switch (choice.range) {
    case 'today':
      return { from: today, to: tomorrow };
    case '7d':
      return { from: addDays(today, -6), to: tomorrow };
    case '30d':
      return { from: addDays(today, -29), to: tomorrow };
    case 'all':
      return {};
    case 'custom':
      // The picker's last day is inclusive; the API's `to` is not.
      return choice.from && choice.to ? { from: choice.from, to: addDays(choice.to, 1) } : {};
  }
}

/** The same number of days just before `range`, as the API's `compare=previous` takes it. */
export function previousRange(range: DateRange): DateRange | null {
  if (!range.from || !range.to) return null;
  const days = daysBetween(range.from, range.to);
  return { from: addDays(range.from, -days), to: range.from };
}

/** The intervals from the finest to the coarsest. */
export const INTERVALS: readonly Interval[] = ['minute', 'hour', 'day', 'week', 'month'];

/**
 * The interval a range opens with: hours for one day, days otherwise; for all time, the finest
 * whose series fits in 5000 points over `spanDays`, the days the data covers (days while
 * that is not known yet: ten years of days fit, and no stored event is older, MAX_EVENT_AGE).
 */
export function defaultInterval(range: DateRange, spanDays: number | null = null): Interval {
  if (range.from && range.to) return daysBetween(range.from, range.to) <= 1 ? 'hour' : 'day';
  if (spanDays === null) return 'day';
  return INTERVALS.find((interval) => intervalFits(interval, range, spanDays)) ?? 'month';
}

/**
 * The days between the first and the last stored event of `shop` (of every shop when none is
 * chosen), from the shops list; `null` when there is none.
 */
export function dataSpanDays(shops: readonly Shop[] | undefined, shop: string | null | undefined): number | null {
  const chosen = (shops ?? []).filter((s) => !shop || s.shop_id === shop);
  const firsts = chosen.map((s) => Date.parse(s.first_seen ?? '')).filter(Number.isFinite);
  const lasts = chosen.map((s) => Date.parse(s.last_seen ?? '')).filter(Number.isFinite);
  if (firsts.length === 0 || lasts.length === 0) return null;
  return Math.max(0, (Math.max(...lasts) - Math.min(...firsts)) / 86_400_000);
}

/**
 * The API refuses more than 5000 points; offer only the intervals that stay under that. For
 * all time, the series runs from the first event's interval to the last one's: `spanDays` is the
 * days between them (unknown: only days and coarser, which ten years of data fit).
 */
export function intervalFits(interval: Interval, range: DateRange, spanDays: number | null = null): boolean {
  if (!range.from || !range.to) {
    if (spanDays === null) return interval === 'day' || interval === 'week' || interval === 'month';
    // The first and last intervals are partial: a day more covers both.
    return pointsOver(spanDays + 1)[interval] <= 5000;
  }
  return pointsOver(daysBetween(range.from, range.to))[interval] <= 5000;
}

function pointsOver(days: number): Record<Interval, number> {
  return {
    // 25-hour days exist; count them generously.
    minute: days * 25 * 60,
    hour: days * 25,
    day: days,
    week: days / 7 + 2,
    month: days / 28 + 2,
  };
}
