// Air quality operations on the console page: the detector's and each series' status, data
// quality per interval, and the anomaly episodes with a yes/no verdict per episode (what the
// read API's /air/status, /air/quality, /air/episodes and POST /air/feedback answer).
// Its markup is built here, inside the air-quality section, so the page's HTML stays as it is.

function element(tag, attributes = {}, text) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function table(id, caption, headings) {
  const t = element("table", { id });
  t.appendChild(element("caption", {}, caption));
  const head = element("thead");
  const row = element("tr");
  for (const h of headings) row.appendChild(element("th", { scope: "col" }, h));
  head.appendChild(row);
  t.append(head, element("tbody"));
  return t;
}

function fill(id, rows, toCells) {
  const body = document.getElementById(id).querySelector("tbody");
  body.replaceChildren(
    ...rows.map((item) => {
      const row = element("tr");
      for (const value of toCells(item)) {
        const td = element("td");
        if (value instanceof Node) td.appendChild(value);
        else td.textContent = value == null ? "" : String(value);
        row.appendChild(td);
      }
      return row;
    }),
  );
}

const QUALITY_ROWS = 24;

const reasons = (byReason) =>
  Object.entries(byReason || {})
    .map(([code, n]) => `${code} ${n}`)
    .join(", ");

export function initAirOperations({ api, section }) {
  const box = element("div", { id: "air-operations" });
  box.append(
    element("h3", {}, "Detector and series status"),
    element("p", { id: "air-detector-status", role: "status" }, "loading"),
    table("air-series-status", "Series: learning (intervals still needed), active or silent", [
      "series",
      "status",
      "still needed",
      "last data",
      "intervals since",
    ]),
    element("h3", {}, "Data quality per interval"),
    table("air-quality", `Completeness and records per interval, the ${QUALITY_ROWS} newest`, [
      "interval",
      "completeness",
      "received",
      "accepted",
      "duplicate",
      "rejected",
      "rejected by reason",
    ]),
    element("h3", {}, "Anomaly episodes"),
    table("air-episodes", "One per event and place; was it a real anomaly?", [
      "start",
      "place",
      "kind",
      "peak severity",
      "status",
      "measures",
      "real anomaly?",
    ]),
    element("output", { id: "air-feedback-status", "aria-live": "polite" }),
  );
  section.appendChild(box);

  async function loadOperations() {
    try {
      const s = await api("/air/status");
      const counts = s.by_status || {};
      document.getElementById("air-detector-status").textContent =
        `${s.detector}: ${s.status || s.state}; series learning ${counts.learning ?? 0}, ` +
        `active ${counts.active ?? 0}, silent ${counts.silent ?? 0}; last data ${s.last_data ?? "none"}; ` +
        `open episodes ${(s.open_episodes || []).length}`;
      fill("air-series-status", s.series || [], (r) => [
        r.series,
        r.status,
        r.intervals_still_needed,
        r.last_data,
        r.intervals_since_data,
      ]);
    } catch (error) {
      document.getElementById("air-detector-status").textContent = `status: ${error.message}`;
    }
    try {
      const q = await api("/air/quality");
      const rows = [...q.items].reverse().slice(0, QUALITY_ROWS);
      fill("air-quality", rows, (r) => [
        r.interval_start,
        r.completeness == null ? "open" : `${Math.round(r.completeness * 1000) / 10} %`,
        r.received,
        r.accepted,
        r.duplicate,
        r.rejected,
        reasons(r.rejected_by_reason),
      ]);
    } catch {
      /* the table keeps what it showed; the status line says when the API is unreachable */
    }
    try {
      const e = await api("/air/episodes?limit=200");
      const rows = [...e.items].reverse();
      fill("air-episodes", rows, (ep) => [
        ep.start,
        ep.place,
        ep.kind,
        Math.round(ep.peak_severity),
        ep.status,
        (ep.measures || []).join(", "),
        verdictCell(ep),
      ]);
    } catch {
      /* as above */
    }
  }

  function verdictCell(episode) {
    const cell = element("span", { class: "verdict", "data-episode": episode.id });
    if (episode.feedback) {
      cell.textContent = episode.feedback === "anomaly" ? "yes (marked)" : "no (marked)";
      return cell;
    }
    for (const [verdict, label, name] of [
      ["anomaly", "Yes", "a real anomaly"],
      ["not_anomaly", "No", "not an anomaly"],
    ]) {
      const button = element("button", { type: "button", "aria-label": `${episode.place} at ${episode.start}: ${name}` }, label);
      button.dataset.verdict = verdict;
      button.addEventListener("click", () => sendVerdict(episode, verdict, cell));
      cell.appendChild(button);
    }
    return cell;
  }

  async function sendVerdict(episode, verdict, cell) {
    const status = document.getElementById("air-feedback-status");
    for (const button of cell.querySelectorAll("button")) button.disabled = true;
    try {
      const stored = await api("/air/feedback", {
        method: "POST",
        body: JSON.stringify({ episode: episode.id, verdict }),
      });
      cell.replaceChildren(stored.feedback === "anomaly" ? "yes (marked)" : "no (marked)");
      status.textContent = `Recorded: ${episode.place} at ${episode.start} is ${verdict === "anomaly" ? "a real anomaly" : "not an anomaly"}; the detector learns it at its next run.`;
    } catch (error) {
      for (const button of cell.querySelectorAll("button")) button.disabled = false;
      status.textContent = `Feedback not recorded: ${error.message}`;
    }
  }

  return loadOperations;
}
