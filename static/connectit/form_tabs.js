// Shows the parts of a tabbed form marked data-show-when="field=value[,value][;field=value]" only
// while each named field has one of its values, marks those data-required-when="field=value" as
// required while it holds, and opens the first tab that holds an error.
(function () {
  "use strict";
  document.querySelectorAll("form.tabbed-form").forEach(function (form) {
    const rules = Array.from(form.querySelectorAll("[data-show-when]"));
    const required = Array.from(form.querySelectorAll("[data-required-when]"));

    // "field=value[,value]": true while that field has one of the values (or is not on the page);
    // several conditions joined by ";" must all hold.
    function holds(rule) {
      return rule.split(";").every(function (condition) {
        const [name, values] = condition.split("=");
        const control = form.querySelector("[name=" + name + "]");
        return control === null || values.split(",").includes(control.value);
      });
    }

    // A field required only for some choice (the grant type) gets the same " *" as the always
    // required ones, and aria-required for screen readers, while that choice holds.
    function markRequired(el) {
      const control = el.querySelector("input:not([type=hidden]), select, textarea");
      const label = control && form.querySelector("label[for='" + control.id + "']");
      if (!control || !label) return;
      const on = holds(el.dataset.requiredWhen);
      let marker = label.querySelector(".required-marker");
      if (on && !marker) {
        marker = document.createElement("span");
        marker.className = "asteriskField required-marker";
        marker.setAttribute("aria-hidden", "true");
        marker.textContent = "*";
        label.append(marker);
      } else if (!on && marker) {
        marker.remove();
      }
      if (on) control.setAttribute("aria-required", "true");
      else control.removeAttribute("aria-required");
    }

    function sync() {
      rules.forEach(function (el) {
        el.hidden = !holds(el.dataset.showWhen);
      });
      required.forEach(markRequired);
    }

    form.addEventListener("change", sync);
    sync();
    // The open tab lives in the address (#token, #schedule ...), so a reload or a link keeps
    // it; a tab with an error wins.
    form.querySelectorAll(".nav-link[data-bs-toggle=tab]").forEach(function (tab) {
      tab.addEventListener("shown.bs.tab", function () {
        history.replaceState(null, "", "#" + tab.id.replace(/^tab-/, ""));
      });
    });
    const failing = form.querySelector(".nav-link.has-error");
    const wanted = location.hash ? document.getElementById("tab-" + location.hash.slice(1)) : null;
    const open = failing || (wanted && wanted.closest("form") === form ? wanted : null);
    if (open) bootstrap.Tab.getOrCreateInstance(open).show();
  });
})();
