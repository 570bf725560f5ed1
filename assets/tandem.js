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

// Explore's PromQL box: suggests metric names, and label names inside `{...}`, from
// the same API any Prometheus client uses. Click a suggestion (or press Tab for the
// first) to complete the word under the cursor.
(function () {
  "use strict";
  var box = document.getElementById("expr");
  if (!box || !window.fetch) {
    return;
  }
  var list = document.createElement("ul");
  list.id = "suggestions";
  list.hidden = true;
  box.parentNode.insertBefore(list, box.nextSibling);
  var metricNames = null;
  var labelNames = {};
  var current = [];

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : { data: [] }; })
      .then(function (body) { return body.data || []; })
      .catch(function () { return []; });
  }

  function metrics() {
    if (metricNames) { return Promise.resolve(metricNames); }
    return getJSON("/api/v1/label/__name__/values").then(function (names) {
      metricNames = names;
      return names;
    });
  }

  function labels(metric) {
    if (labelNames[metric]) { return Promise.resolve(labelNames[metric]); }
    var url = "/api/v1/labels" + (metric ? "?match[]=" + encodeURIComponent(metric) : "");
    return getJSON(url).then(function (names) {
      labelNames[metric] = names.filter(function (name) { return name !== "__name__"; });
      return labelNames[metric];
    });
  }

  // The word being typed, and whether it is a label name inside braces (and of which metric).
  function context() {
    var before = box.value.slice(0, box.selectionStart);
    var word = /[A-Za-z_:][A-Za-z0-9_:]*$/.exec(before);
    if (!word) { return null; }
    var open = before.lastIndexOf("{");
    var inBraces = open > before.lastIndexOf("}");
    var metric = "";
    if (inBraces) {
      var name = /([A-Za-z_:][A-Za-z0-9_:]*)\s*$/.exec(before.slice(0, open));
      metric = name ? name[1] : "";
      // After `=`, `=~`... in the braces comes a value, not a name.
      var inside = before.slice(open + 1, before.length - word[0].length);
      if (/[=~!]\s*"?$/.test(inside) || (inside.split('"').length - 1) % 2 === 1) { return null; }
    }
    return { word: word[0], start: before.length - word[0].length, labels: inBraces, metric: metric };
  }

  function show(words) {
    current = words;
    while (list.firstChild) { list.removeChild(list.firstChild); }
    words.forEach(function (word) {
      var item = document.createElement("li");
      item.textContent = word;
      item.addEventListener("mousedown", function (event) {
        event.preventDefault();
        complete(word);
      });
      list.appendChild(item);
    });
    list.hidden = words.length === 0;
  }

  function complete(word) {
    var at = context();
    if (!at) { return; }
    box.value = box.value.slice(0, at.start) + word + box.value.slice(box.selectionStart);
    var cursor = at.start + word.length;
    box.setSelectionRange(cursor, cursor);
    show([]);
    box.focus();
  }

  box.addEventListener("input", function () {
    var at = context();
    if (!at || at.word.length < 2) { show([]); return; }
    (at.labels ? labels(at.metric) : metrics()).then(function (names) {
      var again = context();
      if (!again || again.word !== at.word) { return; }
      show(names.filter(function (name) {
        return name.indexOf(at.word) === 0 && name !== at.word;
      }).slice(0, 12));
    });
  });
  box.addEventListener("keydown", function (event) {
    if (event.key === "Tab" && current.length > 0 && !list.hidden) {
      event.preventDefault();
      complete(current[0]);
    } else if (event.key === "Escape") {
      show([]);
    }
  });
  box.addEventListener("blur", function () { show([]); });
})();
