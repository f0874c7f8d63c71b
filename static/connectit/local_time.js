// Keeps the relative text of <time data-relative> elements ("in 52 min", "3 h ago") current
// while a page stays open. The server renders the same text (connectit/times.py, same rules);
// the exact time in the configured zone is in the title and in visually hidden text.
(function () {
  "use strict";
  const MINUTE = 60, HOUR = 3600, DAY = 86400;

  function span(seconds) {
    const minutes = Math.max(1, Math.round(seconds / MINUTE));
    if (minutes < 60) return minutes + " min";
    const hours = Math.round(seconds / HOUR);
    if (hours < 24) return hours + " h";
    const days = Math.round(seconds / DAY);
    if (days < 60) return days + (days === 1 ? " day" : " days");
    const months = Math.round(seconds / (30 * DAY));
    if (months < 12) return months + " months";
    const years = Math.round(seconds / (365 * DAY));
    return years + (years === 1 ? " year" : " years");
  }

  function relative(when, now) {
    const seconds = (when - now) / 1000;
    if (Math.abs(seconds) < 45) return "just now";
    return seconds > 0 ? "in " + span(seconds) : span(-seconds) + " ago";
  }

  function update() {
    const now = Date.now();
    document.querySelectorAll("time[data-relative]").forEach(function (el) {
      const when = Date.parse(el.getAttribute("datetime"));
      const text = el.querySelector("[data-relative-text]");
      if (!isNaN(when) && text) text.textContent = relative(when, now);
    });
  }

  update();
  setInterval(update, 60 * 1000);
})();
