// `GET /api/v1/breakdown` — one dimension's rows (a card's active tab), ranked by the API.

import type { Query } from '../api/client';
import type { Breakdown } from '../api/types';
import { useApiResource, type Resource } from './useApiResource';

export function useBreakdown(query: () => Query): Resource<Breakdown> {
  return useApiResource<Breakdown>(() => ({ path: '/api/v1/breakdown', query: query() }));
}
