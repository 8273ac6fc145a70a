/* Shop analytics tracker (docs/API.md, "The tracker"). No cookie, no storage, no dependency.
   <script defer src="https://INGESTION/t.js" data-key="pk_..."></script>
   Page views on load and on history navigation; analytics.track('add_to_cart'|'purchase', {...}). */
(function (w, d) {
  var s = d.currentScript;
  if (!s || w.analytics && w.analytics.track) return;
  var key = s.getAttribute('data-key') || '';
  var api = (s.getAttribute('data-api') || s.src.replace(/\/t\.js([?#].*)?$/, '')) + '/v1/events?key=' + encodeURIComponent(key);
  var fields = ['product_id', 'order_amount', 'currency', 'quantity', 'order_id', 'event_id'];
  var last;

  function send(event) {
    var now = new Date().toISOString();
    event.timestamp = now;
    event.sent_at = now;
    event.url = location.href;
    var body = JSON.stringify(event);
    // text/plain needs no CORS preflight; the key travels in the URL (beacons set no header).
    if (navigator.sendBeacon && navigator.sendBeacon(api, body)) return;
    if (w.fetch) fetch(api, { method: 'POST', body: body, keepalive: true, credentials: 'omit', headers: { 'Content-Type': 'text/plain' } })['catch'](function () {});
  }

  function pageView() {
    var url = location.href;
    if (url === last) return;
    var event = { event_type: 'page_view' };
    var referrer = last || d.referrer;
    if (referrer) event.referrer = referrer;
    last = url;
    send(event);
  }

  function track(type, props) {
    if (type !== 'add_to_cart' && type !== 'purchase' && type !== 'page_view') return;
    if (type === 'page_view') return pageView();
    var event = { event_type: type };
    for (var i = 0; i < fields.length; i++) {
      if (props && props[fields[i]] != null) event[fields[i]] = props[fields[i]];
    }
    send(event);
  }

  ['pushState', 'replaceState'].forEach(function (name) {
    var original = history[name];
    history[name] = function () {
      var result = original.apply(this, arguments);
      pageView();
      return result;
    };
  });
  w.addEventListener('popstate', pageView);

  // Calls made before the script loaded: window.analytics = [['track', 'purchase', {...}]].
  var queued = w.analytics && w.analytics.length ? w.analytics : [];
  w.analytics = { track: track };
  pageView();
  for (var q = 0; q < queued.length; q++) if (queued[q][0] === 'track') track(queued[q][1], queued[q][2]);
})(window, document);
