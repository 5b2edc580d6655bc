/*
 * The board's push channel (issue 13; repairs/live_views.py on the server).
 *
 * The htmx `sse` extension (static/vendor/sse.min.js) keeps an EventSource open
 * on #board-live and reconnects it when it drops: the browser itself after a
 * network error (sending Last-Event-ID), the extension with a growing delay
 * after a refused one (the URL's ?since= says what the page was drawn at).
 *
 * - Each `board` event (data: the shop's board version) becomes ONE
 *   `board:changed` event on document.body; board.js fetches what changed
 *   since its own version from there, the same path as its poll.
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

  function changed(version) {
    document.body.dispatchEvent(new CustomEvent("board:changed", { detail: { version: version } }));
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
      changed(parseInt(event.data, 10));
    });
  });

  document.addEventListener("htmx:sseError", function () {
    delete document.body.dataset.live;
  });

  window.addEventListener("online", function () {
    changed(null);
  });
})();
