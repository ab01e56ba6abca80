// Library enhancements: bulk selection (Delete only for deletable images), confirmations, favourite toggles, copy prompt, infinite scroll.
(function () {
  "use strict";

  function csrf(form) {
    const input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function updateCount() {
    const checked = document.querySelectorAll("input[name=images]:checked");
    const label = document.querySelector(".selected-count");
    if (label) label.textContent = checked.length + " selected";
    // Delete only what this user may delete: a selection with someone else's image cannot be sent.
    const remove = document.querySelector("[data-bulk-delete]");
    if (remove) {
      const others = Array.prototype.some.call(checked, function (box) { return !box.hasAttribute("data-deletable"); });
      remove.disabled = others;
      const rule = document.getElementById("delete-rule");
      if (rule) rule.classList.toggle("error", others);
    }
  }

  document.addEventListener("change", function (event) {
    if (event.target.id === "select-all") {
      document.querySelectorAll("input[name=images]").forEach(function (box) { box.checked = event.target.checked; });
    }
    if (event.target.id === "select-all" || event.target.name === "images") updateCount();
  });

  document.addEventListener("submit", function (event) {
    const form = event.target;
    const submitter = event.submitter;
    const message = (submitter && submitter.dataset.confirm) || form.dataset.confirm;
    if (message && !window.confirm(message)) { event.preventDefault(); return; }
    // One hidden form for every tile's ♥ (each button names its image's URL and the new state).
    if (form.classList.contains("fav-form") && submitter && window.fetch) {
      event.preventDefault();
      const body = new FormData(form);
      body.append(submitter.name, submitter.value);
      fetch(submitter.formAction, {
        method: "POST",
        headers: { "X-CSRFToken": csrf(form), Accept: "application/json" },
        body: body,
        credentials: "same-origin",
      }).then(function (response) { return response.json(); }).then(function (data) {
        submitter.classList.toggle("on", data.favourite);
        submitter.setAttribute("aria-pressed", data.favourite ? "true" : "false");
        submitter.value = data.favourite ? "0" : "1";
      });
    }
  });

  document.addEventListener("click", function (event) {
    const copy = event.target.closest("[data-copy]");
    if (copy && navigator.clipboard) {
      const label = copy.dataset.label || (copy.dataset.label = copy.textContent);
      navigator.clipboard.writeText(copy.dataset.copy).then(function () {
        copy.textContent = "Copied";
        window.setTimeout(function () { copy.textContent = label; }, 1500);
      });
    }
    const more = event.target.closest(".load-more");
    if (more) { event.preventDefault(); loadMore(more); }
  });

  function loadMore(link) {
    if (link.dataset.loading) return;
    link.dataset.loading = "1";
    const url = new URL(link.href, window.location.href);
    url.searchParams.set("fragment", "1");
    fetch(url, { credentials: "same-origin" }).then(function (r) { return r.text(); }).then(function (html) {
      const holder = document.createElement("div");
      holder.innerHTML = html;
      link.replaceWith.apply(link, Array.from(holder.childNodes));
      observe();
    });
  }

  let observer = null;
  function observe() {
    const more = document.querySelector(".load-more");
    if (!more || !("IntersectionObserver" in window)) return;
    if (observer) observer.disconnect();
    observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) { if (entry.isIntersecting) loadMore(entry.target); });
    }, { rootMargin: "600px" });
    observer.observe(more);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", observe);
  else observe();
})();
