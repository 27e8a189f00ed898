// Patient forms: within a choice (who may see, which studies), show only the details of the chosen option.
// Without this script every option's details stay visible and the server reads the chosen one only.
"use strict";

for (const group of document.querySelectorAll("[data-choice-group]")) {
  const radios = [...group.querySelectorAll(":scope > .choice input[type=radio]")];
  const details = [...group.querySelectorAll(":scope > [data-choice-for]")];
  const update = () => {
    const chosen = radios.find((radio) => radio.checked);
    for (const detail of details) {
      detail.hidden = !chosen || detail.dataset.choiceFor !== chosen.value;
    }
  };
  for (const radio of radios) {
    radio.addEventListener("change", update);
  }
  update();
}
