import { describe, expect, it } from 'vitest';
import {
  describeChange,
  formatCount,
  formatDay,
  formatMoney,
  formatPercent,
  percentChange,
  singleCurrency,
} from '../src/lib/format';

describe('money', () => {
  it('always has two decimals, never `$15` for 15.00', () => {
    expect(formatMoney(15, null, 'en-US')).toBe('15.00');
    expect(formatMoney(75.5, null, 'en-US')).toBe('75.50');
    expect(formatMoney(1234.5, null, 'en-US')).toBe('1,234.50');
    expect(formatMoney(0, null, 'en-US')).toBe('0.00');
  });

  it('writes the one known currency and the locale separators', () => {
    expect(formatMoney(15, 'USD', 'en-US')).toBe('$15.00');
    expect(formatMoney(1234.5, 'EUR', 'de-DE')).toBe('1.234,50\u00a0€');
    expect(formatMoney(1234.5, null, 'de-DE')).toBe('1.234,50');
  });

  it('gives no symbol for mixed or unknown currencies', () => {
    expect(formatMoney(9.99, 'XXX', 'en-US')).toBe('9.99');
    expect(singleCurrency({ EUR: 1, USD: 2 })).toBeNull();
    expect(singleCurrency({ XXX: 1 })).toBeNull();
    expect(singleCurrency({ EUR: 1 })).toBe('EUR');
    expect(singleCurrency({})).toBeNull();
    expect(singleCurrency(undefined)).toBeNull();
  });
});

describe('rates and counts', () => {
  it('shows a rate the API gives in percent with two decimals', () => {
    expect(formatPercent(8, 'en-US')).toBe('8.00%');
    expect(formatPercent(8.33, 'en-US')).toBe('8.33%');
    expect(formatPercent(133.33, 'en-US')).toBe('133.33%');
    expect(formatPercent(0, 'en-US')).toBe('0.00%');
    expect(formatPercent(12.35, 'de-DE')).toBe('12,35\u00a0%');
  });

  it('groups counts in the locale', () => {
    expect(formatCount(1234567, 'en-US')).toBe('1,234,567');
    expect(formatCount(1234567, 'de-DE')).toBe('1.234.567');
  });

  it('writes a calendar day without shifting it through a zone', () => {
    expect(formatDay('2025-10-26', 'en-US')).toBe('Oct 26, 2025');
  });
});

describe('change on the previous period', () => {
  it('follows the API: percent, two decimals, null when there was nothing before', () => {
    expect(percentChange(150, 100)).toBe(50);
    expect(percentChange(2, 3)).toBe(-33.33);
    expect(percentChange(5, 0)).toBeNull();
    expect(percentChange(0, 0)).toBeNull();
  });

  it('says the direction in symbols and in words', () => {
    expect(describeChange(12.5, 'en-US')).toEqual({
      direction: 'up',
      text: '+12.5%',
      label: 'up 12.5% on the previous period',
    });
    expect(describeChange(-33.33, 'en-US')).toMatchObject({ direction: 'down', text: '−33.3%' });
    expect(describeChange(0, 'en-US').direction).toBe('flat');
    expect(describeChange(null, 'en-US')).toMatchObject({ direction: 'none', text: 'new' });
    expect(describeChange(undefined, 'en-US')).toEqual({ direction: 'none', text: '', label: '' });
  });
});

describe('durations and ratios', () => {
  it('writes seconds as a person reads a duration', async () => {
    const { formatDuration, formatRatio } = await import('../src/lib/format');
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(59)).toBe('59s');
    expect(formatDuration(754)).toBe('12m 34s');
    expect(formatDuration(3725)).toBe('1h 02m 05s');
    expect(formatRatio(2.5, 'en-US')).toBe('2.50');
  });
});
