// `GET /api/v1/timeseries` — the time series: one point per interval, empty intervals included.

import type { Query } from '../api/client';
import type { Timeseries } from '../api/types';
import { useApiResource, type Resource } from './useApiResource';

export function useTimeseries(query: () => Query): Resource<Timeseries> {
  return useApiResource<Timeseries>(() => ({ path: '/api/v1/timeseries', query: query() }));
}
