// Push campaign engine: web SDK, page helper (plain ES module, no build step).
//
//   import { PushClient } from "/push.js";
//   const push = new PushClient({ apiUrl, clientKey, vapidPublicKey });
//   push.setUserToken(tokenFromYourBackend);                           // when the page names a user_id
//   button.onclick = () => push.subscribe({ tags: { plan: "pro" } });  // on a user gesture
//   push.onData((data, message) => ...);                               // data-only messages
//   push.prime({ text: "Get back-in-stock alerts?" });                  // a soft prompt before the browser's
//
// The service worker (push-sw.js) imports the API helpers below, so both speak to the engine alike.

const DEVICE_FIELDS = ["platform", "token", "subscription", "timezone", "locale", "country", "region", "location",
  "user_id", "tags", "attributes", "quiet_hours", "opted_in"];
const STORAGE_KEY = "pushengine.device_id";
const SECRET_KEY = "pushengine.device_secret";
const DECLINED_KEY = "pushengine.prompt_declined_at"; // when "Not now" was chosen (ms since the epoch)
const DAY_MS = 24 * 3600 * 1000;

/** The device secret, where both the page and the service worker can read it: IndexedDB (a worker has no
 * localStorage). The engine shows a device's secret once, when it registers (or claims) the device. */
export const secretStore = {
  open() {
    return new Promise((resolve, reject) => {
      const request = indexedDB.open("pushengine", 1);
      request.onupgradeneeded = () => request.result.createObjectStore("kv");
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  },
  async get(deviceId) {
    if (!globalThis.indexedDB) return null;
    const db = await this.open();
    return new Promise((resolve) => {
      const request = db.transaction("kv").objectStore("kv").get(`${SECRET_KEY}.${deviceId}`);
      request.onsuccess = () => resolve(request.result || null);
      request.onerror = () => resolve(null);
    });
  },
  async set(deviceId, secret) {
    if (!globalThis.indexedDB) return;
    const db = await this.open();
    await new Promise((resolve, reject) => {
      const tx = db.transaction("kv", "readwrite");
      tx.objectStore("kv").put(secret, `${SECRET_KEY}.${deviceId}`);
      tx.oncomplete = resolve;
      tx.onerror = () => reject(tx.error);
    });
  },
};

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The zone and language this browser runs in, as the engine's device body names them. */
export function environment(nav = globalThis.navigator) {
  return {
    timezone: Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC",
    locale: (nav && nav.language) || "en",
  };
}

/** The API with the app's client key: JSON bodies, retries with exponential backoff and jitter on network
 * errors, 429 and 5xx (honouring Retry-After), never on other 4xx (the body is wrong: retrying won't help). */
export class EngineApi {
  constructor({ apiUrl, clientKey, attempts = 5, baseDelayMs = 500, maxDelayMs = 30000, fetch: f,
    deviceSecret = null, userToken = null, onDeviceSecret = null } = {}) {
    if (!apiUrl || !clientKey) throw new TypeError("apiUrl and clientKey are required");
    this.apiUrl = apiUrl.replace(/\/+$/, "");
    this.clientKey = clientKey;
    this.deviceSecret = deviceSecret; // X-Device-Secret: proves this device (the engine issued it once)
    this.userToken = userToken; // X-User-Token: the app's backend's token for the user_id the page names
    this.onDeviceSecret = onDeviceSecret; // called with a newly issued secret, to keep it
    this.attempts = attempts;
    this.baseDelayMs = baseDelayMs;
    this.maxDelayMs = maxDelayMs;
    this.fetch = f || globalThis.fetch.bind(globalThis);
  }

  delay(attempt, retryAfter) {
    const seconds = Number(retryAfter);
    if (retryAfter && Number.isFinite(seconds)) return Math.min(this.maxDelayMs, Math.max(0, seconds * 1000));
    const ceiling = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** attempt);
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  async request(method, path, body) {
    let last;
    for (let attempt = 0; attempt < this.attempts; attempt++) {
      let retryAfter = null;
      try {
        const response = await this.fetch(this.apiUrl + path, {
          method,
          headers: { authorization: `Bearer ${this.clientKey}`, ...(body ? { "content-type": "application/json" } : {}),
            ...(this.deviceSecret ? { "x-device-secret": this.deviceSecret } : {}),
            ...(this.userToken && body && body.user_id ? { "x-user-token": this.userToken } : {}) },
          body: body ? JSON.stringify(body) : undefined,
          keepalive: true,
        });
        if (response.status < 500 && response.status !== 429) {
          const text = await response.text();
          const json = text ? JSON.parse(text) : null;
          if (!response.ok && response.status !== 404) {
            const error = new Error(`${method} ${path}: ${response.status} ${json && json.message}`);
            error.status = response.status;
            error.body = json;
            throw error;
          }
          return { status: response.status, body: json };
        }
        retryAfter = response.headers.get("retry-after");
        last = new Error(`${method} ${path}: ${response.status}`);
      } catch (error) {
        if (error.status) throw error; // a 4xx: the request itself is wrong
        last = error; // network error (offline, DNS, CORS refused): try again
      }
      if (attempt < this.attempts - 1) await sleep(this.delay(attempt, retryAfter));
    }
    throw last;
  }

  /** Register or update the web device; keeps what the engine already holds (tags, user_id...) unless
   * `profile` says otherwise, since PUT replaces the device. */
  async registerDevice(deviceId, subscription, profile = {}, nav = globalThis.navigator) {
    const path = `/v1/devices/${encodeURIComponent(deviceId)}`;
    // 403: the device has no secret here yet (imported, or registered before secrets): the PUT claims it
    const current = await this.request("GET", path).catch((error) => {
      if (error.status === 403) return { status: 403, body: null };
      throw error;
    });
    const kept = {};
    if (current.status === 200 && current.body) {
      for (const field of DEFAULT_KEPT) if (current.body[field] !== undefined) kept[field] = current.body[field];
    }
    const json = typeof subscription.toJSON === "function" ? subscription.toJSON() : subscription;
    const body = { ...kept, ...environment(nav), ...profile, platform: "web",
      subscription: { endpoint: json.endpoint, keys: { p256dh: json.keys.p256dh, auth: json.keys.auth } } };
    for (const field of Object.keys(body)) if (!DEVICE_FIELDS.includes(field)) delete body[field];
    const registered = (await this.request("PUT", path, body)).body;
    if (registered && registered.device_secret) {
      this.deviceSecret = registered.device_secret; // shown once: keep it before anything else
      if (this.onDeviceSecret) await this.onDeviceSecret(registered.device_secret);
    }
    return registered;
  }

  unregisterDevice(deviceId) {
    return this.request("DELETE", `/v1/devices/${encodeURIComponent(deviceId)}`);
  }

  /** POST /v1/events: delivered, opened, clicked (properties.action_id: the button tapped). */
  postEvent(deviceId, name, campaignId, properties) {
    const event = { device_id: deviceId, name };
    if (campaignId) event.campaign_id = campaignId;
    if (properties) event.properties = properties;
    return this.request("POST", "/v1/events", event);
  }

  /** POST /v1/events/opt-in: a soft prompt was shown (`prompted`), or answered (`accepted`, `declined`). */
  postOptIn(outcome, promptId, variant) {
    const report = { outcome, prompt_id: promptId };
    if (variant) report.variant = variant;
    return this.request("POST", "/v1/events/opt-in", report);
  }
}

/** The soft prompt's dialog: text and two buttons, labelled for assistive technology, focus kept inside
 * (Tab and Shift+Tab cycle the buttons), Escape answers "Not now". Resolves to true (Allow) or false. */
export function softPrompt({ text, title = null, allow = "Allow", later = "Not now", container = document.body,
  onShown = null } = {}) {
  return new Promise((resolve) => {
    const previous = document.activeElement;
    const dialog = document.createElement("div");
    dialog.className = "pushengine-prompt";
    dialog.setAttribute("role", "dialog");
    dialog.setAttribute("aria-modal", "true");
    const ids = `pushengine-prompt-${Math.random().toString(36).slice(2, 10)}`;
    dialog.setAttribute("aria-describedby", `${ids}-text`);
    const heading = document.createElement("h2");
    heading.id = `${ids}-title`;
    heading.textContent = title || "Notifications";
    dialog.setAttribute("aria-labelledby", heading.id);
    const body = document.createElement("p");
    body.id = `${ids}-text`;
    body.textContent = text;
    const yes = document.createElement("button");
    yes.type = "button";
    yes.className = "pushengine-allow";
    yes.textContent = allow;
    const no = document.createElement("button");
    no.type = "button";
    no.className = "pushengine-later";
    no.textContent = later;
    dialog.style.cssText = "position:fixed;inset:auto 1rem 1rem 1rem;max-width:24rem;margin:0 auto;padding:1rem;" +
      "background:#fff;color:#1d2330;border:1px solid #8a93a6;border-radius:.5rem;box-shadow:0 .5rem 2rem #0003;z-index:2147483647";
    dialog.append(heading, body, no, yes);
    const close = (answer) => {
      dialog.remove();
      if (previous && typeof previous.focus === "function") previous.focus();
      resolve(answer);
    };
    yes.addEventListener("click", () => close(true));
    no.addEventListener("click", () => close(false));
    dialog.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        close(false);
      } else if (event.key === "Tab") { // keep focus on the two buttons while the dialog is open
        event.preventDefault();
        (document.activeElement === yes ? no : yes).focus();
      }
    });
    container.append(dialog);
    yes.focus();
    if (onShown) onShown(dialog);
  });
}


// what a re-registration carries over from the engine's copy of the device
const DEFAULT_KEPT = ["country", "region", "location", "user_id", "tags", "attributes", "quiet_hours", "opted_in"];

/** The service worker's script URL, carrying what it needs to report (it has no page storage). */
export function workerUrl(script, { apiUrl, clientKey, deviceId }) {
  const url = new URL(script, globalThis.location.href);
  url.searchParams.set("api", apiUrl);
  url.searchParams.set("key", clientKey);
  url.searchParams.set("device", deviceId);
  return url.href;
}

/** base64url (the engine's VAPID public key) -> bytes for applicationServerKey. */
export function keyBytes(base64url) {
  const text = atob(base64url.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((base64url.length + 3) % 4));
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

function sameKey(buffer, bytes) {
  if (!buffer) return true; // the browser does not say: keep the subscription
  const given = new Uint8Array(buffer);
  return given.length === bytes.length && given.every((b, i) => b === bytes[i]);
}

export class PushClient {
  /**
   * apiUrl: the engine's API (https://push.example.com); clientKey: the app's client key;
   * vapidPublicKey: what PUT /v1/apps/{id}/providers/webpush answered; serviceWorker: where the site serves
   * push-sw.js (its scope must cover the pages); deviceId: kept in localStorage unless given.
   */
  constructor({ apiUrl, clientKey, vapidPublicKey, serviceWorker = "/push-sw.js", scope = "/", deviceId,
    storage = globalThis.localStorage, attempts, userToken = null } = {}) {
    this.api = new EngineApi({ apiUrl, clientKey, attempts, userToken,
      onDeviceSecret: (secret) => this.keepSecret(secret) });
    this.vapidPublicKey = vapidPublicKey;
    this.serviceWorker = serviceWorker;
    this.scope = scope;
    this.storage = storage;
    this.deviceId = deviceId || (storage && storage.getItem(STORAGE_KEY)) || crypto.randomUUID();
    if (storage) storage.setItem(STORAGE_KEY, this.deviceId);
    this.api.deviceSecret = (storage && storage.getItem(`${SECRET_KEY}.${this.deviceId}`)) || null;
    this._registration = null;
  }

  /** The token your backend minted for the signed-in user (HS256 with the app's identity secret): sent
   * with every registration that names a user_id. */
  setUserToken(token) {
    this.api.userToken = token || null;
  }

  /** Keeps a newly issued device secret beside the device id, and where the service worker reads it. */
  async keepSecret(secret) {
    if (this.storage) this.storage.setItem(`${SECRET_KEY}.${this.deviceId}`, secret);
    await secretStore.set(this.deviceId, secret);
  }

  static supported() {
    return "serviceWorker" in navigator && "PushManager" in globalThis && "Notification" in globalThis;
  }

  /** The service worker registration (registers it on first use). */
  async registration() {
    if (!this._registration) {
      const url = workerUrl(this.serviceWorker, { apiUrl: this.api.apiUrl, clientKey: this.api.clientKey,
        deviceId: this.deviceId });
      await navigator.serviceWorker.register(url, { type: "module", scope: this.scope });
      this._registration = await navigator.serviceWorker.ready;
    }
    return this._registration;
  }

  /** Call from a click handler: browsers only ask for permission on a user gesture. Resolves to the
   * registered device, or null when the person said no. */
  async subscribe(profile = {}) {
    const permission = await Notification.requestPermission();
    if (permission !== "granted") return null;
    const registration = await this.registration();
    const key = keyBytes(this.vapidPublicKey);
    let subscription = await registration.pushManager.getSubscription();
    if (subscription && !sameKey(subscription.options && subscription.options.applicationServerKey, key)) {
      await subscription.unsubscribe(); // made with another VAPID key: the push service would refuse our sends
      subscription = null;
    }
    subscription = subscription ||
      (await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key }));
    return this.api.registerDevice(this.deviceId, subscription, profile);
  }

  /**
   * A soft prompt before the browser's own: shows `softPrompt` (text, Allow / Not now) when the browser
   * would still ask (permission "default") and "Not now" was not chosen in the last `snoozeDays` days; on
   * Allow asks the browser and subscribes. Reports `prompted`, `accepted` and `declined` to the engine
   * (POST /v1/events/opt-in, counted per app; `variant` names the wording when a site tries several).
   * Resolves to the registered device, or null (declined, blocked, snoozed, or the browser said no).
   */
  async prime({ text = "Get notified about offers and updates?", title, allow, later, snoozeDays = 7, variant,
    profile = {}, container } = {}) {
    if (!PushClient.supported()) return null;
    if (Notification.permission === "granted") return this.subscribe(profile);
    if (Notification.permission === "denied") return null; // the browser will not ask again
    const declinedAt = Number(this.storage && this.storage.getItem(DECLINED_KEY));
    if (declinedAt && Date.now() - declinedAt < snoozeDays * DAY_MS) return null;
    const promptId = crypto.randomUUID();
    const report = (outcome) => this.api.postOptIn(outcome, promptId, variant).catch((error) => {
      console.warn("push: could not report the prompt", outcome, error); // never blocks the person's answer
    });
    let reported = null;
    const allowed = await softPrompt({ text, title, allow, later, container,
      onShown: () => { reported = report("prompted"); } });
    if (!allowed) {
      if (this.storage) this.storage.setItem(DECLINED_KEY, String(Date.now()));
      await Promise.all([reported, report("declined")]);
      return null;
    }
    if (this.storage) this.storage.removeItem(DECLINED_KEY);
    // the browser's request first, still inside the click (browsers ask only on a user gesture)
    const subscribing = this.subscribe(profile);
    await Promise.all([reported, report("accepted")]);
    return subscribing;
  }

  /** On every page load: re-registers when the browser's subscription changed while no worker ran. */
  async refresh(profile = {}) {
    if (Notification.permission !== "granted") return null;
    const registration = await this.registration();
    const subscription = await registration.pushManager.getSubscription();
    return subscription ? this.api.registerDevice(this.deviceId, subscription, profile) : null;
  }

  /** Stop pushes: the browser's subscription and the engine's device both go. */
  async unsubscribe() {
    const registration = await this.registration();
    const subscription = await registration.pushManager.getSubscription();
    if (subscription) await subscription.unsubscribe();
    await this.api.unregisterDevice(this.deviceId);
    if (this.storage) this.storage.removeItem(`${SECRET_KEY}.${this.deviceId}`);
  }

  /** Data-only messages (content_available): the worker shows nothing and posts them here. */
  onData(callback) {
    const listener = (event) => {
      if (event.data && event.data.type === "pushengine:data") callback(event.data.data, event.data.message);
    };
    navigator.serviceWorker.addEventListener("message", listener);
    return () => navigator.serviceWorker.removeEventListener("message", listener);
  }
}
