/* maggot report: the runs table, curves, parallel coordinates, scatter, one run, two runs.
   Every string from a run is put in the page with textContent, never parsed as HTML. */
(function () {
  "use strict";

  var PAGE_SIZE = 100;
  var MAX_DEFAULT_CURVES = 20;
  var MAX_PARALLEL_AXES = 10;
  var STATS = ["last", "min", "max", "step", "count"];
  var STATUSES = ["completed", "failed", "running", "interrupted", "unknown"];
  var PALETTE = ["#2f6fdb", "#d9480f", "#2b8a3e", "#ae3ec9", "#e67700", "#0b7285", "#c2255c",
    "#5c940d", "#1864ab", "#862e9c", "#a61e4d", "#087f5b"];
  var OPERATORS = /^\s*([^=!<>]*?)\s*(==|!=|<=|>=|=|<|>)\s*(.*?)\s*$/;

  var state = {
    data: null, runs: [], byPath: {}, columns: [], columnByKey: {}, visible: {}, choices: {},
    sortKey: null, sortAscending: false, filterText: "", page: 0,
    selected: [], current: null, view: "curves", brushes: {},
    seriesCache: {}, plot: null, parallelLayout: null, scatterPoints: [], etag: null
  };

  function $(id) { return document.getElementById(id); }

  function el(tag, attributes) {
    var node = document.createElement(tag);
    if (attributes) {
      Object.keys(attributes).forEach(function (name) {
        var value = attributes[name];
        if (name === "text") node.textContent = value;
        else if (name === "className") node.className = value;
        else if (name.slice(0, 2) === "on") node.addEventListener(name.slice(2), value);
        else node.setAttribute(name, value);
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

  function isNumber(value) { return typeof value === "number" && isFinite(value); }

  function render(value) {
    if (value === undefined) return "";
    if (typeof value === "string") return value;
    if (typeof value === "number") return String(value);
    return JSON.stringify(value);
  }

  function formatNumber(value) {
    if (typeof value !== "number") return render(value);
    if (!isFinite(value)) return String(value);
    if (Number.isInteger(value)) return String(value);
    return Number(value.toPrecision(6)).toString();
  }

  /* ---------- data ---------- */

  function decode(base64, type) {
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return type === "f64" ? new Float64Array(bytes.buffer) : new Float32Array(bytes.buffer);
  }

  function seriesOf(run, name) {
    var key = run.path + "\u0000" + name;
    if (state.seriesCache[key]) return state.seriesCache[key];
    var encoded = run.series && run.series[name];
    if (!encoded) return null;
    var decoded = {
      step: decode(encoded.step, encoded.step_type),
      time: decode(encoded.time, "f32"),
      value: decode(encoded.value, "f32"),
      n: encoded.n
    };
    state.seriesCache[key] = decoded;
    return decoded;
  }

  function flatten(object, prefix, out) {
    Object.keys(object || {}).forEach(function (key) {
      var value = object[key], name = prefix + key;
      if (value && typeof value === "object" && !Array.isArray(value)) {
        if (Object.keys(value).length) flatten(value, name + ".", out);
      } else {
        out[name] = value;
      }
    });
    return out;
  }

  function unionKeys(runs, field) {
    var keys = {};
    runs.forEach(function (run) { Object.keys(run[field] || {}).forEach(function (k) { keys[k] = true; }); });
    return Object.keys(keys).sort();
  }

  function load(data) {
    state.data = data;
    state.runs = data.runs;
    state.byPath = {};
    state.seriesCache = {};
    data.runs.forEach(function (run, index) {
      run.index = index;
      state.byPath[run.path] = run;
      // as summarize has them: results by dotted name, then each series' last value
      run.params = flatten(run.config, "", {});
      run.metrics = flatten(run.results, "", {});
      Object.keys(run.stats || {}).forEach(function (name) {
        if (!(name in run.metrics)) run.metrics[name] = run.stats[name].last;
      });
    });
    state.selected = state.selected.filter(function (path) { return state.byPath[path]; });
    if (state.current && !state.byPath[state.current]) state.current = null;
    buildColumns();
  }

  function buildColumns() {
    var metricNames = unionKeys(state.runs, "metrics");
    var seriesNames = unionKeys(state.runs, "stats");
    var paramNames = unionKeys(state.runs, "params");
    var columns = [{ key: "run", kind: "run" }, { key: "status", kind: "status" }];
    metricNames.forEach(function (name) { columns.push({ key: name, kind: "metric", name: name }); });
    seriesNames.forEach(function (name) {
      STATS.forEach(function (stat) {
        if (stat !== "last") columns.push({ key: name + "." + stat, kind: "stat", name: name, stat: stat });
      });
    });
    var taken = {};
    columns.forEach(function (column) { taken[column.key] = true; });
    paramNames.forEach(function (name) {
      columns.push({ key: taken[name] ? "config." + name : name, kind: "param", name: name });
    });
    state.columns = columns;
    state.columnByKey = {};
    columns.forEach(function (column) { state.columnByKey[column.key] = column; });
    columns.forEach(function (column) {
      if (column.kind === "param") state.columnByKey["config." + column.name] = column;
    });
    // the default for every column the person has not toggled, worked out again when
    // the runs change (maggot ui), so a config key that starts to vary shows up
    state.visible = {};
    var metrics = 0, params = 0;
    columns.forEach(function (column) {
      var shown;
      if (column.key in state.choices) shown = state.choices[column.key];
      else if (column.kind === "run" || column.kind === "status") shown = true;
      else if (column.kind === "metric") shown = metrics < 20;
      else if (column.kind === "param") shown = params < 12 && varies(column);
      else shown = false;
      state.visible[column.key] = shown;
      if (shown && column.kind === "metric") metrics++;
      if (shown && column.kind === "param") params++;
    });
  }

  function varies(column) {
    var seen = null;
    for (var i = 0; i < state.runs.length; i++) {
      var text = render(valueOf(state.runs[i], column));
      if (seen === null) seen = text;
      else if (text !== seen) return true;
    }
    return false;
  }

  function valueOf(run, column) {
    switch (column.kind) {
      case "run": return run.label;
      case "status": return run.status;
      case "metric": return run.metrics[column.name];
      case "stat": return run.stats[column.name] ? run.stats[column.name][column.stat] : undefined;
      default: return run.params[column.name];
    }
  }

  /* ---------- filtering and sorting, as summarize does it ---------- */

  function parseFilter(text) {
    var terms = [], errors = [];
    text.split(",").forEach(function (part) {
      if (!part.trim()) return;
      var match = OPERATORS.exec(part);
      if (match && match[1]) {
        var column = state.columnByKey[match[1]];
        var value = match[3];
        if (value.length >= 2 && value[0] === '"' && value[value.length - 1] === '"') {
          try { value = String(JSON.parse(value)); } catch (e) { /* keep it as typed */ }
        }
        if (!column) errors.push("no run has " + match[1]);
        else terms.push({ column: column, operator: match[2] === "=" ? "==" : match[2], value: value });
      } else {
        terms.push({ text: part.trim().toLowerCase() });
      }
    });
    return { terms: terms, errors: errors };
  }

  function matches(run, term) {
    if (term.text !== undefined) return run.label.toLowerCase().indexOf(term.text) >= 0;
    var value = valueOf(run, term.column);
    if (value === undefined) return false;
    var left = render(value), right = term.value;
    if (typeof value === "number" && right.trim() !== "" && !isNaN(Number(right))) {
      left = value; right = Number(right);
    }
    switch (term.operator) {
      case "==": return left === right;
      case "!=": return left !== right;
      case "<": return left < right;
      case "<=": return left <= right;
      case ">": return left > right;
      default: return left >= right;
    }
  }

  function inBrushes(run) {
    var keys = Object.keys(state.brushes);
    for (var i = 0; i < keys.length; i++) {
      var brush = state.brushes[keys[i]];
      var value = valueOf(run, brush.column);
      if (brush.kind === "range") {
        if (!isNumber(value) || value < brush.low || value > brush.high) return false;
      } else if (brush.values.indexOf(render(value)) < 0) {
        return false;
      }
    }
    return true;
  }

  function compareRuns(column, ascending) {
    return function (a, b) {
      var x = valueOf(a, column), y = valueOf(b, column);
      var xMissing = x === undefined || (typeof x === "number" && isNaN(x)) || x === "nan";
      var yMissing = y === undefined || (typeof y === "number" && isNaN(y)) || y === "nan";
      if (xMissing || yMissing) return xMissing === yMissing ? a.index - b.index : (xMissing ? 1 : -1);
      var xNumber = typeof x === "number", yNumber = typeof y === "number";
      var order;
      if (xNumber && yNumber) order = x - y;
      else if (xNumber !== yNumber) order = xNumber ? -1 : 1;
      else { var xs = render(x), ys = render(y); order = xs < ys ? -1 : xs > ys ? 1 : 0; }
      if (order === 0) return a.index - b.index;
      return ascending ? order : -order;
    };
  }

  function filteredRuns() {
    var parsed = parseFilter(state.filterText);
    $("filter-error").textContent = parsed.errors.join("; ");
    var runs = state.runs.filter(function (run) {
      for (var i = 0; i < parsed.terms.length; i++) if (!matches(run, parsed.terms[i])) return false;
      return inBrushes(run);
    });
    var column = state.sortKey && state.columnByKey[state.sortKey];
    if (column) runs.sort(compareRuns(column, state.sortAscending));
    return runs;
  }

  /* ---------- the table ---------- */

  function visibleColumns() {
    return state.columns.filter(function (column) { return state.visible[column.key]; });
  }

  function renderTable() {
    var runs = filteredRuns();
    state.filtered = runs;
    var pages = Math.max(1, Math.ceil(runs.length / PAGE_SIZE));
    if (state.page >= pages) state.page = pages - 1;
    var columns = visibleColumns();
    var head = clear(document.querySelector("#runs thead"));
    var headRow = el("tr", null, el("th", { title: "select", text: "\u2713" }));
    columns.forEach(function (column) {
      var th = el("th", { "data-key": column.key, text: column.key, title: "sort by " + column.key });
      if (state.sortKey === column.key) th.className = state.sortAscending ? "sorted-asc" : "sorted-desc";
      th.addEventListener("click", function () { sortBy(column.key); });
      headRow.appendChild(th);
    });
    head.appendChild(headRow);
    var body = clear(document.querySelector("#runs tbody"));
    var fragment = document.createDocumentFragment();
    runs.slice(state.page * PAGE_SIZE, (state.page + 1) * PAGE_SIZE).forEach(function (run) {
      var row = el("tr", { "data-path": run.path });
      if (state.selected.indexOf(run.path) >= 0) row.classList.add("selected");
      if (state.current === run.path) row.classList.add("current");
      var box = el("input", { type: "checkbox", "aria-label": "select " + run.label });
      box.checked = state.selected.indexOf(run.path) >= 0;
      box.addEventListener("change", function () { toggleSelected(run.path, box.checked); });
      row.appendChild(el("td", null, box));
      columns.forEach(function (column) {
        var value = valueOf(run, column);
        var cell = el("td", { text: typeof value === "number" ? formatNumber(value) : render(value) });
        if (typeof value === "number") cell.className = "number";
        if (column.kind === "status") {
          var status = STATUSES.indexOf(run.status) >= 0 ? run.status : "unknown";
          cell.className = "status status-" + status;
        }
        if (column.kind === "run") {
          cell.className = "run-name";
          cell.title = run.path;
          cell.addEventListener("click", function () { showRun(run.path); });
        }
        row.appendChild(cell);
      });
      fragment.appendChild(row);
    });
    body.appendChild(fragment);
    $("row-count").textContent = runs.length + " of " + state.runs.length + " runs";
    $("page-state").textContent = "page " + (state.page + 1) + " of " + pages;
    $("page-prev").disabled = state.page === 0;
    $("page-next").disabled = state.page >= pages - 1;
    renderBrushState();
  }

  function sortBy(key) {
    if (state.sortKey === key) state.sortAscending = !state.sortAscending;
    else { state.sortKey = key; state.sortAscending = key === "run"; }
    renderAll();
  }

  function toggleSelected(path, on) {
    var at = state.selected.indexOf(path);
    if (on && at < 0) state.selected.push(path);
    if (!on && at >= 0) state.selected.splice(at, 1);
    if (on) state.current = path;
    renderAll();
  }

  function renderColumnChooser() {
    var chooser = clear($("column-chooser"));
    state.columns.forEach(function (column) {
      var box = el("input", { type: "checkbox", "data-key": column.key });
      box.checked = !!state.visible[column.key];
      box.addEventListener("change", function () {
        state.choices[column.key] = box.checked;
        state.visible[column.key] = box.checked;
        renderTable();
      });
      chooser.appendChild(el("label", { title: column.key }, box, " " + column.key));
    });
  }

  function renderBrushState() {
    var holder = clear($("brush-state"));
    var keys = Object.keys(state.brushes);
    if (!keys.length) return;
    holder.appendChild(document.createTextNode(keys.map(function (key) {
      var brush = state.brushes[key];
      return brush.kind === "range"
        ? key + " in [" + formatNumber(brush.low) + ", " + formatNumber(brush.high) + "]"
        : key + " in {" + brush.values.join(", ") + "}";
    }).join("; ") + " "));
    holder.appendChild(el("button", {
      type: "button", text: "\u00d7", title: "clear the brushes",
      onclick: function () { state.brushes = {}; renderAll(); }
    }));
  }

  /* ---------- views ---------- */

  function showView(view) {
    state.view = view;
    document.querySelectorAll("#tabs button").forEach(function (button) {
      button.setAttribute("aria-selected", button.dataset.view === view ? "true" : "false");
    });
    document.querySelectorAll(".view").forEach(function (section) {
      section.hidden = section.id !== "view-" + view;
    });
    renderView();
  }

  function showRun(path) {
    state.current = path;
    renderTable();
    showView("run");
  }

  function renderView() {
    if (state.view === "curves") renderCurves();
    else if (state.view === "parallel") renderParallel();
    else if (state.view === "scatter") renderScatter();
    else if (state.view === "run") renderRun();
    else renderCompare();
  }

  function renderAll() {
    renderTable();
    renderView();
  }

  function fillSelect(select, options, preferred) {
    var previous = select.value || preferred;
    clear(select);
    options.forEach(function (option) { select.appendChild(el("option", { value: option, text: option })); });
    if (options.indexOf(previous) >= 0) select.value = previous;
    return select.value;
  }

  function plottedRuns() {
    if (state.selected.length) return state.selected.map(function (path) { return state.byPath[path]; });
    return (state.filtered || state.runs).slice(0, MAX_DEFAULT_CURVES);
  }

  /* ---------- curves ---------- */

  function renderCurves() {
    var holder = $("curve-plot");
    if (state.plot) { state.plot.destroy(); state.plot = null; }
    clear(holder);
    var names = unionKeys(state.runs, "series");
    var name = fillSelect($("curve-series"), names);
    var runs = plottedRuns().filter(function (run) { return run.series && run.series[name]; });
    var note = $("curve-note");
    if (!names.length) { note.textContent = "no run here recorded a series (exp.log_metric)"; return; }
    note.textContent = state.selected.length
      ? runs.length + " selected runs with " + name
      : "no runs selected: showing the first " + runs.length + " of the table";
    if (!runs.length) return;
    var useTime = $("curve-x").value === "time";
    var logScale = $("curve-log").checked;
    var smoothing = Number($("curve-smooth").value);
    var tables = runs.map(function (run) { return curveTable(seriesOf(run, name), useTime, logScale, smoothing); });
    var data = tables.length === 1 ? tables[0] : uPlot.join(tables);
    var seriesOptions = [{ label: useTime ? "time (s)" : "step" }];
    runs.forEach(function (run, i) {
      seriesOptions.push({ label: run.label, stroke: PALETTE[i % PALETTE.length], width: 1.5, spanGaps: false, points: { show: false } });
    });
    var width = Math.max(320, holder.clientWidth || 800);
    state.plot = new uPlot({
      width: width, height: 380,
      series: seriesOptions,
      scales: { x: { time: false }, y: logScale ? { distr: 3 } : {} },
      axes: [
        { label: useTime ? "time since the first point (s)" : "step", values: tickLabels },
        { label: name, values: tickLabels, size: 60 }
      ],
      legend: { live: true }
    }, data, holder);
  }

  function tickLabels(plot, ticks) { return ticks.map(formatNumber); }

  function curveTable(one, useTime, logScale, smoothing) {
    var xs = [], ys = [];
    var average = null, lastX = null;
    for (var i = 0; i < one.value.length; i++) {
      var x = useTime ? one.time[i] : one.step[i];
      var y = one.value[i];
      if (!isFinite(y)) { y = null; average = null; }
      else if (smoothing > 0) { average = average === null ? y : average * smoothing + y * (1 - smoothing); y = average; }
      if (logScale && y !== null && y <= 0) y = null;
      if (lastX !== null && x <= lastX) {
        if (x === lastX) { ys[ys.length - 1] = y; continue; }
        continue;  // several processes: keep x increasing for the plot
      }
      xs.push(x); ys.push(y); lastX = x;
    }
    return [xs, ys];
  }

  /* ---------- parallel coordinates ---------- */

  function metricKeys() {
    return state.columns.filter(function (c) { return c.kind === "metric" || c.kind === "stat"; })
      .map(function (c) { return c.key; });
  }

  function axisFor(column, runs) {
    var values = runs.map(function (run) { return valueOf(run, column); });
    var present = values.filter(function (v) { return v !== undefined; });
    var numeric = present.length > 0 && present.every(function (v) { return typeof v === "number"; });
    if (numeric) {
      var finite = present.filter(isNumber);
      var low = finite.length ? Math.min.apply(null, finite) : 0;
      var high = finite.length ? Math.max.apply(null, finite) : 1;
      if (low === high) { low -= 0.5; high += 0.5; }
      return { column: column, key: column.key, numeric: true, low: low, high: high };
    }
    var categories = [];
    present.forEach(function (v) { var text = render(v); if (categories.indexOf(text) < 0) categories.push(text); });
    categories.sort();
    return { column: column, key: column.key, numeric: false, categories: categories };
  }

  function axisPosition(axis, value, top, bottom) {
    if (value === undefined || (typeof value === "number" && !isFinite(value))) return bottom + 14;
    if (axis.numeric) return bottom - (value - axis.low) / (axis.high - axis.low) * (bottom - top);
    var at = axis.categories.indexOf(render(value));
    if (axis.categories.length === 1) return (top + bottom) / 2;
    return bottom - at / (axis.categories.length - 1) * (bottom - top);
  }

  function setupCanvas(canvas) {
    var ratio = window.devicePixelRatio || 1;
    var width = canvas.clientWidth || 800, height = canvas.clientHeight || 380;
    canvas.width = width * ratio; canvas.height = height * ratio;
    var context = canvas.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, width, height);
    context.font = "12px system-ui, sans-serif";
    return { context: context, width: width, height: height };
  }

  function colourScale(value, low, high) {
    if (!isNumber(value)) return "rgba(120,120,120,0.5)";
    var t = high > low ? (value - low) / (high - low) : 0.5;
    var hue = 240 - 200 * t;
    return "hsla(" + hue + ",70%,45%,0.75)";
  }

  function renderParallel() {
    var canvas = $("parallel-plot");
    var metric = fillSelect($("parallel-metric"), metricKeys());
    var textRuns = filteredRunsWithoutBrushes();
    var paramColumns = state.columns.filter(function (c) { return c.kind === "param" && varies(c); })
      .slice(0, MAX_PARALLEL_AXES);
    var columns = paramColumns.slice();
    if (metric && state.columnByKey[metric]) columns.push(state.columnByKey[metric]);
    var drawing = setupCanvas(canvas);
    var context = drawing.context;
    if (!columns.length) {
      context.fillStyle = "#6b7280";
      context.fillText("no config value varies between these runs, and no metric", 20, 30);
      state.parallelLayout = null;
      return;
    }
    var top = 36, bottom = drawing.height - 40, left = 70, right = drawing.width - 90;
    var axes = columns.map(function (column, i) {
      var axis = axisFor(column, state.runs);
      axis.x = columns.length === 1 ? (left + right) / 2 : left + i * (right - left) / (columns.length - 1);
      return axis;
    });
    state.parallelLayout = { axes: axes, top: top, bottom: bottom };
    canvas.dataset.axes = JSON.stringify(axes.map(function (a) { return { key: a.key, x: a.x, top: top, bottom: bottom }; }));
    var metricAxis = metric ? axes[axes.length - 1] : null;
    var inside = [], outside = [];
    textRuns.forEach(function (run) { (inBrushes(run) ? inside : outside).push(run); });
    function line(run, colour, width) {
      context.strokeStyle = colour; context.lineWidth = width;
      context.beginPath();
      axes.forEach(function (axis, i) {
        var y = axisPosition(axis, valueOf(run, axis.column), top, bottom);
        if (i === 0) context.moveTo(axis.x, y); else context.lineTo(axis.x, y);
      });
      context.stroke();
    }
    outside.forEach(function (run) { line(run, "rgba(180,180,180,0.35)", 1); });
    inside.forEach(function (run) {
      var value = metricAxis ? valueOf(run, metricAxis.column) : undefined;
      var selected = state.selected.indexOf(run.path) >= 0;
      line(run, selected ? "#000" : colourScale(value, metricAxis && metricAxis.low, metricAxis && metricAxis.high), selected ? 2.5 : 1.2);
    });
    axes.forEach(function (axis) {
      context.strokeStyle = "#1d2330"; context.lineWidth = 1;
      context.beginPath(); context.moveTo(axis.x, top); context.lineTo(axis.x, bottom); context.stroke();
      context.fillStyle = "#1d2330"; context.textAlign = "center";
      context.fillText(shorten(axis.key, 22), axis.x, top - 16);
      context.fillStyle = "#6b7280";
      if (axis.numeric) {
        context.fillText(formatNumber(axis.high), axis.x, top - 3);
        context.fillText(formatNumber(axis.low), axis.x, bottom + 28);
      } else {
        context.textAlign = "left";
        axis.categories.forEach(function (category) {
          context.fillText(shorten(category, 14), axis.x + 4, axisPosition(axis, category, top, bottom) + 4);
        });
      }
      var brush = state.brushes[axis.key];
      if (brush) {
        var y1, y2;
        if (brush.kind === "range") {
          y1 = axisPosition(axis, brush.high, top, bottom); y2 = axisPosition(axis, brush.low, top, bottom);
        } else {
          y1 = brush.pixels[0]; y2 = brush.pixels[1];
        }
        context.fillStyle = "rgba(47,111,219,0.18)"; context.strokeStyle = "#2f6fdb";
        context.fillRect(axis.x - 9, y1, 18, Math.max(2, y2 - y1));
        context.strokeRect(axis.x - 9, y1, 18, Math.max(2, y2 - y1));
      }
    });
  }

  function shorten(text, length) { return text.length > length ? text.slice(0, length - 1) + "\u2026" : text; }

  function filteredRunsWithoutBrushes() {
    var parsed = parseFilter(state.filterText);
    return state.runs.filter(function (run) {
      for (var i = 0; i < parsed.terms.length; i++) if (!matches(run, parsed.terms[i])) return false;
      return true;
    });
  }

  function setupParallelBrushing() {
    var canvas = $("parallel-plot");
    var drag = null;
    function point(event) {
      var box = canvas.getBoundingClientRect();
      return { x: event.clientX - box.left, y: event.clientY - box.top };
    }
    canvas.addEventListener("mousedown", function (event) {
      var layout = state.parallelLayout;
      if (!layout) return;
      var at = point(event);
      var axis = null;
      layout.axes.forEach(function (candidate) { if (Math.abs(candidate.x - at.x) <= 14) axis = candidate; });
      if (!axis) return;
      drag = { axis: axis, start: at.y, end: at.y };
      event.preventDefault();
    });
    window.addEventListener("mousemove", function (event) {
      if (!drag) return;
      drag.end = point(event).y;
    });
    window.addEventListener("mouseup", function (event) {
      if (!drag) return;
      drag.end = point(event).y;
      var layout = state.parallelLayout, axis = drag.axis;
      var y1 = Math.max(layout.top, Math.min(drag.start, drag.end));
      var y2 = Math.min(layout.bottom, Math.max(drag.start, drag.end));
      drag = null;
      if (y2 - y1 < 3) delete state.brushes[axis.key];
      else if (axis.numeric) {
        var span = layout.bottom - layout.top;
        state.brushes[axis.key] = {
          kind: "range", column: axis.column,
          low: axis.low + (layout.bottom - y2) / span * (axis.high - axis.low),
          high: axis.low + (layout.bottom - y1) / span * (axis.high - axis.low)
        };
      } else {
        var values = axis.categories.filter(function (category) {
          var y = axisPosition(axis, category, layout.top, layout.bottom);
          return y >= y1 - 2 && y <= y2 + 2;
        });
        state.brushes[axis.key] = { kind: "set", column: axis.column, values: values, pixels: [y1, y2] };
      }
      state.page = 0;
      renderAll();
    });
  }

  /* ---------- scatter ---------- */

  function niceTicks(low, high, count) {
    var span = high - low;
    if (!(span > 0)) return [low];
    var step = Math.pow(10, Math.floor(Math.log10(span / count)));
    var error = span / count / step;
    if (error >= 7.5) step *= 10; else if (error >= 3.5) step *= 5; else if (error >= 1.5) step *= 2;
    var ticks = [];
    for (var tick = Math.ceil(low / step) * step; tick <= high + step * 1e-9; tick += step) ticks.push(Number(tick.toPrecision(12)));
    return ticks;
  }

  function padded(axis) {
    // a margin so points on the edge of the range are drawn whole
    if (axis.numeric) { var margin = (axis.high - axis.low) * 0.04; axis.low -= margin; axis.high += margin; }
    return axis;
  }

  function renderScatter() {
    var canvas = $("scatter-plot");
    var xOptions = state.columns.filter(function (c) { return c.kind === "param"; }).map(function (c) { return c.key; })
      .concat(metricKeys());
    var xKey = fillSelect($("scatter-x"), xOptions);
    var yKey = fillSelect($("scatter-y"), metricKeys());
    var drawing = setupCanvas(canvas);
    var context = drawing.context;
    state.scatterPoints = [];
    if (!xKey || !yKey) {
      context.fillStyle = "#6b7280";
      context.fillText("needs a config value or metric for x and a metric for y", 20, 30);
      return;
    }
    var runs = state.filtered || state.runs;
    var xAxis = padded(axisFor(state.columnByKey[xKey], runs)), yAxis = padded(axisFor(state.columnByKey[yKey], runs));
    var left = 70, right = drawing.width - 20, top = 16, bottom = drawing.height - 46;
    function xOf(value) {
      if (xAxis.numeric) return left + (value - xAxis.low) / (xAxis.high - xAxis.low) * (right - left);
      var at = xAxis.categories.indexOf(render(value));
      return left + (at + 0.5) / xAxis.categories.length * (right - left);
    }
    function yOf(value) { return bottom - (value - yAxis.low) / (yAxis.high - yAxis.low) * (bottom - top); }
    context.strokeStyle = "#d8dce3"; context.fillStyle = "#6b7280"; context.lineWidth = 1;
    if (yAxis.numeric) {
      context.textAlign = "right";
      niceTicks(yAxis.low, yAxis.high, 6).forEach(function (tick) {
        var y = yOf(tick);
        context.beginPath(); context.moveTo(left, y); context.lineTo(right, y); context.stroke();
        context.fillText(formatNumber(tick), left - 6, y + 4);
      });
    }
    context.textAlign = "center";
    if (xAxis.numeric) {
      niceTicks(xAxis.low, xAxis.high, 8).forEach(function (tick) {
        var x = xOf(tick);
        context.beginPath(); context.moveTo(x, top); context.lineTo(x, bottom); context.stroke();
        context.fillText(formatNumber(tick), x, bottom + 16);
      });
    } else {
      xAxis.categories.forEach(function (category) { context.fillText(shorten(category, 16), xOf(category), bottom + 16); });
    }
    context.fillStyle = "#1d2330";
    context.fillText(xKey, (left + right) / 2, bottom + 36);
    context.save(); context.translate(14, (top + bottom) / 2); context.rotate(-Math.PI / 2);
    context.fillText(yKey, 0, 0); context.restore();
    runs.forEach(function (run) {
      var x = valueOf(run, xAxis.column), y = valueOf(run, yAxis.column);
      if (x === undefined || !isNumber(y) || (xAxis.numeric && !isNumber(x))) return;
      var px = xOf(x), py = yOf(y);
      var selected = state.selected.indexOf(run.path) >= 0;
      context.fillStyle = selected ? "#d9480f" : "rgba(47,111,219,0.7)";
      context.beginPath(); context.arc(px, py, selected ? 5 : 3.5, 0, 2 * Math.PI); context.fill();
      state.scatterPoints.push({ x: px, y: py, run: run });
    });
    canvas.dataset.points = String(state.scatterPoints.length);
  }

  function nearestScatterPoint(event) {
    var canvas = $("scatter-plot");
    var box = canvas.getBoundingClientRect();
    var x = event.clientX - box.left, y = event.clientY - box.top;
    var best = null, bestDistance = 64;
    state.scatterPoints.forEach(function (p) {
      var distance = (p.x - x) * (p.x - x) + (p.y - y) * (p.y - y);
      if (distance < bestDistance) { best = p; bestDistance = distance; }
    });
    return best;
  }

  /* ---------- one run ---------- */

  function fields(pairs) {
    var list = el("dl", { className: "fields" });
    pairs.forEach(function (pair) {
      if (pair[1] === undefined || pair[1] === null || pair[1] === "") return;
      list.appendChild(el("dt", { text: pair[0] }));
      list.appendChild(el("dd", { text: typeof pair[1] === "number" ? formatNumber(pair[1]) : render(pair[1]) }));
    });
    return list;
  }

  function flatPairs(object, prefix, out) {
    out = out || [];
    Object.keys(object || {}).sort().forEach(function (key) {
      var value = object[key];
      var name = prefix ? prefix + "." + key : key;
      if (value && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length) flatPairs(value, name, out);
      else out.push([name, JSON.stringify(value)]);
    });
    return out;
  }

  function sizeText(bytes) {
    if (bytes < 1024) return bytes + " B";
    var units = ["KiB", "MiB", "GiB"], value = bytes / 1024, i = 0;
    while (value >= 1024 && i < units.length - 1) { value /= 1024; i++; }
    return value.toFixed(1) + " " + units[i];
  }

  function gitPairs(git) {
    if (!git.snapshot) return [["commit", git.commit], ["snapshot", "none (" + (git.reason || "not recorded") + ")"]];
    var counts = git.counts || {};
    var dirty = git.dirty
      ? "yes: " + (counts.staged || 0) + " staged, " + (counts.unstaged || 0) + " unstaged, " +
        (counts.untracked || 0) + " untracked (" + (counts.untracked_copied || 0) + " copied)"
      : "no";
    var pairs = [["commit", git.commit], ["branch", git.detached || !git.branch ? "detached" : git.branch], ["dirty", dirty]];
    if (git.patch_bytes) pairs.push(["patch", sizeText(git.patch_bytes)]);
    (git.skipped || []).forEach(function (skipped) { pairs.push(["skipped", render(skipped.path) + " (" + render(skipped.reason) + ")"]); });
    return pairs;
  }

  function sparkline(values) {
    var blocks = "\u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588";
    var width = Math.min(40, values.length), buckets = [];
    for (var b = 0; b < width; b++) {
      var start = Math.floor(b * values.length / width), end = Math.max(start + 1, Math.floor((b + 1) * values.length / width));
      var sum = 0, n = 0;
      for (var i = start; i < end; i++) if (isFinite(values[i])) { sum += values[i]; n++; }
      buckets.push(n ? sum / n : NaN);
    }
    var finite = buckets.filter(isFinite);
    var low = Math.min.apply(null, finite), high = Math.max.apply(null, finite);
    return buckets.map(function (v) {
      if (!isFinite(v)) return " ";
      return blocks[high > low ? Math.round((v - low) / (high - low) * 7) : 3];
    }).join("");
  }

  function renderRun() {
    var view = clear($("view-run"));
    var path = state.current || state.selected[state.selected.length - 1] || (state.filtered && state.filtered[0] && state.filtered[0].path);
    var run = path && state.byPath[path];
    if (!run) { view.appendChild(el("p", { className: "note", text: "click a run's name in the table" })); return; }
    view.appendChild(el("h2", { text: run.label }));
    var exit = run.exit && run.exit.type ? run.exit.type + (run.exit.message ? ": " + run.exit.message : "") : "";
    view.appendChild(fields([["path", run.path], ["status", run.status + (exit ? " (" + exit + ")" : "")],
      ["started", run.started_at], ["duration", isNumber(run.duration) ? formatNumber(run.duration) + " s" : ""],
      ["host", run.host], ["command", run.command]]));
    view.appendChild(el("h2", { text: "git" }));
    view.appendChild(fields(gitPairs(run.git || {})));
    view.appendChild(el("h2", { text: "config" }));
    view.appendChild(fields(flatPairs(run.config)));
    view.appendChild(el("h2", { text: "results" }));
    var results = flatPairs(run.results);
    view.appendChild(results.length ? fields(results) : el("p", { className: "note", text: "none registered" }));
    view.appendChild(el("h2", { text: "series" }));
    var names = Object.keys(run.stats || {}).sort();
    if (!names.length) view.appendChild(el("p", { className: "note", text: "none recorded" }));
    else {
      var table = el("table", { className: "data series-table" },
        el("thead", null, el("tr", null, el("th", { text: "series" }), el("th", { text: "" }),
          el("th", { text: "last" }), el("th", { text: "min" }), el("th", { text: "max" }),
          el("th", { text: "last step" }), el("th", { text: "points" }))));
      var body = el("tbody");
      names.forEach(function (name) {
        var stats = run.stats[name];
        var decoded = seriesOf(run, name);
        var link = el("td", { className: "run-name", text: name, title: "plot " + name });
        link.addEventListener("click", function () {
          state.selected = [run.path];
          $("curve-series").value = name;
          fillSelect($("curve-series"), unionKeys(state.runs, "series"), name);
          $("curve-series").value = name;
          renderTable();
          showView("curves");
        });
        body.appendChild(el("tr", null, link,
          el("td", { className: "spark", text: decoded ? sparkline(decoded.value) : "" }),
          el("td", { className: "number", text: formatNumber(stats.last) }),
          el("td", { className: "number", text: formatNumber(stats.min) }),
          el("td", { className: "number", text: formatNumber(stats.max) }),
          el("td", { className: "number", text: String(stats.step) }),
          el("td", { className: "number", text: String(stats.count) })));
      });
      table.appendChild(body);
      view.appendChild(table);
    }
    view.appendChild(el("h2", { text: "artifacts" }));
    var files = (run.artifacts && run.artifacts.files) || [];
    if (!files.length) view.appendChild(el("p", { className: "note", text: "no files besides .maggot/" }));
    else {
      view.appendChild(fields(files.map(function (file) { return [sizeText(file[1]), file[0]]; })));
      if (run.artifacts.more) view.appendChild(el("p", { className: "note", text: "and " + run.artifacts.more + (run.artifacts.more_is_at_least ? "+" : "") + " more files" }));
    }
    if (run.problems && run.problems.length) {
      view.appendChild(el("h2", { text: "problems" }));
      run.problems.forEach(function (problem) { view.appendChild(el("p", { text: problem })); });
    }
  }

  /* ---------- two runs ---------- */

  function diffLeaves(value, prefix, out) {
    if (value && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length) {
      Object.keys(value).forEach(function (key) { diffLeaves(value[key], prefix ? prefix + "." + key : key, out); });
    } else if (Array.isArray(value) && value.length) {
      value.forEach(function (item, i) { diffLeaves(item, prefix + "[" + i + "]", out); });
    } else {
      out[prefix] = value;
    }
    return out;
  }

  function configChanges(first, second) {
    var a = diffLeaves(first || {}, "", {}), b = diffLeaves(second || {}, "", {});
    var keys = Object.keys(a).concat(Object.keys(b).filter(function (key) { return !(key in a); })).sort();
    var changes = [];
    keys.forEach(function (key) {
      if (!(key in b)) changes.push({ kind: "removed", text: "- " + key + ": " + JSON.stringify(a[key]) });
      else if (!(key in a)) changes.push({ kind: "added", text: "+ " + key + ": " + JSON.stringify(b[key]) });
      else if (JSON.stringify(a[key]) !== JSON.stringify(b[key])) {
        changes.push({ kind: "changed", text: "~ " + key + ": " + JSON.stringify(a[key]) + " -> " + JSON.stringify(b[key]) });
      }
    });
    return changes;
  }

  function codeBlock(text) {
    var pre = el("pre", { className: "code" });
    text.split("\n").forEach(function (line) {
      var kind = "";
      if (line.slice(0, 3) === "+++" || line.slice(0, 3) === "---") kind = "";
      else if (line[0] === "+") kind = "added";
      else if (line[0] === "-") kind = "removed";
      else if (line.slice(0, 2) === "@@") kind = "hunk";
      pre.appendChild(el("span", { className: kind, text: line + "\n" }));
    });
    return pre;
  }

  function renderCompare() {
    var view = clear($("view-compare"));
    if (state.selected.length < 2) {
      view.appendChild(el("p", { className: "note", text: "select two runs in the table (tick their boxes) to compare them" }));
      return;
    }
    var first = state.byPath[state.selected[0]], second = state.byPath[state.selected[1]];
    view.appendChild(el("h2", { text: "config (" + first.label + " -> " + second.label + ")" }));
    var changes = configChanges(first.config, second.config);
    var list = el("pre", { className: "code config-diff" });
    if (!changes.length) list.appendChild(el("span", { text: "(no differences)" }));
    changes.forEach(function (change) { list.appendChild(el("span", { className: "change-" + change.kind, text: change.text + "\n" })); });
    view.appendChild(list);
    view.appendChild(el("h2", { text: "code" }));
    var code = el("div", { id: "code-diff" });
    view.appendChild(code);
    showCodeDiff(code, first, second);
    view.appendChild(el("h2", { text: "results" }));
    var keys = unionKeys([first, second], "metrics");
    var table = el("table", { className: "data" }, el("thead", null, el("tr", null, el("th", { text: "metric" }),
      el("th", { text: first.label }), el("th", { text: second.label }))));
    var body = el("tbody");
    keys.forEach(function (key) {
      body.appendChild(el("tr", null, el("td", { text: key }),
        el("td", { className: "number", text: formatNumber(first.metrics[key]) }),
        el("td", { className: "number", text: formatNumber(second.metrics[key]) })));
    });
    table.appendChild(body);
    view.appendChild(table);
  }

  function showCodeDiff(holder, first, second) {
    var command = "maggot diff " + first.path + " " + second.path;
    if (window.MAGGOT_LIVE) {
      holder.appendChild(el("p", { className: "note", text: "working out the code diff\u2026" }));
      fetch("api/diff?a=" + encodeURIComponent(first.path) + "&b=" + encodeURIComponent(second.path), { cache: "no-store" })
        .then(function (response) { return response.json(); })
        .then(function (answer) {
          clear(holder);
          if (answer.error) holder.appendChild(el("p", { className: "note", text: answer.error }));
          else holder.appendChild(codeBlock(answer.diff || "(no differences)"));
        })
        .catch(function (error) { clear(holder).appendChild(el("p", { className: "note", text: String(error) })); });
      return;
    }
    var a = first.code_state, b = second.code_state;
    if (a && b && a === b) { holder.appendChild(codeBlock("(no differences)")); return; }
    var text = a && b ? state.data.code_diffs[a + " " + b] : undefined;
    if (text !== undefined) { holder.appendChild(codeBlock(text || "(no differences)")); return; }
    var reason = !a || !b ? "a run without a git snapshot" : (state.data.code_diff_note || "not in this page");
    holder.appendChild(el("p", { className: "note", text: "code diff: " + reason + "; see " + command }));
  }

  /* ---------- wiring ---------- */

  function renderHeader() {
    var data = state.data;
    $("title").textContent = data.title;
    document.title = data.title;
    var counts = {};
    state.runs.forEach(function (run) { counts[run.status] = (counts[run.status] || 0) + 1; });
    $("summary").textContent = state.runs.length + " runs (" + Object.keys(counts).sort().map(function (s) {
      return counts[s] + " " + s;
    }).join(", ") + ") \u00b7 " + (window.MAGGOT_LIVE ? "read " : "generated ") + data.generated_at;
  }

  function wire() {
    var timer = null;
    $("filter").addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { state.filterText = $("filter").value; state.page = 0; renderAll(); }, 120);
    });
    $("columns-button").addEventListener("click", function () {
      var chooser = $("column-chooser");
      chooser.hidden = !chooser.hidden;
      $("columns-button").setAttribute("aria-expanded", String(!chooser.hidden));
    });
    $("clear-selection").addEventListener("click", function () { state.selected = []; renderAll(); });
    $("page-prev").addEventListener("click", function () { state.page--; renderTable(); });
    $("page-next").addEventListener("click", function () { state.page++; renderTable(); });
    document.querySelectorAll("#tabs button").forEach(function (button) {
      button.addEventListener("click", function () { showView(button.dataset.view); });
    });
    ["curve-series", "curve-x", "curve-log", "curve-smooth"].forEach(function (id) {
      $(id).addEventListener("input", renderCurves);
    });
    $("parallel-metric").addEventListener("change", renderParallel);
    $("scatter-x").addEventListener("change", renderScatter);
    $("scatter-y").addEventListener("change", renderScatter);
    $("scatter-plot").addEventListener("mousemove", function (event) {
      var p = nearestScatterPoint(event);
      $("scatter-hover").textContent = p ? p.run.label : "";
    });
    $("scatter-plot").addEventListener("click", function (event) {
      var p = nearestScatterPoint(event);
      if (p) showRun(p.run.path);
    });
    setupParallelBrushing();
    var resizeTimer = null;
    window.addEventListener("resize", function () { clearTimeout(resizeTimer); resizeTimer = setTimeout(renderView, 150); });
  }

  function start(data) {
    load(data);
    renderHeader();
    renderColumnChooser();
    renderTable();
    showView(state.view);
    document.body.dataset.ready = "true";
  }

  function refresh(data) {
    load(data);
    renderHeader();
    renderColumnChooser();
    renderAll();
    document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
  }

  function poll() {
    var headers = state.etag ? { "If-None-Match": state.etag } : {};
    return fetch("api/data", { cache: "no-store", headers: headers }).then(function (response) {
      if (response.status === 304) return null;
      if (!response.ok) throw new Error("the server answered " + response.status);
      state.etag = response.headers.get("ETag");
      return response.json();
    }).then(function (data) {
      $("live-state").textContent = "live \u00b7 checked " + new Date().toLocaleTimeString();
      if (data) { if (state.data) refresh(data); else start(data); }
    }).catch(function (error) {
      $("live-state").textContent = "server unreachable (" + error.message + ")";
    });
  }

  wire();
  if (window.MAGGOT_LIVE) {
    poll().then(function () { setInterval(poll, 2000); });
  } else {
    start(JSON.parse($("maggot-data").textContent));
  }
  window.maggotReport = { state: state, renderAll: renderAll };
})();
