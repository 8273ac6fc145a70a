import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { effectScope } from 'vue';
import { useLive, type LiveSource } from '../src/composables/useLive';

/** A stand-in for EventSource that the test drives by hand. */
class FakeSource implements LiveSource {
  readyState = 0;
  onopen: ((event: Event) => unknown) | null = null;
  onerror: ((event: Event) => unknown) | null = null;
  closed = false;
  private listeners = new Map<string, ((event: MessageEvent) => void)[]>();

  constructor(readonly url: string) {}

  addEventListener(type: string, listener: (event: MessageEvent) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }
  close(): void {
    this.closed = true;
    this.readyState = 2;
  }
  open(): void {
    this.readyState = 1;
    this.onopen?.(new Event('open'));
  }
  fail(readyState: 0 | 2): void {
    this.readyState = readyState;
    this.onerror?.(new Event('error'));
  }
  emit(type: string, data: string): void {
    for (const listener of this.listeners.get(type) ?? []) listener(new MessageEvent(type, { data }));
  }
}

function start(forcePolling = () => false) {
  const sources: FakeSource[] = [];
  const onStored = vi.fn();
  const onPoll = vi.fn();
  const scope = effectScope();
  const { mode } = scope.run(() =>
    useLive({
      onStored,
      onPoll,
      forcePolling,
      createSource: (url) => {
        const source = new FakeSource(url);
        sources.push(source);
        return source;
      },
    }),
  )!;
  return { sources, onStored, onPoll, mode, scope };
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('live updates', () => {
  it('listens to /api/v1/live and refreshes on `stored`, without polling', () => {
    const { sources, onStored, onPoll, mode, scope } = start();
    expect(sources[0]!.url).toBe('/api/v1/live');
    expect(mode.value).toBe('connecting');
    sources[0]!.open();
    expect(mode.value).toBe('live');
    sources[0]!.emit('stored', '{"shop_ids":["acme"],"count":3}');
    expect(onStored).toHaveBeenCalledWith(['acme']);
    vi.advanceTimersByTime(20_000);
    expect(onPoll).not.toHaveBeenCalled();
    scope.stop();
  });

  it('polls every 5 s while the stream is down, and catches up when it reopens', () => {
    const { sources, onPoll, mode, scope } = start();
    sources[0]!.open();
    sources[0]!.fail(0); // the browser is reconnecting by itself
    expect(mode.value).toBe('polling');
    vi.advanceTimersByTime(5_000);
    expect(onPoll).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(10_000);
    expect(onPoll).toHaveBeenCalledTimes(3);
    sources[0]!.open();
    expect(mode.value).toBe('live');
    expect(onPoll).toHaveBeenCalledTimes(4); // the gap may have hidden stored events
    vi.advanceTimersByTime(10_000);
    expect(onPoll).toHaveBeenCalledTimes(4);
    scope.stop();
  });

  it('opens a new stream later when the browser gives up on one', () => {
    const { sources, onPoll, mode, scope } = start();
    sources[0]!.fail(2); // e.g. the server answered 404: EventSource will not retry
    expect(mode.value).toBe('polling');
    expect(sources[0]!.closed).toBe(true);
    vi.advanceTimersByTime(30_000);
    expect(onPoll).toHaveBeenCalledTimes(6);
    expect(sources).toHaveLength(2);
    sources[1]!.open();
    expect(mode.value).toBe('live');
    scope.stop();
  });

  it('keeps polling while a request fails even though the stream is open', () => {
    let failing = true;
    const { sources, onPoll, scope } = start(() => failing);
    sources[0]!.open();
    vi.advanceTimersByTime(5_000);
    expect(onPoll).toHaveBeenCalledTimes(1);
    failing = false;
    vi.advanceTimersByTime(5_000);
    expect(onPoll).toHaveBeenCalledTimes(1);
    scope.stop();
  });

  it('tolerates a message it cannot read, and stops everything when disposed', () => {
    const { sources, onStored, onPoll, scope } = start();
    sources[0]!.open();
    sources[0]!.emit('stored', 'not json');
    expect(onStored).toHaveBeenCalledWith([]);
    scope.stop();
    expect(sources[0]!.closed).toBe(true);
    sources[0]!.readyState = 0;
    vi.advanceTimersByTime(60_000);
    expect(onPoll).not.toHaveBeenCalled();
  });
});
