// Shows the parts of a tabbed form marked data-show-when="field=value[,value]" only while that
// field has one of those values, and opens the first tab that holds an error.
(function () {
  "use strict";
  document.querySelectorAll("form.tabbed-form").forEach(function (form) {
    const rules = Array.from(form.querySelectorAll("[data-show-when]"));

    function sync() {
      rules.forEach(function (el) {
        const [name, values] = el.dataset.showWhen.split("=");
        const control = form.querySelector("[name=" + name + "]");
        el.hidden = control !== null && !values.split(",").includes(control.value);
      });
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
