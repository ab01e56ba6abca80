// Image viewer: a click on a thumbnail inside [data-lightbox-group] opens the image in a modal <dialog>
// (showModal keeps focus inside and Esc closes it). ← / → (and the on-screen buttons) move through the group's
// images in page order, read afresh each time so tiles appended by "Load more" or swapped in by live status
// count; closing returns focus to the link that opened it (or, if live status re-rendered it meanwhile, to
// the link now showing that image). Each image's data comes from its data-lightbox-* attributes (a library
// tile's prompt from its caption, its page from its link): no request besides the image itself. Without this script the links go to their pages.
(function () {
  "use strict";

  let dialog = null;
  let items = [];
  let index = 0;
  let opener = null;
  let openerSource = "";

  function element(tag, attributes, text) {
    const node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) { node.setAttribute(name, attributes[name]); });
    if (text) node.textContent = text;
    return node;
  }

  function build() {
    dialog = element("dialog", {
      class: "lightbox", "aria-label": "Image viewer", "aria-describedby": "lightbox-prompt", "data-testid": "lightbox",
    });
    const stage = element("div", { class: "lightbox-stage" });
    stage.append(
      element("img", { alt: "", "data-testid": "lightbox-image" }),
      element("button", { type: "button", class: "lightbox-prev", "aria-label": "Previous image", "data-testid": "lightbox-prev" }, "←"),
      element("button", { type: "button", class: "lightbox-next", "aria-label": "Next image", "data-testid": "lightbox-next" }, "→"),
      element("button", { type: "button", class: "lightbox-close", "aria-label": "Close", "data-testid": "lightbox-close", autofocus: "" }, "✕")
    );
    const info = element("div", { class: "lightbox-info" });
    const meta = element("p", { class: "lightbox-meta" });
    meta.append(
      element("span", { class: "lightbox-model", "data-testid": "lightbox-model" }),
      element("span", { class: "lightbox-position", "data-testid": "lightbox-position" }),
      element("a", { class: "lightbox-link", "data-testid": "lightbox-link" }, "Open the image page")
    );
    info.append(element("p", { class: "lightbox-prompt", id: "lightbox-prompt", "data-testid": "lightbox-prompt" }), meta);
    dialog.append(stage, info);
    document.body.append(dialog);

    dialog.querySelector(".lightbox-prev").addEventListener("click", function () { move(-1); });
    dialog.querySelector(".lightbox-next").addEventListener("click", function () { move(1); });
    dialog.querySelector(".lightbox-close").addEventListener("click", function () { dialog.close(); });
    dialog.addEventListener("keydown", function (event) {
      if (event.altKey || event.ctrlKey || event.metaKey) return;
      if (event.key === "ArrowLeft") { event.preventDefault(); move(-1); }
      if (event.key === "ArrowRight") { event.preventDefault(); move(1); }
    });
    dialog.addEventListener("click", function (event) {
      if (event.target === dialog || event.target === stage) dialog.close();  // beside the image
    });
    dialog.addEventListener("close", function () {
      dialog.querySelector(".lightbox-stage img").removeAttribute("src");
      // Live status may have re-rendered the opener's card meanwhile: then its image's new link takes focus.
      const back = opener && opener.isConnected ? opener : linkShowing(openerSource);
      if (back) back.focus();
      opener = null;
    });
  }

  function linkShowing(source) {
    const match = Array.from(document.querySelectorAll("[data-lightbox-group] img[data-lightbox-src]"))
      .find(function (picture) { return picture.dataset.lightboxSrc === source; });
    return match ? match.closest("a") : null;
  }

  function groupImages(group) {
    return Array.from(group.querySelectorAll("img[data-lightbox-src]"));
  }

  function moreLink() {
    const group = items.length ? items[0].closest("[data-lightbox-group]") : null;
    return group ? group.querySelector(".load-more") : null;
  }

  // A library tile carries its prompt once, as its caption's text (no data-lightbox-prompt copy).
  function captionOf(source) {
    const tile = source.closest(".tile");
    const caption = tile ? tile.querySelector(".prompt-line") : null;
    return caption ? caption.textContent : "";
  }

  function show(at) {
    index = at;
    const source = items[index];
    const picture = dialog.querySelector(".lightbox-stage img");
    picture.removeAttribute("src");  // never the previous image under the new caption while this one loads
    if (source.getAttribute("width")) picture.width = Number(source.getAttribute("width"));
    if (source.getAttribute("height")) picture.height = Number(source.getAttribute("height"));
    picture.alt = source.alt || "";
    picture.src = source.dataset.lightboxSrc;
    dialog.querySelector(".lightbox-prompt").textContent = source.dataset.lightboxPrompt || captionOf(source);
    dialog.querySelector(".lightbox-model").textContent = source.dataset.lightboxModel || "";
    const more = moreLink();
    dialog.querySelector(".lightbox-position").textContent =
      "Image " + (index + 1) + " of " + items.length + (more ? "+" : "");
    dialog.querySelector(".lightbox-link").href = source.dataset.lightboxHref || source.closest("a").getAttribute("href");
    // aria-disabled, not disabled: a focused button keeps the focus at either end.
    dialog.querySelector(".lightbox-prev").setAttribute("aria-disabled", String(index === 0));
    dialog.querySelector(".lightbox-next").setAttribute("aria-disabled", String(index === items.length - 1 && !more));
    const next = items[index + 1];
    if (next) new Image().src = next.dataset.lightboxSrc;  // fetched ahead, so → shows it at once
  }

  function move(step) {
    const current = items[index];
    const group = current.closest("[data-lightbox-group]");
    if (group) items = groupImages(group);  // "Load more" or live status may have changed the grid since
    const at = items.indexOf(current) < 0 ? index : items.indexOf(current);
    const target = at + step;
    if (target >= 0 && target < items.length) { show(target); return; }
    const more = step > 0 && group ? group.querySelector(".load-more") : null;
    if (!more) { index = at; return; }
    // At the last tile with more to load: load the next page (library.js appends it), then step onto it.
    const watcher = new MutationObserver(function () {
      const fresh = groupImages(group);
      if (fresh.length <= items.length && group.querySelector(".load-more") === more) return;
      watcher.disconnect();
      items = fresh;
      if (dialog.open && at + 1 < items.length) show(at + 1);
      else if (dialog.open) show(at);
    });
    watcher.observe(group, { childList: true, subtree: true });
    more.click();
  }

  function open(link, picture) {
    if (!dialog) build();
    opener = link;
    openerSource = picture.dataset.lightboxSrc;
    items = groupImages(picture.closest("[data-lightbox-group]"));
    show(Math.max(items.indexOf(picture), 0));
    dialog.showModal();
  }

  document.addEventListener("click", function (event) {
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;  // new tab or window: the page
    const link = event.target.closest("[data-lightbox-group] a");
    if (!link || !link.querySelector("img[data-lightbox-src]")) return;
    const clicked = event.target.closest("img[data-lightbox-src]");
    event.preventDefault();
    open(link, clicked || link.querySelector("img[data-lightbox-src]"));
  });
})();
