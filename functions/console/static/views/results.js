// A campaign's page: its status and actions (pause, resume, cancel, edit before the first wave), waves
// and the zones skipped, the funnel, the time series per hour or day (and per run), per variant with
// lift and significance, an experiment's decision (winner or fallback, and every comparison), revenue per
// currency, suppressions and errors; and the app's opt-in prompts (the web SDK's soft prompt).
import { call, may, path, who } from "../api.js";
import { lineChart, timeline } from "../chart.js";
import { alertBox, button, card, field, h, money, pct, reason, select, show, table, when } from "../ui.js";

const FUNNEL = ["targeted", "sent", "delivered", "opened", "clicked", "converted"];
const COLORS = { sent: "#2563eb", opened: "#15803d", clicked: "#b45309", converted: "#b91c1c" };
const ACTIONS = { pause: ["scheduled", "sending", "active"], resume: ["paused"], cancel: ["scheduled", "sending", "active", "paused"] };

function funnel(stats) {
  const top = Math.max(1, stats.targeted || 0);
  return h("div", { class: "funnel", id: "funnel" },
    ...FUNNEL.map((k) => {
      const bar = h("div", { class: "bar" });
      bar.style.width = `${Math.round(((stats[k] || 0) / top) * 100)}%`;
      return h("div", { class: "step" }, h("span", { class: "label" }, k),
        h("div", { class: "track", "aria-hidden": "true" }, bar), h("span", { class: "num", "data-stat": k }, stats[k] || 0));
    }),
    h("div", { class: "step" }, h("span", { class: "label" }, "revenue"), h("div", { class: "track", "aria-hidden": "true" }),
      h("span", { class: "num", "data-stat": "revenue" }, money(stats.revenue_by_currency))));
}

function variantsTable(campaign) {
  const lift = campaign.lift || {};
  return table(["Variant", "Targeted", "Sent", "Opened", "Converted", "Revenue", "Rate", "Lift (abs.)", "95% interval", "p-value", "Verdict"],
    Object.keys(campaign.variants).sort().map((name) => {
      const s = campaign.variants[name];
      const l = lift[name];
      const rate = l ? l.rate : (s.targeted ? s.converted / s.targeted : null);
      const verdict = !l ? (name === "holdout" ? "baseline" : "—")
        : !l.conclusive ? "too small to conclude"
          : l.p_value !== null && l.p_value < 0.05 ? "significant" : "no significant difference";
      return h("tr", { "data-variant": name },
        h("td", {}, name), ...["targeted", "sent", "opened", "converted"].map((k) => h("td", { class: "num" }, s[k] || 0)),
        h("td", { class: "num" }, money(s.revenue_by_currency)),
        h("td", { class: "num", "data-lift": "rate" }, pct(rate)),
        h("td", { class: "num", "data-lift": "absolute" }, l ? pct(l.absolute) : "—"),
        h("td", { class: "num", "data-lift": "ci95" }, l && l.ci95 ? `${pct(l.ci95[0])} … ${pct(l.ci95[1])}` : "—"),
        h("td", { class: "num", "data-lift": "p_value" }, l && l.p_value !== null ? l.p_value.toFixed(4) : "—"),
        h("td", { "data-lift": "verdict" }, verdict));
    }), { id: "variants" });
}

// An experiment: testing (decided when), or decided: the winner, or the fallback when nothing was
// conclusive, why, and every comparison the API made (p-values Bonferroni-corrected past two variants).
function experimentSection(x) {
  const facts = [`metric ${x.metric}`, `test share ${x.test_percent}%`];
  const decision = x.status !== "decided"
    ? h("p", { id: "decision", "data-decision": "testing" }, `Testing: decides at ${when(x.decide_at)} UTC.`)
    : h("p", { id: "decision", "data-decision": x.conclusive ? "winner" : "fallback" },
      h("strong", {}, x.conclusive ? `Winner: ${x.winner}` : `No conclusive winner: fallback ${x.winner}`),
      ` (decided ${when(x.decided_at)} UTC) — ${x.reason}`);
  if (x.overall_p_value !== null && x.overall_p_value !== undefined) facts.push(`across all variants p = ${x.overall_p_value.toFixed(4)}`);
  return h("div", { id: "experiment" }, decision, h("p", { class: "muted" }, facts.join(" · ")),
    x.comparisons.length ? table(["Variant A", "Variant B", `Rate A (${x.metric})`, "Rate B", "p-value", "Conclusive"],
      x.comparisons.map((c) => h("tr", { "data-comparison": `${c.a}-${c.b}` }, h("td", {}, c.a), h("td", {}, c.b),
        h("td", { class: "num" }, pct(c.rate_a)), h("td", { class: "num" }, pct(c.rate_b)),
        h("td", { class: "num", "data-p": "" }, c.p_value === null ? "—" : c.p_value.toFixed(4)),
        h("td", { "data-conclusive": String(c.conclusive) }, c.conclusive ? "yes" : "no"))), { id: "comparisons" })
      : h("p", { class: "muted" }, "No comparison yet."));
}

// The app's soft permission prompts (GET /v1/apps/{id}/opt-in): prompted, accepted and declined, with their
// rates, in all and per prompt wording. App-wide: shown on every campaign's page and in admin.
export async function optInSection(holder) {
  const o = await call("GET", `${path`/v1/apps/${who().app_id}`}/opt-in`);
  const cells = (c) => [h("td", { class: "num", "data-opt": "prompted" }, c.prompted),
    h("td", { class: "num", "data-opt": "accepted" }, c.accepted), h("td", { class: "num", "data-opt": "accept_rate" }, pct(c.accept_rate)),
    h("td", { class: "num", "data-opt": "declined" }, c.declined), h("td", { class: "num", "data-opt": "decline_rate" }, pct(c.decline_rate))];
  holder.replaceChildren(o.prompted ? table(["Prompt", "Prompted", "Accepted", "Accept rate", "Declined", "Decline rate"],
    [h("tr", { "data-prompt": "" }, h("td", {}, "all prompts"), ...cells(o)),
      ...Object.entries(o.variants).map(([name, c]) => h("tr", { "data-prompt": name }, h("td", {}, name), ...cells(c)))], { id: "opt-in-rates" })
    : h("p", { class: "muted" }, "No soft prompt shown yet."));
}

const runsTable = (runs) => table(["Run (local date)", "Targeted", "Sent", "Opened", "Converted", "Revenue"],
  runs.map((run) => h("tr", { "data-run": run.run_id }, h("td", {}, run.run_id),
    ...["targeted", "sent", "opened", "converted"].map((k) => h("td", { class: "num", "data-stat": k }, run.stats[k] || 0)),
    h("td", { class: "num" }, money(run.stats.revenue_by_currency)))), { id: "runs" });

async function seriesChart(campaignId, granularity, run, holder) {
  const query = `granularity=${granularity}${run ? `&run=${encodeURIComponent(run)}` : ""}`;
  const data = await call("GET", `${path`/v1/campaigns/${campaignId}`}/timeseries?${query}`);
  const labels = data.buckets.map((b) => (granularity === "hour" ? `${b.start.slice(5, 13).replace("T", " ")}h` : b.start.slice(0, 10)));
  const series = Object.entries(COLORS).map(([name, color]) => ({ name, color, values: data.buckets.map((b) => b[name]) }));
  holder.replaceChildren(data.buckets.length ? lineChart(series, labels) : h("p", {}, "Nothing measured yet."));
}

function suppressed(stats) {
  const s = stats.suppressed || {};
  const rows = Object.entries(s).filter(([, v]) => v).map(([k, v]) => [k.replace(/_/g, " "), { text: v, attrs: { class: "num" } }]);
  for (const k of ["failed", "pruned", "deferred", "cancelled"]) if (stats[k]) rows.push([k, { text: stats[k], attrs: { class: "num" } }]);
  return rows.length ? table(["Not sent", "Devices"], rows, { id: "suppressed" }) : h("p", { class: "muted" }, "Every targeted device was sent to.");
}

function errors(campaign) {
  const rows = Object.entries(campaign.errors || {});
  return rows.length ? table(["Dead-lettered (reason)", "Sends"], rows.map(([k, v]) => [k, { text: v, attrs: { class: "num" } }]), { id: "errors" })
    : h("p", { class: "muted", id: "errors" }, "No send failed for good.");
}

function lifecycle(campaign, problem) {
  if (!may("create")) return null;
  const act = (verb) => async () => {
    try {
      await call("POST", `${path`/v1/campaigns/${campaign.campaign_id}`}/${verb}`);
      await resultsView(campaign.campaign_id);
    } catch (error) {
      problem.textContent = reason(error);
    }
  };
  const label = { pause: "Pause", resume: "Resume", cancel: "Cancel campaign" };
  const fired = campaign.waves.some((w) => w.status === "fired");
  return h("div", { class: "actions", role: "group", "aria-label": "Campaign actions" },
    ...Object.entries(ACTIONS).filter(([, states]) => states.includes(campaign.status))
      .map(([verb]) => button(label[verb], act(verb), verb === "cancel" ? { class: "danger" } : {})),
    !fired && !["cancelled", "completed"].includes(campaign.status)
      ? h("a", { class: "button secondary", href: `#/edit/${encodeURIComponent(campaign.campaign_id)}` }, "Edit") : null);
}

export async function resultsView(campaignId) {
  const campaign = await call("GET", path`/v1/campaigns/${campaignId}`);
  const problem = alertBox();
  const chart = h("div", { id: "chart" });
  const runs = campaign.runs || [];
  const granularity = select([["hour", "per hour"], ["day", "per day"]], { id: "granularity" });
  const run = select([["", "all runs"], ...runs.map((r) => [r.run_id, `run ${r.run_id}`])], { id: "run" });
  const redraw = () => seriesChart(campaignId, granularity.value, run.value, chart).catch((e) => chart.replaceChildren(h("p", { class: "error" }, reason(e))));
  granularity.addEventListener("change", redraw);
  run.addEventListener("change", redraw);
  const s = campaign.schedule || {};
  const scheduleText = s.type === "local_time" ? `local time ${s.date} ${s.time} (if passed: ${s.if_passed})`
    : s.type === "intelligent" ? `each device's typical time on ${s.date}, between ${s.window.start} and ${s.window.end} local (if passed: ${s.if_passed})`
      : s.type === "at" ? `at ${when(s.at)} UTC` : s.type;
  const optIn = h("div", { id: "opt-in" });
  show(card(
    h("h1", {}, campaign.name, " ", h("span", { class: `status ${campaign.status}`, id: "status" }, campaign.status)),
    h("p", { class: "muted" }, campaign.campaign_id, " · created ", when(campaign.created_at), " UTC · schedule: ", scheduleText),
    lifecycle(campaign, problem), problem,
    h("h2", {}, "Waves (UTC)"), timeline(campaign.waves),
    h("p", { class: "muted" }, `${campaign.waves.length} wave${campaign.waves.length === 1 ? "" : "s"}, ${campaign.waves.filter((w) => w.status === "fired").length} fired`),
    campaign.skipped_time_zones.length ? h("div", { id: "skipped-zones" }, h("h2", {}, "Zones skipped (their time had passed)"),
      table(["Time zone", "Devices"], campaign.skipped_time_zones.map((z) => [z.time_zone, { text: z.devices, attrs: { class: "num" } }]))) : null,
    h("h2", {}, "Funnel"), funnel(campaign.stats),
    h("h2", {}, "Revenue per currency"), h("p", { id: "revenue" }, money(campaign.stats.revenue_by_currency)),
    h("h2", {}, "Over time"), h("div", { class: "inline" }, field("Granularity", granularity), runs.length ? field("Run", run) : null), chart,
    runs.length ? h("h2", {}, "Runs") : null, runs.length ? runsTable(runs) : null,
    h("h2", {}, "Per variant"), variantsTable(campaign),
    campaign.experiment ? h("h2", {}, "Experiment") : null, campaign.experiment ? experimentSection(campaign.experiment) : null,
    h("h2", {}, "Per platform"), campaign.stats.platforms ? table(["Platform", "Sent"], Object.entries(campaign.stats.platforms).map(([k, v]) => [k, v.sent ?? v]))
      : h("p", { class: "muted" }, "The API does not break a campaign's results down by platform yet."),
    h("h2", {}, "Not sent"), suppressed(campaign.stats),
    h("h2", {}, "Errors"), errors(campaign),
    h("h2", {}, "Opt-in prompts (whole app)"), optIn));
  await Promise.all([redraw(), optInSection(optIn).catch((e) => optIn.replaceChildren(h("p", { class: "error" }, reason(e))))]);
}
