// Keeps a queued or running run's page current without a reload: polls the run's progress once
// a second, and reloads the page once when the run has ended (to show its request and answer).
(function () {
  const live = document.getElementById("run-live");
  if (!live) return;
  const url = live.dataset.progressUrl;
  const set = function (id, text) {
    const el = document.getElementById(id);
    if (el) el.textContent = text;
  };
  let failures = 0;
  const poll = function () {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (run) {
        failures = 0;
        if (run.finished) {
          window.location.reload();
          return;
        }
        set("run-step", run.step || run.outcome_label);
        set("run-pages", String(run.pages));
        set("run-bytes", String(run.bytes));
        set("run-items", run.items === null ? "—" : String(run.items));
        set("run-retries", run.retries ? run.retries + " (after HTTP 429/503)" : "0");
        set("run-elapsed", run.elapsed === null ? "—" : run.elapsed + " s");
        const badge = document.querySelector("#run-outcome .badge");
        if (badge && badge.dataset.outcome !== run.outcome) {
          badge.dataset.outcome = run.outcome;
          badge.textContent = run.outcome_label;
          badge.className = "badge " + (run.outcome === "running" ? "text-bg-primary" : "text-bg-light border");
        }
        const cancel = document.getElementById("cancel-run");
        if (cancel && run.cancel_requested) {
          cancel.disabled = true;
          cancel.textContent = "Cancelling…";
        }
        window.setTimeout(poll, 1000);
      })
      .catch(function () {
        failures += 1; // a restarting server: try again, more slowly
        window.setTimeout(poll, Math.min(10000, 1000 * 2 ** failures));
      });
  };
  window.setTimeout(poll, 1000);
})();
