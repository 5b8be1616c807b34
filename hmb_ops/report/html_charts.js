/* hmb-ops report: draws every chart spec of the page's JSON data with uPlot (inlined above).
 *
 * The data is read with JSON.parse from a <script type="application/json"> block, never pasted
 * into this code, so nothing from a results document can run as script. Labels reach the page
 * through uPlot's textContent and canvas text, or through textContent below.
 * window.hmbCharts lists every chart drawn (series and point counts, markers drawn) so a
 * headless browser can check that each chart has data.
 */
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("hmb-data").textContent);
  var drawn = [];
  window.hmbCharts = drawn;

  function trim(text) {  // "12.50" → "12.5", "90.00" → "90", "90" stays
    return text.indexOf(".") < 0 ? text : text.replace(/0+$/, "").replace(/\.$/, "");
  }

  function tick(v) {
    return v == null ? "" : Math.abs(v) >= 10000 ? v.toLocaleString("en") : trim(v.toFixed(3));
  }

  function fmtNum(v) {
    if (v == null || !isFinite(v)) return "–";
    var a = Math.abs(v);
    if (a >= 100) return v.toFixed(0);
    if (a >= 10) return v.toFixed(1);
    return trim(v.toFixed(2));
  }

  // HDR percentile axis: x = 1 / (1 - p), so 90 %, 99 %, 99.9 % ... sit one decade apart.
  function pctOf(x) {
    var p = 100 * (1 - 1 / x);
    if (p <= 0) return "0%";
    var digits = Math.max(0, Math.min(4, Math.ceil(-Math.log10(100 - p + 1e-12)) + 1));
    return trim(p.toFixed(digits)) + "%";
  }

  function align(series) {
    var xs = {};
    series.forEach(function (s) { s.points.forEach(function (p) { xs[p[0]] = true; }); });
    var x = Object.keys(xs).map(Number).sort(function (a, b) { return a - b; });
    var index = {};
    x.forEach(function (v, i) { index[v] = i; });
    var cols = series.map(function (s) {
      var col = new Array(x.length).fill(null);
      s.points.forEach(function (p) { col[index[p[0]]] = p[1]; });
      return col;
    });
    return [x].concat(cols);
  }

  function legendEntry(box, color, dash, text) {
    var item = document.createElement("span");
    item.className = "mark";
    var swatch = document.createElement("i");
    swatch.style.borderTop = "2px " + (dash ? "dashed " : "solid ") + color;
    item.appendChild(swatch);
    item.appendChild(document.createTextNode(text));
    box.appendChild(item);
  }

  var MARK_COLORS = {stage: "#98a2b3", knee: "#7a2e8e", slo: "#d92d20", limit: "#d92d20"};

  function markerHook(spec, state) {
    return function (u) {
      var ctx = u.ctx, n = 0;
      ctx.save();
      ctx.font = Math.round(11 * devicePixelRatio) + "px system-ui, sans-serif";
      (spec.vlines || []).forEach(function (m) {
        var x = u.valToPos(m.x, "x", true);
        if (!isFinite(x) || x < u.bbox.left - 1 || x > u.bbox.left + u.bbox.width + 1) return;
        ctx.strokeStyle = MARK_COLORS[m.kind] || "#667085";
        ctx.lineWidth = (m.kind === "knee" ? 2 : 1) * devicePixelRatio;
        ctx.setLineDash(m.kind === "stage" ? [4 * devicePixelRatio, 4 * devicePixelRatio] : []);
        ctx.beginPath();
        ctx.moveTo(x, u.bbox.top);
        ctx.lineTo(x, u.bbox.top + u.bbox.height);
        ctx.stroke();
        if (m.label) {
          ctx.fillStyle = ctx.strokeStyle;
          ctx.fillText(m.label, x + 3 * devicePixelRatio, u.bbox.top + 12 * devicePixelRatio);
        }
        n++;
      });
      (spec.hlines || []).forEach(function (m) {
        var y = u.valToPos(m.y, m.scale || "y", true);
        if (!isFinite(y)) return;
        ctx.strokeStyle = MARK_COLORS[m.kind] || "#667085";
        ctx.lineWidth = 1.5 * devicePixelRatio;
        ctx.setLineDash([6 * devicePixelRatio, 3 * devicePixelRatio]);
        ctx.beginPath();
        ctx.moveTo(u.bbox.left, y);
        ctx.lineTo(u.bbox.left + u.bbox.width, y);
        ctx.stroke();
        if (m.label) {
          ctx.fillStyle = ctx.strokeStyle;
          ctx.textAlign = "right";
          ctx.fillText(m.label, u.bbox.left + u.bbox.width - 4 * devicePixelRatio, y - 4 * devicePixelRatio);
          ctx.textAlign = "left";
        }
        n++;
      });
      ctx.restore();
      state.markersDrawn = n;
    };
  }

  function buildOpts(spec, width, state) {
    var x = spec.x || {};
    var scales = {x: {time: false}};
    if (x.log) scales.x = {time: false, distr: 3, log: 10};
    var axes = [{
      label: x.label, stroke: "#344054", grid: {stroke: "#eaecf0"},
      values: x.kind === "percentile" ? function (u, vals) { return vals.map(pctOf); }
            : x.kind === "category" ? function (u, vals) {
                return vals.map(function (v) { return Number.isInteger(v) ? (x.categories[v] || "") : ""; });
              } : undefined,
    }];
    if (x.kind === "percentile") {
      axes[0].splits = function (u, ai, min, max) {
        var out = [];
        for (var v = 1; v <= max * 1.0001; v *= 10) if (v >= min / 1.0001) out.push(v);
        return out;
      };
    }
    if (x.kind === "category") {
      axes[0].splits = function () { return x.categories.map(function (_, i) { return i; }); };
      scales.x.range = function () { return [-0.5, x.categories.length - 0.5]; };
    }
    (spec.y || [{label: ""}]).forEach(function (yaxis, i) {
      var key = yaxis.scale || "y";
      scales[key] = yaxis.log ? {distr: 3, log: 10} : {
        range: function (u, min, max) {
          var lo = Math.min(0, min == null ? 0 : min), hi = max == null ? 1 : max;
          (spec.hlines || []).forEach(function (m) { if ((m.scale || "y") === key) hi = Math.max(hi, m.y); });
          return [lo, hi <= lo ? lo + 1 : hi * 1.08];
        }
      };
      axes.push({
        scale: key, label: yaxis.label, side: i === 0 ? 3 : 1, stroke: "#344054",
        grid: {show: i === 0, stroke: "#eaecf0"}, size: 60,
        values: function (u, vals) { return vals.map(tick); },
      });
    });
    var series = [{
      label: x.label || "x",
      value: x.kind === "percentile" ? function (u, v) { return v == null ? "–" : pctOf(v); }
           : x.kind === "category" ? function (u, v) { return v == null ? "–" : (x.categories[v] || ""); }
           : function (u, v) { return fmtNum(v); },
    }];
    spec.series.forEach(function (s) {
      var opts = {
        label: s.label, stroke: s.color, width: s.width || 1.5, scale: s.scale || "y",
        spanGaps: s.style !== "bars", dash: s.dash ? [6, 4] : undefined,
        value: function (u, v) { return v == null ? "–" : fmtNum(v) + (s.unit ? " " + s.unit : ""); },
        points: {show: s.style === "points" || s.points.length <= 12},
      };
      if (s.style === "step") opts.paths = uPlot.paths.stepped({align: 1});
      if (s.style === "bars") {
        opts.paths = uPlot.paths.bars({size: [0.35, 60], align: s.align || 0});
        opts.fill = s.color + "cc";
        opts.points = {show: false};
      }
      if (s.style === "points") { opts.paths = function () { return null; }; opts.points = {show: true, size: 9, fill: s.color}; }
      series.push(opts);
    });
    return {
      width: width, height: spec.height || 300, scales: scales, axes: axes, series: series,
      legend: {live: true}, cursor: {drag: {x: true, y: false}},
      hooks: {draw: [markerHook(spec, state)]},
    };
  }

  function drawChart(spec) {
    var box = document.getElementById("chart-" + spec.id);
    if (!box) throw new Error("no container for chart " + spec.id);
    var state = {id: spec.id, title: spec.title, markersDrawn: 0,
                 series: spec.series.map(function (s) {
                   return {label: s.label, points: s.points.filter(function (p) { return p[1] != null; }).length};
                 }),
                 markers: (spec.vlines || []).concat(spec.hlines || []).map(function (m) {
                   return {kind: m.kind, label: m.label};
                 })};
    var plotBox = document.createElement("div");
    box.appendChild(plotBox);
    var u = new uPlot(buildOpts(spec, Math.max(320, box.clientWidth || 640), state), align(spec.series), plotBox);
    if ((spec.vlines || []).length || (spec.hlines || []).length) {
      var keys = document.createElement("div");
      keys.className = "marks";
      var seen = {};
      (spec.hlines || []).concat(spec.vlines || []).forEach(function (m) {
        var text = m.legend || m.label;
        if (!text || seen[text]) return;
        seen[text] = true;
        legendEntry(keys, MARK_COLORS[m.kind] || "#667085", m.kind !== "knee", text);
      });
      box.appendChild(keys);
    }
    state.plot = u;
    state.dataPoints = u.data[0].length;
    drawn.push(state);
    return u;
  }

  var plots = [];
  (DATA.charts || []).forEach(function (spec) {
    try {
      plots.push([spec, drawChart(spec)]);
    } catch (e) {
      var box = document.getElementById("chart-" + spec.id);
      if (box) box.textContent = "This chart could not be drawn: " + e.message;
      console.error("hmb-ops chart " + spec.id + ": " + e.message);
    }
  });
  window.addEventListener("resize", function () {
    plots.forEach(function (pair) {
      var box = document.getElementById("chart-" + pair[0].id);
      pair[1].setSize({width: Math.max(320, box.clientWidth), height: pair[0].height || 300});
    });
  });
})();
