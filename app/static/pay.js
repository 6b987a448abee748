// Secure Payment page: the time-left countdown. The server decides expiry; this only informs.
(function () {
  "use strict";
  var el = document.getElementById("time-left");
  if (!el) return;
  var left = parseInt(el.getAttribute("data-seconds-left"), 10) || 0;
  var ends = Date.now() + left * 1000;
  function tick() {
    var s = Math.max(0, Math.round((ends - Date.now()) / 1000));
    el.textContent = Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
    if (s <= 0) {
      var up = document.getElementById("time-up");
      if (up) up.hidden = false;
      document.querySelectorAll("[data-pay-submit]").forEach(function (b) { b.disabled = true; });
      return;
    }
    setTimeout(tick, 1000);
  }
  tick();
})();

// The English/Español switch reloads the page: keep what was typed across it — the expiry, the
// ZIP and the terms tick, never the card number or security code — for this tab only, restored
// once on load and then cleared.
(function () {
  "use strict";
  var KEY = "mp_pay_keep:" + location.pathname;
  var fields = { exp: "cc-exp", zip: "cc-zip" };
  function el(id) { return document.getElementById(id); }
  try {
    var kept = JSON.parse(sessionStorage.getItem(KEY) || "null");
    sessionStorage.removeItem(KEY);
    if (kept) {
      Object.keys(fields).forEach(function (k) {
        var input = el(fields[k]);
        if (input && kept[k] && !input.value) input.value = kept[k];
      });
      var terms = el("terms");
      if (terms && kept.terms) terms.checked = true;
      var form = document.querySelector("form[data-pay-form]");
      if (form) form.dispatchEvent(new Event("input", { bubbles: true }));
    }
  } catch (e) { /* storage off: the switch still works, the fields start empty */ }
  document.querySelectorAll("a[data-lang-switch]").forEach(function (a) {
    a.addEventListener("click", function () {
      var keep = {};
      Object.keys(fields).forEach(function (k) { var i = el(fields[k]); if (i && i.value) keep[k] = i.value; });
      var terms = el("terms");
      if (terms && terms.checked) keep.terms = true;
      try { sessionStorage.setItem(KEY, JSON.stringify(keep)); } catch (e) { /* nothing kept */ }
    });
  });
})();
