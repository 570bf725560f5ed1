// tandem's only script. Every page works without it; it only makes pages that ask for
// it (a `data-refresh` attribute on <main>, in seconds) refresh their content in place,
// without the flicker of a full reload, and pauses while the tab is hidden.
(function () {
  "use strict";
  var main = document.querySelector("main[data-refresh]");
  if (!main) {
    return;
  }
  var seconds = Number(main.getAttribute("data-refresh"));
  if (!(seconds > 0)) {
    return;
  }
  var busy = false;
  function refresh() {
    if (busy || document.hidden) {
      return;
    }
    // Do not replace a form someone is typing into.
    var active = document.activeElement;
    if (active && main.contains(active) && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName)) {
      return;
    }
    busy = true;
    fetch(window.location.href, { credentials: "same-origin" })
      .then(function (response) {
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html === null) {
          return;
        }
        var next = new DOMParser().parseFromString(html, "text/html").querySelector("main");
        if (next) {
          main.innerHTML = next.innerHTML;
        }
      })
      .catch(function () {
        // Offline or restarting: the next tick tries again.
      })
      .then(function () {
        busy = false;
      });
  }
  window.setInterval(refresh, seconds * 1000);
})();
