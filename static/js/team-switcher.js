// Team switcher in the header: switch as soon as another team is picked. Without JavaScript the form's
// "Switch" button does the same; with it, the button is hidden.
(function () {
  "use strict";

  function enhance(form) {
    const select = form.querySelector("select[name=team]");
    const button = form.querySelector("[data-switch-button]");
    if (!select) return;
    if (button) button.hidden = true;
    select.addEventListener("change", function () {
      if (typeof form.requestSubmit === "function") form.requestSubmit();
      else form.submit();
    });
  }

  function start() {
    document.querySelectorAll("form[data-team-switcher]").forEach(enhance);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
