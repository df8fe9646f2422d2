/* stress HTML report: draws the charts of the page from its JSON block (#stress-data) with
   the vendored uPlot. No network, no framework, no animation. A variant's charts are drawn
   when its section opens; every drawn chart is listed in window.stressCharts (the browser
   test reads it). Colours: the Okabe-Ito palette, distinguishable by colour-blind readers;
   overlaid variants beyond its 8 colours also differ by dash. */
(function () {
  "use strict";

  var DATA = JSON.parse(document.getElementById("stress-data").textContent);
  var OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442"];
  var FAILED = ["#D55E00", "#CC79A7", "#E69F00", "#56B4E9", "#0072B2", "#000000", "#F0E442"];
  var OK = "#009E73";
  var DASHES = [[], [6, 3], [2, 3], [8, 3, 2, 3]];
  var PAGE_ROWS = 50;
  var charts = (window.stressCharts = []);

  function color(i) { return OKABE_ITO[i % OKABE_ITO.length]; }
  function dash(i) { return DASHES[Math.floor(i / OKABE_ITO.length) % DASHES.length]; }

  /* A lighter, opaque shade of a colour (stacked areas must not blend). */
  function tint(hex, f) {
    var n = parseInt(hex.slice(1), 16);
    var c = [(n >> 16) & 255, (n >> 8) & 255, n & 255].map(function (v) {
      return Math.round(v + (255 - v) * f);
    });
    return "rgb(" + c.join(",") + ")";
  }

  function chartWidth(el) {
    return Math.max(300, Math.floor(el.getBoundingClientRect().width) || 600);
  }

  function points(data) {
    var n = 0;
    for (var s = 1; s < data.length; s++) {
      for (var i = 0; i < data[s].length; i++) {
        if (data[s][i] != null) n++;
      }
    }
    return n;
  }

  function empty(el, message) {
    el.classList.add("empty");
    el.textContent = message;
  }

  /* Draws one chart into el; nothing but a message when no series has a point. */
  function plot(el, title, data, series, axes, extra) {
    if (points(data) === 0) {
      empty(el, title + ": nothing to plot.");
      return;
    }
    var opts = {
      title: title,
      width: chartWidth(el),
      height: 260,
      series: [{ label: axes[0].label === TIME ? "t (s)" : axes[0].label }].concat(series),
      axes: axes,
      scales: { x: { time: false } },
      cursor: { drag: { x: true, y: false } },
      legend: { live: true }
    };
    for (var k in extra || {}) opts[k] = extra[k];
    opts.scales.x = opts.scales.x || {};
    opts.scales.x.time = false;
    el.setAttribute("role", "img");
    el.setAttribute("aria-label", title);
    var u = new uPlot(opts, data, el);
    charts.push({ kind: el.dataset.kind, el: el, plot: u, points: points(data) });
  }

  function line(label, stroke, more) {
    var s = { label: label, stroke: stroke, width: 1.5, spanGaps: false };
    for (var k in more || {}) s[k] = more[k];
    return s;
  }

  function axis(label, more) {
    var a = { label: label, stroke: "#222", grid: { stroke: "#e4e4e4" }, ticks: { stroke: "#bbb" } };
    for (var k in more || {}) a[k] = more[k];
    return a;
  }

  var TIME = "time into the measured phase (s)";

  /* Time series start at 0, the start of the measured phase, so that a fault in its first
     second is seen. */
  function fromZero(u, min, max) { return [0, max]; }

  /* Values by variant start at 0, so that bars and dots compare by length. */
  function zeroUp(u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; }

  /* Fault windows shaded (under the series) and labelled (over them); outage windows as a
     dark strip along the bottom. */
  function windows(v) {
    function each(u, fn) {
      var ctx = u.ctx, b = u.bbox, dpr = uPlot.pxRatio;
      ctx.save();
      ctx.beginPath();
      ctx.rect(b.left, b.top, b.width, b.height);
      ctx.clip();
      fn(ctx, b, dpr);
      ctx.restore();
    }
    function under(u) {
      each(u, function (ctx, b) {
        v.faults.forEach(function (f) {
          if (f.to_s == null) return;
          var x0 = u.valToPos(f.from_s, "x", true), x1 = u.valToPos(f.to_s, "x", true);
          ctx.fillStyle = "rgba(213, 94, 0, 0.14)";
          ctx.fillRect(x0, b.top, Math.max(1, x1 - x0), b.height);
        });
        v.outages.forEach(function (w) {
          var x0 = u.valToPos(w[0], "x", true), x1 = u.valToPos(w[1], "x", true);
          ctx.fillStyle = "rgba(0, 0, 0, 0.55)";
          ctx.fillRect(x0, b.top + b.height - 6 * uPlot.pxRatio, Math.max(2, x1 - x0), 6 * uPlot.pxRatio);
        });
      });
    }
    /* Labels in up to 4 rows, each placed in the first row where it does not overlap the
       previous label; a label that fits nowhere is shortened to its time, else left out (the
       dashed line stays, and the faults' table has every detail). */
    function over(u) {
      each(u, function (ctx, b, dpr) {
        ctx.font = 11 * dpr + "px sans-serif";
        ctx.textBaseline = "top";
        ctx.textAlign = "left";
        var ends = [-Infinity, -Infinity, -Infinity, -Infinity];
        v.faults.forEach(function (f) {
          var x0 = u.valToPos(f.from_s, "x", true);
          ctx.strokeStyle = "#D55E00";
          ctx.lineWidth = 1.5 * dpr;
          ctx.setLineDash([4 * dpr, 3 * dpr]);
          ctx.beginPath();
          ctx.moveTo(x0, b.top);
          ctx.lineTo(x0, b.top + b.height);
          ctx.stroke();
          [f.label, "@" + f.from_s.toFixed(1) + "s"].some(function (text) {
            var w = ctx.measureText(text).width + 4 * dpr;
            // Right of its line, or left of it when it would run out of the plot.
            var x = x0 + w + 2 * dpr > b.left + b.width ? Math.max(b.left, x0 - w - 2 * dpr) : x0 + 2 * dpr;
            var row = ends.findIndex(function (end) { return x > end + 4 * dpr; });
            if (row < 0) return false;
            ends[row] = x + w;
            var y = b.top + (2 + 13 * row) * dpr;
            ctx.fillStyle = "rgba(255, 255, 255, 0.85)";
            ctx.fillRect(x, y, w, 13 * dpr);
            ctx.fillStyle = "#6b2a00";
            ctx.fillText(text, x + 2 * dpr, y + 1 * dpr);
            return true;
          });
        });
      });
    }
    return { hooks: { drawClear: [under], draw: [over] } };
  }

  /* Options of a time series: its windows, x from 0, and the y scale given. */
  function timed(v, y) {
    return { plugins: [windows(v)], scales: { x: { range: fromZero }, y: y || {} } };
  }

  /* ok/s and failed/s by class, stacked: ok at the bottom, each class on top. The legend
     shows each layer's own value, not the stacked sum. */
  function opsChart(el, v) {
    var s = v.series;
    var layers = [{ label: "ok/s", raw: s.ok, color: OK }];
    Object.keys(s.failed).forEach(function (c, i) {
      layers.push({ label: c + "/s", raw: s.failed[c], color: FAILED[i % FAILED.length] });
    });
    var acc = s.t.map(function () { return 0; });
    var stacked = layers.map(function (l) {
      acc = acc.map(function (a, i) { return a + (l.raw[i] || 0); });
      return acc.slice();
    });
    var order = layers.map(function (_, i) { return i; }).reverse();
    var data = [s.t].concat(order.map(function (i) { return stacked[i]; }));
    var series = order.map(function (i) {
      var l = layers[i];
      return line(l.label, l.color, {
        fill: tint(l.color, 0.45),
        width: 1,
        value: function (u, val, si, idx) { return idx == null ? "-" : String(l.raw[idx]); }
      });
    });
    plot(el, v.name + ": operations per second (failed stacked by class)", data, series,
      [axis(TIME), axis("operations per second (ops/s)", { size: 60 })], timed(v, { range: zeroUp }));
  }

  function latencyChart(el, v) {
    var s = v.series;
    var data = [s.t, s.p50, s.p99, s.max];
    var series = [line("p50", OKABE_ITO[0]), line("p99", OKABE_ITO[1]), line("max", OKABE_ITO[6], { dash: [4, 3] })];
    plot(el, v.name + ": latency of successful operations per second", data, series,
      [axis(TIME), axis("latency (ms, log scale)", { size: 60 })],
      timed(v, { distr: 3 }));
  }

  function poolChart(el, v) {
    var s = v.series;
    var data = [s.t, s.in_use, s.idle, s.waiting, s.opened, s.closed];
    var step = uPlot.paths.stepped({ align: 1 });
    var series = [
      line("in use", OKABE_ITO[0], { paths: step }),
      line("idle", OKABE_ITO[2], { paths: step }),
      line("waiting", OKABE_ITO[3], { paths: step }),
      line("opened/s", OKABE_ITO[4], { scale: "rate", dash: [6, 3] }),
      line("closed/s", OKABE_ITO[6], { scale: "rate", dash: [2, 3] })
    ];
    plot(el, v.name + ": pool connections and waiting tasks", data, series,
      [axis(TIME), axis("connections / tasks", { size: 60 }),
        axis("opened, closed per second", { scale: "rate", side: 1, grid: { show: false }, size: 60 })],
      timed(v, { range: zeroUp }));
  }

  function backendsChart(el, v) {
    var s = v.series;
    var data = [s.t, s.active, s.backends_idle, s.idle_in_transaction];
    var series = [line("active", OKABE_ITO[0]), line("idle", OKABE_ITO[2]),
      line("idle in transaction", OKABE_ITO[3], { width: 2 })];
    if (points(data) === 0) {
      empty(el, v.name + ": server backends were not sampled (the sampler could not ask the server).");
      return;
    }
    plot(el, v.name + ": this run's server backends by state", data, series,
      [axis(TIME), axis("backends", { size: 60 })], timed(v, { range: zeroUp }));
  }

  /* The variants side by side: x is the variant's index, labelled with its name. */
  function byVariant(el, sc, title, yLabel, cols, bars) {
    var c = sc.compare, n = c.names.length;
    var x = c.names.map(function (_, i) { return i; });
    var data = [x].concat(cols.map(function (col) { return c[col[1]]; }));
    var series = cols.map(function (col, i) {
      var s = line(col[0], color(i), { width: 0, points: { show: true, size: 9, fill: color(i) } });
      s.paths = bars && cols.length === 1 ? uPlot.paths.bars({ size: [0.6, 80] }) : function () { return null; };
      if (bars && cols.length === 1) { s.fill = tint(color(i), 0.3); s.width = 1; }
      return s;
    });
    var short = function (name) { return name.length > 18 ? name.slice(0, 17) + "…" : name; };
    var xAxis = axis("variant", {
      values: function (u, splits) {
        return splits.map(function (i) { return Number.isInteger(i) && c.names[i] != null ? short(c.names[i]) : ""; });
      },
      rotate: n > 4 ? -25 : 0,
      size: n > 4 ? 90 : 50
    });
    if (n <= 16) xAxis.splits = function () { return x; };
    plot(el, title, data, series, [xAxis, axis(yLabel, { size: 60 })],
      { scales: { x: { range: [-0.5, n - 0.5] }, y: { range: zeroUp } } });
  }

  var PERCENTILES = [[1, "p0"], [2, "p50"], [10, "p90"], [100, "p99"], [1000, "p99.9"], [10000, "p99.99"], [100000, "p99.999"]];

  function spectrumChart(el, sc, which) {
    var sp = sc.spectra;
    var data = [sp.x].concat(sp[which]);
    var series = sp.names.map(function (name, i) {
      return line(name, color(i), { dash: dash(i), width: 2 });
    });
    var xAxis = axis("percentile (1/(1−q), log scale)", {
      splits: function () { return PERCENTILES.map(function (p) { return p[0]; }); },
      values: function (u, splits) {
        return splits.map(function (s) {
          var p = PERCENTILES.filter(function (q) { return q[0] === s; })[0];
          return p ? p[1] : "";
        });
      }
    });
    var left = sp.left_out ? " (first " + sp.names.length + " variants; " + sp.left_out + " more in the table)" : "";
    plot(el, which + " latency percentile spectrum" + left, data, series,
      [xAxis, axis(which + " latency (ms, log scale)", { size: 60 })],
      { scales: { x: { distr: 3 }, y: { distr: 3 } } });
  }

  function unit(metric) {
    if (metric === "throughput") return "ops/s";
    if (metric === "error_rate") return "fraction of operations";
    if (/^(operation|acquire)\./.test(metric)) return "ms";
    return "count";
  }

  function sweepChart(el, sc) {
    var sw = sc.sweep;
    if (!sw) {
      el.remove();
      return;
    }
    sw.metrics.forEach(function (m, i) {
      var div = document.createElement("div");
      div.className = "chart";
      div.dataset.kind = "sweep";
      div.dataset.drawn = "1";
      el.parentNode.insertBefore(div, el);
      var data = [sw.values, m.values];
      var series = [line(m.metric, color(i), { width: 2, points: { show: true, size: 7 } })];
      if (m.limit != null) {
        data.push(sw.values.map(function () { return m.limit; }));
        series.push(line("limit", "#000", { dash: [6, 4], width: 1 }));
      }
      plot(div, m.metric + " against " + sw.key, data, series,
        [axis(sw.key), axis(m.metric + " (" + unit(m.metric) + ")", { size: 60 })],
        { scales: { x: {}, y: { range: zeroUp } } });
    });
    el.remove();
  }

  function draw(el) {
    if (el.dataset.drawn) return;
    el.dataset.drawn = "1";
    var sc = DATA.scenarios[+el.dataset.scenario];
    var v = el.dataset.variant != null ? sc.variants[+el.dataset.variant] : null;
    var kind = el.dataset.kind;
    var kinds = {
      ops: function () { opsChart(el, v); },
      latency: function () { latencyChart(el, v); },
      pool: function () { poolChart(el, v); },
      backends: function () { backendsChart(el, v); },
      "compare-throughput": function () { byVariant(el, sc, "Throughput by variant", "ok operations per second (ops/s)", [["ok/s", "ok_s"]], true); },
      "compare-latency": function () { byVariant(el, sc, "Latency by variant", "latency (ms)", [["operation p50", "p50"], ["operation p99", "p99"], ["acquire p99", "acquire_p99"]]); },
      "compare-errors": function () { byVariant(el, sc, "Error rate by variant", "failed operations (% of all)", [["failed %", "error_pct"]], true); },
      "compare-connections": function () { byVariant(el, sc, "Connections by variant", "connections", [["peak in use", "peak_in_use"], ["opened", "opened"]]); },
      "spectrum-operation": function () { spectrumChart(el, sc, "operation"); },
      "spectrum-acquire": function () { spectrumChart(el, sc, "acquire"); },
      sweep: function () { sweepChart(el, sc); }
    };
    kinds[kind]();
  }

  function drawIn(root) {
    root.querySelectorAll(".chart").forEach(draw);
  }

  /* Long tables a page of PAGE_ROWS rows at a time. */
  function pageTable(table) {
    var rows = Array.prototype.slice.call(table.tBodies[0].rows);
    var pages = Math.ceil(rows.length / PAGE_ROWS), at = 0;
    var nav = document.createElement("div");
    nav.className = "pager";
    var prev = document.createElement("button"), next = document.createElement("button");
    var info = document.createElement("span");
    prev.textContent = "← previous";
    next.textContent = "next →";
    prev.type = next.type = "button";
    function show() {
      rows.forEach(function (r, i) { r.hidden = Math.floor(i / PAGE_ROWS) !== at; });
      info.textContent = " rows " + (at * PAGE_ROWS + 1) + "–" + Math.min(rows.length, (at + 1) * PAGE_ROWS) + " of " + rows.length + " ";
      prev.disabled = at === 0;
      next.disabled = at === pages - 1;
    }
    prev.addEventListener("click", function () { at--; show(); });
    next.addEventListener("click", function () { at++; show(); });
    nav.appendChild(prev);
    nav.appendChild(info);
    nav.appendChild(next);
    table.parentNode.insertBefore(nav, table);
    show();
  }

  document.querySelectorAll("table.paged").forEach(pageTable);
  document.querySelectorAll("section.scenario > .charts").forEach(drawIn);
  document.querySelectorAll("details.variant").forEach(function (d) {
    if (d.open) drawIn(d);
    d.addEventListener("toggle", function () { if (d.open) drawIn(d); });
  });

  /* Print everything: every variant open and drawn. */
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details").forEach(function (d) { d.open = true; drawIn(d); });
  });

  var resizing = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizing);
    resizing = setTimeout(function () {
      charts.forEach(function (c) {
        c.plot.setSize({ width: chartWidth(c.el), height: 260 });
      });
    }, 150);
  });
})();
