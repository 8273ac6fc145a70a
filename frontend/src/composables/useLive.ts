// Keeps the dashboard current without a reload: it listens to `/api/v1/live` (server-sent
// events, `stored` each time new events become visible) and, whenever that stream is not
// open, polls every 5 seconds instead. A stream the browser gave up on is tried again later.

import { onScopeDispose, ref, type Ref } from 'vue';
import { liveUrl } from '../api/client';
import type { LiveStored } from '../api/types';

export type LiveMode = 'connecting' | 'live' | 'polling';

export interface LiveSource {
  readonly readyState: number;
  addEventListener(type: string, listener: (event: MessageEvent) => void): void;
  close(): void;
  onopen: ((event: Event) => unknown) | null;
  onerror: ((event: Event) => unknown) | null;
}

export interface LiveOptions {
  /** New events were stored for these shops (empty when the server did not say). */
  onStored: (shopIds: string[]) => void;
  /** Time to re-read everything: a poll, or the stream (re)opened after a gap. */
  onPoll: () => void;
  /** Poll even while the stream is open (e.g. while some request is failing). */
  forcePolling?: () => boolean;
  pollMs?: number;
  /** How long to wait before opening a stream again after the browser closed it for good. */
  reconnectMs?: number;
  createSource?: (url: string) => LiveSource;
}

const CLOSED = 2;

export function useLive(options: LiveOptions): { mode: Ref<LiveMode> } {
  const pollMs = options.pollMs ?? 5_000;
  const reconnectMs = options.reconnectMs ?? 30_000;
  const createSource = options.createSource ?? ((url: string) => new EventSource(url));
  const mode = ref<LiveMode>('connecting');

  let source: LiveSource | null = null;
  let reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  let opened = false;
  let stopped = false;

  // One timer ticks throughout; it decides on each tick whether a poll is due, so switching
  // between streaming and polling never leaves two timers or none.
  const pollTimer = setInterval(() => {
    if (mode.value !== 'live' || options.forcePolling?.()) options.onPoll();
  }, pollMs);

  function connect(): void {
    if (stopped) return;
    const current = createSource(liveUrl());
    source = current;
    current.onopen = () => {
      mode.value = 'live';
      // After a gap, events may have been stored that no `stored` message announced.
      if (opened) options.onPoll();
      opened = true;
    };
    current.addEventListener('stored', (event: MessageEvent) => {
      options.onStored(parseShopIds(event.data));
    });
    current.onerror = () => {
      mode.value = 'polling';
      if (current.readyState === CLOSED) {
        // The browser will not retry (e.g. the endpoint answered an error): we will.
        current.close();
        if (source === current) source = null;
        reconnectTimer = setTimeout(connect, reconnectMs);
      }
    };
  }

  connect();
  onScopeDispose(() => {
    stopped = true;
    clearInterval(pollTimer);
    if (reconnectTimer) clearTimeout(reconnectTimer);
    source?.close();
  });
  return { mode };
}

function parseShopIds(data: unknown): string[] {
  try {
    const parsed = JSON.parse(String(data)) as Partial<LiveStored>;
    return Array.isArray(parsed.shop_ids) ? parsed.shop_ids.filter((s) => typeof s === 'string') : [];
  } catch {
    return [];
  }
}
