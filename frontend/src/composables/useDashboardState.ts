// The dashboard's state, kept in the address bar: each change is a new history entry (so
// Back undoes it), and Back/Forward bring the page to the state they show.

import { nextTick, onScopeDispose, reactive, watch } from 'vue';
import { browserTimeZone } from '../lib/dates';
import { parseState, serializeState, type DashboardState } from '../lib/urlState';

export function useDashboardState(win: Window = window): DashboardState {
  const zone = browserTimeZone();
  const state = reactive(parseState(win.location.search, zone));
  let restoring = false;

  // The opening URL is rewritten once, in place, to spell out the state it resolved to.
  win.history.replaceState(win.history.state, '', serializeState(state) + win.location.hash);

  watch(
    () => serializeState(state),
    (search) => {
      if (restoring || search === win.location.search) return;
      win.history.pushState(win.history.state, '', search + win.location.hash);
    },
  );

  function onPopState(): void {
    restoring = true;
    Object.assign(state, parseState(win.location.search, zone));
    // The watcher runs in the coming flush; it must not push the state being restored.
    void nextTick(() => (restoring = false));
  }
  win.addEventListener('popstate', onPopState);
  onScopeDispose(() => win.removeEventListener('popstate', onPopState));
  return state;
}
