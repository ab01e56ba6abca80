// Relative times ("3 min ago") stay true while a page is open: every minute, each <time data-moment-absolute>
// (rendered by pixelgallery/moments.py) gets its text again by the server's rules, in the time zone of the
// offset its datetime attribute carries. The server's text is already right when the page loads.
(function () {
  "use strict";
  const MINUTE_MS = 60 * 1000;
  const DAY_MS = 24 * 60 * MINUTE_MS;

  function offsetMinutes(stamp) {
    const match = /([+-])(\d{2}):(\d{2})$/.exec(stamp);
    if (!match) return 0;  // "Z" or no offset: UTC
    const minutes = Number(match[2]) * 60 + Number(match[3]);
    return match[1] === "-" ? -minutes : minutes;
  }

  function localDay(ms, offset) {
    return new Date(ms + offset * MINUTE_MS).toISOString().slice(0, 10);
  }

  function relativeText(element, now) {
    const stamp = element.getAttribute("datetime") || "";
    const moment = Date.parse(stamp);
    if (Number.isNaN(moment)) return null;
    const seconds = (now - moment) / 1000;
    if (seconds > -60 && seconds < 60) return "just now";
    if (seconds < 0) return element.dataset.momentAbsolute;
    if (seconds < 3600) return Math.floor(seconds / 60) + " min ago";
    const offset = offsetMinutes(stamp);
    const day = localDay(moment, offset);
    if (day === localDay(now, offset)) return Math.floor(seconds / 3600) + " h ago";
    if (day === localDay(now - DAY_MS, offset)) return "yesterday, " + stamp.slice(11, 16);
    return element.dataset.momentAbsolute;
  }

  function refresh() {
    const now = Date.now();
    document.querySelectorAll("time[data-moment-absolute]").forEach(function (element) {
      const text = relativeText(element, now);
      if (text && element.textContent !== text) element.textContent = text;
    });
  }

  window.setInterval(refresh, MINUTE_MS);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") refresh();  // timers sleep in background tabs
  });
})();
