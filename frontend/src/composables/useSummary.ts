// `GET /api/v1/summary` — the summary: every metric for the range, with the previous period's and the change when `compare=previous`.

import type { Query } from '../api/client';
import type { Summary } from '../api/types';
import { useApiResource, type Resource } from './useApiResource';

export function useSummary(query: () => Query): Resource<Summary> {
  return useApiResource<Summary>(() => ({ path: '/api/v1/summary', query: query() }));
}
