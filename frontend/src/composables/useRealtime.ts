// `GET /api/v1/realtime` — realtime: the last 30 minutes by event time, whatever range is
// chosen. The window slides even when nothing is stored, so it is re-read every `slideMs`.

import { onScopeDispose } from 'vue';
import type { Query } from '../api/client';
import type { Realtime } from '../api/types';
import { useApiResource, type Resource } from './useApiResource';

export function useRealtime(query: () => Query, slideMs = 30_000): Resource<Realtime> {
  const resource = useApiResource<Realtime>(() => ({ path: '/api/v1/realtime', query: query() }));
  const timer = setInterval(() => void resource.refresh(), slideMs);
  onScopeDispose(() => clearInterval(timer));
  return resource;
}
