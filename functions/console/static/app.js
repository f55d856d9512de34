// The console: a hash router over four views. Every value from the API is put in the page as text.
import { ApiError, call, may, signIn, signOut, signedIn, who } from "./api.js";
import { lineChart, timeline } from "./chart.js";

const main = document.getElementById("main");
const FUNNEL = ["targeted", "sent", "delivered", "opened", "clicked", "converted"];
const COLORS = { sent: "#2563eb", opened: "#16a34a", clicked: "#d97706", converted: "#dc2626" };

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== false && v !== undefined && v !== null) node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

const money = (amounts) => {
  const parts = Object.entries(amounts || {}).map(([code, value]) =>
    new Intl.NumberFormat("en", { style: "currency", currency: code }).format(value));
  return parts.length ? parts.join(" · ") : "—";
};
const pct = (v) => (v === null || v === undefined ? "—" : `${(v * 100).toFixed(2)}%`);
const show = (...nodes) => main.replaceChildren(...nodes);
// An API refusal shows its reason (the role, the field), never just a status.
const reason = (error) => [error.message, ...(error.errors || []).map((e) => `${e.field}: ${e.reason}`)].join(" — ");
const failure = (error) => h("p", { class: "error", role: "alert" }, reason(error));

// ---------- sign in ----------
function signInView() {
  document.getElementById("nav").hidden = true;
  const form = document.getElementById("sign-in").content.cloneNode(true);
  show(form);
  document.getElementById("sign-in-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const message = document.getElementById("sign-in-error");
    try {
      await signIn(document.getElementById("username").value.trim(), document.getElementById("password").value);
      if (location.hash === "#/campaigns") route();
      else location.hash = "#/campaigns"; // hashchange routes
    } catch (error) {
      message.textContent = error instanceof ApiError ? reason(error) : error.message;
    }
  });
}

// ---------- campaigns ----------
async function listView() {
  const page = await call("GET", "/v1/campaigns?limit=100");
  const rows = page.campaigns.map((c) => h("tr", { "data-campaign": c.campaign_id },
    h("td", {}, h("a", { href: `#/campaign/${encodeURIComponent(c.campaign_id)}` }, c.name)),
    h("td", {}, h("span", { class: `status ${c.status}` }, c.status)),
    h("td", {}, c.created_at.slice(0, 16).replace("T", " ")),
    ...["targeted", "sent", "opened", "converted"].map((k) => h("td", { class: "num", "data-stat": k }, c.stats[k] ?? 0)),
    h("td", { class: "num", "data-stat": "revenue" }, money(c.stats.revenue_by_currency))));
  show(h("section", { class: "card" },
    h("h1", {}, "Campaigns"),
    rows.length ? h("table", { id: "campaigns" },
      h("thead", {}, h("tr", {}, ...["Name", "Status", "Created (UTC)", "Targeted", "Sent", "Opened",
        "Converted", "Revenue"].map((t) => h("th", {}, t)))),
      h("tbody", {}, rows)) : h("p", {}, "No campaigns yet.")));
}

function funnel(stats) {
  const top = Math.max(1, stats.targeted || 0);
  return h("div", { class: "funnel", id: "funnel" },
    ...FUNNEL.map((k) => {
      const bar = h("div", { class: "bar" });
      bar.style.width = `${Math.round(((stats[k] || 0) / top) * 100)}%`;
      return h("div", { class: "step" }, h("span", { class: "label" }, k),
        h("div", { class: "track" }, bar), h("span", { class: "num", "data-stat": k }, stats[k] || 0));
    }),
    h("div", { class: "step" }, h("span", { class: "label" }, "revenue"), h("div", { class: "track" }),
      h("span", { class: "num", "data-stat": "revenue" }, money(stats.revenue_by_currency))));
}

function variantsTable(campaign) {
  const names = Object.keys(campaign.variants).sort();
  const lift = campaign.lift || {};
  return h("table", { id: "variants" },
    h("thead", {}, h("tr", {}, ...["Variant", "Targeted", "Sent", "Converted", "Rate", "Lift (abs.)",
      "95% interval", "p-value", "Verdict"].map((t) => h("th", {}, t)))),
    h("tbody", {}, names.map((name) => {
      const s = campaign.variants[name];
      const l = lift[name];
      const rate = l ? l.rate : (s.targeted ? s.converted / s.targeted : null);
      const verdict = !l ? (name === "holdout" ? "baseline" : "—")
        : !l.conclusive ? "too small to conclude"
          : l.p_value !== null && l.p_value < 0.05 ? "significant" : "no significant difference";
      return h("tr", { "data-variant": name },
        h("td", {}, name), h("td", { class: "num" }, s.targeted), h("td", { class: "num" }, s.sent),
        h("td", { class: "num" }, s.converted), h("td", { class: "num", "data-lift": "rate" }, pct(rate)),
        h("td", { class: "num", "data-lift": "absolute" }, l ? pct(l.absolute) : "—"),
        h("td", { class: "num", "data-lift": "ci95" }, l && l.ci95 ? `${pct(l.ci95[0])} … ${pct(l.ci95[1])}` : "—"),
        h("td", { class: "num", "data-lift": "p_value" }, l && l.p_value !== null ? l.p_value.toFixed(4) : "—"),
        h("td", { "data-lift": "verdict" }, verdict));
    })));
}

function runsTable(runs) {
  return h("table", { id: "runs" },
    h("thead", {}, h("tr", {}, ...["Run (local date)", "Targeted", "Sent", "Opened", "Converted", "Revenue"]
      .map((t) => h("th", {}, t)))),
    h("tbody", {}, runs.map((run) => h("tr", { "data-run": run.run_id },
      h("td", {}, run.run_id), ...["targeted", "sent", "opened", "converted"].map((k) =>
        h("td", { class: "num", "data-stat": k }, run.stats[k] || 0)),
      h("td", { class: "num" }, money(run.stats.revenue_by_currency))))));
}

async function seriesChart(campaignId, granularity, run, holder) {
  const query = `granularity=${granularity}` + (run ? `&run=${encodeURIComponent(run)}` : "");
  const data = await call("GET", `/v1/campaigns/${encodeURIComponent(campaignId)}/timeseries?${query}`);
  const labels = data.buckets.map((b) => (granularity === "hour" ? b.start.slice(5, 13).replace("T", " ") + "h" : b.start.slice(0, 10)));
  const series = Object.entries(COLORS).map(([name, color]) => ({ name, color, values: data.buckets.map((b) => b[name]) }));
  holder.replaceChildren(data.buckets.length ? lineChart(series, labels) : h("p", {}, "Nothing measured yet."));
}

async function campaignView(campaignId) {
  const campaign = await call("GET", `/v1/campaigns/${encodeURIComponent(campaignId)}`);
  const chart = h("div", { id: "chart" });
  const runs = campaign.runs || [];
  const redraw = () => seriesChart(campaignId, picker.value, runPicker.value, chart);
  const picker = h("select", { id: "granularity", onchange: redraw },
    h("option", { value: "hour" }, "per hour"), h("option", { value: "day" }, "per day"));
  // a recurring campaign's runs: each one's series on its own, or all of them together
  const runPicker = h("select", { id: "run", onchange: redraw, hidden: !runs.length },
    h("option", { value: "" }, "all runs"), ...runs.map((r) => h("option", { value: r.run_id }, `run ${r.run_id}`)));
  show(h("section", { class: "card" },
    h("h1", {}, campaign.name, " ", h("span", { class: `status ${campaign.status}` }, campaign.status)),
    h("p", { class: "muted" }, campaign.campaign_id, " · created ", campaign.created_at),
    h("h2", {}, "Waves (UTC)"), timeline(campaign.waves),
    ...(campaign.skipped_time_zones.length ? [h("p", { id: "skipped-zones", class: "muted" }, "Skipped (time passed): ",
      campaign.skipped_time_zones.map((z) => `${z.time_zone} (${z.devices} devices)`).join(", "))] : []),
    h("h2", {}, "Funnel"), funnel(campaign.stats),
    h("h2", {}, "Over time ", picker, " ", runPicker), chart,
    ...(runs.length ? [h("h2", {}, "Runs"), runsTable(runs)] : []),
    h("h2", {}, "Variants"), variantsTable(campaign)));
  await seriesChart(campaignId, "hour", "", chart);
}

// ---------- create ----------
const COUNT_DEBOUNCE_MS = 400;

function newView() {
  const count = h("output", { id: "audience-count" }, "…");
  const problem = h("p", { class: "error", role: "alert" });
  const audience = h("textarea", { id: "audience", rows: 5, spellcheck: "false",
    placeholder: '{"attr": "tags.plan", "op": "eq", "value": "pro"}' });
  let timer = null;
  let asked = 0;
  let counted = undefined; // the filter last sent, as JSON: typing that changes nothing asks nothing
  const recount = () => {
    clearTimeout(timer);
    // debounced: one count once typing pauses, never one per keystroke
    timer = setTimeout(async () => {
      const text = audience.value.trim();
      let filter = null;
      try {
        filter = text ? JSON.parse(text) : null;
      } catch {
        count.textContent = "not valid JSON yet";
        return;
      }
      const key = JSON.stringify(filter);
      if (key === counted) return;
      counted = key;
      const mine = ++asked;
      count.textContent = "counting…";
      try {
        const answer = await call("POST", "/v1/audience/count", { audience: filter });
        // a big app's count is a sample of each zone, scaled up
        if (mine === asked) count.textContent = (answer.estimated ? "≈ " : "") + String(answer.count);
      } catch (error) {
        counted = undefined;
        if (mine === asked) count.textContent = error.errors.map((e) => `${e.field}: ${e.reason}`).join("; ") || error.message;
      }
    }, COUNT_DEBOUNCE_MS);
  };
  audience.addEventListener("input", recount);
  const field = (label, input) => h("label", {}, label, input);
  const form = h("form", { id: "create", class: "card", onsubmit: async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const body = {
      name: data.get("name"),
      message: { title: data.get("title"), body: data.get("body") },
      holdout_percent: Number(data.get("holdout") || 0),
      schedule: data.get("at") ? { type: "at", at: new Date(data.get("at") + "Z").toISOString() } : { type: "now" },
    };
    if (audience.value.trim()) body.audience = JSON.parse(audience.value);
    try {
      const created = await call("POST", "/v1/campaigns", body);
      location.hash = `#/campaign/${encodeURIComponent(created.campaign_id)}`;
    } catch (error) {
      problem.textContent = reason(error);
    }
  } },
  h("h1", {}, "New campaign"),
  field("Name", h("input", { name: "name", required: true, maxlength: 256 })),
  field("Title", h("input", { name: "title", required: true })),
  field("Body", h("textarea", { name: "body", required: true, rows: 2 })),
  field("Audience filter (JSON; empty: everyone opted in)", audience),
  h("p", {}, "Devices it selects now: ", count),
  field("Holdout %", h("input", { name: "holdout", type: "number", min: 0, max: 50, step: 1, value: 0 })),
  field("Send at (UTC; empty: now)", h("input", { name: "at", type: "datetime-local" })),
  h("button", { type: "submit" }, "Create"), problem);
  show(form);
  recount();
}

// ---------- device lookup ----------
function deviceView() {
  const out = h("div", { id: "device" });
  const input = h("input", { id: "device-id", required: true, placeholder: "device id" });
  const form = h("form", { class: "card", onsubmit: async (event) => {
    event.preventDefault();
    try {
      const d = await call("GET", `/v1/devices/${encodeURIComponent(input.value.trim())}`);
      const rows = ["device_id", "platform", "status", "timezone", "locale", "country", "region", "user_id",
        "opted_in", "created_at", "last_seen"].map((k) => h("tr", {}, h("th", {}, k), h("td", { "data-field": k }, d[k] ?? "—")));
      const json = (v) => h("pre", {}, JSON.stringify(v, null, 2));
      out.replaceChildren(h("table", {}, rows), h("h2", {}, "Tags"), json(d.tags),
        h("h2", {}, "Attributes"), json(d.attributes), h("h2", {}, "Behaviour"), json(d.events));
    } catch (error) {
      out.replaceChildren(failure(error));
    }
  } }, h("h1", {}, "Device lookup"), h("label", {}, "Device id ", input), h("button", { type: "submit" }, "Look up"));
  show(form, out);
}

// ---------- audit log ----------
async function auditView() {
  const page = await call("GET", "/v1/audit?limit=100");
  const actor = (a) => (a.user ? `${a.user} (${a.role})` : `${a.kind} key ${a.key_id || ""}`.trim());
  show(h("section", { class: "card" }, h("h1", {}, "Audit log"),
    page.entries.length ? h("table", { id: "audit" },
      h("thead", {}, h("tr", {}, ...["When (UTC)", "Who", "Action", "Target", "Status"].map((t) => h("th", {}, t)))),
      h("tbody", {}, page.entries.map((e) => h("tr", { "data-action": e.action },
        h("td", {}, e.at.slice(0, 19).replace("T", " ")), h("td", { "data-actor": "" }, actor(e.actor)),
        h("td", {}, e.action), h("td", {}, e.target), h("td", { class: "num" }, e.status)))))
      : h("p", {}, "Nothing recorded yet.")));
}

// ---------- router ----------
function showNav() {
  const nav = document.getElementById("nav");
  nav.hidden = false;
  for (const link of nav.querySelectorAll("[data-right]")) link.hidden = !may(link.dataset.right);
  const { user, role } = who();
  document.getElementById("who").textContent = `${user} · ${role}`;
}

export async function route() {
  if (!signedIn()) return signInView();
  showNav();
  const [, view, arg] = location.hash.split("/");
  try {
    if (view === "campaign" && arg) await campaignView(decodeURIComponent(arg));
    else if (view === "new") newView();
    else if (view === "device") deviceView();
    else if (view === "audit") await auditView();
    else await listView();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      signOut();
      return signInView();
    }
    show(failure(error));
  }
}

document.getElementById("sign-out").addEventListener("click", () => {
  signOut();
  location.hash = "";
  route();
});
window.addEventListener("hashchange", route);
route();
