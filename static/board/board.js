/*
 * Shopboard's board behaviour. All of the page's JavaScript lives here (no
 * inline scripts, so a strict Content-Security-Policy can forbid them).
 *
 * - Drag a card (SortableJS) or use its "Move" control: one htmx POST of the
 *   card's move form, carrying the RO's version. The server answers the new
 *   card plus both column counts (out-of-band), or 409 and the whole board as
 *   it really is.
 * - The board polls itself every 3 s with If-None-Match; the server answers
 *   304 while nothing changed. A poll never lands mid-drag or mid-move.
 * - Stage columns collapse (remembered per shop in localStorage); TV mode
 *   hides the chrome; the RO detail opens in a side panel.
 */
(function () {
  "use strict";

  htmx.config.includeIndicatorStyles = false; // it would inject an inline <style>
  htmx.config.allowEval = false;
  htmx.config.allowScriptTags = false;
  htmx.config.responseHandling = [
    { code: "204", swap: false },
    { code: "304", swap: false }, // poll: nothing changed
    { code: "409", swap: true }, // stale move: the server sends the real board
    { code: "422", swap: true }, // a form with its errors
    { code: "[23]..", swap: true },
    { code: "[45]..", swap: false, error: true },
    { code: "...", swap: false },
  ];

  var state = {
    dragging: false,
    movesInFlight: 0,
    sortables: [],
    focusAfterMove: null,
    columnScroll: {},
  };

  function board() {
    return document.getElementById("board");
  }

  function collapsedKey() {
    var b = board();
    return b ? "shopboard:collapsed:" + b.dataset.shopId : null;
  }

  function collapsedStages() {
    try {
      return JSON.parse(localStorage.getItem(collapsedKey()) || "[]");
    } catch (e) {
      return [];
    }
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

  function expireToast(el) {
    setTimeout(function () {
      el.classList.add("is-leaving");
      setTimeout(function () { el.remove(); }, 400);
    }, 6000);
  }

  function refreshBoard() {
    var b = board();
    if (!b) return;
    b.dataset.etag = ""; // force a full answer, not a 304
    htmx.trigger(b, "board:refresh");
  }

  function setSortablesDisabled(disabled) {
    state.sortables.forEach(function (s) { s.option("disabled", disabled); });
  }

  function destroySortables() {
    state.sortables.forEach(function (s) { s.destroy(); });
    state.sortables = [];
  }

  function submitMove(card, stageId) {
    var form = card.querySelector("form.move-form");
    if (!form) return;
    form.elements.stage_id.value = stageId;
    htmx.trigger(form, "submit");
  }

  function initBoard(b) {
    var collapsed = collapsedStages();
    b.querySelectorAll(".column").forEach(function (column) {
      setCollapsed(column, collapsed.indexOf(column.dataset.stageId) !== -1);
      var list = column.querySelector(".column__cards");
      var top = state.columnScroll[column.dataset.stageId];
      if (list && top) list.scrollTop = top;
    });
    destroySortables();
    if (!b.classList.contains("board--movable") || typeof Sortable === "undefined") return;
    b.querySelectorAll(".column__cards").forEach(function (list) {
      state.sortables.push(Sortable.create(list, {
        group: "board",
        draggable: ".card[data-movable]",
        // Links, the move menu and buttons keep working inside a card.
        filter: "a, summary, select, button, input, label",
        preventOnFilter: false,
        // Pointer-event dragging (not native HTML5 drag and drop): the same on
        // mouse, touch and pen, and Sortable's own auto-scroll drives it.
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
          document.body.classList.add("is-dragging");
        },
        onEnd: function (evt) {
          state.dragging = false;
          document.body.classList.remove("is-dragging");
          if (evt.from === evt.to) return; // order inside a column is not stored
          submitMove(evt.item, evt.to.dataset.stageId);
        },
      }));
    });
  }

  htmx.onLoad(function (elt) {
    var b = elt.id === "board" ? elt : elt.querySelector && elt.querySelector("#board");
    if (b) initBoard(b);
    if (elt.classList && elt.classList.contains("toast")) expireToast(elt);
    if (elt.querySelectorAll) elt.querySelectorAll(".toast").forEach(expireToast);
  });

  document.addEventListener("htmx:configRequest", function (evt) {
    if (evt.detail.elt.id === "board" && evt.detail.elt.dataset.etag) {
      evt.detail.headers["If-None-Match"] = evt.detail.elt.dataset.etag;
    }
  });

  document.addEventListener("htmx:beforeRequest", function (evt) {
    var elt = evt.detail.elt;
    if (elt.id === "board") {
      // Never pull the board from under a hand: not mid-drag, not while a
      // move is on its way, not while someone is choosing in a move menu.
      var active = document.activeElement;
      var busy = state.dragging || state.movesInFlight > 0 ||
        (active && active.closest && active.closest("#board form, #board details")) ||
        elt.querySelector("details[open]");
      if (busy) evt.preventDefault();
      return;
    }
    if (elt.matches && elt.matches("form.move-form")) {
      var card = elt.closest(".card");
      var list = document.getElementById("cards-stage-" + elt.elements.stage_id.value);
      if (card && list && card.parentElement !== list) {
        // Keyboard move: put the card where it is going, as a drag would.
        list.prepend(card);
        state.focusAfterMove = card.id;
      }
      var details = elt.closest("details");
      if (details) details.open = false;
      state.movesInFlight += 1;
      setSortablesDisabled(true);
    }
  });

  document.addEventListener("htmx:afterRequest", function (evt) {
    var elt = evt.detail.elt;
    if (elt.matches && elt.matches("form.move-form")) {
      state.movesInFlight = Math.max(0, state.movesInFlight - 1);
      setSortablesDisabled(false);
      if (evt.detail.failed && evt.detail.xhr && evt.detail.xhr.status !== 409) {
        toast("The move could not be saved (" + (evt.detail.xhr.status || "no connection") +
          "). The board shows where the car really is.", "error");
        refreshBoard();
      }
    }
  });

  document.addEventListener("htmx:beforeSwap", function (evt) {
    var target = evt.detail.target;
    if (target && target.id === "board") {
      if (state.dragging) {
        evt.detail.shouldSwap = false; // the next poll will bring it
        return;
      }
      target.querySelectorAll(".column").forEach(function (column) {
        var list = column.querySelector(".column__cards");
        state.columnScroll[column.dataset.stageId] = list ? list.scrollTop : 0;
      });
    }
  });

  document.addEventListener("htmx:afterSwap", function (evt) {
    if (state.focusAfterMove) {
      var card = document.getElementById(state.focusAfterMove);
      state.focusAfterMove = null;
      if (card) {
        card.focus({ preventScroll: true });
        card.scrollIntoView({ block: "nearest", inline: "nearest" });
      }
    }
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
    if (evt.detail.elt.id === "board") {
      document.body.classList.add("is-offline");
    }
  });

  document.addEventListener("htmx:afterOnLoad", function (evt) {
    if (evt.detail.elt.id === "board") document.body.classList.remove("is-offline");
  });

  function setTv(on) {
    document.body.classList.toggle("tv", on);
    var toggle = document.getElementById("tv-toggle");
    if (toggle) toggle.setAttribute("aria-pressed", on ? "true" : "false");
  }

  document.addEventListener("click", function (evt) {
    var target = evt.target;
    var toggle = target.closest && target.closest(".column__toggle");
    if (toggle) {
      var column = toggle.closest(".column");
      var collapsed = !column.classList.contains("is-collapsed");
      setCollapsed(column, collapsed);
      var stages = collapsedStages().filter(function (id) { return id !== column.dataset.stageId; });
      if (collapsed) stages.push(column.dataset.stageId);
      try {
        localStorage.setItem(collapsedKey(), JSON.stringify(stages));
      } catch (e) { /* private mode: the choice lasts until the next reload */ }
      return;
    }
    if (target.closest && target.closest("#tv-toggle")) {
      var on = !document.body.classList.contains("tv");
      setTv(on);
      if (on && document.documentElement.requestFullscreen) {
        document.documentElement.requestFullscreen().catch(function () {});
      } else if (!on && document.fullscreenElement) {
        document.exitFullscreen().catch(function () {});
      }
      return;
    }
    if (target.closest && target.closest("#tv-exit")) {
      setTv(false);
      if (document.fullscreenElement) document.exitFullscreen().catch(function () {});
      return;
    }
    if (target.closest && target.closest("#ro-panel-close")) {
      document.getElementById("ro-panel").close();
      return;
    }
    var panel = document.getElementById("ro-panel");
    if (panel && target === panel) panel.close(); // a click on the backdrop
  });

  document.addEventListener("fullscreenchange", function () {
    if (!document.fullscreenElement && document.body.classList.contains("tv")) setTv(false);
  });

  document.addEventListener("close", function (evt) {
    if (evt.target.id === "ro-panel") {
      document.getElementById("ro-panel-body").innerHTML = "";
    }
  }, true);
})();
