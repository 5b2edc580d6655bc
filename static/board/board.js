/*
 * Shopboard's board behaviour. All of the page's JavaScript lives here (no
 * inline scripts, so a strict Content-Security-Policy can forbid them).
 *
 * - Drag a card with a mouse or pen (SortableJS), or use its "Move" button and
 *   the move dialog: one htmx POST to the card's move URL, carrying the RO's
 *   version. The server answers the new card plus both column counts
 *   (out-of-band) and a toast offering Undo for 10 s, or 409 and the one card
 *   where it really is. Escape during a drag puts the card back.
 *   A finger never drags: on a touch screen the Move button moves a car
 *   (docs/board.md says why).
 * - Catching up is one path, catchUp(): the board asks the server what changed
 *   since the board version it shows (#board's data-board-version) and gets
 *   only the changed cards, the counts that changed and the top bar (a delta),
 *   or the whole board when that is simpler (a long gap, a new clock bucket);
 *   204 when nothing changed. It runs on "board:changed" dispatched on
 *   document.body (the push stream does so on every change; its event carries
 *   the delta itself for an unfiltered board, applied with no request when the
 *   board is at the delta's from-version: applyPushedDelta), after a move, and
 *   on a 3 s poll that pauses while the push stream is open
 *   (body[data-live="push"]) but for a 60 s safety poll. The URL carries the
 *   search and quick filters, so they survive. It never lands mid-drag or mid-move.
 * - TV mode (?tv=1 or the button): every stage on one screen, a clock, and
 *   columns with more cars than fit page through them by themselves.
 * - Phone: one stage at a time, picked with the stage switcher.
 *
 * It runs for days on a wall TV: every listener and timer is set up once for
 * the page, never per board swap; Sortable instances are destroyed before a
 * swap makes new ones.
 */
(function () {
  "use strict";

  htmx.config.includeIndicatorStyles = false; // it would inject an inline <style> (CSP); see also <meta name="htmx-config">
  htmx.config.allowEval = false;
  htmx.config.allowScriptTags = false;
  // A snapshot of a 500-card board would fill localStorage; Back/Forward
  // after a filter change loads the page afresh instead.
  htmx.config.historyCacheSize = 0;
  htmx.config.refreshOnHistoryMiss = true;
  htmx.config.responseHandling = [
    { code: "204", swap: false },
    { code: "304", swap: false }, // poll: nothing changed
    { code: "409", swap: true }, // stale move: the server sends the real board
    { code: "422", swap: true }, // a form with its errors
    { code: "[23]..", swap: true },
    { code: "[45]..", swap: false, error: true },
    { code: "...", swap: false },
  ];

  var TOAST_MS = 6000;
  var UNDO_MS = 10000; // SPEC §7: Undo is offered for 10 s
  var TV_PAGE_MS = 8000; // how long a TV column shows one page of its cars
  var POLL_MS = 3000; // catch-up without push
  var SAFETY_POLL_MS = 60000; // catch-up while the push stream is open, should an event be lost
  var CLOCK_SPREAD_MS = 60000; // a new clock bucket's whole board comes within this long (clockRefreshSoon)
  var BOARD_CHANGED = "board:changed"; // live.js dispatches it for every pushed event: makes the board catch up

  var state = {
    dragging: false,
    dragCancelled: false,
    movesInFlight: 0,
    moveCount: 0, // moves started so far: a poll that began before one is stale
    sortables: [],
    columnScroll: {},
    tvPage: {}, // stage id -> page shown in TV mode
    // lastAt: the page was drawn just now, so the 60 s safety poll counts from there.
    catchUp: { running: false, again: false, whole: false, deferred: false, lastAt: Date.now() },
  };

  function board() {
    return document.getElementById("board");
  }

  function isTv() {
    return document.body.classList.contains("tv");
  }

  function shopKey(name) {
    var b = board();
    return b ? "shopboard:" + name + ":" + b.dataset.shopId : null;
  }

  function stored(storage, name, fallback) {
    try {
      var value = storage.getItem(shopKey(name));
      return value === null ? fallback : JSON.parse(value);
    } catch (e) {
      return fallback;
    }
  }

  function store(storage, name, value) {
    try {
      storage.setItem(shopKey(name), JSON.stringify(value));
    } catch (e) { /* private mode: the choice lasts until the next reload */ }
  }

  function setCollapsed(column, collapsed) {
    column.classList.toggle("is-collapsed", collapsed);
    var toggle = column.querySelector(".column__toggle");
    if (toggle) {
      var name = column.querySelector(".column__name").textContent;
      toggle.setAttribute("aria-expanded", collapsed ? "false" : "true");
      toggle.title = (collapsed ? "Expand " : "Collapse ") + name;
      toggle.querySelector(".sr-only").textContent = toggle.title;
    }
  }

  // ---- Toasts ---------------------------------------------------------------------------------------------

  function toast(text, level) {
    var region = document.getElementById("toasts");
    if (!region) return;
    var el = document.createElement("div");
    el.className = "toast toast--" + (level || "info");
    el.setAttribute("role", "status");
    el.textContent = text;
    region.appendChild(el);
    expireToast(el);
  }

  function removeToast(el) {
    el.classList.add("is-leaving");
    setTimeout(function () { el.remove(); }, 400);
  }

  function expireToast(el) {
    setTimeout(function () { if (el.isConnected) removeToast(el); },
      el.classList.contains("toast--undo") ? UNDO_MS : TOAST_MS);
  }

  // The whole board as it is now (after a move whose outcome is unknown, Back/Forward).
  function refreshBoard() {
    catchUp(true);
  }

  // ---- Catching up: the board's one way to learn what changed ------------------------------------------------

  function countsSeen(b) {
    // The counts the board shows, in stage order: the server sends only those that differ.
    return Array.prototype.map.call(b.querySelectorAll(".column__count"), function (count) {
      return count.textContent.trim();
    }).join(".");
  }

  function catchUp(whole) {
    var b = board();
    var run = state.catchUp;
    if (!b || !b.dataset.changesUrl) return;
    if (whole) run.whole = true;
    if (run.running) {
      run.again = true; // a change came in during the request: ask again when it ends
      return;
    }
    run.running = true;
    run.again = false;
    run.lastAt = Date.now();
    var url = new URL(b.dataset.changesUrl, location.href);
    if (!run.whole) {
      url.searchParams.set("since", b.dataset.boardVersion);
      url.searchParams.set("clock", b.dataset.boardClock);
      url.searchParams.set("seen", countsSeen(b));
    }
    run.whole = false;
    function done() {
      run.running = false;
      if (run.again) catchUp();
    }
    htmx.ajax("GET", url.pathname + url.search, { source: b, target: b, swap: "outerHTML" }).then(done, done);
  }

  // After a drag, a move or the move dialog: a catch-up that had to wait runs now.
  function catchUpIfDeferred() {
    if (state.catchUp.deferred && !state.dragging && !state.movesInFlight) {
      state.catchUp.deferred = false;
      catchUp();
    }
  }

  // A change: the delta pushed with it when it fits this board, else a fetch.
  document.body.addEventListener(BOARD_CHANGED, function (evt) {
    var pushed = evt.detail && evt.detail.delta;
    if (!pushed || !applyPushedDelta(pushed)) catchUp();
  });

  // A delta the push stream sent (repairs/live_push.py): drawn for the unfiltered
  // board from one version. Applied, through the same applyDelta as a fetched one,
  // only to a board at exactly that version, not filtered, with no hand on it and no
  // catch-up on its way; false when the board must fetch instead.
  function applyPushedDelta(html) {
    var b = board();
    var run = state.catchUp;
    if (!b) return false;
    var parsed = deltaParse(html);
    if (!parsed.delta) return false;
    var since = parsed.delta.dataset.boardSince;
    var busy = state.dragging || state.movesInFlight > 0 || run.running || run.deferred ||
      (document.getElementById("move-dialog") || {}).open;
    if (parseInt(b.dataset.boardVersion, 10) >= parseInt(parsed.delta.dataset.boardVersion, 10)) {
      return true; // the board has it already (its own fetch got there first)
    }
    if (busy || (b.dataset.changesUrl || "").indexOf("?") >= 0 || since !== b.dataset.boardVersion) {
      return false;
    }
    applyDelta(parsed);
    run.lastAt = Date.now(); // the stream delivers: the safety poll can wait
    // Drawn for a newer clock bucket: its cards are right, the others' days in stage are
    // one bucket old until the whole board comes, soon but not at once (clockRefreshSoon).
    if (parsed.delta.dataset.boardClock !== b.dataset.boardClock) clockRefreshSoon();
    return true;
  }

  // The clock bucket turned (days in stage moved on): the whole board, at a random moment
  // of the next CLOCK_SPREAD_MS. Every open board of the shop sees the turn with the same
  // change; asking all at that moment would be 200 whole boards at once on the server.
  var clockRefresh = null;
  function clockRefreshSoon() {
    if (clockRefresh !== null) return;
    clockRefresh = setTimeout(function () {
      clockRefresh = null;
      catchUp(); // with the board's own (old) clock: the server answers the whole board
    }, Math.random() * CLOCK_SPREAD_MS);
  }
  setInterval(function () {
    var pushed = document.body.dataset.live === "push";
    if (!pushed || Date.now() - state.catchUp.lastAt >= SAFETY_POLL_MS) catchUp();
  }, POLL_MS);

  function columnCardLimit() {
    var b = board();
    return parseInt((b && b.dataset.columnCardLimit) || "100", 10);
  }

  // A card where a full render would draw it: in sort order (data-sort), and not at
  // all when it sorts past the last drawn card of a column that draws only its first
  // cards ("+ N more"). A column never draws more than its limit.
  function placeCard(list, card) {
    var column = list.closest(".column");
    var capped = column && column.querySelector(".column__more");
    var before = null;
    for (var i = 0; i < list.children.length; i++) {
      if (list.children[i].dataset.sort > card.dataset.sort) { before = list.children[i]; break; }
    }
    if (capped && before === null) return false;
    list.insertBefore(card, before);
    var limit = columnCardLimit();
    while (list.children.length > limit) list.lastElementChild.remove();
    return card.isConnected;
  }

  function inSortOrder(card) {
    var prev = card.previousElementSibling;
    var next = card.nextElementSibling;
    return (!prev || prev.dataset.sort <= card.dataset.sort) && (!next || card.dataset.sort <= next.dataset.sort);
  }

  // "+ N more": the matching cars of a column it does not draw.
  function columnMoreSync(column) {
    var count = column.querySelector(".column__count");
    var list = column.querySelector(".column__cards");
    if (!count || !list) return;
    column.dataset.count = count.textContent.trim();
    var more = Math.max(0, parseInt(column.dataset.count, 10) - list.children.length);
    var label = column.querySelector(".column__more");
    if (!more) {
      if (label) label.remove();
      return;
    }
    if (!label) {
      label = document.createElement("p");
      label.className = "column__more";
      column.appendChild(label);
    }
    label.textContent = "+ " + more.toLocaleString("en-US") + " more \u2014 search to find one";
  }

  // Classes board.js gives a card (not the server): kept when the card is updated.
  var CARD_STATE_CLASSES = ["card--flash", "is-paged-out", "card--chosen", "card--ghost", "card--dragging"];

  // A card as the server draws it now, into the element on the page.
  function cardUpdate(card, fresh) {
    if (card.innerHTML !== fresh.innerHTML) {
      var focusedMove = document.activeElement && card.contains(document.activeElement) &&
        document.activeElement.classList.contains("card__move");
      card.innerHTML = fresh.innerHTML;
      htmx.process(card);
      if (focusedMove) card.querySelector(".card__move").focus({ preventScroll: true });
    }
    Array.prototype.slice.call(card.attributes).forEach(function (attr) {
      if (attr.name !== "class" && !fresh.hasAttribute(attr.name)) card.removeAttribute(attr.name);
    });
    Array.prototype.forEach.call(fresh.attributes, function (attr) {
      if (attr.name !== "class" && card.getAttribute(attr.name) !== attr.value) card.setAttribute(attr.name, attr.value);
    });
    var kept = CARD_STATE_CLASSES.filter(function (name) { return card.classList.contains(name); });
    card.className = fresh.className;
    kept.forEach(function (name) { card.classList.add(name); });
  }

  function deltaParse(html) {
    var holder = document.createElement("template");
    holder.innerHTML = html;
    return { holder: holder, delta: holder.content.getElementById("board-delta") };
  }

  // A delta (views.board_changes, or pushed in the event): changed cards to their
  // columns, removed ones out, the counts it carries and the top bar; then the board
  // is at the delta's version.
  function applyDelta(parsed) {
    var b = board();
    var holder = parsed.holder;
    var delta = parsed.delta;
    if (!b || !delta) return;
    var focusedId = document.activeElement && document.activeElement.classList &&
      document.activeElement.classList.contains("card") ? document.activeElement.id : null;
    delta.querySelectorAll("[data-removed]").forEach(function (mark) {
      var gone = document.getElementById("ro-" + mark.dataset.removed);
      if (gone && b.contains(gone)) gone.remove();
    });
    Array.prototype.slice.call(delta.querySelectorAll(".card")).forEach(function (fresh) {
      var list = document.getElementById("cards-stage-" + fresh.dataset.stageId);
      var card = document.getElementById(fresh.id);
      if (card && b.contains(card)) {
        // The same element, brought up to date: a hand or the focus on it stays (a
        // card just moved here is in the delta too, right after its own move).
        cardUpdate(card, fresh);
        if (list && card.parentElement === list && inSortOrder(card)) return;
        card.remove();
      } else {
        card = fresh;
      }
      if (list && placeCard(list, card) && card === fresh) htmx.process(card);
    });
    delta.querySelectorAll(".column__count").forEach(function (count) {
      var shown = document.getElementById(count.id);
      if (shown) shown.textContent = count.textContent;
    });
    b.querySelectorAll(".column").forEach(columnMoreSync);
    var stats = holder.content.getElementById("board-stats");
    var shownStats = document.getElementById("board-stats");
    if (stats && shownStats) {
      stats.removeAttribute("hx-swap-oob");
      shownStats.replaceWith(stats);
    }
    b.dataset.boardVersion = delta.dataset.boardVersion;
    phoneStageApply();
    tvLayout();
    var focused = focusedId && document.getElementById(focusedId);
    if (focused && document.activeElement !== focused) focused.focus({ preventScroll: true });
  }

  function flash(card) {
    card.classList.add("card--flash");
    setTimeout(function () { card.classList.remove("card--flash"); }, 2500);
  }

  function showCard(card) {
    // The column scrolls to it and the board scrolls to the column.
    card.scrollIntoView({ block: "center", inline: "center" });
  }

  // ---- Moving -----------------------------------------------------------------------------------------------

  function setSortablesDisabled(disabled) {
    state.sortables.forEach(function (s) { s.option("disabled", disabled); });
  }

  function destroySortables() {
    state.sortables.forEach(function (s) { s.destroy(); });
    state.sortables = [];
  }

  // One move, from a drag, the move dialog or Undo: POST {stage_id, version}
  // to the card's move URL; the answer replaces the card (and, when stale,
  // the server retargets the whole board).
  function moveRequest(card, stageId) {
    // The page's query (the filter) rides along: a 409 redraws the board as the user sees it.
    htmx.ajax("POST", card.dataset.moveUrl + location.search, {
      source: card,
      target: card,
      swap: "outerHTML",
      values: { stage_id: stageId, version: card.dataset.version },
    });
  }

  var moveDialogCard = null;

  function openMoveDialog(card) {
    var dialog = document.getElementById("move-dialog");
    if (!dialog) return;
    moveDialogCard = card;
    var column = card.closest(".column");
    document.getElementById("move-dialog-number").textContent = card.querySelector(".card__number").textContent;
    document.getElementById("move-dialog-stage").textContent = column.querySelector(".column__name").textContent;
    var select = document.getElementById("move-dialog-select");
    // The stage it is in cannot be chosen; nothing is chosen until the user does.
    Array.prototype.forEach.call(select.options, function (option) {
      option.disabled = option.value === card.dataset.stageId;
    });
    select.selectedIndex = -1;
    dialog.showModal();
    select.focus();
  }

  var sortableOptions = {
    group: "board",
    draggable: ".card[data-movable]",
    // The RO link and the Move button keep working inside a card, and a finger
    // never drags: on a touch screen a long press followed by a slide is a
    // scroll, and the Move button names the stage (docs/board.md).
    filter: function (evt) {
      return evt.pointerType === "touch" || evt.type === "touchstart" ||
        !!(evt.target.closest && evt.target.closest("a, button"));
    },
    preventOnFilter: false,
    // Pointer-event dragging (not native HTML5 drag and drop), so Escape can
    // end it and Sortable's own auto-scroll drives it.
    forceFallback: true,
    fallbackOnBody: true,
    fallbackTolerance: 4,
    animation: 150,
    // Dragging towards an edge scrolls the column, and bubbles up to the
    // board's sideways scroll so an off-screen column can be reached.
    scroll: true,
    bubbleScroll: true,
    scrollSensitivity: 140,
    scrollSpeed: 28,
    ghostClass: "card--ghost",
    chosenClass: "card--chosen",
    dragClass: "card--dragging",
    onStart: function () {
      state.dragging = true;
      state.dragCancelled = false;
      document.body.classList.add("is-dragging");
    },
    onEnd: function (evt) {
      state.dragging = false;
      document.body.classList.remove("is-dragging");
      if (state.dragCancelled) {
        // Escape: the card goes back where it was, nothing is sent.
        state.dragCancelled = false;
        evt.from.insertBefore(evt.item, evt.from.children[evt.oldIndex] || null);
        evt.item.focus({ preventScroll: true });
        catchUpIfDeferred();
        return;
      }
      if (evt.from === evt.to) {
        catchUpIfDeferred();
        return; // order inside a column is not stored
      }
      moveRequest(evt.item, evt.to.dataset.stageId);
    },
  };

  function cancelDrag() {
    state.dragCancelled = true;
    // Sortable ends a pointer drag on pointercancel, as when the system takes the pointer away.
    document.dispatchEvent(new PointerEvent("pointercancel", { bubbles: true }));
  }

  // ---- The board after every swap ------------------------------------------------------------------------------

  function initBoard(b) {
    var collapsed = stored(localStorage, "collapsed", []);
    b.querySelectorAll(".column").forEach(function (column) {
      setCollapsed(column, collapsed.indexOf(column.dataset.stageId) !== -1);
      var list = column.querySelector(".column__cards");
      var top = state.columnScroll[column.dataset.stageId];
      if (list && top) list.scrollTop = top;
    });
    destroySortables();
    phoneStageApply();
    filterControlsSync();
    tvLayout();
    // A wall TV only shows: no drag handles there.
    if (isTv() || !b.classList.contains("board--movable") || typeof Sortable === "undefined") return;
    b.querySelectorAll(".column__cards").forEach(function (list) {
      state.sortables.push(Sortable.create(list, sortableOptions));
    });
  }

  htmx.onLoad(function (elt) {
    var b = elt.id === "board" ? elt : elt.querySelector && elt.querySelector("#board");
    if (b) initBoard(b);
    if (elt.classList && elt.classList.contains("toast")) expireToast(elt);
    if (elt.querySelectorAll) elt.querySelectorAll(".toast").forEach(expireToast);
  });

  // ---- Phone: one stage at a time ------------------------------------------------------------------------

  function phoneStageApply() {
    var b = board();
    var switcher = document.getElementById("stage-switcher");
    if (!b || !switcher) return;
    var columns = b.querySelectorAll(".column");
    var current = stored(sessionStorage, "stage", null);
    var shown = b.querySelector('.column[data-stage-id="' + current + '"]');
    // A search shows the first stage with a car found, unless the chosen one has one.
    if (!shown || (b.classList.contains("is-filtered") && shown.dataset.count === "0")) {
      // The first stage with a car in it, else the first stage.
      current = columns[0].dataset.stageId;
      for (var i = 0; i < columns.length; i++) {
        var count = columns[i].querySelector(".column__count");
        if (count && count.textContent.trim() !== "0") { current = columns[i].dataset.stageId; break; }
      }
    }
    columns.forEach(function (column) {
      column.classList.toggle("is-current", column.dataset.stageId === String(current));
      var option = switcher.querySelector('option[value="' + column.dataset.stageId + '"]');
      var count = column.querySelector(".column__count");
      if (option && count) {
        option.textContent = column.querySelector(".column__name").textContent + " (" + count.textContent.trim() + ")";
      }
    });
    switcher.value = String(current);
  }

  // ---- Search and quick filters --------------------------------------------------------------------------

  function filterControlsSync() {
    var form = document.getElementById("board-filter");
    var clear = form && form.querySelector(".filters__clear");
    if (!clear) return;
    var active = Array.prototype.some.call(form.elements, function (field) {
      if (!field.name) return false;
      return field.type === "checkbox" ? field.checked : field.value.trim() !== "";
    });
    clear.hidden = !active;
  }

  document.addEventListener("htmx:configRequest", function (evt) {
    var elt = evt.detail.elt;
    if (elt.id === "board-filter") {
      // A tidy URL: only the filters in use (it is pushed to the address bar).
      var params = evt.detail.parameters;
      ["q", "insurer", "member"].forEach(function (name) {
        var value = params.get ? params.get(name) : params[name];
        if (!value || !String(value).trim()) {
          if (params.delete) params.delete(name); else delete params[name];
        }
      });
    }
  });

  // ---- Requests and swaps ------------------------------------------------------------------------------------

  document.addEventListener("htmx:beforeRequest", function (evt) {
    var elt = evt.detail.elt;
    if (elt.id === "board") {
      // Never pull the board from under a hand: not mid-drag, not while a
      // move is on its way, not while someone is choosing in the move dialog.
      var busy = state.dragging || state.movesInFlight > 0 ||
          (document.getElementById("move-dialog") || {}).open;
      if (busy) {
        evt.preventDefault();
        state.catchUp.deferred = true;
      } else {
        evt.detail.xhr.boardMoveCount = state.moveCount;
      }
      return;
    }
    if (elt.matches && elt.matches(".card[data-move-url]") && evt.detail.requestConfig.verb === "post") {
      var stageId = evt.detail.requestConfig.formData.get("stage_id");
      var list = document.getElementById("cards-stage-" + stageId);
      var focusId = null;
      if (list && elt.parentElement !== list) {
        // Moved from the dialog or undone: put the card where it is going, as a drag would.
        list.prepend(elt);
        focusId = elt.id;
      }
      state.movesInFlight += 1;
      state.moveCount += 1;
      setSortablesDisabled(true);
      // The answer replaces the card: htmx's later events fire on a detached
      // element and never reach `document`. The request's own end always does.
      var cardId = elt.id;
      evt.detail.xhr.addEventListener("loadend", function () {
        moveFinished(evt.detail.xhr, cardId, focusId);
      });
    }
  });

  function moveFinished(xhr, cardId, focusId) {
    state.movesInFlight = Math.max(0, state.movesInFlight - 1);
    setSortablesDisabled(false);
    var ok = xhr.status >= 200 && xhr.status < 300;
    if (!ok && xhr.status !== 409) {
      // Saved or not is unknown here (the server may have committed before failing).
      toast("The move could not be confirmed (" + (xhr.status || "no connection") +
        "). The board shows where the car really is.", "error");
      refreshBoard();
    }
    var card = document.getElementById(cardId);
    if (xhr.status === 409 && card) {
      // The answer is the card as it really is: put it in its column and show it.
      var list = document.getElementById("cards-stage-" + card.dataset.stageId);
      if (list && card.parentElement !== list) {
        card.remove();
        placeCard(list, card);
      }
      if (card.isConnected) {
        showCard(card);
        flash(card);
      }
    }
    if (xhr.status === 409 || ok) {
      var b = board();
      if (b) b.querySelectorAll(".column").forEach(columnMoreSync); // the answer's counts
      // Whatever else changed meanwhile (and a card the filter no longer matches).
      state.catchUp.deferred = true;
      catchUpIfDeferred();
    }
    if (ok && card) {
      phoneStageApply();
      if (focusId) {
        // Moved by keyboard, tap or Undo: the car stays in view with the focus on it.
        card.focus({ preventScroll: true });
        showCard(card);
        flash(card);
      }
    }
  }

  document.addEventListener("htmx:beforeSwap", function (evt) {
    var target = evt.detail.target;
    if (target && target.id === "board") {
      var xhr = evt.detail.xhr;
      if (xhr.status === 204) return; // nothing changed
      // A catch-up (not the search form's answer, which is what the user asked for).
      var catchingUp = xhr.boardMoveCount !== undefined;
      var outdated = catchingUp && (state.movesInFlight > 0 || xhr.boardMoveCount !== state.moveCount);
      if (state.dragging || outdated) {
        // It would put a card back where it was a moment ago, or pull one
        // from under the hand; the board asks again once the hand is off.
        evt.detail.shouldSwap = false;
        state.catchUp.deferred = true;
        return;
      }
      if (xhr.getResponseHeader("Board-Delta") === "cards") {
        evt.detail.shouldSwap = false;
        if (xhr.status === 200) applyDelta(deltaParse(xhr.responseText));
        return;
      }
      destroySortables();
      target.querySelectorAll(".column").forEach(function (column) {
        var list = column.querySelector(".column__cards");
        state.columnScroll[column.dataset.stageId] = list ? list.scrollTop : 0;
      });
    }
  });

  document.addEventListener("htmx:afterSwap", function (evt) {
    if (evt.detail.target && evt.detail.target.id === "ro-panel-body") {
      var panel = document.getElementById("ro-panel");
      if (panel && !panel.open) panel.showModal();
      var title = document.getElementById("ro-panel-title");
      if (title) {
        title.setAttribute("tabindex", "-1");
        title.focus();
      }
    }
  });

  document.addEventListener("htmx:sendError", function (evt) {
    if (evt.detail.elt.id === "board") document.body.classList.add("is-offline");
  });

  document.addEventListener("htmx:afterOnLoad", function (evt) {
    if (evt.detail.elt.id === "board") document.body.classList.remove("is-offline");
  });

  // Back/Forward may show a page from the browser's memory: fetch the board as it is now.
  window.addEventListener("pageshow", function (evt) {
    if (evt.persisted) refreshBoard();
  });

  // ---- TV mode -------------------------------------------------------------------------------------------

  function setTv(on) {
    document.body.classList.toggle("tv", on);
    var toggle = document.getElementById("tv-toggle");
    if (toggle) toggle.setAttribute("aria-pressed", on ? "true" : "false");
    // The address says it, so a reload (or a kiosk's bookmark) keeps the mode.
    var url = new URL(location.href);
    if (on) url.searchParams.set("tv", "1"); else url.searchParams.delete("tv");
    history.replaceState(history.state, "", url);
    tick();
    var b = board();
    if (b) initBoard(b);
  }

  function leaveTv() {
    setTv(false);
    if (document.fullscreenElement) document.exitFullscreen().catch(function () {});
  }

  // Cards of a TV column that fit its height, one page at a time: every
  // TV_PAGE_MS the next page; the head says "2 of 5".
  function tvLayout() {
    var b = board();
    if (!b) return;
    var tv = isTv();
    b.querySelectorAll(".column").forEach(function (column) {
      var list = column.querySelector(".column__cards");
      var label = column.querySelector(".column__page");
      var cards = list.children;
      var perPage = cards.length;
      if (tv && cards.length) {
        var gap = parseFloat(getComputedStyle(list).rowGap) || 0;
        var cardHeight = cards[0].offsetHeight + gap;
        var room = list.clientHeight - parseFloat(getComputedStyle(list).paddingTop) -
          parseFloat(getComputedStyle(list).paddingBottom) + gap;
        perPage = Math.max(1, Math.floor(room / cardHeight));
      }
      var pages = Math.max(1, Math.ceil(cards.length / perPage));
      var page = (state.tvPage[column.dataset.stageId] || 0) % pages;
      state.tvPage[column.dataset.stageId] = page;
      for (var i = 0; i < cards.length; i++) {
        cards[i].classList.toggle("is-paged-out", tv && Math.floor(i / perPage) !== page);
      }
      if (label) label.textContent = tv && pages > 1 ? (page + 1) + " of " + pages : "";
      column.dataset.pages = pages;
    });
  }

  function tvNextPage() {
    var b = board();
    if (!b || !isTv() || state.dragging) return;
    b.querySelectorAll(".column").forEach(function (column) {
      var pages = parseInt(column.dataset.pages || "1", 10);
      if (pages > 1) state.tvPage[column.dataset.stageId] = ((state.tvPage[column.dataset.stageId] || 0) + 1) % pages;
    });
    tvLayout();
  }

  var clockFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

  function tick() {
    var clock = document.getElementById("clock");
    if (clock && isTv()) {
      var now = new Date();
      var text = clockFormat.format(now);
      if (clock.textContent !== text) {
        clock.textContent = text;
        clock.dateTime = now.toISOString();
      }
    }
  }

  // One clock and one pager for the life of the page.
  setInterval(tick, 1000);
  setInterval(tvNextPage, TV_PAGE_MS);
  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(tvLayout, 150);
  });

  document.addEventListener("fullscreenchange", function () {
    // Escape in full screen ends it, and with it TV mode.
    if (!document.fullscreenElement && isTv()) setTv(false);
  });

  // ---- Clicks, keys, forms ---------------------------------------------------------------------------------

  document.addEventListener("click", function (evt) {
    var target = evt.target;
    if (!target.closest) return;
    var toggle = target.closest(".column__toggle");
    if (toggle) {
      var column = toggle.closest(".column");
      var collapsed = !column.classList.contains("is-collapsed");
      setCollapsed(column, collapsed);
      var stages = stored(localStorage, "collapsed", []).filter(function (id) { return id !== column.dataset.stageId; });
      if (collapsed) stages.push(column.dataset.stageId);
      store(localStorage, "collapsed", stages);
      return;
    }
    if (target.closest("#tv-toggle")) {
      var on = !isTv();
      setTv(on);
      if (on && document.documentElement.requestFullscreen) {
        document.documentElement.requestFullscreen().catch(function () {});
      } else if (!on && document.fullscreenElement) {
        document.exitFullscreen().catch(function () {});
      }
      return;
    }
    if (target.closest("#tv-exit")) {
      leaveTv();
      return;
    }
    var undo = target.closest(".toast__undo");
    if (undo) {
      var moved = document.getElementById("ro-" + undo.dataset.undoRo);
      var toastEl = undo.closest(".toast");
      if (moved && moved.dataset.moveUrl && !state.movesInFlight) {
        moveRequest(moved, undo.dataset.undoStage);
        if (toastEl) removeToast(toastEl);
      }
      return;
    }
    var moveButton = target.closest(".card__move");
    if (moveButton) {
      openMoveDialog(moveButton.closest(".card"));
      return;
    }
    if (target.closest("#move-dialog-cancel")) {
      document.getElementById("move-dialog").close();
      return;
    }
    if (target.closest("#ro-panel-close")) {
      document.getElementById("ro-panel").close();
      return;
    }
    var panel = document.getElementById("ro-panel");
    if (panel && target === panel) panel.close(); // a click on the backdrop
  });

  document.addEventListener("change", function (evt) {
    if (evt.target.id === "stage-switcher") {
      store(sessionStorage, "stage", evt.target.value);
      phoneStageApply();
      window.scrollTo(0, 0);
    }
    if (evt.target.form && evt.target.form.id === "board-filter") filterControlsSync();
  });

  document.addEventListener("input", function (evt) {
    if (evt.target.id === "board-q") filterControlsSync();
  });

  document.addEventListener("keydown", function (evt) {
    if (evt.key === "Escape") {
      if (state.dragging) {
        evt.preventDefault();
        cancelDrag();
        return;
      }
      if (isTv() && !document.querySelector("dialog[open]")) {
        leaveTv();
        return;
      }
    }
    if (evt.key === "/" && !evt.ctrlKey && !evt.metaKey && !evt.altKey) {
      var typing = evt.target.closest && evt.target.closest("input, select, textarea, [contenteditable]");
      var search = document.getElementById("board-q");
      if (!typing && search && !document.querySelector("dialog[open]")) {
        evt.preventDefault();
        if (isTv()) setTv(false);
        search.focus();
        search.select();
      }
    }
  });

  document.addEventListener("submit", function (evt) {
    if (evt.target.id !== "move-dialog-form") return;
    evt.preventDefault();
    var select = document.getElementById("move-dialog-select");
    var card = moveDialogCard;
    document.getElementById("move-dialog").close();
    if (card && card.isConnected && select.value && select.value !== card.dataset.stageId) {
      moveRequest(card, select.value);
    }
  });

  document.addEventListener("close", function (evt) {
    if (evt.target.id === "ro-panel") {
      document.getElementById("ro-panel-body").innerHTML = "";
    }
    if (evt.target.id === "move-dialog") {
      // Back to the card the dialog was opened from (it may have moved).
      var card = moveDialogCard && document.getElementById(moveDialogCard.id);
      moveDialogCard = null;
      if (card && !state.movesInFlight) card.querySelector(".card__move").focus();
      setTimeout(catchUpIfDeferred, 0); // after a move the dialog started, if any
    }
  }, true);

  // A move from the RO page comes back to /board/#ro-<id>: show that car.
  document.addEventListener("DOMContentLoaded", function () {
    var match = /^#ro-(\d+)$/.exec(location.hash);
    var card = match && document.getElementById("ro-" + match[1]);
    if (card) {
      phoneStageApply();
      var column = card.closest(".column");
      var switcher = document.getElementById("stage-switcher");
      if (column && switcher) {
        store(sessionStorage, "stage", column.dataset.stageId);
        phoneStageApply();
      }
      card.focus({ preventScroll: true });
      showCard(card);
      flash(card);
    }
    tick();
  });
})();
