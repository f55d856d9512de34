// The audience builder: conditions on tags, attributes, platform, locale, country, region, time zone,
// distance from a point, behaviour (events.<name> count, sum, last within) and saved segments, in
// all / any / none groups that nest; and its live count (POST /v1/audience/count), asked once editing
// pauses for 400 ms and only when the filter changed (the API answers an estimate on a big app).
import { ApiError, call } from "../api.js";
import { button, field, h, input, list, select } from "../ui.js";

export const COUNT_DEBOUNCE_MS = 400;
const KINDS = [
  ["tag", "Tag"], ["attribute", "Attribute"], ["platform", "Platform"], ["locale", "Locale"],
  ["country", "Country"], ["region", "Region"], ["timezone", "Time zone"], ["near", "Distance from a point"],
  ["event", "Behaviour (event)"], ["segment", "Saved segment"],
];
const OPS = [["eq", "is"], ["ne", "is not"], ["in", "is one of"], ["exists", "exists"], ["gt", "greater than"], ["lt", "less than"]];
const UNITS = [["D", "days"], ["H", "hours"], ["W", "weeks"]];

let segmentsCache = null;
const savedSegments = async () => {
  if (!segmentsCache) segmentsCache = call("GET", "/v1/segments").then((p) => p.segments).catch(() => []);
  return segmentsCache;
};
export const forgetSegments = () => { segmentsCache = null; };

const scalar = (text, op) => {
  const t = String(text).trim();
  if ((op === "gt" || op === "lt") && t !== "" && !Number.isNaN(Number(t))) return Number(t);
  if (t === "true" || t === "false") return t === "true";
  return t;
};

function condition(changed, initial = {}) {
  const kind = select(KINDS, { onchange: () => { draw(); changed(); } }, initial.kind || "tag");
  const detail = h("div", { class: "detail" });
  let read = () => null;
  const on = { oninput: changed, onchange: changed };
  function draw() {
    const k = kind.value;
    if (k === "tag" || k === "attribute") {
      const key = input({ maxlength: 64, placeholder: k === "tag" ? "plan" : "first_name", ...on });
      const op = select(OPS, on);
      const value = input({ maxlength: 256, ...on });
      detail.replaceChildren(field(k === "tag" ? "Tag name" : "Attribute name", key), field("Comparison", op), field("Value", value));
      read = () => {
        if (!key.value.trim()) return null;
        const attr = `${k === "tag" ? "tags" : "attributes"}.${key.value.trim()}`;
        if (op.value === "exists") return { attr, op: "exists" };
        return { attr, op: op.value, value: op.value === "in" ? list(value.value).map((v) => scalar(v, "eq")) : scalar(value.value, op.value) };
      };
    } else if (k === "platform") {
      const op = select([["eq", "is"], ["ne", "is not"]], on);
      const value = select([["ios", "iOS"], ["android", "Android"], ["web", "Web"]], on);
      detail.replaceChildren(field("Comparison", op), field("Platform", value));
      read = () => ({ attr: "platform", op: op.value, value: value.value });
    } else if (["locale", "country", "region", "timezone"].includes(k)) {
      const op = select(OPS.slice(0, 3), on);
      const hints = { locale: "de, pt-BR", country: "DE, US", region: "US-CA, GB-ENG", timezone: "Europe/Berlin" };
      const value = input({ maxlength: 512, placeholder: hints[k], ...on });
      detail.replaceChildren(field("Comparison", op), field("Value (commas for several)", value));
      read = () => {
        if (!value.value.trim()) return null;
        const items = list(value.value).map((v) => (k === "country" || k === "region" ? v.toUpperCase() : v));
        return { attr: k, op: op.value, value: op.value === "in" ? items : items[0] };
      };
    } else if (k === "near") {
      const lat = input({ type: "number", step: "any", min: -90, max: 90, ...on });
      const lon = input({ type: "number", step: "any", min: -180, max: 180, ...on });
      const radius = input({ type: "number", step: "any", min: 0, value: 5, ...on });
      detail.replaceChildren(field("Latitude", lat), field("Longitude", lon), field("Radius (km)", radius));
      read = () => (lat.value === "" || lon.value === "" ? null
        : { attr: "location", op: "near", value: { lat: Number(lat.value), lon: Number(lon.value), radius_km: Number(radius.value || 0) } });
    } else if (k === "event") {
      const name = input({ maxlength: 64, placeholder: "purchase", ...on });
      const measure = select([["count", "times done (count)"], ["sum", "total value (sum)"], ["last", "last done"]],
        { onchange: () => { shape(); changed(); } });
      const op = select([["gt", "more than"], ["lt", "fewer than"], ["eq", "exactly"]], on);
      const within = select([["within", "within the last"], ["not_within", "not within the last"]], on);
      const amount = input({ type: "number", min: 0, step: "any", value: 0, ...on });
      const unit = select(UNITS, on);
      const wOp = field("Comparison", op);
      const wWithin = field("When", within);
      const wUnit = field("Unit", unit);
      const shape = () => {
        const last = measure.value === "last";
        wOp.hidden = last;
        wWithin.hidden = !last;
        wUnit.hidden = !last;
      };
      detail.replaceChildren(field("Event name", name), field("Measure", measure), wOp, wWithin, field("Amount", amount), wUnit);
      shape();
      read = () => {
        if (!name.value.trim()) return null;
        const attr = `events.${name.value.trim()}.${measure.value}`;
        if (measure.value !== "last") return { attr, op: op.value, value: Number(amount.value || 0) };
        const leaf = { attr, op: "within", value: `P${unit.value === "H" ? "T" : ""}${Math.max(1, Math.round(Number(amount.value) || 1))}${unit.value}` };
        return within.value === "within" ? leaf : { not: leaf };
      };
    } else if (k === "segment") {
      const pick = select([["", "— choose —"]], on);
      savedSegments().then((segments) => {
        pick.append(...segments.map((s) => h("option", { value: s.segment_id }, s.name)));
        if (initial.segment) { pick.value = initial.segment; changed(); }
      });
      detail.replaceChildren(field("Segment", pick));
      read = () => (pick.value ? { segment: pick.value } : null);
    }
  }
  draw();
  return { node: h("div", { class: "condition" }, field("Condition on", kind), detail), value: () => read() };
}

/** A group of conditions and groups: match all, any, or none of them. */
function group(changed, depth = 0) {
  const match = select([["all", "all of"], ["any", "any of"], ["none", "none of"]], { onchange: changed });
  const items = [];
  const holder = h("div", { class: "items" });
  const add = (item) => {
    const row = h("div", { class: "item" }, item.node, button(item.isGroup ? "Remove group" : "Remove condition", () => {
      items.splice(items.indexOf(item), 1);
      row.remove();
      changed();
    }, { class: "secondary" }));
    items.push(item);
    holder.append(row);
    changed();
    row.querySelector("select, input")?.focus(); // keyboard users go on from what they added
    return item;
  };
  const node = h("fieldset", { class: `group depth-${depth}` },
    h("legend", {}, depth ? "Group" : "Audience"),
    field("Devices that match", match), holder,
    h("div", { class: "inline" },
      button("Add condition", () => add(condition(changed)), { class: "secondary" }),
      depth < 2 ? button("Add group", () => add({ ...group(changed, depth + 1), isGroup: true }), { class: "secondary" }) : null));
  const value = () => {
    const parts = items.map((i) => i.value()).filter(Boolean);
    if (!parts.length) return null;
    const inner = parts.length === 1 && match.value !== "any" ? parts[0] : { [match.value === "any" ? "any" : "all"]: parts };
    if (match.value === "none") return { not: parts.length === 1 ? parts[0] : { any: parts } };
    return inner;
  };
  return { node, value, add, addCondition: () => add(condition(changed)) };
}

/**
 * The builder and its live count. `value()` is the filter (null: everyone opted in).
 * `fixed` (a saved segment's id) adds a "Saved segment" pick as the first condition.
 */
export function audienceBuilder({ onchange = () => {} } = {}) {
  const count = h("output", { id: "audience-count", "aria-live": "polite" }, "…");
  const detail = h("span", { class: "muted", id: "audience-detail" });
  let asked = 0;
  let counted;
  const recount = async () => {
    const filter = root.value();
    const key = JSON.stringify(filter);
    if (key === counted) return; // editing that changes nothing asks nothing
    counted = key;
    const mine = ++asked;
    count.textContent = "counting…";
    try {
      const answer = await call("POST", "/v1/audience/count", { audience: filter });
      if (mine !== asked) return;
      count.textContent = (answer.estimated ? "≈ " : "") + String(answer.count);
      detail.textContent = answer.estimated ? ` (estimated from ${answer.scanned} of ${answer.devices} devices)` : "";
    } catch (error) {
      counted = undefined;
      if (mine === asked) {
        count.textContent = error instanceof ApiError && error.errors.length
          ? error.errors.map((e) => `${e.field}: ${e.reason}`).join("; ") : error.message;
      }
    }
  };
  let timer = null;
  const changed = () => {
    clearTimeout(timer);
    timer = setTimeout(recount, COUNT_DEBOUNCE_MS);
    onchange();
  };
  const root = group(changed);
  const node = h("div", { class: "audience" }, root.node, h("p", {}, "Devices it selects now: ", count, detail));
  changed();
  return { node, value: root.value, addCondition: root.addCondition };
}
