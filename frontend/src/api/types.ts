// The analytics service's JSON, field for field (docs/API.md). Money and rates arrive as
// numbers already rounded to two decimals by the server; the dashboard only formats them.

/** `GET /api/analytics`: the original eight metrics. */
export interface OriginalMetrics {
  total_page_views: number;
  total_add_to_carts: number;
  total_purchases: number;
  conversion_rate: number;
  average_purchase_value: number;
  max_purchase_value: number;
  min_purchase_value: number;
  top_product_id: string | null;
}

/** The metrics of docs/API.md, the same names in every v1 endpoint. */
export interface Metrics {
  page_views: number;
  add_to_carts: number;
  purchases: number;
  revenue: number;
  average_order_value: number;
  conversion_rate: number;
  cart_rate: number;
  checkout_rate: number;
  visitors: number;
  sessions: number;
  cart_abandonment_rate: number;
  session_conversion_rate: number;
  bounce_rate: number;
  pages_per_session: number;
  /** Whole seconds. */
  average_session_duration: number;
  new_visitors: number;
  returning_customers: number;
  /** Keyed by ISO 4217 code; `XXX` holds purchases sent without a currency. */
  revenue_by_currency: Record<string, number>;
}

/** Percent change per metric; `null` where the previous value was 0. */
export type MetricChange = { [K in keyof Metrics]?: number | null };

/** `GET /api/v1/summary`. */
export interface Summary {
  from: string | null;
  to: string | null;
  metrics: Metrics;
  previous: Metrics | null;
  change: MetricChange | null;
}

export type Interval = 'minute' | 'hour' | 'day' | 'week' | 'month';

export interface TimeseriesPoint {
  /** The bucket's start, RFC 3339 with the zone's offset. */
  t: string;
  page_views: number;
  add_to_carts: number;
  purchases: number;
  revenue: number;
  visitors: number;
}

/** `GET /api/v1/timeseries`. */
export interface Timeseries {
  interval: Interval;
  tz: string;
  points: TimeseriesPoint[];
}

export type ProductSort = 'page_views' | 'add_to_carts' | 'purchases' | 'revenue' | 'conversion_rate';

export interface ProductRow {
  product_id: string;
  page_views: number;
  add_to_carts: number;
  purchases: number;
  revenue: number;
  conversion_rate: number;
}

/** `GET /api/v1/products`. */
export interface Products {
  products: ProductRow[];
  total: number;
}

export type FunnelBy = 'events' | 'sessions';
export type FunnelStepName = 'page_view' | 'add_to_cart' | 'purchase';

export interface FunnelStep {
  step: FunnelStepName;
  count: number;
  rate_from_previous: number;
  rate_from_first: number;
}

/** `GET /api/v1/funnel`. */
export interface Funnel {
  by: FunnelBy;
  steps: FunnelStep[];
}

/** `GET /api/v1/realtime`: the last 30 minutes by event time. */
export interface Realtime {
  page_views: number;
  add_to_carts: number;
  purchases: number;
  revenue: number;
  visitors: number;
  /** 30 page-view counts, oldest first; the last is the current minute so far. */
  per_minute: number[];
  top_products: { product_id: string; page_views: number }[];
}

export interface Shop {
  shop_id: string;
  events: number;
  /** Events flagged as bots: stored, counted nowhere else. */
  bot_events?: number;
  first_seen: string;
  last_seen: string;
}

/** `GET /api/v1/shops`. */
export interface Shops {
  shops: Shop[];
}

/** The data of the `stored` event on `GET /api/v1/live`. */
export interface LiveStored {
  shop_ids: string[];
  count: number;
}

/** Every error answer: `{"error":"…","details":[{"field","message"}]}`. */
export interface ErrorBody {
  error: string;
  details?: { field: string; message: string }[];
}

export type ExportDataset = 'events' | 'products' | 'timeseries';

/** What a breakdown groups by: a session's attribution, or each page view's path (`page`). */
export type BreakdownDimension =
  | 'channel'
  | 'source'
  | 'medium'
  | 'campaign'
  | 'referrer'
  | 'landing_page'
  | 'device'
  | 'browser'
  | 'os'
  | 'country'
  | 'page';

export interface BreakdownRow {
  /** `null`: the events without one. */
  value: string | null;
  visitors: number;
  sessions: number;
  page_views: number;
  add_to_carts: number;
  purchases: number;
  revenue: number;
  conversion_rate: number;
  session_conversion_rate: number;
  average_order_value: number;
  bounce_rate: number;
}

/** `GET /api/v1/breakdown`. */
export interface Breakdown {
  dimension: BreakdownDimension;
  rows: BreakdownRow[];
  total: number;
}

/** The filter parameters (segments) every report but realtime, live and shops takes. */
export type FilterName = BreakdownDimension;
