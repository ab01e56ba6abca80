// Live status: every element with data-poll-url asks the server for its generation's state until it settles,
// and each answer keeps the header's "N credits spent" badge (data-live-credits-spent) in step.
(function () {
  "use strict";
  const BASE_DELAY_MS = 1500;
  const MAX_DELAY_MS = 8000;

  let asked = 0;  // requests sent, so an answer that arrives late never overwrites a newer badge text
  let shown = 0;

  function updateCreditsBadge(request, text) {
    if (typeof text !== "string" || request < shown) return;
    shown = request;
    document.querySelectorAll("[data-live-credits-spent]").forEach(function (badge) {
      if (badge.textContent !== text) badge.textContent = text;
    });
  }

  function poll(element, delay) {
    const url = element.dataset.pollUrl;
    if (!url) return;
    window.setTimeout(function () {
      const request = ++asked;
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (data) {
          updateCreditsBadge(request, data.credits_spent_text);
          if (element.dataset.reloadWhenDone) {
            if (!data.active) window.location.reload();
            else poll(element, BASE_DELAY_MS);
            return;
          }
          const holder = document.createElement("div");
          holder.innerHTML = data.card_html.trim();
          const fresh = holder.firstElementChild;
          element.replaceWith(fresh);
          if (data.active) poll(fresh, BASE_DELAY_MS);
        })
        .catch(function () {
          poll(element, Math.min(delay * 2, MAX_DELAY_MS));  // server busy or offline: back off, keep trying.
        });
    }, delay);
  }

  function start() {
    document.querySelectorAll("[data-poll-url]").forEach(function (element) { poll(element, BASE_DELAY_MS); });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
