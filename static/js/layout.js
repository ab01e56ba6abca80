// Page layout on small screens: the header's Menu button, the library's "Filters" disclosure, and tables
// that scroll inside their card.
// Without JavaScript the menu simply wraps under the brand and the filters stay a plain disclosure.
(function () {
  "use strict";

  const WIDE = window.matchMedia("(min-width: 641px)");

  function menu(header) {
    const toggle = header.querySelector("[data-menu-toggle]");
    if (!toggle) return;
    function set(open) {
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
      header.classList.toggle("menu-open", open);
    }
    header.classList.add("menu-ready");
    toggle.addEventListener("click", function () {
      set(toggle.getAttribute("aria-expanded") !== "true");
    });
    header.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && toggle.getAttribute("aria-expanded") === "true") {
        set(false);
        toggle.focus();
      }
    });
  }

  function filters(details) {
    // Wide screens show the filters open (the summary is hidden there); phones keep what the server chose.
    function follow() {
      if (WIDE.matches) details.open = true;
      details.classList.toggle("wide-open", WIDE.matches);
    }
    follow();
    WIDE.addEventListener("change", follow);
  }

  function scrollers() {
    // A table wider than its card scrolls inside it: make it focusable so the keyboard can scroll it too.
    document.querySelectorAll("table.list, .table-scroll").forEach(function (box) {
      const scrolls = box.scrollWidth > box.clientWidth + 1;
      if (scrolls && !box.hasAttribute("tabindex")) {
        box.setAttribute("tabindex", "0");
        box.dataset.scrollFocus = "";
      } else if (!scrolls && "scrollFocus" in box.dataset) {
        box.removeAttribute("tabindex");
        delete box.dataset.scrollFocus;
      }
    });
  }

  function start() {
    document.querySelectorAll("header.topbar").forEach(menu);
    document.querySelectorAll("details.filters-disclosure").forEach(filters);
    scrollers();
    window.addEventListener("resize", scrollers);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
