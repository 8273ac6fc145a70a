// The analytics service's JSON under the dashboard's names. Nothing here is written by hand:
// every type is taken from schema.ts, which openapi-typescript generates from the service's own
// OpenAPI document (analytics.openapi.json, printed by `analytics openapi`; `make api-types`
// refreshes both, `make lint` fails when they are stale). Money and rates arrive as numbers
// already rounded to two decimals by the server; the dashboard only formats them.

import type { components, operations } from './schema';

type Schemas = components['schemas'];
/** The query parameters of an operation of the document. */
type QueryOf<Operation extends keyof operations> = NonNullable<
  operations[Operation]['parameters']['query']
>;

/** `GET /api/analytics`: the original eight metrics. */
export type OriginalMetrics = Schemas['OriginalMetrics'];

/** The metrics of docs/API.md, the same names in every v1 endpoint. */
export type Metrics = Schemas['Metrics'];

/** `GET /api/v1/summary`. */
export type Summary = Schemas['Summary'];

export type Interval = NonNullable<QueryOf<'timeseries'>['interval']>;

export type TimeseriesPoint = Schemas['Point'];

/** `GET /api/v1/timeseries`. */
export type Timeseries = Schemas['Timeseries'];

export type ProductSort = NonNullable<QueryOf<'products'>['sort']>;

export type ProductRow = Schemas['ProductRow'];

/** `GET /api/v1/products`. */
export type Products = Schemas['Products'];

export type FunnelBy = NonNullable<QueryOf<'funnel'>['by']>;

export type FunnelStep = Schemas['FunnelStep'];
export type FunnelStepName = FunnelStep['step'];

/** `GET /api/v1/funnel`. */
export type Funnel = Schemas['Funnel'];

/** `GET /api/v1/realtime`: the last 30 minutes by event time. */
export type Realtime = Schemas['Realtime'];

export type Shop = Schemas['Shop'];

/** `GET /api/v1/shops`. */
export type Shops = Schemas['Shops'];

/**
 * The data of the `stored` event on `GET /api/v1/live`. A server-sent event's data is not
 * described by OpenAPI, so this one type is kept by hand (docs/API.md, `GET /api/v1/live`).
 */
export interface LiveStored {
  shop_ids: string[];
  count: number;
}

/** Every error answer: `{"error":"…","details":[{"field","message"}]}`. */
export type ErrorBody = Schemas['ErrorBody'];

export type ExportDataset = NonNullable<QueryOf<'export'>['dataset']>;

/** `GET /api/v1/key`. */
export type KeyAnswer = Schemas['KeyAnswer'];

/** What a breakdown groups by: a session's attribution, or each page view's path (`page`). */
export type BreakdownDimension = QueryOf<'breakdown'>['dimension'];

export type BreakdownRow = Schemas['BreakdownRow'];

/** `GET /api/v1/breakdown`. */
export type Breakdown = Schemas['Breakdown'];

/** The filter parameters (segments) every report but realtime, live and shops takes. */
export type FilterName = BreakdownDimension;
