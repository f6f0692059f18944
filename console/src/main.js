// The Vigil console: polls the read APIs, drives the simulator and the moderation box.
// uPlot (small, dependency-free, fast on streaming time series) draws every chart.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { initAirOperations } from "./air_operations.js";

const state = {
  config: { mode: "local", apiBase: "/api" },
  token: null,
  transactions: new Map(), // id -> record, everything seen while the page is open
  anomalies: [],
  moderated: 0,
  moderatedFlagged: 0,
};
const $ = (id) => document.getElementById(id);

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path, options = {}) {
  const headers = { "Content-Type": "application/json" };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  const response = await fetch(state.config.apiBase + path, { ...options, headers });
  const text = await response.text();
  let body = {};
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    body = { message: text };
  }
  if (response.status === 401 || response.status === 403) {
    $("auth-status").textContent = "Sign-in required: the API refused this request.";
  }
  if (!response.ok) throw new ApiError(response.status, body.message || body.reason || response.statusText);
  return body;
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
}

function chart(target, series, scales = {}, extra = {}) {
  const element = $(target);
  const width = Math.max(280, Math.min(560, element.clientWidth || 520));
  return new uPlot(
    { width, height: 200, scales: { x: { time: true }, ...scales }, series: [{}, ...series], ...extra },
    [[], ...series.map(() => [])],
    element,
  );
}

// --- fraud --------------------------------------------------------------------------------------
const fraudCharts = {};

function fraudRateSeries(records) {
  const buckets = new Map();
  for (const r of records) {
    const t = Math.floor(Date.parse(r.scored_at) / 10000) * 10;
    const b = buckets.get(t) || { n: 0, f: 0 };
    b.n += 1;
    if (r.flag === "fraud") b.f += 1;
    buckets.set(t, b);
  }
  const times = [...buckets.keys()].sort((a, b) => a - b);
  return [times, times.map((t) => buckets.get(t).f / buckets.get(t).n)];
}

function renderFraud() {
  const records = [...state.transactions.values()].sort((a, b) => (a.scored_at < b.scored_at ? 1 : -1));
  $("fraud-scored").textContent = records.length;
  $("fraud-flagged").textContent = records.filter((r) => r.flag === "fraud").length;
  $("fraud-fallbacks").textContent = records.filter((r) => r.fallback).length;
  const body = $("fraud-table").querySelector("tbody");
  body.replaceChildren();
  for (const r of records.slice(0, 50)) {
    const row = document.createElement("tr");
    row.tabIndex = 0;
    row.dataset.id = r.id;
    row.className = `flag-${r.flag}`;
    const t = r.transaction || {};
    cell(row, r.id);
    cell(row, new Date(r.scored_at).toLocaleTimeString());
    cell(row, t.TransactionAmt ?? "");
    cell(row, t.ProductCD ?? "");
    cell(row, [t.card4, t.card1].filter((v) => v !== undefined).join(" "));
    cell(row, r.fallback ? `${r.flag} (${r.fallback})` : r.flag, "flag");
    cell(row, r.pred_prob == null ? "n/a" : r.pred_prob.toFixed(3));
    cell(row, r.latency_ms.toFixed(1));
    body.appendChild(row);
  }
  const ascending = [...records].reverse();
  fraudCharts.rate.setData(fraudRateSeries(ascending));
  fraudCharts.latency.setData([ascending.map((r) => Date.parse(r.scored_at) / 1000), ascending.map((r) => r.latency_ms)]);
}

async function showTransaction(id) {
  const panel = $("fraud-detail");
  try {
    const r = await api(`/fraud/transactions/${encodeURIComponent(id)}`);
    panel.replaceChildren();
    const h = document.createElement("h3");
    h.textContent = `Transaction ${r.id}: ${r.flag}`;
    panel.appendChild(h);
    const list = document.createElement("dl");
    const add = (k, v) => {
      const dt = document.createElement("dt");
      dt.textContent = k;
      const dd = document.createElement("dd");
      dd.textContent = v;
      list.append(dt, dd);
    };
    add("scored at", r.scored_at);
    add("pred_prob", r.pred_prob == null ? "n/a" : String(r.pred_prob));
    // each entity's degree and known fraud count come from the fraud graph when the API has it
    const graphState = r.entity_state || {};
    const columns = new Set([...Object.keys(r.entities || {}), ...Object.keys(graphState)]);
    for (const k of columns) {
      const g = graphState[k];
      const value = g ? g.key : String(r.entities[k]);
      let about = "";
      if (g && !g.in_graph) about = " (not in the graph)";
      else if (g && g.known_fraud == null) about = ` (degree ${g.degree}, a hub: fraud not counted)`;
      else if (g) about = ` (degree ${g.degree}, known fraud ${g.known_fraud})`;
      add(`entity ${k}`, value + about);
    }
    if (r.entity_state_note) add("graph", r.entity_state_note);
    add("explanation", r.explanation ? JSON.stringify(r.explanation) : "the model gave none");
    panel.appendChild(list);
  } catch (error) {
    panel.textContent = `Could not load transaction ${id}: ${error.message}`;
  }
}

async function pollFraud() {
  try {
    const page = await api("/fraud/transactions?limit=200");
    for (const r of page.items) state.transactions.set(r.id, r);
    renderFraud();
  } catch (error) {
    if (error.status !== 404) console.warn("fraud poll:", error.message);
  }
}

async function simulator(action) {
  const rate = Number($("sim-rate").value);
  try {
    const status = await api("/simulator", { method: "POST", body: JSON.stringify({ action, rate }) });
    showSimulator(status);
  } catch (error) {
    $("sim-status").textContent = `simulator: ${error.message}`;
  }
}

function showSimulator(s) {
  $("sim-status").textContent = s.running ? `running at ${s.rate}/s, ${s.sent} sent` : `stopped (${s.sent} sent)`;
}

// --- air quality --------------------------------------------------------------------------------
function fillSelect(id, values) {
  const select = $(id);
  const current = select.value;
  const keep = select.querySelector("option[value='']");
  select.replaceChildren(...(keep ? [keep] : []));
  for (const v of [...values].sort()) {
    const option = document.createElement("option");
    option.value = option.textContent = v;
    select.appendChild(option);
  }
  if ([...values].includes(current) || current === "") select.value = current;
}

function airQuery() {
  const params = new URLSearchParams({ limit: "200" });
  const iso = (v) => new Date(v).toISOString();
  if ($("air-from").value) params.set("from", iso($("air-from").value));
  if ($("air-to").value) params.set("to", iso($("air-to").value));
  if ($("air-place").value) params.set("dimensions", $("air-place").value);
  if ($("air-measure").value) params.set("measure", $("air-measure").value);
  if (Number($("air-severity").value) > 0) params.set("min_severity", $("air-severity").value);
  return params;
}

const known = { places: new Set(), measures: new Set(), series: new Map() };

// a series select's value is its read-API query: measure and place
const seriesKey = (a) => new URLSearchParams({ measure: a.measure, place: a.dimensions }).toString();

async function loadAnomalies() {
  try {
    const page = await api(`/air/anomalies?${airQuery()}`);
    state.anomalies = page.items;
  } catch (error) {
    $("air-table").querySelector("caption").textContent = `Anomalies: ${error.message}`;
    return;
  }
  for (const a of state.anomalies) {
    known.places.add(a.dimensions);
    known.measures.add(a.measure);
    const key = seriesKey(a);
    // the chart centres on each series' newest anomaly
    if (!known.series.has(key) || known.series.get(key).interval_start < a.interval_start) known.series.set(key, a);
  }
  fillSelect("air-place", known.places);
  fillSelect("air-measure", known.measures);
  const seriesSelect = $("air-series");
  const chosen = seriesSelect.value;
  const keys = [...known.series.keys()].sort();
  if (keys.length !== seriesSelect.options.length) {
    seriesSelect.replaceChildren(
      ...keys.map((key) => {
        const a = known.series.get(key);
        const option = document.createElement("option");
        option.value = key;
        option.textContent = `${a.measure} at ${a.dimensions}`;
        return option;
      }),
    );
    seriesSelect.value = chosen || keys[0] || "";
  }
  renderAnomalies();
  if (!chosen) loadSeries();
}

function renderAnomalies() {
  const body = $("air-table").querySelector("tbody");
  body.replaceChildren();
  state.anomalies.forEach((a, index) => {
    const row = document.createElement("tr");
    row.tabIndex = 0;
    row.dataset.index = index;
    cell(row, a.interval_start);
    cell(row, a.dimensions);
    cell(row, a.measure);
    cell(row, a.observed?.toFixed(2));
    cell(row, a.expected?.toFixed(2));
    cell(row, a.severity?.toFixed(0));
    body.appendChild(row);
  });
  $("air-table").querySelector("caption").textContent = `Anomalies, newest first: ${state.anomalies.length} shown (select a row for its detail)`;
}

function showAnomaly(a) {
  const panel = $("air-detail");
  panel.replaceChildren();
  const h = document.createElement("h3");
  h.textContent = `${a.measure} at ${a.dimensions}, ${a.interval_start}`;
  const p = document.createElement("p");
  p.textContent = `observed ${a.observed} vs expected ${a.expected} (z ${a.z}, severity ${a.severity}). ${a.reason || ""}`;
  const c = document.createElement("pre");
  c.textContent = `contributions: ${JSON.stringify(a.contributions, null, 1)}`;
  panel.append(h, p, c);
  // and its series on the chart, around it
  $("air-series").value = seriesKey(a);
  loadSeries(a.interval_start);
}

let airChart;
const CHART_HALF_WINDOW_S = 6 * 3600;

// The series' intervals around `centre` (an interval start; default its newest anomaly): observed,
// expected and the band from the detector's stored intervals, the anomalies marked.
async function loadSeries(centre) {
  const key = $("air-series").value;
  if (!key) return;
  const around = Date.parse(`${centre || known.series.get(key)?.interval_start}Z`);
  const params = new URLSearchParams(key);
  params.set("limit", "200");
  if (!Number.isNaN(around)) {
    params.set("from", new Date(around - CHART_HALF_WINDOW_S * 1000).toISOString());
    params.set("to", new Date(around + CHART_HALF_WINDOW_S * 1000).toISOString());
  }
  try {
    const page = await api(`/air/series?${params}`);
    const points = page.items;
    const marked = points.filter((p) => p.anomaly);
    airChart.setData([
      points.map((p) => Date.parse(`${p.interval_start}Z`) / 1000),
      points.map((p) => p.observed),
      points.map((p) => p.expected),
      points.map((p) => p.low),
      points.map((p) => p.high),
      points.map((p) => (p.anomaly ? p.observed : null)),
    ]);
    const chartElement = $("chart-air");
    chartElement.dataset.intervals = points.length;
    chartElement.dataset.anomalies = marked.map((p) => p.interval_start).join(" ");
    $("air-chart-summary").textContent =
      `${page.measure} at ${page.place}: ${points.length} intervals, ${marked.length} ` +
      `${marked.length === 1 ? "anomaly" : "anomalies"} marked` +
      (marked.length ? ` (${marked.map((p) => p.interval_start).join(", ")})` : "");
  } catch (error) {
    $("air-chart-summary").textContent = `Series: ${error.message}`;
  }
}

async function loadStatus() {
  try {
    const s = await api("/air/status");
    $("air-status").textContent = `detector ${s.detector}: ${s.state}${s.updated ? `, state saved ${s.updated} (version ${s.version})` : ""}`;
  } catch (error) {
    $("air-status").textContent = `detector status: ${error.message}`;
  }
}

// --- toxicity -----------------------------------------------------------------------------------
async function moderate(text) {
  const out = $("tox-result");
  out.textContent = "moderating…";
  try {
    const answer = await api("/toxicity/moderate", { method: "POST", body: JSON.stringify({ messages: [text] }) });
    const result = answer.results[0];
    state.moderated += 1;
    if (result.flagged) state.moderatedFlagged += 1;
    $("tox-count").textContent = state.moderated;
    $("tox-flagged-count").textContent = state.moderatedFlagged;
    out.replaceChildren();
    const verdict = document.createElement("p");
    verdict.id = "tox-verdict";
    verdict.textContent = result.flagged ? `Flagged: ${result.categories.join(", ")}` : "Not flagged";
    const table = document.createElement("table");
    table.innerHTML = "<caption>Score per label</caption><thead><tr><th scope='col'>label</th><th scope='col'>score</th><th scope='col'>flag</th></tr></thead>";
    const body = document.createElement("tbody");
    for (const [label, score] of Object.entries(result.scores)) {
      const row = document.createElement("tr");
      cell(row, label);
      cell(row, score.toFixed(3));
      cell(row, result.categories.includes(label) ? "flagged" : "");
      body.appendChild(row);
    }
    table.appendChild(body);
    out.append(verdict, table);
  } catch (error) {
    out.textContent = `Moderation failed: ${error.message}`;
  }
}

function disable(formId, messageId, message) {
  for (const control of $(formId).querySelectorAll("input, button, textarea")) control.disabled = true;
  $(messageId).textContent = message;
}

// --- wiring -------------------------------------------------------------------------------------
function rowActivation(tableId, onSelect) {
  const body = $(tableId).querySelector("tbody");
  body.addEventListener("click", (e) => {
    const row = e.target.closest("tr");
    if (row) onSelect(row);
  });
  body.addEventListener("keydown", (e) => {
    if ((e.key === "Enter" || e.key === " ") && e.target.matches("tr")) {
      e.preventDefault();
      onSelect(e.target);
    }
  });
}

async function start() {
  try {
    state.config = await (await fetch("config.json")).json();
  } catch {
    /* the defaults serve the local console */
  }
  if (state.config.mode === "cloud") {
    const fragment = new URLSearchParams(location.hash.slice(1));
    state.token = fragment.get("id_token") || sessionStorage.getItem("vigil-id-token");
    if (state.token) sessionStorage.setItem("vigil-id-token", state.token);
    if (!state.token && state.config.signInUrl) {
      const link = document.createElement("a");
      link.href = state.config.signInUrl;
      link.textContent = "Sign in";
      $("auth-status").replaceChildren("Not signed in. ", link);
    }
  }
  fraudCharts.rate = chart("chart-fraud-rate", [{ label: "fraud rate", stroke: "#b3261e" }], { y: { range: [0, 1] } });
  fraudCharts.latency = chart("chart-latency", [{ label: "latency ms", stroke: "#1a5fb4", points: { show: true }, width: 0 }]);
  airChart = chart(
    "chart-air",
    [
      { label: "observed", stroke: "#1b1b1b", width: 1.5, points: { show: false } },
      { label: "expected", stroke: "#1a5fb4", width: 1.5, dash: [6, 4], points: { show: false } },
      { label: "expected − 2σ", stroke: "#8aa9d6", width: 1, points: { show: false } },
      { label: "expected + 2σ", stroke: "#8aa9d6", width: 1, points: { show: false } },
      { label: "anomaly", stroke: "#b3261e", fill: "#b3261e", width: 0, points: { show: true, size: 10 } },
    ],
    {},
    // the band: the area between expected + 2σ (series 4) and expected − 2σ (series 3)
    { bands: [{ series: [4, 3], fill: "rgba(26, 95, 180, 0.15)" }] },
  );
  rowActivation("fraud-table", (row) => showTransaction(row.dataset.id));
  rowActivation("air-table", (row) => showAnomaly(state.anomalies[Number(row.dataset.index)]));
  $("simulator").addEventListener("submit", (e) => {
    e.preventDefault();
    simulator("start");
  });
  $("sim-stop").addEventListener("click", () => simulator("stop"));
  $("air-filter").addEventListener("submit", (e) => {
    e.preventDefault();
    loadAnomalies();
  });
  $("air-series").addEventListener("change", () => loadSeries());
  $("tox-form").addEventListener("submit", (e) => {
    e.preventDefault();
    moderate($("tox-text").value);
  });
  const every = (ms, f) => {
    f();
    setInterval(f, ms);
  };
  every(1000, pollFraud);
  // the simulator and the moderation box need APIs the local console forwards; the cloud page
  // (config.json written by the stack) offers neither, and says why
  const cloud = state.config.mode === "cloud";
  if (state.config.simulator) {
    every(2000, async () => {
      try {
        showSimulator(await api("/simulator"));
      } catch {
        /* shown by the next poll */
      }
    });
  } else {
    disable(
      "simulator",
      "sim-status",
      cloud
        ? "Not available here: the scoring API accepts only IAM-signed requests from the payment service, not a signed-in operator's browser. The simulator runs in the local console (make demo)."
        : "Not available: this console was started without a scoring API.",
    );
  }
  if (!state.config.moderation) {
    disable(
      "tox-form",
      "tox-result",
      cloud
        ? "Not available here: the moderation API accepts only IAM-signed requests from backends, not a signed-in operator's browser. The box works in the local console (make demo)."
        : "Not available: no moderation model is served in this run (make demo-toxicity builds one).",
    );
  }
  every(5000, loadAnomalies);
  every(10000, loadStatus);
  every(5000, initAirOperations({ api, section: $("air") }));
  document.body.dataset.ready = "true";
}

start();
