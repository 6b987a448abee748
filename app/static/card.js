// Card entry for forms marked [data-pay-form]. The card inputs have no name, so a plain submit
// could never send a number to our server: this script hands them to the processor's tokenizer
// (the sandbox endpoint, or Stripe's Payment Element) and posts only the reference it returns.
// A form marked [data-validate-on-submit] (the Secure Payment page) keeps its button enabled and
// says on submit what is missing, next to each field, focusing the first; other forms keep the
// button disabled until the card is complete and every [data-must-check] box is ticked. The
// server enforces both again.
(function () {
  "use strict";
  var form = document.querySelector("form[data-pay-form]");
  if (!form) return;
  var entry = form.querySelector("[data-card-entry]");
  var hidden = form.querySelector("input[name=payment_method]");
  var submit = form.querySelector("[data-pay-submit]");
  var checks = form.querySelectorAll("[data-must-check]");
  var gateway = entry ? entry.getAttribute("data-gateway") : null;
  var stripe = null, elements = null, stripeComplete = false, busy = false;
  var label = submit ? submit.textContent : "";
  var onSubmit = form.hasAttribute("data-validate-on-submit");

  // Words come from the page, in the reader's language (data-msg-* on the card entry).
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
  // A card entry inside a hidden block (a saved card is chosen instead) is not required.
  function entryActive() { return !!entry && !entry.closest("[hidden]"); }

  // The card fields that are not right yet, in page order (sandbox entry).
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
  // Everything missing before the form can be sent: card fields, then unticked boxes.
  function problems() {
    var found = [];
    if (entryActive()) {
      if (gateway === "stripe") { if (!stripeComplete) found.push("stripe"); }
      else found = sandboxProblems();
    }
    checks.forEach(function (c) { if (!c.checked) found.push(c.id); });
    return found;
  }
  function refresh() {
    if (!submit || busy || onSubmit) return;
    submit.disabled = problems().length > 0;
  }
  function input(name) { return field(name) || (name !== "stripe" && form.querySelector("#" + name)); }
  function showError(name, message, focus) {
    var slot = form.querySelector("[data-error-for=" + name + "]");
    var target = input(name);
    if (slot) { slot.textContent = message || ""; slot.hidden = !message; }
    if (target) {
      if (message) target.setAttribute("aria-invalid", "true"); else target.removeAttribute("aria-invalid");
      if (message && focus !== false) target.focus();
    }
  }
  function clearErrors() {
    form.querySelectorAll("[data-error-for]").forEach(function (s) { s.hidden = true; s.textContent = ""; });
    form.querySelectorAll("[data-card-field], [data-must-check]").forEach(function (i) { i.removeAttribute("aria-invalid"); });
  }
  // Says each problem next to its field and focuses the first; true when there were none.
  function validate() {
    var found = problems();
    clearErrors();
    found.forEach(function (name, i) {
      var which = name === "stripe" ? (stripe ? "check" : "unreachable") : name === "terms" ? "terms" : name;
      showError(name, msg(which), i === 0);
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

  // Friendly typing: group the number in fours, insert the slash in the expiry.
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
    if (onSubmit ? !validate() : problems().length > 0) { refresh(); return; }
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

  // My Account: a saved card or "Use a new card"; the card entry shows only for a new card.
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

  // Stripe.js (a blocking script before this one) did not load: say so where the card goes,
  // rather than leave an empty space.
  if (gateway === "stripe" && !window.Stripe) showError("stripe", msg("unreachable"), false);
  if (gateway === "stripe" && window.Stripe) {
    stripe = window.Stripe(entry.getAttribute("data-stripe-key"));
    var setup = entry.getAttribute("data-mode") === "setup";  // saving a card: no amount
    var options = { mode: setup ? "setup" : "payment", currency: "usd",
      paymentMethodCreation: "manual", paymentMethodTypes: ["card"],
      locale: entry.getAttribute("data-locale") || "auto" };
    if (!setup) options.amount = +entry.getAttribute("data-amount");
    elements = stripe.elements(options);
    // Apple Pay and Google Pay beside the card fields where the browser, the device and the
    // Stripe account allow them ("auto"), or cards only ("never"): the server decides
    // (data-wallets). A wallet hands back a card PaymentMethod, posted like a typed card.
    var wallets = entry.getAttribute("data-wallets") === "auto" ? "auto" : "never";
    var element = elements.create("payment", { wallets: { applePay: wallets, googlePay: wallets } });
    element.mount("#payment-element");
    element.on("change", function (ev) { stripeComplete = ev.complete; refresh(); });
    // 3-D Secure: the server asked the browser to finish the payment, then confirms it.
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
