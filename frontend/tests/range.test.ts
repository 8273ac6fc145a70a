import { describe, expect, it } from 'vitest';
import { addDays, daysBetween, isDate, isTimeZone, todayIn } from '../src/lib/dates';
import { defaultInterval, intervalFits, previousRange, resolveRange } from '../src/lib/range';

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

  it('offers only intervals the API accepts (at most 5000 buckets)', () => {
    const week = { from: '2025-10-21', to: '2025-10-28' };
    expect(defaultInterval({ from: '2025-10-27', to: '2025-10-28' })).toBe('hour');
    expect(defaultInterval(week)).toBe('day');
    expect(intervalFits('minute', week)).toBe(false);
    expect(intervalFits('minute', { from: '2025-10-27', to: '2025-10-28' })).toBe(true);
    expect(intervalFits('hour', week)).toBe(true);
    expect(intervalFits('minute', {})).toBe(false);
    expect(intervalFits('month', {})).toBe(true);
  });
});
