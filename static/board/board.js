/*
 * Shopboard's board behaviour. All of the page's JavaScript lives here (no
 * inline scripts, so a strict Content-Security-Policy can forbid them).
 *
 * - Drag a card (SortableJS) or use its "Move" button and the move dialog:
 *   one htmx POST to the card's move URL, carrying the RO's version. The server answers the new
 *   card plus both column counts (out-of-band), or 409 and the whole board as
 *   it really is.
 * - The board polls itself every 3 s with If-None-Match; the server answers
 *   304 while nothing changed. A poll never lands mid-drag or mid-move.
 * - Stage columns collapse (remembered per shop in localStorage); TV mode
 *   hides the chrome; the RO detail opens in a side panel.
 */
(function () {
  "use strict";

  htmx.config.includeIndicatorStyles = false; // it would inject an inline <style> (CSP); see also <meta name="htmx-config">
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
    moveCount: 0, // moves started so far: a poll that began before one is stale

    sortables: [],
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

  // One move, from a drag or from the move dialog: POST {stage_id, version}
  // to the card's move URL; the answer replaces the card (and, when stale,
  // the server retargets the whole board).
  function moveRequest(card, stageId) {
    htmx.ajax("POST", card.dataset.moveUrl, {
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
        // The RO link and the Move button keep working inside a card.
        filter: "a, button",
        preventOnFilter: false,
        // Pointer-event dragging (not native HTML5 drag and drop): the same on
        // mouse, touch and pen, and Sortable's own auto-scroll drives it.
        forceFallback: true,
        fallbackOnBody: true,
        fallbackTolerance: 4,
        // On a touch screen a swipe scrolls; a short press picks the card up.
        delay: 150,
        delayOnTouchOnly: true,
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
          moveRequest(evt.item, evt.to.dataset.stageId);
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
      // move is on its way, not while someone is choosing in the move dialog.
      var busy = state.dragging || state.movesInFlight > 0 ||
          (document.getElementById("move-dialog") || {}).open;
      if (busy) evt.preventDefault();
      else evt.detail.xhr.boardMoveCount = state.moveCount;
      return;
    }
    if (elt.matches && elt.matches(".card[data-move-url]") && evt.detail.requestConfig.verb === "post") {
      var stageId = evt.detail.requestConfig.formData.get("stage_id");
      var list = document.getElementById("cards-stage-" + stageId);
      var focusId = null;
      if (list && elt.parentElement !== list) {
        // Moved from the dialog: put the card where it is going, as a drag would.
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
    if (xhr.status === 409) {
      // Show where the car really is: the board was redrawn around it.
      var real = document.getElementById(cardId);
      if (real) {
        real.scrollIntoView({ block: "nearest", inline: "center", behavior: "smooth" });
        real.classList.add("card--flash");
        setTimeout(function () { real.classList.remove("card--flash"); }, 2500);
      }
    }
    if (ok && focusId) {
      // Keyboard move: keep the focus on the card that moved.
      var card = document.getElementById(focusId);
      if (card) {
        card.focus({ preventScroll: true });
        card.scrollIntoView({ block: "nearest", inline: "nearest" });
      }
    }
  }

  document.addEventListener("htmx:beforeSwap", function (evt) {
    var target = evt.detail.target;
    if (target && target.id === "board") {
      // A poll (not the 409 answer to a move, which is the truth to show).
      var poll = evt.detail.xhr.boardMoveCount !== undefined;
      var outdated = poll && (state.movesInFlight > 0 || evt.detail.xhr.boardMoveCount !== state.moveCount);
      if (state.dragging || outdated) {
        // It would put a card back where it was a moment ago, or pull one
        // from under the hand; the next poll brings the board as it is now.
        evt.detail.shouldSwap = false;
        return;
      }
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
    var moveButton = target.closest && target.closest(".card__move");
    if (moveButton) {
      openMoveDialog(moveButton.closest(".card"));
      return;
    }
    if (target.closest && target.closest("#move-dialog-cancel")) {
      document.getElementById("move-dialog").close();
      return;
    }
    if (target.closest && target.closest("#ro-panel-close")) {
      document.getElementById("ro-panel").close();
      return;
    }
    var panel = document.getElementById("ro-panel");
    if (panel && target === panel) panel.close(); // a click on the backdrop
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

  document.addEventListener("fullscreenchange", function () {
    if (!document.fullscreenElement && document.body.classList.contains("tv")) setTv(false);
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
    }
  }, true);
})();
