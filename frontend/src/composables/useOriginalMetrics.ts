// `GET /api/analytics`: the original eight metrics (the only source of max/min order value
// and the top product), for the range and, to show deltas, for the period before it.

import { getJson, type Query } from '../api/client';
import type { OriginalMetrics } from '../api/types';
import { useApiResource, type ApiRequest, type Resource } from './useApiResource';

export interface OriginalComparison {
  current: OriginalMetrics;
  /** `null` when no comparison was asked for, or the range has no "before" (all time). */
  previous: OriginalMetrics | null;
}

interface OriginalRequest extends ApiRequest {
  previousQuery: Query | null;
}

export function useOriginalMetrics(
  query: () => Query,
  previousQuery: () => Query | null,
): Resource<OriginalComparison> {
  return useApiResource<OriginalComparison, OriginalRequest>(
    () => ({ path: '/api/analytics', query: query(), previousQuery: previousQuery() }),
    async (request, signal) => {
      const [current, previous] = await Promise.all([
        getJson<OriginalMetrics>(request.path, request.query, signal),
        request.previousQuery ? getJson<OriginalMetrics>(request.path, request.previousQuery, signal) : null,
      ]);
      return { current, previous };
    },
  );
}
