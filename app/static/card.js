// Card entry for [data-pay-form]: what it does and why, in templates/pay/_card_entry.html.
(function () {
  "use strict";
  var form = document.querySelector("form[data-pay-form]");
  if (!form) return;
  var entry = form.querySelector("[data-card-entry]");
  var hidden = form.querySelector("input[name=payment_method]");
  var submit = form.querySelector("[data-pay-submit]");
  var checks = form.querySelectorAll("[data-must-check]");
  var gateway = entry ? entry.getAttribute("data-gateway") : null;
  var stripe = null, elements = null, element = null, stripeComplete = false, busy = false;
  var label = submit ? submit.textContent : "";
  var gate = submit && form.hasAttribute("data-gate");
  var why = form.querySelector("[data-gate-hint]");

  function msg(name) { return (entry && entry.getAttribute("data-msg-" + name)) || ""; }
  function digits(v) { return (v || "").replace(/\D/g, ""); }
  function luhn(n) {
    var sum = 0;
    for (var i = 0; i < n.length; i++) {
      var d = +n[n.length - 1 - i];
      if (i % 2) { d *= 2; if (d > 9) d -= 9; }
      sum += d;
    }
    return n.length >= 13 && sum % 10 === 0;
  }
  function field(name) { return entry && entry.querySelector("[data-card-field=" + name + "]"); }
  // Hidden (a saved card is chosen): not required.
  function entryActive() { return !!entry && !entry.closest("[hidden]"); }

  function sandboxProblems() {
    var exp = (field("exp").value || "").match(/^\s*(\d{1,2})\s*\/\s*(\d{2}|\d{4})\s*$/);
    var ok = {
      number: luhn(digits(field("number").value)),
      exp: !!exp && +exp[1] >= 1 && +exp[1] <= 12,
      cvc: /^\d{3,4}$/.test(field("cvc").value.trim()),
      postal_code: /^\d{5}$/.test(field("postal_code").value.trim()),
    };
    return Object.keys(ok).filter(function (k) { return !ok[k]; });
  }
  function problems() {
    var found = [];
    if (entryActive()) {
      if (gateway === "stripe") { if (!stripeComplete) found.push("stripe"); }
      else found = sandboxProblems();
    }
    checks.forEach(function (c) { if (!c.checked) found.push(c.id); });
    return found;
  }
  // An early press's message goes once its field is right.
  function refresh() {
    if (!gate || busy) return;
    var found = problems(), open = !found.length;
    submit.setAttribute("aria-disabled", !open);
    if (why) {
      why.hidden = open;
      open ? submit.removeAttribute("aria-describedby") : submit.setAttribute("aria-describedby", why.id);
    }
    form.querySelectorAll("[data-early]").forEach(function (s) {
      var name = s.getAttribute("data-error-for");
      if (found.indexOf(name) < 0) showError(name, "");
    });
  }
  function input(name) { return field(name) || (name !== "stripe" && form.querySelector("#" + name)); }
  // `early`: said by pressing the button too soon.
  function showError(name, message, focus, early) {
    var slot = form.querySelector("[data-error-for=" + name + "]");
    var target = input(name);
    if (slot) { slot.textContent = message || ""; slot.hidden = !message; slot.toggleAttribute("data-early", !!early); }
    if (target) {
      if (message) target.setAttribute("aria-invalid", "true"); else target.removeAttribute("aria-invalid");
      if (message && focus !== false) target.focus();
    } else if (name === "stripe" && element && message && focus !== false) element.focus();
  }
  function clearErrors() {
    form.querySelectorAll("[data-error-for]").forEach(function (s) { showError(s.getAttribute("data-error-for"), ""); });
  }
  function validate() {
    var found = problems();
    clearErrors();
    found.forEach(function (name, i) {
      var which = name !== "stripe" ? name : stripe ? "card" : "unreachable";
      showError(name, msg(which), i === 0, true);
    });
    return found.length === 0;
  }
  function setBusy(on) {
    busy = on;
    if (!submit) return;
    submit.disabled = on;
    submit.textContent = on ? msg("processing") : label;
    if (!on) refresh();
  }

  if (gateway === "sandbox") {
    field("number").addEventListener("input", function (e) {
      var n = digits(e.target.value).slice(0, 19);
      e.target.value = n.replace(/(\d{4})(?=\d)/g, "$1 ");
    });
    field("exp").addEventListener("input", function (e) {
      var d = digits(e.target.value).slice(0, 4);
      e.target.value = d.length > 2 ? d.slice(0, 2) + "/" + d.slice(2) : d;
    });
  }

  function tokenizeSandbox() {
    var body = {};
    ["number", "exp", "cvc", "postal_code"].forEach(function (k) { body[k] = field(k).value; });
    return fetch(entry.getAttribute("data-tokenize-url"), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "omit",
    }).then(function (r) {
      return r.json().then(function (data) {
        if (!r.ok) throw { field: (data.error && data.error.field) || "number", message: (data.error && data.error.message) || msg("check") };
        return data.id;
      });
    }, function () {
      throw { field: "number", message: msg("unreachable") };
    });
  }
  function tokenizeStripe() {
    return elements.submit().then(function (res) {
      if (res.error) throw { field: "stripe", message: res.error.message };
      return stripe.createPaymentMethod({ elements: elements });
    }).then(function (res) {
      if (res.error) throw { field: "stripe", message: res.error.message };
      return res.paymentMethod.id;
    });
  }

  form.addEventListener("submit", function (e) {
    if (busy) { e.preventDefault(); return; }
    if (!entryActive()) { setBusy(true); return; }  // a saved card: post as is
    e.preventDefault();
    if (!validate()) return;
    clearErrors();
    setBusy(true);
    (gateway === "stripe" ? tokenizeStripe() : tokenizeSandbox()).then(function (id) {
      hidden.value = id;
      // Nothing of the card stays in the page once we have the reference.
      if (gateway === "sandbox") entry.querySelectorAll("[data-card-field]").forEach(function (i) { i.value = ""; });
      HTMLFormElement.prototype.submit.call(form);
    }, function (err) {
      setBusy(false);
      showError(err.field, err.message);
    });
  });

  // My Account: the card entry shows only for "Use a new card".
  var newCard = form.querySelector("[data-new-card]");
  function syncChoice() {
    if (!newCard) return;
    var picked = form.querySelector("input[name=card]:checked");
    newCard.hidden = !(picked && picked.value === "new");
  }
  form.querySelectorAll("input[name=card]").forEach(function (r) {
    r.addEventListener("change", function () { syncChoice(); refresh(); });
  });
  syncChoice();

  form.addEventListener("input", refresh);
  form.addEventListener("change", refresh);
  window.addEventListener("pageshow", function () { setBusy(false); });

  // Stripe.js did not load: say so where the card goes, not an empty space.
  if (gateway === "stripe" && !window.Stripe) showError("stripe", msg("unreachable"), false);
  if (gateway === "stripe" && window.Stripe) {
    stripe = window.Stripe(entry.getAttribute("data-stripe-key"));
    var setup = entry.getAttribute("data-mode") === "setup";  // saving a card: no amount
    var options = { mode: setup ? "setup" : "payment", currency: "usd",
      paymentMethodCreation: "manual", paymentMethodTypes: ["card"],
      locale: entry.getAttribute("data-locale") || "auto" };
    if (!setup) options.amount = +entry.getAttribute("data-amount");
    elements = stripe.elements(options);
    // Wallets as the server says (_card_entry.html); a wallet gives a card PaymentMethod.
    var wallets = entry.getAttribute("data-wallets") === "auto" ? "auto" : "never";
    element = elements.create("payment", { wallets: { applePay: wallets, googlePay: wallets } });
    element.mount("#payment-element");
    element.on("change", function (ev) { stripeComplete = ev.complete; refresh(); });
    // 3-D Secure: finished here, then the server confirms.
    var secret = form.getAttribute("data-next-action-secret");
    if (secret) {
      setBusy(true);
      stripe.handleNextAction({ clientSecret: secret }).then(function () {
        form.setAttribute("action", form.getAttribute("data-confirm-url"));
        HTMLFormElement.prototype.submit.call(form);
      });
    }
  }
  refresh();
})();
