// The generate form's parameters follow the chosen model: each model's fields sit in a fieldset whose
// data-model-fields lists the models it serves (the seed's /flux fields serve four); only the chosen model's
// fieldsets are shown and enabled, so a disabled one is neither seen nor sent. Without JavaScript the server
// renders the fieldsets of the model it was last sent (or the default one).
(function () {
  "use strict";

  function enhance(form) {
    const model = form.querySelector("[name=model]");
    const sets = form.querySelectorAll("fieldset[data-model-fields]");
    if (!model || !sets.length) return;

    function update() {
      sets.forEach(function (set) {
        const on = set.dataset.modelFields.split(" ").indexOf(model.value) !== -1;
        set.disabled = !on;
        set.hidden = !on;
      });
      form.dispatchEvent(new CustomEvent("model-fields-changed"));
    }

    model.addEventListener("change", update);
    update();
  }

  function start() {
    document.querySelectorAll("form.generate-form").forEach(enhance);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
