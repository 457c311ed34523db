#pragma once
// Internal: the live status page (/status). One self-contained page: no
// external script, style or font. Every second it reads /status.json (see
// Metrics::status) and draws, per loop, connections, requests per second,
// loop lag (p99 of the last second, from the histogram's buckets) and the
// busy ratio as small charts of the last two minutes.
//
// For tests and tools, the page keeps `window.sluiceStatus`: updates drawn,
// points per chart, and the last error.

#include <string_view>

namespace sluice::detail {

inline constexpr std::string_view kStatusPage = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sluice status</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1d2330; background: #fafbfc; }
  h1 { font-size: 1.3em; margin: 0 0 .2em; }
  #summary { color: #555; margin-bottom: 1em; }
  #summary b { color: #1d2330; }
  table { border-collapse: collapse; }
  th, td { padding: .35em .5em; text-align: left; border-bottom: 1px solid #e3e6ea; vertical-align: middle;
           white-space: nowrap; }
  th { font-weight: 600; color: #555; }
  td.v { font-variant-numeric: tabular-nums; min-width: 4.5em; text-align: right; padding-right: 1.2em; }
  canvas { display: block; }
  #error { color: #b00020; margin-top: 1em; }
</style>
</head>
<body>
<h1>sluice</h1>
<div id="summary">waiting for the first figures…</div>
<table>
  <thead><tr><th>loop</th><th colspan="2">connections</th><th colspan="2">requests/s</th>
    <th colspan="2">lag p99</th><th colspan="2">busy</th></tr></thead>
  <tbody id="loops"></tbody>
</table>
<div id="error"></div>
<script>
"use strict";
const HISTORY = 120;  // points (seconds) per chart
const CHARTS = [
  {key: "conns", colour: "#3366cc", format: v => v.toFixed(0)},
  {key: "rps", colour: "#109618", format: v => v.toFixed(0)},
  {key: "lag", colour: "#ff9900", format: v => (v >= 10 ? v.toFixed(0) : v.toFixed(2)) + " ms"},
  {key: "busy", colour: "#dc3912", format: v => v.toFixed(0) + " %"},
];
const loops = new Map();  // name -> {row, series: {key: [values]}}
let previous = null;
window.sluiceStatus = {updates: 0, points: 0, loops: 0, error: null};

function sumBuckets(h) { return h ? h.buckets : []; }

function lagP99Ms(now, before, bounds) {
  const a = sumBuckets(now), b = sumBuckets(before);
  const deltas = a.map((v, i) => v - (b[i] || 0));
  const total = deltas.reduce((x, y) => x + y, 0);
  if (total <= 0) return 0;
  let seen = 0;
  for (let i = 0; i < deltas.length; i++) {
    seen += deltas[i];
    if (seen >= 0.99 * total) return i < bounds.length ? bounds[i] * 1000 : bounds[bounds.length - 1] * 1000;
  }
  return 0;
}

function rowFor(name) {
  let entry = loops.get(name);
  if (entry) return entry;
  const row = document.createElement("tr");
  const label = document.createElement("td");
  label.textContent = name;
  row.appendChild(label);
  entry = {row, series: {}, canvases: {}, values: {}};
  for (const c of CHARTS) {
    const chartCell = document.createElement("td");
    const canvas = document.createElement("canvas");
    canvas.width = 120; canvas.height = 32;
    canvas.dataset.chart = c.key;
    chartCell.appendChild(canvas);
    const value = document.createElement("td");
    value.className = "v";
    row.appendChild(chartCell);
    row.appendChild(value);
    entry.series[c.key] = [];
    entry.canvases[c.key] = canvas;
    entry.values[c.key] = value;
  }
  document.getElementById("loops").appendChild(row);
  loops.set(name, entry);
  return entry;
}

function draw(canvas, values, colour) {
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, canvas.width, canvas.height);
  const max = Math.max(1e-9, ...values);
  g.strokeStyle = "#e3e6ea";
  g.beginPath(); g.moveTo(0, canvas.height - 0.5); g.lineTo(canvas.width, canvas.height - 0.5); g.stroke();
  g.strokeStyle = colour;
  g.lineWidth = 1.5;
  g.beginPath();
  const step = canvas.width / (HISTORY - 1);
  const x0 = canvas.width - (values.length - 1) * step;
  values.forEach((v, i) => {
    const x = x0 + i * step, y = canvas.height - 2 - (v / max) * (canvas.height - 4);
    if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
  });
  g.stroke();
}

function update(now) {
  const p = now.process;
  document.getElementById("summary").innerHTML =
    "version <b>" + now.version + "</b> · up <b>" + Math.floor(now.uptime_seconds) + " s</b> · RSS <b>" +
    (p.process_resident_memory_bytes / 1048576).toFixed(1) + " MiB</b> · descriptors <b>" + p.process_open_fds +
    "</b> · " + now.loops.length + " loop(s)";
  if (!previous) return;
  const dt = Math.max(1e-3, now.time - previous.time);
  for (const loop of now.loops) {
    const before = previous.loops.find(l => l.loop === loop.loop);
    if (!before) continue;
    const figures = {
      conns: loop.sluice_connections_open || 0,
      rps: Math.max(0, ((loop.sluice_http_requests_total || 0) - (before.sluice_http_requests_total || 0)) / dt),
      lag: lagP99Ms(loop.sluice_loop_lag_seconds, before.sluice_loop_lag_seconds, now.histogram_bounds_seconds),
      busy: Math.min(100, Math.max(0, 100 * ((loop.sluice_loop_busy_seconds_total || 0) -
                                             (before.sluice_loop_busy_seconds_total || 0)) / dt)),
    };
    const entry = rowFor(loop.loop);
    for (const c of CHARTS) {
      const series = entry.series[c.key];
      series.push(figures[c.key]);
      if (series.length > HISTORY) series.shift();
      draw(entry.canvases[c.key], series, c.colour);
      entry.values[c.key].textContent = c.format(figures[c.key]);
    }
    window.sluiceStatus.points = Math.max(window.sluiceStatus.points, entry.series.conns.length);
  }
  window.sluiceStatus.loops = loops.size;
  window.sluiceStatus.updates++;
}

async function tick() {
  try {
    const response = await fetch("status.json", {cache: "no-store"});
    if (!response.ok) throw new Error("status.json: HTTP " + response.status);
    const now = await response.json();
    update(now);
    previous = now;
    window.sluiceStatus.error = null;
    document.getElementById("error").textContent = "";
  } catch (e) {
    window.sluiceStatus.error = String(e);
    document.getElementById("error").textContent = String(e);
  }
  setTimeout(tick, 1000);
}
tick();
</script>
</body>
</html>
)html";

}  // namespace sluice::detail
