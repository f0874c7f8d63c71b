// Slow actions: a form sent by a submit button with data-busy="text" shows a spinner and that
// text on the button, disables every submit button of the form and marks it aria-busy, so a
// second click or Enter sends nothing. (The server ignores a repeated form too; this is so the
// administrator sees that something is happening.) A page restored from the back/forward cache
// is usable again.
(function () {
  "use strict";
  const SUBMITS = "button[type=submit], button:not([type]), input[type=submit], input[type=image]";
  const busyForms = new Map(); // form -> what to undo on pageshow

  function spinner() {
    const span = document.createElement("span");
    span.className = "spinner-border spinner-border-sm me-1";
    span.setAttribute("aria-hidden", "true");
    return span;
  }

  // A disabled button is left out of the form's data, so its name=value goes in a hidden input.
  function keepValue(form, button) {
    if (!button.name) return null;
    const input = document.createElement("input");
    input.type = "hidden";
    input.name = button.name;
    input.value = button.value;
    form.appendChild(input);
    return input;
  }

  function setBusy(form, button, text) {
    const undo = { label: null, button: button, disabled: [], kept: keepValue(form, button) };
    form.querySelectorAll(SUBMITS).forEach(function (other) {
      if (!other.disabled) {
        other.disabled = true;
        undo.disabled.push(other);
      }
    });
    if (button.tagName === "BUTTON") {
      undo.label = Array.from(button.childNodes);
      button.replaceChildren(spinner(), document.createTextNode(text));
    }
    form.setAttribute("aria-busy", "true");
    busyForms.set(form, undo);
  }

  function clearBusy(form, undo) {
    undo.disabled.forEach(function (button) { button.disabled = false; });
    if (undo.label) undo.button.replaceChildren.apply(undo.button, undo.label);
    if (undo.kept) undo.kept.remove();
    form.removeAttribute("aria-busy");
  }

  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    if (busyForms.has(form)) {
      event.preventDefault(); // already on its way
      return;
    }
    const button = event.submitter;
    if (event.defaultPrevented || !button || !button.dataset.busy) return;
    setBusy(form, button, button.dataset.busy);
  });

  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    busyForms.forEach(function (undo, form) { clearBusy(form, undo); });
    busyForms.clear();
  });
})();
