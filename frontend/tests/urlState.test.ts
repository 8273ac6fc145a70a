import { describe, expect, it } from 'vitest';
import { defaultState, parseState, serializeState } from '../src/lib/urlState';

describe('URL state', () => {
  it('opens on the last 7 days in the browser zone, all shops, comparing', () => {
    expect(parseState('', 'Asia/Kolkata')).toEqual(defaultState('Asia/Kolkata'));
    expect(defaultState('UTC')).toMatchObject({ range: '7d', shop: null, compare: true });
  });

  it('round-trips every field', () => {
    const state = {
      ...defaultState('UTC'),
      range: 'custom' as const,
      from: '2025-10-01',
      to: '2025-10-07',
      tz: 'America/St_Johns',
      shop: 'acme.shop-1',
      interval: 'week' as const,
      compare: false,
      sort: 'revenue' as const,
      funnel: 'sessions' as const,
    };
    const search = serializeState(state);
    expect(search).toBe(
      '?range=custom&from=2025-10-01&to=2025-10-07&tz=America%2FSt_Johns&shop=acme.shop-1&interval=week&compare=off&sort=revenue&funnel=sessions',
    );
    expect(parseState(search, 'UTC')).toEqual(state);
  });

  it('keeps links short: defaults are left out, the zone is always written', () => {
    expect(serializeState(defaultState('Europe/Berlin'))).toBe('?range=7d&tz=Europe%2FBerlin');
  });

  it('falls back to defaults for anything unreadable', () => {
    const state = parseState('?range=year&tz=Mars%2FBase&shop=a%20b&interval=fortnight&sort=x&funnel=y', 'UTC');
    expect(state).toEqual(defaultState('UTC'));
  });

  it('refuses a custom range that is incomplete, invalid or backwards', () => {
    expect(parseState('?range=custom&from=2025-10-07', 'UTC').range).toBe('7d');
    expect(parseState('?range=custom&from=2025-10-07&to=2025-10-01', 'UTC').range).toBe('7d');
    expect(parseState('?range=custom&from=2025-02-30&to=2025-03-01', 'UTC').range).toBe('7d');
    expect(parseState('?range=custom&from=2025-10-01&to=2025-10-01', 'UTC')).toMatchObject({
      range: 'custom',
      from: '2025-10-01',
      to: '2025-10-01',
    });
  });

  it('ignores from/to unless the range is custom', () => {
    expect(parseState('?range=30d&from=2025-10-01&to=2025-10-07', 'UTC')).toMatchObject({
      range: '30d',
      from: null,
      to: null,
    });
  });
});

describe('URL state: filters', () => {
  it('keeps each filter under its API name and reads it back', () => {
    const state = { ...defaultState('UTC'), filters: { channel: 'Organic Search', country: '(none)', page: '/a b' } };
    const search = serializeState(state);
    expect(search).toBe('?range=7d&tz=UTC&channel=Organic+Search&page=%2Fa+b&country=%28none%29');
    expect(parseState(search, 'UTC').filters).toEqual(state.filters);
  });

  it('drops what the API would refuse', () => {
    expect(parseState('?channel=&page=(none)&os=%0A&device=%20', 'UTC').filters).toEqual({});
  });
});
