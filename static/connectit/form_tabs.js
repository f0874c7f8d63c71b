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
    const failing = form.querySelector(".nav-link.has-error");
    if (failing) bootstrap.Tab.getOrCreateInstance(failing).show();
  });
})();
