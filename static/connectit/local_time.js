// Shows <time data-local> values in the administrator's own time zone and format.
document.querySelectorAll("time[data-local]").forEach(function (el) {
  const when = new Date(el.getAttribute("datetime"));
  if (!isNaN(when)) el.textContent = when.toLocaleString();
});
