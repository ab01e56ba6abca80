// The generate form's parameters follow the chosen model: each model's fields sit in a fieldset whose
// data-model-fields lists the models it serves (the seed's /flux fields serve four); only the chosen model's
// fieldsets are shown and enabled, so a disabled one is neither seen nor sent. With "Compare models" ticked
// the model menu gives way to the models' checkboxes (data-compare-models) and only the fieldsets marked
// data-compare-fields (the parameters common to a comparison) are on. Without JavaScript the server renders
// the fieldsets of the model (or the comparison) it was last sent, or the default model's.
(function () {
  "use strict";

  function enhance(form) {
    const model = form.querySelector("[name=model]");
    const sets = form.querySelectorAll("fieldset[data-model-fields]");
    if (!model || !sets.length) return;
    const compare = form.querySelector("input[name=compare]");
    const choices = form.querySelector("fieldset[data-compare-models]");
    const menu = form.querySelector("[data-compare-hide]");

    function update() {
      const comparing = Boolean(compare && compare.checked);
      sets.forEach(function (set) {
        const on = comparing
          ? set.hasAttribute("data-compare-fields")
          : set.dataset.modelFields.split(" ").indexOf(model.value) !== -1;
        set.disabled = !on;
        set.hidden = !on;
      });
      if (choices) {
        choices.disabled = !comparing;
        choices.hidden = !comparing;
      }
      if (menu) menu.hidden = comparing;
      model.disabled = comparing;
      form.dispatchEvent(new CustomEvent("model-fields-changed"));
    }

    model.addEventListener("change", update);
    if (compare) compare.addEventListener("change", update);
    update();
  }

  function start() {
    document.querySelectorAll("form.generate-form").forEach(enhance);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
