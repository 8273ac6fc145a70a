// The date-range presets and what they mean as API parameters.

import type { Interval } from '../api/types';
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

/** The interval a range opens with: hours for one day, days otherwise. */
export function defaultInterval(range: DateRange): Interval {
  if (range.from && range.to && daysBetween(range.from, range.to) <= 1) return 'hour';
  return 'day';
}

/** The API refuses more than 5000 buckets; offer only the intervals that stay under that. */
export function intervalFits(interval: Interval, range: DateRange): boolean {
  if (!range.from || !range.to) return interval !== 'minute';
  const days = daysBetween(range.from, range.to);
  const buckets: Record<Interval, number> = {
    // 25-hour days exist; count them generously.
    minute: days * 25 * 60,
    hour: days * 25,
    day: days,
    week: days / 7 + 2,
    month: days / 28 + 2,
  };
  return buckets[interval] <= 5000;
}
