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
