// Journeys: the list; the graph editor (add steps, choose their type, configure them, connect `next`),
// drawn as a graph with each step's counts; publish (POST, or PUT for a new version) with the API's
// validation shown on the step it names (`steps.<id>.<field>`); pause, resume, stop.
import { call, may, path } from "../api.js";
import { svg } from "../chart.js";
import { alertBox, button, card, field, h, input, isoDuration, list, reason, select, show, table } from "../ui.js";
import { composer } from "./composer.js";

const TYPES = [["send", "send a message"], ["wait", "wait"], ["wait_for", "wait for an event"], ["split", "split on a condition"],
  ["random", "random split"], ["holdout", "holdout"], ["webhook", "webhook"], ["exit", "exit"]];
const UNITS = [["M", "minutes"], ["H", "hours"], ["D", "days"]];
const COUNTS = ["entered", "waiting", "sent", "delivered", "opened", "clicked", "converted"];
// what a step's box on the graph shows: a send's reach, a wait's backlog, a webhook's calls
const SHOWN = { send: ["entered", "sent", "opened"], wait: ["entered", "waiting"], wait_for: ["entered", "waiting"],
  webhook: ["entered", "sent", "failed", "retried"] };
const STEP_ID = /^[A-Za-z][A-Za-z0-9_]{0,23}$/;

export async function journeysView() {
  const page = await call("GET", "/v1/journeys?limit=100");
  show(card(h("div", { class: "title-row" }, h("h1", {}, "Journeys"),
    may("create") ? h("a", { href: "#/journey/new", class: "button" }, "New journey") : null),
  page.journeys.length ? table(["Name", "Status", "Version", "Entered", "Active", "Completed"], page.journeys.map((j) => {
    const s = j.stats || {};
    return h("tr", { "data-journey": j.journey_id }, h("td", {}, h("a", { href: `#/journey/${encodeURIComponent(j.journey_id)}` }, j.name)),
      h("td", {}, h("span", { class: `status ${j.status}` }, j.status)), h("td", { class: "num" }, j.version),
      ...["entered", "active", "completed"].map((k) => h("td", { class: "num" }, s[k] ?? 0)));
  }), { id: "journeys" }) : h("p", {}, "No journeys yet.")));
}

function parseDuration(text) {
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$/.exec(text || "");
  if (!m) return [1, "H"];
  if (m[1]) return [m[1], "D"];
  if (m[2]) return [m[2], "H"];
  return [m[3] || 0, "M"];
}

/** The editor's state: steps by id, each with its form and how it reads back. */
function graphEditor(definition, stats, redraw) {
  const steps = new Map();
  const nexts = new Set(); // every "next" select, refreshed when steps come and go
  const holder = h("div", { class: "steps" });
  const refresh = () => {
    for (const sel of nexts) {
      const keep = sel.value || sel.dataset.initial || "";
      sel.replaceChildren(h("option", { value: "" }, "— none —"), ...[...steps.keys()].map((id) => h("option", { value: id }, id)));
      sel.value = steps.has(keep) ? keep : "";
    }
    redraw();
  };
  const nextSelect = (label, initial) => {
    const sel = select([], { onchange: () => { sel.dataset.initial = ""; redraw(); } });
    sel.dataset.initial = initial || "";
    nexts.add(sel);
    return { sel, node: field(label, sel) };
  };

  function stepForm(id, type, raw = {}) {
    const error = h("p", { class: "error", role: "alert", "data-step-error": id });
    const body = h("div", {});
    let read = () => ({ type });
    if (type === "send") {
      const message = composer({ legend: "Message", preview: false, onchange: redraw });
      if (raw.message) message.set(raw.message);
      const next = nextSelect("Then go to", raw.next);
      body.append(message.node, next.node);
      read = () => ({ type, message: message.value(), ...(next.sel.value ? { next: next.sel.value } : {}) });
    } else if (type === "wait") {
      const mode = select([["duration", "for a time"], ["until", "until a local time"]], {}, raw.until ? "until" : "duration");
      const [n, u] = parseDuration(raw.duration);
      const amount = input({ type: "number", min: 0, value: raw.until ? "" : n });
      const unit = select(UNITS, {}, u);
      const at = input({ type: "time", value: raw.until ? raw.until.local_time : "09:00" });
      const next = nextSelect("Then go to", raw.next);
      const fAmount = field("Wait", amount);
      const fUnit = field("Unit", unit);
      const fAt = field("Until (device's local time)", at);
      const shape = () => { const d = mode.value === "duration"; fAmount.hidden = !d; fUnit.hidden = !d; fAt.hidden = d; };
      mode.addEventListener("change", shape);
      shape();
      body.append(h("div", { class: "grid3" }, field("Wait how", mode), fAmount, fUnit, fAt), next.node);
      read = () => ({ type, ...(mode.value === "duration" ? (amount.value === "" ? {} : { duration: isoDuration(amount.value, unit.value) })
        : { until: { local_time: at.value } }), next: next.sel.value });
    } else if (type === "wait_for") {
      const event = input({ maxlength: 64, value: raw.event || "", placeholder: "app_open" });
      const [n, u] = parseDuration(raw.timeout || "P1D");
      const amount = input({ type: "number", min: 1, value: n });
      const unit = select(UNITS, {}, u);
      const onEvent = nextSelect("If it happens, go to", raw.on_event);
      const onTimeout = nextSelect("If not, go to", raw.on_timeout);
      body.append(h("div", { class: "grid3" }, field("Event", event), field("Timeout", amount), field("Unit", unit)), onEvent.node, onTimeout.node);
      read = () => ({ type, event: event.value.trim(), timeout: isoDuration(amount.value, unit.value), on_event: onEvent.sel.value, on_timeout: onTimeout.sel.value });
    } else if (type === "split") {
      const branches = [];
      const list_ = h("div", {});
      const addBranch = (b = {}) => {
        const engagement = b.when ? "step" in b.when : true;
        const kind = select([["step", "an earlier send was…"], ["event", "an event count is more than"]], {}, engagement ? "step" : "event");
        const ofStep = input({ maxlength: 24, value: engagement && b.when ? b.when.step : "" });
        const op = select(["opened", "clicked", "delivered", "sent"], {}, engagement && b.when ? b.when.op : "opened");
        const ev = input({ maxlength: 64, value: !engagement ? String(b.when.attr || "").replace(/^events\.|\.count$/g, "") : "" });
        const gt = input({ type: "number", min: 0, value: !engagement ? b.when.value : 0 });
        const next = nextSelect(`Branch ${branches.length + 1}: go to`, b.next);
        const fields = [field("Send step", ofStep), field("What", op)];
        const evFields = [field("Event", ev), field("More than", gt)];
        const shape = () => { fields.forEach((f) => { f.hidden = kind.value !== "step"; }); evFields.forEach((f) => { f.hidden = kind.value === "step"; }); };
        kind.addEventListener("change", shape);
        shape();
        list_.append(h("fieldset", { class: "branch" }, h("legend", {}, `Branch ${branches.length + 1}`),
          h("div", { class: "grid3" }, field("When", kind), ...fields, ...evFields), next.node));
        branches.push(() => ({ when: kind.value === "step" ? { step: ofStep.value.trim(), op: op.value }
          : { attr: `events.${ev.value.trim()}.count`, op: "gt", value: Number(gt.value) || 0 }, next: next.sel.value }));
        refresh();
      };
      (raw.branches && raw.branches.length ? raw.branches : [{}]).forEach(addBranch);
      const otherwise = nextSelect("Otherwise go to", raw.else);
      body.append(list_, button("Add branch", () => addBranch(), { class: "secondary" }), otherwise.node);
      read = () => ({ type, branches: branches.map((b) => b()), else: otherwise.sel.value });
    } else if (type === "random") {
      const branches = [];
      const list_ = h("div", {});
      const addBranch = (b = {}) => {
        const pct = input({ type: "number", min: 0, max: 100, value: b.percent ?? 50 });
        const next = nextSelect(`Share ${branches.length + 1}: go to`, b.next);
        list_.append(h("div", { class: "grid3" }, field(`Share ${branches.length + 1} (%)`, pct), next.node));
        branches.push(() => ({ percent: Number(pct.value) || 0, next: next.sel.value }));
        refresh();
      };
      (raw.branches || [{}, {}]).forEach(addBranch);
      body.append(list_, button("Add share", () => addBranch({ percent: 0 }), { class: "secondary" }));
      read = () => ({ type, branches: branches.map((b) => b()) });
    } else if (type === "holdout") {
      const pct = input({ type: "number", min: 0, max: 100, value: raw.percent ?? 10 });
      const next = nextSelect("The rest go to", raw.next);
      body.append(field("Holdout (% who exit, for lift)", pct), next.node);
      read = () => ({ type, percent: Number(pct.value) || 0, next: next.sel.value });
    } else if (type === "webhook") {
      const url = input({ type: "url", value: raw.url || "", placeholder: "https://" });
      const next = nextSelect("Then go to", raw.next);
      body.append(field("Webhook URL", url, "A host on the engine's allow-list; each call is a signed POST, retried on 429, 5xx and timeouts"), next.node);
      read = () => ({ type, url: url.value.trim(), next: next.sel.value });
    } else {
      body.append(h("p", { class: "muted" }, "The enrolment ends here."));
    }
    const s = (stats && stats[id]) || null;
    const counts = s ? h("p", { class: "counts", "data-counts": id }, (type === "webhook" ? SHOWN.webhook : COUNTS).filter((k) => k in s).map((k) => `${k} ${s[k]}`).join(" · ")) : null;
    const node = h("fieldset", { class: "step-card", "data-step": id }, h("legend", {}, `Step ${id} (${type.replace("_", " ")})`),
      counts, body, error, button(`Remove step ${id}`, () => { steps.delete(id); node.remove(); refresh(); }, { class: "secondary" }));
    steps.set(id, { id, type, read, node, error });
    holder.append(node);
    refresh();
  }

  for (const [id, raw] of Object.entries(definition.steps || {})) stepForm(id, raw.type, raw);
  return { holder, steps, add: stepForm, refresh, read: () => Object.fromEntries([...steps].map(([id, s]) => [id, s.read()])) };
}

/** The steps as a graph: rows by distance from the first step, an arrow per `next`, each box with its counts. */
function drawGraph(holder, first, steps, stats) {
  const edges = [];
  for (const [id, s] of Object.entries(steps)) {
    for (const target of [s.next, s.on_event, s.on_timeout, s.else, ...(s.branches || []).map((b) => b.next)]) {
      if (target && steps[target]) edges.push([id, target]);
    }
  }
  const level = new Map();
  const queue = steps[first] ? [first] : [];
  if (queue.length) level.set(first, 0);
  while (queue.length) {
    const id = queue.shift();
    for (const [a, b] of edges) if (a === id && !level.has(b)) { level.set(b, level.get(id) + 1); queue.push(b); }
  }
  let spare = Math.max(0, ...level.values()) + 1;
  for (const id of Object.keys(steps)) if (!level.has(id)) level.set(id, spare++);
  const rows = [];
  for (const [id, l] of level) (rows[l] = rows[l] || []).push(id);
  const W = 170; const H = 58; const GAP = 28;
  const width = Math.max(340, ...rows.map((r) => r.length * (W + 12) + 12));
  const height = rows.length * (H + GAP) + 10;
  const pos = new Map();
  rows.forEach((r, y) => r.forEach((id, x) => pos.set(id, { x: (width - r.length * (W + 12)) / 2 + 6 + x * (W + 12), y: 6 + y * (H + GAP) })));
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "graph", role: "img",
    "aria-label": `Journey graph: ${Object.keys(steps).length} steps, first ${first || "not chosen"}` });
  const defs = svg("defs", {}, root);
  const marker = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" }, defs);
  svg("path", { d: "M0,0 L10,5 L0,10 z", class: "arrowhead" }, marker);
  for (const [a, b] of edges) {
    const p = pos.get(a); const q = pos.get(b);
    svg("line", { x1: p.x + W / 2, y1: p.y + H, x2: q.x + W / 2, y2: q.y - 2, class: "edge", "marker-end": "url(#arrow)", "data-edge": `${a}->${b}` }, root);
  }
  for (const [id, s] of Object.entries(steps)) {
    const p = pos.get(id);
    const g = svg("g", { class: `node ${s.type}${id === first ? " first" : ""}`, "data-node": id }, root);
    svg("rect", { x: p.x, y: p.y, width: W, height: H, rx: 8 }, g);
    svg("text", { x: p.x + 8, y: p.y + 18, class: "node-id" }, g).textContent = `${id} · ${s.type}`;
    const c = (stats && stats[id]) || {};
    const shown = (SHOWN[s.type] || ["entered"]).filter((k) => k !== "retried" || k in c); // retried: when the stats carry it
    const parts = stats ? shown.map((k) => `${k} ${c[k] ?? 0}`) : [];
    const lines = parts.length > 3 ? [parts.slice(0, 2), parts.slice(2)] : [parts]; // more than 3 fit on two lines
    const text = svg("text", { x: p.x + 8, y: p.y + (lines.length > 1 ? 34 : 40), class: "node-count", "data-node-counts": id }, g);
    lines.forEach((line, i) => {
      svg("tspan", { x: p.x + 8, dy: i ? 14 : 0, "data-line": i }, text).textContent = line.join(" · ");
    });
  }
  root.style.maxWidth = `${width * 1.4}px`; // no bigger than a readable scale on a wide screen (CSSOM: CSP-safe)
  holder.replaceChildren(root);
}

export async function journeyView(journeyId) {
  const existing = journeyId === "new" ? null : await call("GET", path`/v1/journeys/${journeyId}`);
  const def = existing ? existing.definition : { steps: {} };
  const stats = existing ? existing.stats.steps || {} : null;
  const problem = alertBox();
  const graph = h("div", { id: "graph" });
  const name = input({ name: "journey-name", required: true, maxlength: 256, value: def.name || "" });
  const entry = input({ name: "entry-event", maxlength: 64, value: (def.entry && def.entry.event) || "", placeholder: "signup" });
  const exitOn = input({ name: "exit-on", value: (def.exit_on || []).join(", "), placeholder: "purchase" });
  const reentry = select([["after_exit", "again after it exits"], ["never", "never again"]], {}, typeof def.reentry === "string" ? def.reentry : "after_exit");
  const quiet = select([["defer", "defer sends to their end"], ["skip", "skip the send"], ["ignore", "ignore quiet hours"]], {}, def.quiet_hours || "defer");
  const first = select([], { name: "first" });
  const redraw = () => {
    const keep = first.value || def.first || "";
    first.replaceChildren(h("option", { value: "" }, "— choose —"), ...[...editor.steps.keys()].map((id) => h("option", { value: id }, id)));
    first.value = editor.steps.has(keep) ? keep : (editor.steps.keys().next().value || "");
    drawGraph(graph, first.value, editor.read(), stats);
  };
  let editor = { steps: new Map(), read: () => ({}) };
  editor = graphEditor(def, stats, () => redraw());
  first.addEventListener("change", () => drawGraph(graph, first.value, editor.read(), stats));
  const newId = input({ name: "new-step-id", maxlength: 24, placeholder: "remind", pattern: STEP_ID.source });
  const newType = select(TYPES, { name: "new-step-type" });
  const addError = h("p", { class: "error", role: "alert" });
  const addStep = () => {
    const id = newId.value.trim();
    addError.textContent = !STEP_ID.test(id) ? "A step id is a letter then up to 23 letters, digits or _."
      : editor.steps.has(id) ? `There is already a step ${id}.` : "";
    if (addError.textContent) return;
    editor.add(id, newType.value);
    newId.value = "";
    redraw();
    editor.steps.get(id).node.querySelector("input, select, textarea")?.focus();
  };
  newId.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); addStep(); } });

  const publish = async (event) => {
    event.preventDefault();
    problem.textContent = "";
    for (const s of editor.steps.values()) s.error.textContent = "";
    const body = { name: name.value.trim(), entry: { event: entry.value.trim() }, exit_on: list(exitOn.value),
      reentry: reentry.value, quiet_hours: quiet.value, first: first.value, steps: editor.read() };
    try {
      const done = existing ? await call("PUT", path`/v1/journeys/${existing.journey_id}`, body) : await call("POST", "/v1/journeys", body);
      if (existing) await journeyView(existing.journey_id);
      else location.hash = `#/journey/${encodeURIComponent(done.journey_id)}`;
    } catch (error) {
      const general = [];
      for (const e of error.errors || []) {
        const m = /(?:^|\.)steps\.([A-Za-z][A-Za-z0-9_]*)(?:\.(.+))?$/.exec(e.field);
        const step = m && editor.steps.get(m[1]);
        if (step) step.error.textContent = [step.error.textContent, `${m[2] || "step"}: ${e.reason}`].filter(Boolean).join("; ");
        else general.push(`${e.field}: ${e.reason}`);
      }
      problem.textContent = [error.message, ...general].join(" — ");
      const named = [...editor.steps.values()].find((s) => s.error.textContent);
      if (named) named.node.scrollIntoView({ block: "center" });
    }
  };
  const act = (verb) => async () => {
    try { await call("POST", `${path`/v1/journeys/${existing.journey_id}`}/${verb}`); await journeyView(existing.journey_id); } catch (error) { problem.textContent = reason(error); }
  };
  const s = existing ? existing.stats : {};
  const canEdit = may("create");
  show(h("form", { class: "card", id: "journey-form", onsubmit: publish },
    h("h1", {}, existing ? `Journey ${existing.name}` : "New journey", existing ? h("span", { class: `status ${existing.status}`, id: "status" }, existing.status) : null),
    existing ? h("p", { class: "muted", id: "journey-totals" }, `version ${existing.version} · entered ${s.entered ?? 0} · active ${s.active ?? 0} · completed ${s.completed ?? 0}`) : null,
    existing && canEdit ? h("div", { class: "actions", role: "group", "aria-label": "Journey actions" },
      existing.status === "active" ? button("Pause journey", act("pause")) : null,
      existing.status === "paused" ? button("Resume journey", act("resume")) : null,
      existing.status !== "stopped" ? button("Stop journey", act("stop"), { class: "danger" }) : null) : null,
    h("div", { class: "grid3" }, field("Journey name", name), field("Entry event", entry), field("Exits on events (commas)", exitOn)),
    h("div", { class: "grid3" }, field("A device may enter", reentry), field("During quiet hours", quiet), field("First step", first)),
    h("h2", {}, "Graph"), graph,
    h("h2", {}, "Steps"), editor.holder,
    canEdit ? h("fieldset", { class: "add-step" }, h("legend", {}, "Add a step"),
      h("div", { class: "inline" }, field("New step id", newId), field("Step type", newType), button("Add step", addStep, { class: "secondary" })), addError) : null,
    canEdit ? h("div", { class: "actions" }, h("button", { type: "submit" }, existing ? "Publish new version" : "Publish journey")) : null, problem));
  redraw();
}
