import { describe, expect, it } from 'vitest';
import { addDays, daysBetween, isDate, isTimeZone, todayIn } from '../src/lib/dates';
import { dataSpanDays, defaultInterval, intervalFits, previousRange, resolveRange } from '../src/lib/range';

// 2025-10-26 23:30 UTC: already the 27th in Berlin (UTC+1 after the DST change that day).
const now = new Date('2025-10-26T23:30:00Z');

describe('dates', () => {
  it('reads today on the wall clocks of a zone', () => {
    expect(todayIn('UTC', now)).toBe('2025-10-26');
    expect(todayIn('Europe/Berlin', now)).toBe('2025-10-27');
    expect(todayIn('America/St_Johns', now)).toBe('2025-10-26');
  });

  it('moves by calendar days across month and year ends', () => {
    expect(addDays('2025-03-01', -1)).toBe('2025-02-28');
    expect(addDays('2024-12-31', 1)).toBe('2025-01-01');
    expect(daysBetween('2025-10-20', '2025-10-27')).toBe(7);
    expect(daysBetween('2025-03-29', '2025-03-31')).toBe(2);
  });

  it('checks dates and zones', () => {
    expect(isDate('2025-02-29')).toBe(false);
    expect(isDate('2024-02-29')).toBe(true);
    expect(isDate('2025-1-01')).toBe(false);
    expect(isTimeZone('Asia/Kolkata')).toBe(true);
    expect(isTimeZone('Mars/Base')).toBe(false);
  });
});

describe('ranges', () => {
  it('opens the last 7 days on today and the six days before', () => {
    expect(resolveRange({ range: '7d', from: null, to: null }, 'Europe/Berlin', now)).toEqual({
      from: '2025-10-21',
      to: '2025-10-28',
    });
  });

  it('resolves every preset as local dates, `to` exclusive', () => {
    const choice = (range: 'today' | '30d' | 'all') => ({ range, from: null, to: null });
    expect(resolveRange(choice('today'), 'UTC', now)).toEqual({ from: '2025-10-26', to: '2025-10-27' });
    expect(resolveRange(choice('30d'), 'UTC', now)).toEqual({ from: '2025-09-27', to: '2025-10-27' });
    expect(resolveRange(choice('all'), 'UTC', now)).toEqual({});
    expect(resolveRange({ range: 'custom', from: '2025-10-01', to: '2025-10-07' }, 'UTC', now)).toEqual({
      from: '2025-10-01',
      to: '2025-10-08',
    });
  });

  it('compares with the same number of days just before', () => {
    expect(previousRange({ from: '2025-10-21', to: '2025-10-28' })).toEqual({ from: '2025-10-14', to: '2025-10-21' });
    expect(previousRange({})).toBeNull();
  });

  it('offers only intervals the API accepts (at most 5000 points)', () => {
    const week = { from: '2025-10-21', to: '2025-10-28' };
    expect(defaultInterval({ from: '2025-10-27', to: '2025-10-28' })).toBe('hour');
    expect(defaultInterval(week)).toBe('day');
    expect(intervalFits('minute', week)).toBe(false);
    expect(intervalFits('minute', { from: '2025-10-27', to: '2025-10-28' })).toBe(true);
    expect(intervalFits('hour', week)).toBe(true);
    expect(intervalFits('minute', {})).toBe(false);
    expect(intervalFits('hour', {})).toBe(false);
    expect(intervalFits('month', {})).toBe(true);
  });

  it('picks for all time the finest interval whose series fits in 5000 points', () => {
    const shop = (shop_id: string, first_seen: string, last_seen: string) => ({ shop_id, events: 1, bot_events: 0, first_seen, last_seen });
    const shops = [
      shop('today', '2025-10-26T09:00:00+00:00', '2025-10-26T18:00:00+00:00'),
      shop('season', '2025-06-01T00:00:00+00:00', '2025-10-26T00:00:00+00:00'),
      shop('years', '2019-01-01T00:00:00+00:00', '2025-10-26T00:00:00+00:00'),
      // The oldest an event may be (MAX_EVENT_AGE: ten years) up to a day ahead.
      shop('decade', '2015-10-29T00:00:00+00:00', '2025-10-27T23:00:00+00:00'),
    ];
    const allTime = {};
    const picked = (id: string | null) => defaultInterval(allTime, dataSpanDays(shops, id));
    expect(picked('today')).toBe('minute');
    expect(picked('season')).toBe('hour');
    expect(picked('years')).toBe('day');
    expect(picked('decade')).toBe('day');
    expect(picked(null)).toBe('day');
    expect(intervalFits('hour', allTime, dataSpanDays(shops, 'years'))).toBe(false);
    // Before the shops are known, days: ten years of them fit.
    expect(dataSpanDays(undefined, null)).toBeNull();
    expect(defaultInterval(allTime, null)).toBe('day');
    // A year-1 event stored before MAX_EVENT_AGE existed: nothing fits; the coarsest is asked.
    const ancient = [shop('old', '0001-01-01T00:00:00+00:00', '2025-10-26T00:00:00+00:00')];
    expect(dataSpanDays(ancient, null)).toBeGreaterThan(700_000);
    expect(defaultInterval(allTime, dataSpanDays(ancient, null))).toBe('month');
  });
});
