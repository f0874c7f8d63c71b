// The WSDL operation picker (definitions/forms.py OperationWidget): "Read operations" posts the
// whole form as typed to the server, which reads the WSDL and answers with its operations; they
// fill the select, and the hidden catalog field carries them into Save. Nothing is saved here.
// The parameter names and types of each operation come with it from the server (data-parameters
// on each option), so this script only shows the chosen one's.
document.querySelectorAll(".operation-picker").forEach(function (picker) {
  const form = picker.closest("form");
  const select = picker.querySelector("select");
  const button = picker.querySelector("[data-read-operations]");
  const catalog = picker.querySelector("[data-operation-catalog]");
  const status = picker.querySelector("[data-read-status]");
  const parameters = picker.querySelector("[data-operation-parameters]");

  function showParameters() {
    const option = select.options[select.selectedIndex];
    parameters.textContent = (option && option.dataset.parameters) || "";
  }

  function say(text, isError) {
    status.textContent = text;
    status.classList.toggle("text-danger", Boolean(isError));
  }

  function fill(operations, descriptions) {
    const chosen = select.value;
    select.replaceChildren(new Option("---------", ""));
    operations.forEach(function (operation) {
      const option = new Option(operation.name, operation.name);
      option.dataset.parameters = descriptions[operation.name] || "";
      select.add(option);
    });
    const names = operations.map(function (operation) { return operation.name; });
    if (chosen && names.indexOf(chosen) < 0) {
      select.add(new Option(chosen + " (not in the WSDL read last)", chosen));
    }
    select.value = chosen;
    catalog.value = JSON.stringify(operations);
    showParameters();
  }

  function busy(on) {
    button.disabled = on;
    button.setAttribute("aria-busy", on ? "true" : "false");
    button.textContent = on ? "Reading…" : "Read operations";
  }

  button.addEventListener("click", function () {
    busy(true);
    say("Reading the WSDL…", false);
    fetch(picker.dataset.readUrl, { method: "POST", body: new FormData(form), credentials: "same-origin" })
      .then(function (response) {
        return response.json().catch(function () {
          return { error: "The server answered HTTP " + response.status + "." };
        });
      })
      .then(function (answer) {
        if (answer.error) {
          say(answer.error, true);
          return;
        }
        fill(answer.operations, answer.descriptions);
        say("Read " + answer.operations.length + " operation(s). Pick one, then Save.", false);
      })
      .catch(function () { say("The server could not be reached.", true); })
      .finally(function () { busy(false); });
  });
  select.addEventListener("change", showParameters);
});
