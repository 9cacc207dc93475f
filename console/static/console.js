/* The console's own script: the CSRF header on htmx requests, and the lag charts (uPlot, polled JSON).
   Loaded from a file: the Content-Security-Policy allows no inline script. */
(function () {
  "use strict";

  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = csrf();
  });

  var COLORS = ["#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0a7ea4", "#57606a"];

  function lagChart(el) {
    var src = el.getAttribute("data-src");
    var every = Math.max(1, parseFloat(el.getAttribute("data-interval") || "5")) * 1000;
    var plot = null;
    var shape = "";

    function seriesOf(data) {
      var topics = Object.keys(data.topics);
      var series = [
        {},
        { label: "total lag (records)", scale: "records", stroke: COLORS[0], width: 2 },
        { label: "time lag (s)", scale: "s", stroke: COLORS[1], width: 1.5, dash: [6, 4] }
      ];
      var columns = [data.t, data.total, data.time_lag_s];
      if (topics.length > 1 && topics.length <= 6) {
        topics.forEach(function (topic, i) {
          series.push({ label: topic, scale: "records", stroke: COLORS[(i + 2) % COLORS.length], width: 1 });
          columns.push(data.topics[topic]);
        });
      }
      return { series: series, columns: columns, shape: topics.join("\u0000") };
    }

    function draw(data) {
      var built = seriesOf(data);
      if (!plot || built.shape !== shape) {
        if (plot) { plot.destroy(); }
        shape = built.shape;
        plot = new uPlot({
          width: Math.max(320, el.clientWidth - 8),
          height: 260,
          series: built.series,
          scales: { x: { time: true }, records: { range: function (u, min, max) { return [0, Math.max(10, max * 1.1)]; } } },
          axes: [
            {},
            { scale: "records", label: "records behind" },
            { scale: "s", side: 1, label: "seconds behind", grid: { show: false } }
          ]
        }, built.columns, el);
      } else {
        plot.setData(built.columns);
      }
      var n = data.t.length;
      el.setAttribute("data-points", String(n));
      el.setAttribute("data-last", n ? String(data.total[n - 1]) : "");
      el.setAttribute("data-max", n ? String(Math.max.apply(null, data.total)) : "");
    }

    function tick() {
      fetch(src, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) { if (data) { draw(data); } })
        .catch(function () { /* the next tick tries again */ })
        .then(function () { setTimeout(tick, every); });
    }
    tick();
  }

  function start() {
    var charts = document.querySelectorAll(".lag-chart[data-src]");
    for (var i = 0; i < charts.length; i++) { lagChart(charts[i]); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
