/* Core API pixel: <script defer src="https://API_HOST/pixel.js" data-site="px_..."></script>
   Page views (single-page-app navigations too) and corePixel.track(name, properties).
   No cookies, no storage; events go out with navigator.sendBeacon. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var site = script.getAttribute("data-site");
  var api = new URL(script.src).origin + "/api/v1/pixel/";
  var config = null;
  var queue = [];
  var lastUrl = null;

  function send(event, properties) {
    if (!config || !config.enabled) return;
    var feature = event === "pageview" ? "pageviews" : "events";
    if (!config.features[feature]) return;
    var body = JSON.stringify({
      site: site,
      event: event,
      url: location.href,
      referrer: document.referrer || null,
      properties: properties || null
    });
    // a string body is text/plain: a "simple" request, no CORS preflight
    if (!(navigator.sendBeacon && navigator.sendBeacon(api + "track", body))) {
      fetch(api + "track", { method: "POST", body: body, keepalive: true, credentials: "omit" });
    }
  }

  function track(event, properties) {
    if (config === null) queue.push([event, properties]);
    else send(event, properties);
  }

  function pageview() {
    if (location.href === lastUrl) return;
    lastUrl = location.href;
    track("pageview");
  }

  var push = history.pushState;
  history.pushState = function () {
    var result = push.apply(this, arguments);
    pageview();
    return result;
  };
  window.addEventListener("popstate", pageview);
  window.corePixel = { track: track };

  fetch(api + "config?site=" + encodeURIComponent(site), { credentials: "omit" })
    .then(function (response) { return response.json(); })
    .then(function (answer) {
      config = answer;
      var waiting = queue;
      queue = [];
      waiting.forEach(function (item) { send(item[0], item[1]); });
    })
    .catch(function () { config = { enabled: false }; });
  pageview();
})();
