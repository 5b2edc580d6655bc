/*
 * The board's push channel (issue 13; repairs/live_views.py on the server).
 *
 * The htmx `sse` extension (static/vendor/sse.min.js) keeps an EventSource open
 * on #board-live and reconnects it when it drops: the browser itself after a
 * network error (sending Last-Event-ID), the extension with a growing delay
 * after a refused one (the URL's ?since= says what the page was drawn at).
 *
 * - Each `board` event (data: the shop's board version, then for an unfiltered
 *   board the delta's HTML) becomes ONE `board:changed` event on
 *   document.body, with { version, delta } as its detail; board.js applies the
 *   delta when its board is at the delta's from-version (no request), and
 *   otherwise fetches what changed since its own version, as its poll does.
 * - `document.body.dataset.live = "push"` says the stream is delivering, and
 *   board.js skips its 3 s poll meanwhile. It is set on the server's first
 *   `live` event, not on open: behind a proxy that buffers the response, the
 *   stream "opens" but nothing arrives, and the board keeps polling. It is
 *   removed when the stream fails, so the poll resumes at once.
 * - Back online after a lost connection, the board catches up at once rather
 *   than at the stream's next retry or the next poll.
 */
(function () {
  "use strict";

  var wired = typeof WeakSet === "function" ? new WeakSet() : null;

  function changed(version, delta) {
    document.body.dispatchEvent(new CustomEvent("board:changed", { detail: { version: version, delta: delta || null } }));
  }

  document.addEventListener("htmx:sseOpen", function (evt) {
    var source = evt.detail && evt.detail.source;
    // The browser's own reconnects open the same EventSource again: wire it once.
    if (!source || !wired || wired.has(source)) return;
    wired.add(source);
    source.addEventListener("live", function () {
      document.body.dataset.live = "push";
    });
    source.addEventListener("board", function (event) {
      document.body.dataset.live = "push";
      // The data's first line is the version; the lines after it, if any, the delta.
      var cut = event.data.indexOf("\n");
      changed(parseInt(event.data, 10), cut < 0 ? null : event.data.slice(cut + 1));
    });
  });

  document.addEventListener("htmx:sseError", function () {
    delete document.body.dataset.live;
  });

  window.addEventListener("online", function () {
    changed(null);
  });
})();
