// When and how a campaign sends: the schedule (now, at, local time with if_passed, recurring,
// anniversary, triggered, intelligent), then delivery rules (quiet hours, frequency cap, max_per_second,
// category), variants, holdout and an experiment that picks the winner. Each part reads back as the API's
// fields.
import { checkbox, field, h, input, isoDuration, list, radios, select } from "../ui.js";
import { composer } from "./composer.js";

const TYPES = [
  ["now", "Now"], ["at", "At a moment (UTC)"], ["local_time", "At a local time in each device's zone"],
  ["recurring", "Recurring"], ["anniversary", "Anniversary of a date attribute"], ["triggered", "Triggered by an event"],
  ["intelligent", "At each device's typical time"],
];
const DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];
const IF_PASSED = [["skip", "skip those zones"], ["send_now", "send at once"], ["next_day", "send the next day"]];

export function schedulePicker(current = { type: "now" }) {
  const parts = {};
  const panel = h("div", { class: "schedule-detail" });
  const date = (v) => input({ type: "date", value: v || "" });
  const time = (v) => input({ type: "time", value: v || "09:00" });
  const build = {
    now: () => ({ node: h("p", { class: "muted" }, "Sends as soon as it is created."), value: () => ({ type: "now" }) }),
    at: () => {
      const at = input({ type: "datetime-local", value: current.at ? String(current.at).slice(0, 16) : "" });
      return { node: field("Send at (UTC)", at), value: () => ({ type: "at", at: at.value ? new Date(`${at.value}Z`).toISOString() : "" }) };
    },
    local_time: () => {
      const d = date(current.date);
      const t = time(current.time);
      const passed = select(IF_PASSED, {}, current.if_passed || "skip");
      return { node: h("div", { class: "grid3" }, field("Local date", d), field("Local time", t), field("Where that time has passed", passed)),
        value: () => ({ type: "local_time", date: d.value, time: t.value, if_passed: passed.value }) };
    },
    recurring: () => {
      const freq = select([["daily", "daily"], ["weekly", "weekly"], ["monthly", "monthly"]], { onchange: () => shape() }, current.frequency || "daily");
      const days = DAYS.map((d) => checkbox(d, { value: d, checked: (current.days || []).includes(d) }));
      const dom = input({ type: "number", min: 1, max: 31, value: current.day_of_month || 1 });
      const t = time(current.time);
      const start = date(current.start);
      const end = date(current.end);
      const daysSet = h("fieldset", { class: "days" }, h("legend", {}, "On"), days.map((d) => d.node));
      const domField = field("Day of the month", dom);
      const shape = () => { daysSet.hidden = freq.value !== "weekly"; domField.hidden = freq.value !== "monthly"; };
      shape();
      return { node: h("div", {}, h("div", { class: "grid3" }, field("Repeats", freq), field("Local time", t), domField), daysSet,
        h("div", { class: "grid3" }, field("First date", start), field("Last date (optional)", end))),
      value: () => ({ type: "recurring", frequency: freq.value, time: t.value, start: start.value,
        ...(freq.value === "weekly" ? { days: days.filter((d) => d.box.checked).map((d) => d.box.value) } : {}),
        ...(freq.value === "monthly" ? { day_of_month: Number(dom.value) } : {}),
        ...(end.value ? { end: end.value } : {}) }) };
    },
    anniversary: () => {
      const attr = input({ value: (current.attribute || "attributes.birthday").replace(/^attributes\./, ""), maxlength: 64 });
      const t = time(current.time);
      const start = date(current.start);
      const end = date(current.end);
      return { node: h("div", { class: "grid3" }, field("Date attribute", attr), field("Local time", t), field("First date", start), field("Last date (optional)", end)),
        value: () => ({ type: "anniversary", attribute: `attributes.${attr.value.trim()}`, time: t.value, start: start.value, ...(end.value ? { end: end.value } : {}) }) };
    },
    triggered: () => {
      const event = input({ value: current.event || "", maxlength: 64, placeholder: "cart_updated" });
      const delay = input({ type: "number", min: 0, value: 1 });
      const unit = select([["M", "minutes"], ["H", "hours"], ["D", "days"]], {}, "H");
      const cancel = input({ value: (current.cancel_on || []).join(", "), placeholder: "purchase" });
      const restart = checkbox("A repeat of the event starts the wait again", { checked: current.restart_on_repeat !== false });
      return { node: h("div", {}, h("div", { class: "grid3" }, field("Event", event), field("Delay", delay), field("Delay unit", unit)),
        field("Cancelled by events (commas)", cancel), restart.node),
      value: () => ({ type: "triggered", event: event.value.trim(),
        delay: isoDuration(delay.value, unit.value),
        cancel_on: list(cancel.value), restart_on_repeat: restart.box.checked }) };
    },
    // each device at its own typical local time of day inside the window (its opens and app opens of the
    // last 90 days; without them the app's busiest hour, else the window's start): pushengine.typical_time
    intelligent: () => {
      const d = date(current.date);
      const win = current.window || { start: "08:00", end: "21:00" };
      const start = input({ type: "time", value: win.start });
      const end = input({ type: "time", value: win.end });
      const passed = select([["skip", "skip those devices"], ...IF_PASSED.slice(1)], {}, current.if_passed || "skip");
      return { node: h("div", {}, h("p", { class: "muted" }, "Each device gets it at the time of day it usually opens "
        + "notifications or the app, inside the window, in its own zone."),
      h("div", { class: "grid3" }, field("Date", d), field("Window start (local)", start), field("Window end (local)", end),
        field("If a device's time has passed", passed))),
      value: () => ({ type: "intelligent", date: d.value, window: { start: start.value, end: end.value }, if_passed: passed.value }) };
    },
  };
  const draw = () => {
    const type = choice.value() || "now";
    parts.current = build[type]();
    panel.replaceChildren(parts.current.node);
  };
  const choice = radios("When", "schedule-type", TYPES, current.type || "now", draw);
  draw();
  return { node: h("div", { class: "schedule" }, choice.node, panel), value: () => parts.current.value() };
}

/** Quiet hours, frequency cap, throttle and category: the campaign's delivery rules. */
export function deliveryRules() {
  const quiet = select([["defer", "defer to their end"], ["skip", "skip those devices"], ["ignore", "ignore quiet hours"]], { name: "quiet_hours" });
  const capMax = input({ type: "number", min: 1, max: 1000, name: "cap_max" });
  const capHours = input({ type: "number", min: 1, max: 2160, name: "cap_hours" });
  const mps = input({ type: "number", min: 1, max: 100000, name: "max_per_second" });
  const category = select([["marketing", "marketing"], ["transactional", "transactional (ignores caps and quiet hours)"]], { name: "category" });
  const node = h("div", {}, h("div", { class: "grid3" }, field("During quiet hours", quiet), field("Category", category),
    field("Most sends per second", mps, "empty: the app's default")),
  h("div", { class: "grid3" }, field("Frequency cap: at most (sends)", capMax), field("Frequency cap: per hours", capHours)));
  const value = () => ({
    quiet_hours: quiet.value, category: category.value,
    ...(mps.value ? { max_per_second: Number(mps.value) } : {}),
    ...(capMax.value && capHours.value ? { frequency_cap: { max: Number(capMax.value), per_hours: Number(capHours.value) } } : {}),
  });
  return { node, value };
}

/** A/B variants (each its own message and weight, and for local-time schedules its own time) and the holdout. */
export function variantsPicker() {
  const items = [];
  const holder = h("div", { class: "rows" });
  const holdout = input({ type: "number", min: 0, max: 50, step: 1, value: 0, name: "holdout" });
  const add = () => {
    const n = items.length + 1;
    const name = input({ value: `variant_${String.fromCharCode(96 + n)}`, maxlength: 32, pattern: "[A-Za-z0-9_\\-]{1,32}" });
    const weight = input({ type: "number", min: 1, max: 100, value: 50 });
    const at = input({ type: "time" });
    const message = composer({ legend: `Variant ${n} message`, preview: false });
    const item = { value: () => ({ name: name.value.trim(), weight: Number(weight.value) || 1, message: message.value(), ...(at.value ? { time: at.value } : {}) }) };
    const row = h("fieldset", { class: "variant" }, h("legend", {}, `Variant ${n}`),
      h("div", { class: "grid3" }, field("Variant name", name), field("Weight", weight), field("Own local time (optional)", at)), message.node,
      h("button", { type: "button", class: "secondary", onclick: () => { items.splice(items.indexOf(item), 1); row.remove(); } }, `Remove variant ${n}`));
    items.push(item);
    holder.append(row);
  };
  const experiment = experimentPicker();
  const node = h("div", {}, holder, h("button", { type: "button", class: "secondary", onclick: add }, "Add variant"),
    field("Holdout (% who get nothing, to measure lift)", holdout), experiment.node);
  return { node, value: () => ({ ...(items.length ? { variants: items.map((i) => i.value()) } : {}), holdout_percent: Number(holdout.value || 0),
    ...experiment.value() }) };
}

/** An experiment: the variants go to a test share, and after a while the winner (or the fallback) goes to the rest. */
function experimentPicker() {
  const on = checkbox("Pick a winner: test the variants on a share, then send the best to the rest");
  const share = input({ type: "number", min: 1, max: 99, value: 20 });
  const metric = select([["opened", "opened"], ["clicked", "clicked"], ["converted", "converted"], ["revenue", "revenue"]]);
  const after = input({ type: "number", min: 1, value: 2 });
  const unit = select([["M", "minutes"], ["H", "hours"], ["D", "days"]], {}, "H");
  const confidence = select([["0.9", "90%"], ["0.95", "95%"], ["0.99", "99%"]], {}, "0.95");
  const fallback = select([["default", "the first variant"], ["best", "the best observed rate"]]);
  const detail = h("div", { class: "grid3" }, field("Test share (%)", share), field("Winner by", metric), field("Decide after", after),
    field("Decide after (unit)", unit), field("Confidence", confidence), field("If nothing is conclusive, send", fallback));
  const shape = () => { detail.hidden = !on.box.checked; };
  on.box.addEventListener("change", shape);
  shape();
  return { node: h("fieldset", { class: "experiment" }, h("legend", {}, "Experiment"), on.node, detail),
    value: () => (on.box.checked ? { experiment: { test_percent: Number(share.value), metric: metric.value,
      decide_after: isoDuration(after.value, unit.value),
      min_confidence: Number(confidence.value), fallback: fallback.value } } : {}) };
}
