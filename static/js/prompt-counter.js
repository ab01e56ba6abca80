// The prompt box's live character counter ("1,234 / 2,000"). The textarea's maxlength stops typing at the
// limit; a longer value (sent back by the server with its error) turns the counter into an error state and
// marks the field invalid. The page renders the same count on the server, so without JavaScript it is
// still right for the text the page was sent with.
(function () {
  "use strict";

  function enhance(counter) {
    const field = document.getElementById(counter.dataset.for || "");
    const count = counter.querySelector("[data-count]");
    const max = Number(counter.dataset.max);
    if (!field || !count || !max) return;

    function update() {
      const length = field.value.length;
      count.textContent = length.toLocaleString("en-US");
      const over = length > max;
      counter.classList.toggle("over", over);
      counter.classList.toggle("at-limit", length === max);
      if (over) field.setAttribute("aria-invalid", "true");
      else if (!field.closest(".has-error")) field.removeAttribute("aria-invalid");
    }

    field.addEventListener("input", update);
    update();
  }

  function start() {
    document.querySelectorAll("[data-prompt-counter]").forEach(enhance);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
