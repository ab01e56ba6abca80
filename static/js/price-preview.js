// The generate form's price ("4 × 1.5 = 6 credits"), kept up to date as the model, the number of images or
// the resolution changes. The page renders the same text on the server for the values it was sent with, so
// without JavaScript the price shown is the one of the initial choice. Costs come from the element's
// data-costs: by model, a decimal string (credits per image) or {"default", "tiers": [[megapixels, credits]]}
// when the cost depends on resolution (the cheapest tier at least as large as asked, else the largest).
// The count and the resolution are read from the chosen model's enabled fields marked data-price-count and
// data-price-resolution. Sums are made in ten-thousandths so 3 × 1.1 is 3.3.
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
    if (!model) return;

    function enabled(selector) {
      const found = Array.prototype.filter.call(form.querySelectorAll(selector), function (input) {
        return !input.disabled && !input.closest("fieldset:disabled");
      });
      return found.length ? found[0] : null;
    }

    function costOf(rule, resolution) {
      if (typeof rule === "string") return rule;
      if (!rule || typeof rule !== "object") return undefined;
      const megapixels = resolution ? parseFloat(resolution.value) : NaN;
      const tiers = rule.tiers || [];
      if (!(megapixels > 0) || !tiers.length) return rule.default;
      for (let i = 0; i < tiers.length; i++) {
        if (megapixels <= Number(tiers[i][0])) return tiers[i][1];
      }
      return tiers[tiers.length - 1][1];
    }

    function update() {
      const count = enabled("[data-price-count]");
      const images = count ? parseInt(count.value, 10) : 1;
      const cost = costOf(costs[model.value], enabled("[data-price-resolution]"));
      if (!(images > 0) || cost === undefined || !(units(cost) >= 0)) return;
      const total = images * units(cost);
      text.textContent =
        images + " × " + format(units(cost)) + " = " + format(total) + " credit" + (total === SCALE ? "" : "s");
    }

    form.addEventListener("change", update);
    form.addEventListener("input", update);
    form.addEventListener("model-fields-changed", update);
    update();
  }

  function start() {
    document.querySelectorAll("[data-price-preview]").forEach(enhance);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
