// When an htmx request cannot reach the server (offline, timeout), say so instead of doing
// nothing: the page is left as it was, and the person is told to reload before trying again.
// A box found by its id, or made with these attributes and placed by `place` (one helper for
// the connection notice and the live announcer).
function monitorpayBox(id, attrs, place) {
  "use strict";
  var box = document.getElementById(id);
  if (!box) {
    box = document.createElement("div");
    box.id = id;
    Object.keys(attrs).forEach(function (name) { box.setAttribute(name, attrs[name]); });
    place(box);
  }
  return box;
}

(function () {
  "use strict";
  var MESSAGE = "We could not reach MonitorPay, so nothing on this page changed. " +
    "Check your connection, then reload the page to see the latest before trying again.";
  function show() {
    var main = document.getElementById("main");
    if (!main) return;
    var attrs = { "class": "notice notice--error", role: "alert" };
    monitorpayBox("connection-lost", attrs, function (box) {
      main.insertBefore(box, main.firstChild);
    }).textContent = MESSAGE;
  }
  function clear() {
    var box = document.getElementById("connection-lost");
    if (box) box.remove();
  }
  document.addEventListener("htmx:sendError", show);
  document.addEventListener("htmx:timeout", show);
  document.addEventListener("htmx:afterRequest", function (e) {
    if (e.detail && e.detail.successful) clear();
  });
})();

// After an htmx swap, a keyboard or screen reader user must not be left on <body>:
// - a person asked for it (submit, click): focus moves to the first invalid field, else what
//   the panel names ([autofocus], [data-focus]), else its first heading, and it is said —
//   unless they are typing in a box outside the panel (the search box): focus stays there;
// - a change of a field (select, radio) or a poll: focus stays on the same field, and only
//   news that changed ([data-announce]) is said.
(function () {
  "use strict";
  var ASKED = { submit: true, click: true };
  var TYPING = "input:not([type=radio]):not([type=checkbox]):not([type=submit]), textarea";
  var pending = new Map();  // per request: what was focused and said before the swap

  function announcer() {
    var attrs = {
      "class": "visually-hidden", role: "status", "aria-live": "polite", "aria-atomic": "true"
    };
    return monitorpayBox("live-announcer", attrs, function (box) {
      document.body.appendChild(box);
    });
  }

  function announce(text) {
    var box = announcer();
    text = (text || "").replace(/\s+/g, " ").trim();
    if (!text) return;
    // Emptied first so that the same words said twice are read twice.
    box.textContent = "";
    window.setTimeout(function () { box.textContent = text; }, 50);
  }

  function news(el) {
    var marked = el && el.querySelector("[data-announce]");
    if (el && el.hasAttribute("data-announce")) marked = el;
    return marked ? marked.getAttribute("data-announce") || marked.textContent : "";
  }

  function sameField(root, was) {
    if (!was) return null;
    if (was.id) return document.getElementById(was.id);
    if (was.name) {
      var all = root.querySelectorAll("[name]");
      for (var i = 0; i < all.length; i++) {
        if (all[i].name === was.name && all[i].value === was.value) return all[i];
      }
    }
    return null;
  }

  function reducedMotion() {
    return window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  }

  function moveFocus(el) {
    if (!el.matches("a[href], button, input, select, textarea, [tabindex]")) {
      el.setAttribute("tabindex", "-1");
    }
    el.focus({ preventScroll: true });
    el.scrollIntoView({ block: "nearest", behavior: reducedMotion() ? "auto" : "smooth" });
  }

  function fieldErrors(el) {
    var texts = [];
    el.querySelectorAll(".field-error").forEach(function (e) {
      texts.push(e.textContent);
    });
    return texts.join(" ");
  }

  document.addEventListener("htmx:beforeSwap", function (e) {
    var d = e.detail;
    if (!d.shouldSwap || !d.target || !d.target.id) return;
    var active = document.activeElement;
    var trigger = d.requestConfig && d.requestConfig.triggeringEvent;
    pending.set(d.xhr, {
      id: d.target.id,
      asked: !!(trigger && ASKED[trigger.type]),
      focusInside: !!(active && active !== document.body && d.target.contains(active)),
      // Typing in a box outside the panel (the search box): focus stays there.
      typing: !!(active && !d.target.contains(active) && active.matches(TYPING)),
      was: active,
      news: news(d.target),
    });
  });

  document.addEventListener("htmx:afterSettle", function (e) {
    var p = pending.get(e.detail.xhr);
    if (!p) return;
    pending.delete(e.detail.xhr);
    var el = document.getElementById(p.id);
    if (!el) return;
    var now = news(el);
    if (p.asked && !p.typing) {
      var target = el.querySelector("[aria-invalid=true], .error-summary") ||
        el.querySelector("[autofocus], [data-focus]") || el.querySelector("h1, h2, h3") || el;
      moveFocus(target);
      announce(fieldErrors(el) || now || target.textContent);
      return;
    }
    if (p.focusInside) {  // a field's change or a poll redrew the field that had focus
      var same = sameField(el, p.was);
      if (same) same.focus({ preventScroll: true });
    }
    if (now && (p.asked || now !== p.news)) announce(now);
  });

  // The live region is in the page from the start: one added with its words is often not read.
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", announcer);
  } else {
    announcer();
  }
})();
