// `GET /api/v1/shops` — shops: the shops with events in the range, for the shop selector.

import type { Query } from '../api/client';
import type { Shops } from '../api/types';
import { useApiResource, type Resource } from './useApiResource';

export function useShops(query: () => Query): Resource<Shops> {
  return useApiResource<Shops>(() => ({ path: '/api/v1/shops', query: query() }));
}
