// Copy buttons: <button data-copy="ID"> puts the value of the element with that id on the
// clipboard and says so on the button for a moment.
document.querySelectorAll("button[data-copy]").forEach(function (button) {
  button.addEventListener("click", function () {
    const source = document.getElementById(button.dataset.copy);
    if (!source) return;
    const done = function () {
      const label = button.textContent;
      button.textContent = "Copied";
      window.setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(source.value).then(done);
    } else {
      // Plain http on another host: the Clipboard API is not offered there.
      source.select();
      document.execCommand("copy");
      done();
    }
  });
});
