// langdock-mock inspector. Every piece of data reaches the page through textContent (el() below):
// nothing the mock journaled is ever parsed as HTML.

const API = "/__admin/ui/api";
const CSRF = document.querySelector('meta[name="csrf-token"]').content;
const MAX_ROWS = 1000; // rows kept in the table; older ones are a "Load older" away
const REFRESH_MS = 5000; // panels refresh at most this often without a change (never under 1 s)

// ---------------------------------------------------------------------------------------------
// DOM helpers

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function clear(node) {
  node.replaceChildren();
  return node;
}

function badge(text, kind, title) {
  return el("span", { class: `badge ${kind}`, title }, text);
}

function notice(text) {
  const box = document.getElementById("notice");
  box.textContent = text;
  box.hidden = !text;
}

async function getJSON(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Inspector-CSRF": CSRF },
    body: JSON.stringify(body || {}),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.message || `HTTP ${response.status}`);
  return data;
}

// ---------------------------------------------------------------------------------------------
// Journal

const journal = {
  last: 0,
  oldest: null,
  paused: false,
  buffered: [],
  source: null,
  selected: null,
};

function filterQuery() {
  const form = document.getElementById("filters");
  const params = new URLSearchParams();
  for (const name of ["status", "operation", "workspace", "q"]) {
    const value = form.elements[name].value.trim();
    if (value) params.set(name, value);
  }
  return params;
}

function statusClass(status) {
  return `s${Math.floor(status / 100)}xx`;
}

function rowElement(r) {
  const badges = [];
  if (r.issues) badges.push(badge(`${r.issues} issue${r.issues > 1 ? "s" : ""}`, "issue", "4xx: the request broke the contract"));
  if (r.warnings) badges.push(badge(`${r.warnings} dropped`, "warning", "unknown fields the mock ignored (contract warnings)"));
  if (r.fault) badges.push(badge("fault", "fault", "an injected fault chose this answer"));
  if (r.failure) badges.push(badge("mock error", "failure", "the mock itself failed"));
  const tr = el(
    "tr",
    { dataset: { seq: r.seq, status: r.status }, class: journal.selected === r.seq ? "selected" : "" },
    el("td", { class: "time" }, r.time.slice(11, 23)),
    el("td", {}, el("span", { class: `status ${statusClass(r.status)}` }, r.status)),
    el("td", { class: "badges" }, badges),
    el("td", {}, r.method),
    el("td", { class: "path", title: r.path }, r.path),
    el("td", {}, r.operation || "–"),
    el("td", {}, r.workspace || "–"),
    el("td", { class: "mono" }, r.key || "–"),
    el("td", {}, r.model || "–"),
    el("td", { class: "num" }, r.ms.toFixed(2)),
  );
  tr.addEventListener("click", () => showDetail(r.seq));
  return tr;
}

function addRows(rows, where) {
  const body = document.querySelector("#rows tbody");
  const nodes = rows.map(rowElement);
  if (where === "top") body.prepend(...nodes);
  else body.append(...nodes);
  while (body.children.length > MAX_ROWS) {
    body.lastElementChild.remove();
    document.getElementById("older").hidden = false;
  }
  const last = body.lastElementChild;
  journal.oldest = last ? Number(last.dataset.seq) : null;
  document.getElementById("empty").hidden = body.children.length > 0;
}

async function loadJournal() {
  const params = filterQuery();
  const data = await getJSON(`${API}/entries?${params}`);
  clear(document.querySelector("#rows tbody"));
  journal.last = data.last;
  journal.buffered = [];
  updateBuffered();
  addRows(data.rows, "bottom");
  document.getElementById("older").hidden = !data.more;
  connect();
}

async function loadOlder() {
  if (journal.oldest === null) return;
  const params = filterQuery();
  params.set("before", journal.oldest);
  const data = await getJSON(`${API}/entries?${params}`);
  addRows(data.rows, "bottom");
  document.getElementById("older").hidden = !data.more;
}

function updateBuffered() {
  const n = journal.buffered.length;
  document.getElementById("buffered").textContent = n ? `${n} new while paused` : "";
}

function connect() {
  if (journal.source) journal.source.close();
  const params = filterQuery();
  params.set("since", journal.last);
  const source = new EventSource(`/__admin/ui/events?${params}`);
  source.addEventListener("rows", (event) => {
    const rows = JSON.parse(event.data);
    journal.last = Math.max(journal.last, Number(event.lastEventId) || 0);
    if (journal.paused) {
      journal.buffered = rows.concat(journal.buffered);
      updateBuffered();
    } else {
      addRows(rows, "top");
    }
  });
  source.addEventListener("cursor", (event) => {
    journal.last = Math.max(journal.last, Number(event.data) || 0);
  });
  source.addEventListener("reset", () => {
    journal.last = 0;
    journal.buffered = [];
    updateBuffered();
    clear(document.querySelector("#rows tbody"));
    document.getElementById("empty").hidden = false;
    document.getElementById("older").hidden = true;
    refreshSoon();
  });
  source.addEventListener("state", () => refreshSoon());
  source.addEventListener("open", () => notice(""));
  source.addEventListener("error", () => notice("Live feed interrupted; reconnecting…"));
  journal.source = source;
}

function setPaused(paused) {
  journal.paused = paused;
  if (!paused && journal.buffered.length) {
    addRows(journal.buffered, "top");
    journal.buffered = [];
  }
  updateBuffered();
}

// ---------------------------------------------------------------------------------------------
// One exchange

function pointer(path) {
  return "/" + path.map((part) => String(part).replaceAll("~", "~0").replaceAll("/", "~1")).join("/");
}

function dotted(path) {
  return "$" + path.map((part) => (typeof part === "number" ? `[${part}]` : `.${part}`)).join("");
}

// A JSON value as a tree of nodes, each knowing its JSON Pointer; issues and dropped fields are
// attached to the node at their path (or its nearest existing parent).
function jsonTree(value, marks) {
  const placed = new Set();
  function node(v, path, key, last) {
    const ptr = pointer(path);
    const row = el("div", { class: "node", dataset: { path: ptr } });
    const head = el("span", { class: "line" });
    if (key !== null) head.append(el("span", { class: "key" }, JSON.stringify(key)), ": ");
    row.append(head);
    const comma = last ? "" : ",";
    if (v !== null && typeof v === "object") {
      const isArray = Array.isArray(v);
      const entries = isArray ? v.map((item, i) => [i, item]) : Object.entries(v);
      head.append(isArray ? "[" : "{");
      const kids = el("div", { class: "kids" });
      entries.forEach(([k, item], i) =>
        kids.append(node(item, [...path, k], isArray ? null : k, i === entries.length - 1)),
      );
      row.append(kids, el("span", { class: "line" }, (isArray ? "]" : "}") + comma));
    } else {
      head.append(el("span", { class: `value ${v === null ? "null" : typeof v}` }, JSON.stringify(v)), comma);
    }
    const mine = marks.get(ptr);
    if (mine) {
      placed.add(ptr);
      for (const mark of mine) {
        row.classList.add(mark.kind === "issue" ? "has-issue" : "is-dropped");
        head.append(
          el("span", { class: `mark ${mark.kind}`, dataset: { path: ptr } },
            mark.kind === "issue" ? `✖ ${mark.code}: ${mark.message}` : `⚠ dropped: ${mark.message}`),
        );
      }
    }
    return row;
  }
  const tree = el("div", { class: "json" }, node(value, [], null, true));
  // An issue at a path the body lacks (a missing property's parent exists; deeper ones may not).
  for (const [ptr, mine] of marks) {
    if (placed.has(ptr)) continue;
    for (const mark of mine) {
      tree.append(el("div", { class: `mark ${mark.kind} unplaced`, dataset: { path: ptr } },
        `${ptr}: ${mark.code || "dropped"}: ${mark.message}`));
    }
  }
  return tree;
}

function headersTable(headers) {
  return el("table", { class: "headers" },
    headers.map(([name, value]) => el("tr", {}, el("th", {}, name), el("td", {}, value))));
}

async function copy(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch {
    button.textContent = "Select the text below to copy";
  }
  setTimeout(() => { button.textContent = "Copy as curl"; }, 1500);
}

async function showDetail(seq) {
  journal.selected = seq;
  for (const tr of document.querySelectorAll("#rows tbody tr")) {
    tr.classList.toggle("selected", Number(tr.dataset.seq) === seq);
  }
  const box = document.getElementById("detail");
  box.classList.remove("muted");
  let d;
  try {
    d = await getJSON(`${API}/entries/${seq}`);
  } catch (error) {
    clear(box).append(el("p", { class: "muted" }, `Request #${seq} is no longer in the journal.`));
    return;
  }
  const marks = new Map();
  for (const issue of d.issues) {
    const ptr = pointer(issue.path);
    if (!marks.has(ptr)) marks.set(ptr, []);
    marks.get(ptr).push({ kind: "issue", code: issue.code, message: issue.message });
  }
  for (const field of d.dropped) {
    const ptr = pointer(field.path);
    if (!marks.has(ptr)) marks.set(ptr, []);
    marks.get(ptr).push({ kind: "dropped", code: field.code, message: field.message });
  }
  const curlText = el("pre", { class: "curl" }, d.curl.masked);
  const useVariable = el("input", { type: "checkbox", id: "curl-variable" });
  useVariable.addEventListener("change", () => {
    curlText.textContent = useVariable.checked ? d.curl.variable : d.curl.masked;
  });
  const copyButton = el("button", { type: "button", id: "copy-curl" }, "Copy as curl");
  copyButton.addEventListener("click", () => copy(curlText.textContent, copyButton));

  const response = d.response;
  let responseBody;
  if (response.kind === "events") {
    responseBody = el("ol", { class: "events" }, response.events.map((data) => el("li", {}, el("code", {}, `data: ${data}`))));
  } else if (response.kind === "json") {
    responseBody = jsonTree(response.body, new Map());
  } else if (response.kind === "text") {
    responseBody = el("pre", {}, response.body);
  } else {
    responseBody = el("p", { class: "muted" }, "No body.");
  }
  const query = Object.entries(d.query || {});
  clear(box).append(...[
    el("h2", {}, `#${d.seq} ${d.method} ${d.path}`),
    el("p", { class: "meta" },
      el("span", { class: `status ${statusClass(d.status)}` }, d.status), " ",
      d.operation || "no operation", " · ", d.workspace || "no workspace", " · key ", d.key || "none",
      " · ", d.model || "no model", " · ", `${d.ms.toFixed(2)} ms`, " · ", d.time),
    d.fault ? el("p", { class: "mark fault" }, "An injected fault chose or changed this answer.") : null,
    d.issues.length
      ? el("div", { class: "issues" }, el("h3", {}, "Validation issues"),
          el("ul", {}, d.issues.map((i) => el("li", { dataset: { path: pointer(i.path) } },
            el("code", {}, dotted(i.path)), ` ${i.code}: ${i.message}`))))
      : null,
    d.dropped.length
      ? el("div", { class: "dropped" }, el("h3", {}, "Dropped unknown fields"),
          el("ul", {}, d.dropped.map((i) => el("li", {}, el("code", {}, dotted(i.path)), ` ${i.message}`))))
      : null,
    el("h3", {}, "Request"),
    query.length ? el("p", { class: "mono" }, "?" + new URLSearchParams(query).toString()) : null,
    headersTable(d.request.headers),
    el("div", { id: "request-body" }, d.request.body === null || d.request.body === undefined
      ? el("p", { class: "muted" }, "No body.") : jsonTree(d.request.body, marks)),
    el("div", { class: "curl-box" }, copyButton, el("label", {}, useVariable, " use $LANGDOCK_API_KEY instead of the masked key"), curlText),
    el("h3", {}, `Response ${response.status}`),
    headersTable(response.headers),
    el("div", { id: "response-body" }, responseBody),
    d.failure ? el("div", {}, el("h3", {}, "Mock failure"), el("pre", { class: "failure" }, d.failure)) : null,
  ].filter(Boolean));
}

// ---------------------------------------------------------------------------------------------
// Rate limits

const charts = new Map();

function chartData(series, limit, kind) {
  return [series.x, series[kind], series.x.map(() => limit), series.refused.map((v) => (v === null ? null : kind === "requests" ? v : null))];
}

function makeChart(target, title, data, limitLabel) {
  const opts = {
    title,
    width: Math.max(320, Math.min(560, target.clientWidth || 480)),
    height: 170,
    scales: { x: { time: false, range: [-60, 0] }, y: { range: (u, min, max) => [0, Math.max(1, max) * 1.1] } },
    legend: { show: false },
    axes: [{ label: "seconds before now (mock clock)" }, { size: 64 }],
    series: [
      { label: "s" },
      { label: "used", stroke: "#2563eb", width: 2, fill: "rgba(37,99,235,0.12)", paths: uPlot.paths.stepped({ align: 1 }) },
      { label: limitLabel, stroke: "#6b7280", dash: [6, 4], width: 1, points: { show: false } },
      { label: "429", stroke: "#dc2626", paths: () => null, points: { show: true, size: 9, fill: "#dc2626" } },
    ],
  };
  return new uPlot(opts, data, target);
}

function renderLimits(data) {
  const note = document.getElementById("limits-note");
  note.textContent = data.enabled
    ? `The last ${data.window} s on the mock clock (now ${data.now}). Requests and tokens counted per workspace and model: blue is used, dashed grey the limit, red points are 429s.`
    : "Rate limits are off (--no-rate-limits): nothing is counted.";
  const box = document.getElementById("limit-cards");
  const seen = new Set();
  if (!data.limits.length) {
    clear(box).append(el("p", { class: "muted", id: "no-limits" }, "No completions in the last window."));
    charts.clear();
    return;
  }
  document.getElementById("no-limits")?.remove();
  for (const item of data.limits) {
    const key = `${item.workspace}\u0000${item.model}`;
    seen.add(key);
    const requests = chartData(item.series, item.rpm, "requests");
    const tokens = chartData(item.series, item.tpm, "tokens");
    let entry = charts.get(key);
    if (!entry) {
      const reqBox = el("div", { class: "chart requests" });
      const tokBox = el("div", { class: "chart tokens" });
      const summary = el("p", { class: "usage" });
      const card = el("div", { class: "limit-card", dataset: { workspace: item.workspace, model: item.model } },
        el("h3", {}, `${item.workspace} · ${item.model}`), summary, el("div", { class: "charts" }, reqBox, tokBox));
      box.append(card);
      entry = { card, summary, reqBox, tokBox, req: null, tok: null };
      charts.set(key, entry);
      entry.req = makeChart(reqBox, "requests per minute", requests, `limit ${item.rpm} RPM`);
      entry.tok = makeChart(tokBox, "tokens per minute", tokens, `limit ${item.tpm} TPM`);
    } else {
      entry.req.setData(requests);
      entry.tok.setData(tokens);
    }
    clear(entry.summary).append(
      el("span", { class: "usage-requests" }, `${item.requests} / ${item.rpm} requests`), " · ",
      el("span", { class: "usage-tokens" }, `${item.tokens} / ${item.tpm} tokens`), " · ",
      el("span", { class: item.refused ? "usage-refused hot" : "usage-refused" }, `${item.refused} refused (429)`),
    );
    entry.card.dataset.requests = item.requests;
    entry.card.dataset.tokens = item.tokens;
    entry.card.dataset.points = item.series.x.length;
  }
  for (const [key, entry] of charts) {
    if (!seen.has(key)) {
      entry.req.destroy();
      entry.tok.destroy();
      entry.card.remove();
      charts.delete(key);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// State and coverage

function table(headings, rows, attrs) {
  return el("table", attrs || {}, el("thead", {}, el("tr", {}, headings.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c) => el("td", {}, c))))));
}

function describe(obj) {
  return Object.entries(obj || {}).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join(" ");
}

function renderState(s) {
  const box = clear(document.getElementById("state"));
  for (const w of s.workspaces) {
    box.append(el("div", { class: "workspace", dataset: { workspace: w.id } },
      el("h2", {}, `Workspace ${w.id}`),
      el("h3", {}, "Keys"),
      table(["key (masked)", "scopes", "admin"], w.keys.map((k) => [k.key, k.scopes.join(", "), k.admin ? "yes" : "no"])),
      el("h3", {}, "Assistants and agents"),
      w.records.length
        ? table(["name", "id", "model", "published versions", "disabled"],
            w.records.map((r) => [r.name ?? "–", r.id, r.model ?? "–", r.versions, r.disabled ? "yes" : "no"]), { class: "records" })
        : el("p", { class: "muted" }, "None."),
    ));
  }
  box.append(el("h2", {}, "Fault rules"),
    s.faults.length
      ? table(["id", "match", "action", "times left", "probability", "fired"],
          s.faults.map((f) => [f.id, describe(f.match) || "every request", describe(f.action), f.times ?? "∞", f.probability ?? 1, f.fired]), { class: "faults" })
      : el("p", { class: "muted" }, "None."));
  box.append(el("h2", {}, "Scripted replies queued"),
    s.replies.length
      ? table(["id", "match", "text", "times left", "tools"],
          s.replies.map((r) => [r.id, describe(Object.fromEntries(Object.entries(r.match).filter(([, v]) => v !== null))) || "any", r.function ? "(a function)" : (r.text ?? "–"), r.times ?? "∞", r.tools.length]), { class: "replies" })
      : el("p", { class: "muted" }, "None."));
  box.append(el("p", { class: "muted" }, `Journal: ${s.journal.kept} entries kept, ${s.journal.last} recorded since the last reset.`));

  document.getElementById("clock").textContent = s.clock.now;
  document.getElementById("frozen").textContent = s.clock.frozen ? "(frozen)" : "(running)";
  fillSelect("operation", s.operations);
  fillSelect("workspace", s.workspaces.map((w) => w.id));
}

function fillSelect(name, values) {
  const select = document.getElementById("filters").elements[name];
  const current = select.value;
  const have = [...select.options].map((o) => o.value).slice(1);
  if (have.join("\n") === values.join("\n")) return;
  clear(select).append(el("option", { value: "" }, "any"), values.map((v) => el("option", { value: v }, v)));
  select.value = values.includes(current) ? current : "";
}

function renderCoverage(c) {
  const box = clear(document.getElementById("coverage"));
  const s = c.summary;
  box.append(
    el("p", { class: "summary" }, `${s.exercised}/${s.operations} operations called, ${s.seen}/${s.statuses} documented statuses seen (${s.percent}%) since the server started.`),
    el("table", { class: "coverage" },
      el("thead", {}, el("tr", {}, el("th", {}, "operation"), el("th", {}, "calls"), el("th", {}, "documented statuses (count)"), el("th", {}, "undocumented"))),
      el("tbody", {}, c.operations.map((op) => el("tr", { dataset: { operation: op.operation } },
        el("td", {}, el("div", {}, op.operation), el("div", { class: "muted mono" }, `${op.method} ${op.path}`)),
        el("td", { class: "num" }, op.calls),
        el("td", {}, Object.entries(op.statuses).map(([status, n]) =>
          el("span", { class: n ? "cov seen" : "cov missing", title: n ? `seen ${n}×` : "never seen", dataset: { status } }, n ? `${status} ×${n}` : status))),
        el("td", {}, Object.entries(op.undocumented).map(([status, n]) => el("span", { class: "cov extra" }, `${status} ×${n}`))),
      ))),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// Tabs, refreshes, controls

let active = "journal";
let lastRefresh = 0;
let refreshTimer = null;

async function refresh() {
  lastRefresh = Date.now();
  refreshTimer = null;
  try {
    const state = await getJSON(`${API}/state`);
    renderState(state);
    if (active === "limits") renderLimits(await getJSON(`${API}/limits`));
    if (active === "coverage") renderCoverage(await getJSON(`${API}/coverage`));
  } catch (error) {
    notice(`Could not reach the mock: ${error.message}`);
  }
}

function refreshSoon() {
  if (refreshTimer !== null) return;
  const wait = Math.max(0, 1000 - (Date.now() - lastRefresh)); // at most once a second
  refreshTimer = setTimeout(refresh, wait);
}

function showTab(name) {
  active = name;
  for (const button of document.querySelectorAll("#tabs button")) {
    button.classList.toggle("active", button.dataset.tab === name);
  }
  for (const section of document.querySelectorAll("main > section")) {
    section.classList.toggle("active", section.id === name);
  }
  refresh();
}

function start() {
  for (const button of document.querySelectorAll("#tabs button")) {
    button.addEventListener("click", () => showTab(button.dataset.tab));
  }
  const form = document.getElementById("filters");
  form.addEventListener("submit", (event) => event.preventDefault());
  let typing = null;
  form.addEventListener("input", (event) => {
    if (event.target.id === "pause") return;
    clearTimeout(typing);
    typing = setTimeout(loadJournal, event.target.name === "q" ? 250 : 0);
  });
  document.getElementById("pause").addEventListener("change", (event) => setPaused(event.target.checked));
  document.getElementById("older").addEventListener("click", loadOlder);
  document.getElementById("advance").addEventListener("click", async () => {
    const seconds = Number(document.getElementById("advance-seconds").value);
    try {
      await post(`${API}/clock`, { advance: seconds });
      notice("");
    } catch (error) {
      notice(`Advance refused: ${error.message}`);
    }
    refresh();
  });
  document.getElementById("reset").addEventListener("click", async () => {
    try {
      await post(`${API}/reset`);
      notice("");
    } catch (error) {
      notice(`Reset refused: ${error.message}`);
    }
    const box = document.getElementById("detail");
    clear(box).append("Select a request to see it in full.");
    box.classList.add("muted");
    await loadJournal();
    refresh();
  });
  setInterval(() => { if (!document.hidden) refreshSoon(); }, REFRESH_MS);
  loadJournal().then(refresh);
}

start();
