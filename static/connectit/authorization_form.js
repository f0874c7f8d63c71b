// Shows the Authorization Code tab only for that grant, and opens the first tab with an error.
(function () {
  "use strict";
  const form = document.getElementById("authorization-form");
  if (!form) return;
  const grant = form.querySelector("[name=grant_type]");

  function syncGrant() {
    form.querySelectorAll("[data-grant-only]").forEach(function (el) {
      el.hidden = grant.value !== el.dataset.grantOnly;
    });
  }

  grant.addEventListener("change", syncGrant);
  syncGrant();

  const failing = form.querySelector(".nav-link.has-error");
  if (failing) bootstrap.Tab.getOrCreateInstance(failing).show();
})();
