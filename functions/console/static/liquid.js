// Enough of Liquid to preview a message as a device will see it: `{{ path | filter: arg }}` over the
// device's fields, with the engine's filters (default, upcase, downcase, capitalize, append, prepend,
// years_since). The engine renders the real send; this is only the preview, and it never evaluates code.

const FILTERS = {
  default: (v, arg) => (v === undefined || v === null || v === "" || v === false ? arg : v),
  upcase: (v) => String(v ?? "").toUpperCase(),
  downcase: (v) => String(v ?? "").toLowerCase(),
  capitalize: (v) => { const s = String(v ?? ""); return s.charAt(0).toUpperCase() + s.slice(1); },
  append: (v, arg) => String(v ?? "") + String(arg ?? ""),
  prepend: (v, arg) => String(arg ?? "") + String(v ?? ""),
  years_since: (v) => {
    const d = new Date(String(v));
    if (Number.isNaN(d.getTime())) return "";
    const now = new Date();
    let years = now.getUTCFullYear() - d.getUTCFullYear();
    if (now.getUTCMonth() < d.getUTCMonth() || (now.getUTCMonth() === d.getUTCMonth() && now.getUTCDate() < d.getUTCDate())) years -= 1;
    return years;
  },
};

const literal = (text) => {
  const t = text.trim();
  if (/^".*"$|^'.*'$/.test(t)) return t.slice(1, -1);
  if (/^-?\d+(\.\d+)?$/.test(t)) return Number(t);
  return undefined;
};

const lookup = (context, dotted) => dotted.split(".").reduce((v, k) => (v && typeof v === "object" ? v[k] : undefined), context);

/** The template with each `{{ ... }}` replaced by its value for `context` (tags `{% %}` are left out). */
export function render(template, context) {
  return String(template || "")
    .replace(/\{%.*?%\}/gs, "")
    .replace(/\{\{(.*?)\}\}/gs, (_, inner) => {
      const [head, ...filters] = inner.split("|");
      let value = literal(head) ?? lookup(context, head.trim());
      for (const f of filters) {
        const [name, arg] = f.split(/:(.*)/s);
        const fn = FILTERS[name.trim()];
        if (fn) value = fn(value, arg === undefined ? undefined : literal(arg));
      }
      return value === undefined || value === null ? "" : String(value);
    });
}

/** The fields a message may name, for the picker: the device's own, then its attributes and tags. */
export function fieldsOf(device) {
  const base = ["attributes.first_name", "locale", "country", "region", "timezone", "platform", "user_id"];
  const own = [
    ...Object.keys((device && device.attributes) || {}).map((k) => `attributes.${k}`),
    ...Object.keys((device && device.tags) || {}).map((k) => `tags.${k}`),
  ];
  return [...new Set([...own, ...base])];
}

/** The text a device of this locale reads: its localization (pt-BR, then pt), else the default. */
export function localized(message, locale) {
  const all = message.localizations || {};
  const keys = Object.keys(all);
  const exact = keys.find((k) => k.toLowerCase() === String(locale || "").toLowerCase());
  const lang = keys.find((k) => k.toLowerCase() === String(locale || "").split("-")[0].toLowerCase());
  const chosen = all[exact || lang] || {};
  return { title: chosen.title || message.title || "", body: chosen.body || message.body || "", locale: exact || lang || "default" };
}
