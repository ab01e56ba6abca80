// Compare page: the range input under two images sets how much of image B shows over image A (from the left).
// The split is a CSS custom property set through the CSSOM, which the Content Security Policy allows.
(function () {
  "use strict";

  function connect(slider) {
    const range = slider.parentElement.querySelector("input[type=range]");
    if (!range) return;
    function update() {
      slider.style.setProperty("--split", range.value + "%");
      range.setAttribute("aria-valuetext", range.value + "% of image B");
    }
    range.addEventListener("input", update);
    update();
  }

  function start() { document.querySelectorAll("[data-compare-slider]").forEach(connect); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
