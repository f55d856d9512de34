// Shared building blocks of every view: elements made from data (every API value goes in as text, never
// as HTML), labelled form controls, tables, and how a refusal reads. One home for each.
import { ApiError } from "./api.js";

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "value" && "value" in node) node.value = v ?? "";
    else if (k === "checked" || k === "selected") node[k] = Boolean(v);
    else if (v !== false && v !== undefined && v !== null) node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

let serial = 0;
/** A page-unique id, for `for`, `aria-describedby` and the like. */
export const uid = (prefix = "f") => `${prefix}-${++serial}`;

/** A control with its visible label (`for` names it, so the label is its whole accessible name) and an
 * optional hint it is described by. */
export function field(label, control, hint) {
  if (!control.id) control.id = uid("c");
  const wrap = h("div", { class: "field" }, h("label", { for: control.id, class: "label-text" }, label), control);
  if (hint) {
    const id = uid("hint");
    control.setAttribute("aria-describedby", id);
    wrap.append(h("small", { id, class: "muted" }, hint));
  }
  return wrap;
}

export const input = (attrs = {}) => h("input", attrs);
export const textarea = (attrs = {}) => h("textarea", attrs);

/** A <select>; options are [value, text] pairs or plain strings. */
export function select(options, attrs = {}, current) {
  const node = h("select", attrs, ...options.map((o) => {
    const [value, text] = Array.isArray(o) ? o : [o, o];
    return h("option", { value }, text);
  }));
  if (current !== undefined && current !== null) node.value = String(current);
  return node;
}

/** A checkbox with its label after it. */
export function checkbox(label, attrs = {}) {
  const box = h("input", { type: "checkbox", ...attrs });
  return { box, node: h("label", { class: "check" }, box, " ", label) };
}

/** A group of radio buttons in a fieldset; `value()` reads the chosen one. */
export function radios(legend, name, options, current, onchange) {
  const set = h("fieldset", { class: "radios" }, h("legend", {}, legend));
  for (const [value, text] of options) {
    set.append(h("label", { class: "check" },
      h("input", { type: "radio", name, value, checked: value === current, onchange }), " ", text));
  }
  return { node: set, value: () => set.querySelector("input:checked")?.value };
}

export const button = (text, onclick, attrs = {}) => h("button", { type: "button", onclick, ...attrs }, text);

// Every table of three columns or more is watched: when its room changes it is measured as a table, and
// stacked (class `stacked`) when even with its words wrapped it is wider than its room, or when its room is
// a phone's (narrower than STACK_BELOW px), where a row read as a card beats a row of narrow columns.
const STACK_BELOW = 640;
const fitting = new ResizeObserver((entries) => {
  for (const { target } of entries) {
    const room = target.clientWidth;
    if (!room || Number(target.dataset.room) === room) continue; // hidden, or only its height changed
    target.dataset.room = String(room);
    const t = target.firstElementChild;
    t.classList.remove("stacked");
    if (room < STACK_BELOW || t.getBoundingClientRect().width > room + 0.5) t.classList.add("stacked");
  }
});

/** A table; `rows` are arrays of cells (a cell is text, a node, or {text, attrs}) or ready <tr> nodes.
 * It fits its room at every width, nothing scrolls sideways: its words wrap, and a table of three columns
 * or more that is still too wide is stacked, each row a card of its cells, each labelled by its column's
 * header (the CSS shows `data-label`, set here for every cell, so no view sets it); a name-value table
 * stays one, its text wrapping. `attrs.label` names its region (by default its first headers); the other
 * attrs go on the <table>. The roles are set explicitly: a browser may drop a table's semantics once CSS
 * lays it out as cards. */
export function table(headers, rows, { label, ...attrs } = {}) {
  const cell = (tag, c) => (c && typeof c === "object" && !(c instanceof Node) ? h(tag, c.attrs || {}, c.text) : h(tag, {}, c));
  const body = h("tbody", { role: "rowgroup" }, rows.map((r) => (r instanceof Node ? r : h("tr", {}, r.map((c) => cell("td", c))))));
  for (const tr of body.rows) {
    tr.setAttribute("role", "row");
    [...tr.cells].forEach((td, i) => {
      td.setAttribute("role", td.tagName === "TH" ? "rowheader" : "cell");
      td.dataset.label = headers[i] || "";
    });
  }
  const name = label || `Table: ${headers.filter(Boolean).slice(0, 3).join(", ")}${headers.length > 3 ? ", …" : ""}`;
  const region = h("div", { class: "scroll", tabindex: 0, role: "region", "aria-label": name },
    h("table", { ...attrs, class: [headers.length > 2 ? "cards" : "", attrs.class].filter(Boolean).join(" "), role: "table" },
      h("thead", { role: "rowgroup" }, h("tr", { role: "row" }, headers.map((t) => h("th", { scope: "col", role: "columnheader" }, t)))),
      body));
  if (headers.length > 2) fitting.observe(region);
  return region;
}

export const card = (...children) => h("section", { class: "card" }, ...children);

export const money = (amounts) => {
  const parts = Object.entries(amounts || {}).map(([code, value]) =>
    new Intl.NumberFormat("en", { style: "currency", currency: code }).format(value));
  return parts.length ? parts.join(" · ") : "—";
};
export const pct = (v) => (v === null || v === undefined ? "—" : `${(v * 100).toFixed(2)}%`);
export const when = (iso) => (iso ? String(iso).slice(0, 16).replace("T", " ") : "—");

/** An API refusal with its reason: the message, then each field named and why. */
export const reason = (error) => (error instanceof ApiError
  ? [error.message, ...(error.errors || []).map((e) => `${e.field}: ${e.reason}`)].join(" — ")
  : String(error && error.message ? error.message : error));
export const failure = (error) => h("p", { class: "error", role: "alert" }, reason(error));
/** An empty alert region a form reports into. */
export const alertBox = () => h("p", { class: "error", role: "alert" });

const main = () => document.getElementById("main");
/** Replace the page's content and move focus to its heading (keyboard and screen-reader users land there). */
export function show(...nodes) {
  main().replaceChildren(...nodes);
  const heading = main().querySelector("h1");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
  }
}

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** Comma-separated text as a list of trimmed, non-empty items. */
export const list = (text) => String(text || "").split(",").map((s) => s.trim()).filter(Boolean);

/** An ISO 8601 duration from an amount and a unit (M minutes, H hours, D days): 2, "H" -> "PT2H". */
export const isoDuration = (n, unit) => (unit === "D" ? `P${Number(n) || 0}D` : `PT${Number(n) || 0}${unit}`);
