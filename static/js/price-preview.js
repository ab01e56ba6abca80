// The generate form's price ("4 × 1.5 = 6 credits"), kept up to date as the model, the number of images or
// the resolution changes. The page renders the same text on the server for the values it was sent with, so
// without JavaScript the price shown is the one of the initial choice. Costs come from the element's
// data-costs: by model, a decimal string (credits per image) or {"default", "tiers": [[megapixels, credits]]}
// when the cost depends on resolution (the cheapest tier at least as large as asked, else the largest).
// The count and the resolution are read from the chosen model's enabled fields marked data-price-count and
// data-price-resolution. Sums are made in ten-thousandths so 3 × 1.1 is 3.3. With "Compare models" ticked
// it is each ticked model's price and their total ("Compare 3 models: 1 + 1.5 + 1 = 3.5 credits"): a model
// marked data-counts makes the chosen number of images (else one), one marked data-seed takes the
// resolution (the others cost their default), as GenerationForm.compare_price says on the server.
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

    const compare = form.querySelector("input[name=compare]");

    function plural(total) {
      return format(total) + " credit" + (total === SCALE ? "" : "s");
    }

    function comparison(images) {
      const ticked = form.querySelectorAll("input[name=compare_models]:checked");
      if (ticked.length < 2 || ticked.length > 4) return "Compare: choose 2 to 4 models";
      const resolution = enabled("[data-price-resolution]");
      const terms = [];
      for (let i = 0; i < ticked.length; i++) {
        const box = ticked[i];
        const cost = costOf(costs[box.value], box.hasAttribute("data-seed") ? resolution : null);
        if (cost === undefined || !(units(cost) >= 0)) return null;
        terms.push((box.hasAttribute("data-counts") ? images : 1) * units(cost));
      }
      const total = terms.reduce(function (sum, term) { return sum + term; }, 0);
      return "Compare " + terms.length + " models: " + terms.map(format).join(" + ") + " = " + plural(total);
    }

    function update() {
      if (compare && compare.checked) {
        const count = enabled("[data-price-count]");
        const said = comparison(count ? parseInt(count.value, 10) || 1 : 1);
        if (said) text.textContent = said;
        return;
      }
      const count = enabled("[data-price-count]");
      const images = count ? parseInt(count.value, 10) : 1;
      const cost = costOf(costs[model.value], enabled("[data-price-resolution]"));
      if (!(images > 0) || cost === undefined || !(units(cost) >= 0)) return;
      const total = images * units(cost);
      text.textContent = images + " × " + format(units(cost)) + " = " + plural(total);
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
