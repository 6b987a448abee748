// Secure Payment pages: what it does and why, in templates/pay/base.html.
(function () {
  "use strict";
  var LINK = location.pathname.split("/").slice(0, 3).join("/");  // "/pay/<token>"
  var KEY = "mp_pay_keep:" + LINK;
  var KEPT = { exp: "cc-exp", zip: "cc-zip" };  // never the card number or the security code
  var form = document.querySelector("form[data-pay-form]");
  function el(id) { return document.getElementById(id); }

  document.querySelectorAll("[data-needs-js]").forEach(function (n) { n.hidden = false; });

  var kept = null;
  try {
    kept = JSON.parse(sessionStorage.getItem(KEY) || "null");
    sessionStorage.removeItem(KEY);
  } catch (e) { /* storage off: the fields start empty */ }
  if (form && kept) {
    Object.keys(KEPT).forEach(function (k) {
      var input = el(KEPT[k]);
      if (input && kept[k] && !input.value) input.value = kept[k];
    });
    var terms = el("terms");
    if (terms && kept.terms) terms.checked = true;
  }
  function keep() {
    var values = {};
    Object.keys(KEPT).forEach(function (k) { var i = el(KEPT[k]); if (i && i.value) values[k] = i.value; });
    var terms = el("terms");
    if (terms && terms.checked) values.terms = true;
    try { sessionStorage.setItem(KEY, JSON.stringify(values)); } catch (e) { /* nothing kept */ }
  }
  if (form) {
    form.addEventListener("submit", keep);
    document.querySelectorAll("a[data-lang-switch]").forEach(function (a) { a.addEventListener("click", keep); });
  }

  var summary = el("pay-errors");
  if (summary) summary.focus();

  var top = el("time-left");
  if (!top || !form) return;
  var clocks = document.querySelectorAll("#time-left, [data-time-left]");
  var ends = Date.now() + (parseInt(top.getAttribute("data-seconds-left"), 10) || 0) * 1000;
  function timeUp() {
    var region = el("time-up");
    var template = el("time-up-message");
    var hadFocus = form.contains(document.activeElement);
    form.hidden = true;
    try { sessionStorage.removeItem(KEY); } catch (e) { /* nothing kept */ }
    if (!region || !template) return;
    region.appendChild(template.content.cloneNode(true));
    if (hadFocus) region.focus();  // the field that had focus is gone
  }
  function tick() {
    var s = Math.max(0, Math.round((ends - Date.now()) / 1000));
    var text = Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
    clocks.forEach(function (c) { c.textContent = text; });
    if (s <= 0) { timeUp(); return; }
    setTimeout(tick, 1000);
  }
  tick();
})();
