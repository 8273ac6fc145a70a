// The dashboard's state as a query string, so a view can be bookmarked and shared:
// `?range=30d&tz=Europe/Berlin&shop=acme`, or `?range=custom&from=2025-10-01&to=2025-10-07`
// (both days inclusive, as a person reads them). Anything unreadable falls back to its default.

import type { FilterName, FunnelBy, Interval, ProductSort } from '../api/types';
import { isDate, isTimeZone } from './dates';
import { RANGE_PRESETS, type RangeChoice, type RangePreset } from './range';

export interface DashboardState extends RangeChoice {
  tz: string;
  /** `null`: all shops. */
  shop: string | null;
  /** `null`: the range's default interval. */
  interval: Interval | null;
  compare: boolean;
  sort: ProductSort;
  funnel: FunnelBy;
  /** The segment every report is narrowed to (a clicked breakdown row); `(none)` means
   * "without a value", as the API reads it. */
  filters: Partial<Record<FilterName, string>>;
}

/** The filter parameters, in the order chips and links show them; the URL uses the API's names. */
export const FILTER_NAMES: readonly FilterName[] = [
  'channel',
  'source',
  'medium',
  'campaign',
  'referrer',
  'landing_page',
  'page',
  'device',
  'browser',
  'os',
  'country',
];
/** The longest filter value the API takes. */
const MAX_FILTER_CHARS = 2048;

const INTERVALS: readonly Interval[] = ['minute', 'hour', 'day', 'week', 'month'];
const SORTS: readonly ProductSort[] = ['page_views', 'add_to_carts', 'purchases', 'revenue', 'conversion_rate'];
const FUNNELS: readonly FunnelBy[] = ['events', 'sessions'];
/** The rule the API applies to `shop_id`. */
const SHOP_ID = /^[A-Za-z0-9._-]{1,64}$/;

export function defaultState(tz: string): DashboardState {
  return {
    range: '7d',
    from: null,
    to: null,
    tz,
    shop: null,
    interval: null,
    compare: true,
    sort: 'page_views',
    funnel: 'events',
    filters: {},
  };
}

function oneOf<T extends string>(value: string | null, allowed: readonly T[]): T | null {
  return value !== null && (allowed as readonly string[]).includes(value) ? (value as T) : null;
}

/** Reads a query string; `browserZone` is the zone when the URL names none. */
export function parseState(search: string, browserZone: string): DashboardState {
  const query = new URLSearchParams(search);
  const state = defaultState(browserZone);
  state.range = oneOf<RangePreset>(query.get('range'), RANGE_PRESETS) ?? state.range;
  if (state.range === 'custom') {
    const from = query.get('from');
    const to = query.get('to');
    if (from && to && isDate(from) && isDate(to) && from <= to) {
      state.from = from;
      state.to = to;
    } else {
      state.range = '7d';
    }
  }
  const tz = query.get('tz');
  if (tz && isTimeZone(tz)) state.tz = tz;
  const shop = query.get('shop');
  if (shop && SHOP_ID.test(shop)) state.shop = shop;
  state.interval = oneOf(query.get('interval'), INTERVALS);
  state.compare = query.get('compare') !== 'off';
  state.sort = oneOf(query.get('sort'), SORTS) ?? state.sort;
  state.funnel = oneOf(query.get('funnel'), FUNNELS) ?? state.funnel;
  for (const name of FILTER_NAMES) {
    const value = query.get(name);
    // Values the API would refuse are dropped, so a hand-edited link still opens.
    if (value && value.trim() && [...value].length <= MAX_FILTER_CHARS && !/\p{Cc}/u.test(value)) {
      if (name === 'page' && value === '(none)') continue;
      state.filters[name] = value;
    }
  }
  return state;
}

/** The query string for a state (with its `?`), leaving defaults out to keep links short. */
export function serializeState(state: DashboardState): string {
  const query = new URLSearchParams();
  query.set('range', state.range);
  if (state.range === 'custom' && state.from && state.to) {
    query.set('from', state.from);
    query.set('to', state.to);
  }
  // Always written: the same link must show the same days to a colleague in another zone.
  query.set('tz', state.tz);
  if (state.shop) query.set('shop', state.shop);
  if (state.interval) query.set('interval', state.interval);
  if (!state.compare) query.set('compare', 'off');
  if (state.sort !== 'page_views') query.set('sort', state.sort);
  if (state.funnel !== 'events') query.set('funnel', state.funnel);
  for (const name of FILTER_NAMES) {
    const value = state.filters[name];
    if (value) query.set(name, value);
  }
  return `?${query.toString()}`;
}
