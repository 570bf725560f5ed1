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

// Explore's live tail: the server sends the expression's value every second as
// Server-Sent Events (/explore/live); this draws the last five minutes of them.
(function () {
  "use strict";
  var section = document.getElementById("live");
  if (!section || !window.EventSource) {
    return;
  }
  section.hidden = false;
  var toggle = document.getElementById("live-toggle");
  var view = document.getElementById("live-view");
  var svg = document.getElementById("live-chart");
  var table = document.querySelector("#live-values tbody");
  var colors = ["#3b82c4", "#b58900", "#009e73", "#c05a9e", "#808080",
                "#d55e00", "#1f9ec2", "#6b8e23", "#8f7fd6", "#a66f3f"];
  var keepMs = 5 * 60 * 1000;
  var source = null;
  var series = {};
  var ns = "http://www.w3.org/2000/svg";

  function draw() {
    var names = Object.keys(series);
    var now = Date.now();
    var min = Infinity;
    var max = -Infinity;
    names.forEach(function (name) {
      series[name] = series[name].filter(function (p) { return now - p[0] <= keepMs; });
      series[name].forEach(function (p) {
        if (p[1] !== null) { min = Math.min(min, p[1]); max = Math.max(max, p[1]); }
      });
    });
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    while (table.firstChild) { table.removeChild(table.firstChild); }
    if (min === Infinity) { return; }
    if (max === min) { max += 1; min -= 1; }
    names.forEach(function (name, index) {
      var color = colors[index % colors.length];
      var d = "";
      var pen = "M";
      series[name].forEach(function (p) {
        if (p[1] === null) { pen = "M"; return; }
        var x = 1100 - (now - p[0]) / keepMs * 1100;
        var y = 150 - (p[1] - min) / (max - min) * 140;
        d += pen + x.toFixed(1) + " " + y.toFixed(1);
        pen = "L";
      });
      var path = document.createElementNS(ns, "path");
      path.setAttribute("d", d);
      path.setAttribute("fill", "none");
      path.setAttribute("stroke", color);
      path.setAttribute("stroke-width", "1.5");
      svg.appendChild(path);
      var row = document.createElement("tr");
      var label = document.createElement("td");
      label.textContent = name;
      var value = document.createElement("td");
      var points = series[name];
      value.textContent = points.length ? points[points.length - 1][2] : "";
      var swatch = document.createElementNS(ns, "svg");
      swatch.setAttribute("width", "10");
      swatch.setAttribute("height", "10");
      var rect = document.createElementNS(ns, "rect");
      rect.setAttribute("width", "10");
      rect.setAttribute("height", "10");
      rect.setAttribute("fill", color);
      swatch.appendChild(rect);
      label.prepend(swatch);
      row.appendChild(label);
      row.appendChild(value);
      table.appendChild(row);
    });
  }

  toggle.addEventListener("change", function () {
    view.hidden = !toggle.checked;
    if (!toggle.checked) {
      if (source) { source.close(); source = null; }
      return;
    }
    series = {};
    source = new EventSource("/explore/live?expr=" + encodeURIComponent(section.getAttribute("data-expr")));
    source.onmessage = function (message) {
      var event = JSON.parse(message.data);
      event.series.forEach(function (one) {
        (series[one.name] = series[one.name] || []).push([event.t, one.v, one.text]);
      });
      draw();
    };
  });
})();
