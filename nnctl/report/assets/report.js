/* nnctl report: draws the charts described in the page's inline JSON with uPlot, and makes
   tables sortable. Reads only the page itself; builds no HTML from strings (text goes in
   through textContent), so nothing from a run folder can become markup. */
(function () {
  "use strict";

  var data = JSON.parse(document.getElementById("nnctl-data").textContent);
  var charts = {};
  window.nnctlCharts = charts;

  function format(v) {
    if (v === null || v === undefined) return "–";
    if (Number.isInteger(v)) return String(v);
    return Number(v.toPrecision(4)).toString();
  }

  // A vertical dashed line with a label at marker.x (the best epoch, the chosen k).
  function markerPlugin(marker) {
    return {
      hooks: {
        draw: [
          function (u) {
            var x = u.valToPos(marker.x, "x", true);
            if (!isFinite(x)) return;
            var ctx = u.ctx, top = u.bbox.top, bottom = u.bbox.top + u.bbox.height;
            var ratio = uPlot.pxRatio || 1;
            ctx.save();
            ctx.strokeStyle = "#d62728";
            ctx.lineWidth = 1.5 * ratio;
            ctx.setLineDash([5 * ratio, 4 * ratio]);
            ctx.beginPath();
            ctx.moveTo(x, top);
            ctx.lineTo(x, bottom);
            ctx.stroke();
            ctx.setLineDash([]);
            ctx.fillStyle = "#d62728";
            ctx.font = 12 * ratio + "px sans-serif";
            var text = marker.label;
            var width = ctx.measureText(text).width;
            var left = x + 4 * ratio + width > u.bbox.left + u.bbox.width ? x - 4 * ratio - width : x + 4 * ratio;
            ctx.fillText(text, left, top + 14 * ratio);
            ctx.restore();
          },
        ],
      },
    };
  }

  function seriesOptions(s) {
    var options = {
      label: s.label,
      stroke: s.color,
      width: s.line ? s.width : 0,
      spanGaps: true,
      points: { show: s.points, size: s.line ? 6 : 10, fill: s.color, stroke: s.color },
      value: function (u, v) { return format(v); },
    };
    if (s.dash) options.dash = s.dash;
    if (!s.line) options.paths = function () { return null; };
    return options;
  }

  function xAxis(spec) {
    var axis = { label: spec.x.label };
    if (spec.x.log) {
      axis.splits = function () { return spec.x.values; };
      axis.values = function (u, splits) { return splits.map(format); };
    } else if (spec.x.integer) {
      axis.incrs = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000,
        100000, 200000, 500000, 1000000];
      axis.values = function (u, splits) {
        return splits.map(function (v) { return v === null ? "" : String(Math.round(v)); });
      };
    }
    return axis;
  }

  function drawChart(spec) {
    var element = document.getElementById(spec.id);
    if (!element) return;
    var width = Math.max(320, Math.min(element.clientWidth || 720, 960));
    var series = [{ label: spec.x.label, value: function (u, v) { return format(v); } }];
    spec.series.forEach(function (s) { series.push(seriesOptions(s)); });
    var options = {
      title: spec.title,
      width: width,
      height: 320,
      scales: { x: { time: false, distr: spec.x.log ? 3 : 1 } },
      axes: [xAxis(spec), { label: spec.y.label }],
      series: series,
      cursor: { drag: { x: true, y: false } },
      plugins: spec.marker ? [markerPlugin(spec.marker)] : [],
    };
    var values = [spec.x.values].concat(spec.series.map(function (s) { return s.values; }));
    var chart = new uPlot(options, values, element);
    element.setAttribute("data-rendered", String(chart.series.length - 1));
    charts[spec.id] = chart;
  }

  // -- sortable tables ---------------------------------------------------------------------

  function cellKey(cell) {
    var v = cell.getAttribute("data-v");
    return v !== null ? v : cell.textContent.trim();
  }

  function isNumber(text) {
    return text !== "" && text !== "–" && !isNaN(Number(text));
  }

  function sortBy(table, index, th) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    var keys = rows.map(function (row) { return cellKey(row.cells[index]); });
    var numeric = th.getAttribute("data-type") === "num" ||
      keys.every(function (k) { return k === "" || k === "–" || isNumber(k); });
    var order = rows.map(function (row, i) { return { row: row, key: keys[i], i: i }; });
    order.sort(function (a, b) {
      var ea = a.key === "" || a.key === "–", eb = b.key === "" || b.key === "–";
      if (ea || eb) return ea === eb ? a.i - b.i : ea ? 1 : -1; // no value: always last
      var r = numeric ? Number(a.key) - Number(b.key)
        : a.key.localeCompare(b.key, undefined, { numeric: true });
      return (ascending ? r : -r) || a.i - b.i;
    });
    order.forEach(function (o) { body.appendChild(o.row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) {
      h.removeAttribute("aria-sort");
    });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }

  function makeSortable(table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
      th.setAttribute("tabindex", "0");
      th.addEventListener("click", function () { sortBy(table, index, th); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(table, index, th); }
      });
    });
  }

  document.querySelectorAll("table.sortable").forEach(makeSortable);
  var toggle = document.getElementById("all-keys");
  if (toggle) {
    toggle.addEventListener("change", function () {
      document.getElementById("trials").classList.toggle("all-keys", toggle.checked);
    });
  }
  (data.charts || []).forEach(drawChart);
})();
