// When an htmx request cannot reach the server (offline, timeout), say so instead of doing
// nothing: the page is left as it was, and the person is told to reload before trying again.
(function () {
  "use strict";
  var MESSAGE = "We could not reach MonitorPay, so nothing on this page changed. " +
    "Check your connection, then reload the page to see the latest before trying again.";
  function show() {
    var main = document.getElementById("main");
    if (!main) return;
    var box = document.getElementById("connection-lost");
    if (!box) {
      box = document.createElement("div");
      box.id = "connection-lost";
      box.className = "notice notice--error";
      box.setAttribute("role", "alert");
      main.insertBefore(box, main.firstChild);
    }
    box.textContent = MESSAGE;
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
