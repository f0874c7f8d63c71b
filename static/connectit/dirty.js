// Unsaved edits on the record's page: Get Token, Refresh now and Clear token act with the saved
// settings, so while the form differs from what was loaded they are blocked with a note saying
// why, and "Save & Get Token" appears beside Save. Reverting the edit brings them back. Leaving
// the page with unsaved edits asks first (sending the form itself does not).
(function () {
  "use strict";
  const form = document.getElementById("authorization-form");
  const actions = document.getElementById("token-actions");
  if (!form) return;
  const note = document.getElementById("token-actions-note");
  const saveAndGet = document.getElementById("save-and-get-token");
  // A page shown again after a failed save holds typed values that were never saved.
  const unsavedOnLoad = form.hasAttribute("data-unsaved");
  let sending = false;

  // What the user can change, as one string: buttons and hidden inputs are not edits.
  function snapshot() {
    const parts = [];
    Array.from(form.elements).forEach(function (el) {
      if (!el.name || el.disabled || el.type === "hidden" || el.type === "submit" || el.type === "button") return;
      if (el.type === "checkbox" || el.type === "radio") {
        parts.push(el.name + "=" + el.value + ":" + el.checked);
      } else if (el.tagName === "SELECT") {
        Array.from(el.options).forEach(function (option) {
          if (option.selected) parts.push(el.name + "=" + option.value);
        });
      } else {
        parts.push(el.name + "=" + el.value);
      }
    });
    return JSON.stringify(parts);
  }

  // Taken after the other scripts of the page (this one is included last) have set their values.
  const loaded = snapshot();

  function isDirty() {
    return unsavedOnLoad || snapshot() !== loaded;
  }

  function block(blocked) {
    if (!actions) return;
    actions.querySelectorAll("form").forEach(function (tokenForm) {
      if (tokenForm.getAttribute("aria-busy") === "true") return; // busy.js owns it now
      tokenForm.querySelectorAll("button").forEach(function (button) { button.disabled = blocked; });
    });
    actions.querySelectorAll("a.btn").forEach(function (link) {
      link.classList.toggle("disabled", blocked);
      if (blocked) {
        link.setAttribute("aria-disabled", "true");
        link.setAttribute("tabindex", "-1");
      } else {
        link.removeAttribute("aria-disabled");
        link.removeAttribute("tabindex");
      }
    });
    if (note) note.hidden = !blocked;
    if (saveAndGet) saveAndGet.hidden = !blocked;
  }

  function sync() {
    block(isDirty());
  }

  form.addEventListener("input", sync);
  form.addEventListener("change", sync);
  form.addEventListener("submit", function () { sending = true; });
  window.addEventListener("beforeunload", function (event) {
    if (sending || !isDirty()) return;
    event.preventDefault();
    event.returnValue = ""; // older browsers ask only when this is set
  });
  // Back from another page: the browser may have kept the typed values.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      sending = false;
      sync();
    }
  });
  sync();
})();
