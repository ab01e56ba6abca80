// The generate form's price ("4 × 1.5 = 6 credits"), kept up to date as the model or the number of images
// changes. The page renders the same text on the server for the values it was sent with, so without
// JavaScript the price shown is the one of the initial choice. Costs come from the element's data-costs
// (credits per image by model, as decimal strings); sums are made in ten-thousandths so 3 × 1.1 is 3.3.
(function () {
  "use strict";

  const SCALE = 10000; // credits have 4 decimal places

  function units(text) {
    return Math.round(Number(text) * SCALE); // "1.1" → 11000: exact for 4 decimal places
  }

  function format(amount) {
    // 60000 → "6", 15000 → "1.5", 12345000 → "1,234.5": like the server (no trailing zeros, comma groups)
    const whole = Math.floor(amount / SCALE).toLocaleString("en-US");
    const fraction = String(amount % SCALE).padStart(4, "0").replace(/0+$/, "");
    return whole + (fraction ? "." + fraction : "");
  }

  function enhance(preview) {
    const form = preview.closest("form");
    const text = preview.querySelector("[data-price-text]");
    if (!form || !text) return;
    let costs;
    try {
      costs = JSON.parse(preview.dataset.costs || "{}");
    } catch (error) {
      return; // keep the server's text
    }
    const model = form.querySelector("[name=model]");
    const count = form.querySelector("[name=num_outputs]");
    if (!model || !count) return;

    function update() {
      const images = parseInt(count.value, 10);
      const cost = costs[model.value];
      if (!(images > 0) || cost === undefined || !(units(cost) >= 0)) return;
      const total = images * units(cost);
      text.textContent =
        images + " × " + format(units(cost)) + " = " + format(total) + " credit" + (total === SCALE ? "" : "s");
    }

    model.addEventListener("change", update);
    count.addEventListener("change", update);
    update();
  }

  function start() {
    document.querySelectorAll("[data-price-preview]").forEach(enhance);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
