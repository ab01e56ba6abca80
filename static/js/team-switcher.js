// Team switcher in the header: switch as soon as another team is picked with the pointer. Without JavaScript
// the form's "Switch" button does the same; with it, the button is hidden until the keyboard changes the
// choice (arrow keys change a closed select at once: switching then waits for the button, or for Enter).
(function () {
  "use strict";

  function enhance(form) {
    const select = form.querySelector("select[name=team]");
    const button = form.querySelector("[data-switch-button]");
    if (!select) return;
    let byKeyboard = false;
    function submit() {
      if (typeof form.requestSubmit === "function") form.requestSubmit();
      else form.submit();
    }
    if (button) button.hidden = true;
    select.addEventListener("pointerdown", function () { byKeyboard = false; });
    select.addEventListener("keydown", function (event) {
      if (event.key === "Enter") {
        event.preventDefault();
        submit();
        return;
      }
      if (event.key !== "Tab") byKeyboard = true;
    });
    select.addEventListener("change", function () {
      if (byKeyboard && button) button.hidden = false;
      else submit();
    });
  }

  function start() {
    document.querySelectorAll("form[data-team-switcher]").forEach(enhance);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
