// `GET /api/v1/funnel` — the funnel: view → cart → purchase, by events or by sessions.

import type { Query } from '../api/client';
import type { Funnel } from '../api/types';
import { useApiResource, type Resource } from './useApiResource';

export function useFunnel(query: () => Query): Resource<Funnel> {
  return useApiResource<Funnel>(() => ({ path: '/api/v1/funnel', query: query() }));
}
