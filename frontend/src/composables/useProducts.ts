// `GET /api/v1/products` — products: one page of products, sorted descending by the chosen metric.

import type { Query } from '../api/client';
import type { Products } from '../api/types';
import { useApiResource, type Resource } from './useApiResource';

export function useProducts(query: () => Query): Resource<Products> {
  return useApiResource<Products>(() => ({ path: '/api/v1/products', query: query() }));
}
