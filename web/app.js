/* TinyBMS gateway web UI: plain JavaScript, no framework, every asset served by the gateway.
 * Data: REST (docs/api.md) and the WebSocket /ws (live status, events, log lines, CAN frames).
 * All text from the gateway is inserted with textContent, never as HTML. */
"use strict";
(function () {
  const view = document.getElementById("view");
  const state = {
    status: null, statusAt: 0, auth: null, page: null, ws: null, wsOpen: false, wsRetry: 1000, lastMsg: 0,
    logLevel: "info", pollTimer: null, returnTo: "#/",
  };

  /* ---- DOM helpers ------------------------------------------------------------------------- */
  function h(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    if (attrs) {
      for (const k in attrs) {
        const v = attrs[k];
        if (v == null || v === false) continue;
        if (k === "text") e.textContent = v;
        else if (k === "class") e.className = v;
        else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
        else if (k === "value") e.value = v;
        else if (k === "checked" || k === "disabled" || k === "hidden") e[k] = !!v;
        else e.setAttribute(k, v === true ? "" : v);
      }
    }
    for (const c of kids.flat(Infinity)) {
      if (c == null || c === false) continue;
      e.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    }
    return e;
  }
  const byId = (id) => document.getElementById(id);
  function setText(id, v) { const e = byId(id); if (e && e.textContent !== String(v)) e.textContent = v; }
  function fix(v, d) { return v == null || !isFinite(v) ? "–" : Number(v).toFixed(d); }
  function human(s) { return String(s || "").replace(/_/g, " "); }
  function ago(ms) {
    if (ms == null) return "never";
    if (ms < 2000) return ms + " ms";
    const s = Math.round(ms / 1000);
    return s < 120 ? s + " s" : s < 7200 ? Math.round(s / 60) + " min" : Math.round(s / 3600) + " h";
  }
  function dur(s) {
    if (s == null) return "–";
    const d = Math.floor(s / 86400), hh = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    return (d ? d + " d " : "") + (d || hh ? hh + " h " : "") + m + " min";
  }
  /* One 24-hour time format everywhere: "14:05", "14:05:09", "2026-12-07 14:05". */
  const pad2 = (n) => String(n).padStart(2, "0");
  function hm(ms) { const d = new Date(ms); return pad2(d.getHours()) + ":" + pad2(d.getMinutes()); }
  function hms(ms) { return hm(ms) + ":" + pad2(new Date(ms).getSeconds()); }
  function ymd(ms) { const d = new Date(ms); return d.getFullYear() + "-" + pad2(d.getMonth() + 1) + "-" + pad2(d.getDate()); }
  function dateTime(ms) { return ymd(ms) + " " + hm(ms); }
  /* a wall-clock time: the time alone today, with the date otherwise */
  function when(ms) { return ymd(ms) === ymd(Date.now()) ? hm(ms) : dateTime(ms); }
  /* a duration for people: "2 h 10 min", "45 min", "3 d 4 h" */
  function span(s) {
    if (s == null || !isFinite(s)) return "–";
    const m = Math.round(s / 60), d = Math.floor(m / 1440), hh = Math.floor(m % 1440 / 60), mm = m % 60;
    return d ? d + " d " + hh + " h" : hh ? hh + " h " + mm + " min" : Math.max(1, mm) + " min";
  }
  function energyText(wh) {
    if (wh == null || !isFinite(wh)) return "–";
    return Math.abs(wh) < 1000 ? wh.toFixed(0) + " Wh" : (wh / 1000).toFixed(2) + " kWh";
  }
  function unitText(u) { return u === "degC" ? "°C" : u || ""; }
  /* Names and units a person reads for the BMS statistics and version fields (GET /api/bms/stats,
   * /api/bms/version), and words for the identifiers among their values. */
  const FIELD_LABELS = {
    total_distance_km: ["Total distance", "km"], max_discharge_current_a: ["Highest discharge current", "A"],
    max_charge_current_a: ["Highest charge current", "A"], max_cell_diff_v: ["Largest cell difference", "mV", 1000],
    under_voltage_count: ["Under-voltage cut-offs"], over_voltage_count: ["Over-voltage cut-offs"],
    discharge_over_current_count: ["Discharge over-current cut-offs"], charge_over_current_count: ["Charge over-current cut-offs"],
    over_heat_count: ["Over-heat cut-offs"], charging_count: ["Charges started"], full_charge_count: ["Full charges"],
    min_pack_temp_c: ["Lowest pack temperature", "°C"], max_pack_temp_c: ["Highest pack temperature", "°C"],
    last_reset_cause: ["Last reset cause"], last_wakeup_source: ["Last wake-up source"],
    stats_cleared_s: ["Statistics cleared at (BMS lifetime)", "lifetime"],
    hardware_version: ["Hardware version"], hardware_changes: ["Hardware revision"], firmware_public: ["Firmware"],
    firmware_internal: ["Firmware (internal build)"], bootloader: ["Bootloader"], register_map: ["Register map version"],
    power_type: ["Board"], current_sensor: ["Current sensor"], serial_hex: ["Serial number"],
  };
  const VALUE_WORDS = {
    high_power_150a: "high power (150 A)", low_power_30a: "low power (30 A)", internal_shunt: "internal shunt",
    internal_hall: "internal Hall sensor", external: "external sensor", power_on_reset: "power-on reset",
    low_power_reset: "low-power reset", window_watchdog: "window watchdog", independent_watchdog: "independent watchdog",
    software_reset: "software reset", pin_reset: "reset pin", option_byte_load: "option byte load",
    charger_connected: "charger connected", ignition: "ignition", discharging_detected: "discharging detected",
    uart_communication: "UART communication", undocumented: "undocumented code", unknown: "unknown",
  };
  /* limits.limiter{} names (docs/api.md) as the short cause under each limit */
  const LIMITER_WORDS = {
    config_max: "the configured maximum", bms_cutoff: "the BMS's settings", float: "the float target",
    cell_voltage_high: "the highest cell", cell_over_voltage: "a cell over-voltage", cell_voltage_low: "the lowest cell",
    cell_under_voltage: "a cell under-voltage", temperature_low: "low temperature", temperature_high: "high temperature",
    soc_taper: "the state of charge", imbalance_hold: "cell imbalance", bms_fault: "a BMS fault", ramp: "the ramp",
    stale_data: "stale data", no_data: "no data", failsafe: "the fail-safe",
  };
  function fieldRow(k, v) {
    const [label, unit, mul] = FIELD_LABELS[k] || [human(k).replace(/^./, (c) => c.toUpperCase())];
    let t;
    if (typeof v === "string") t = VALUE_WORDS[v] || human(v);
    else if (unit === "lifetime") t = dur(v);
    else if (typeof v === "number" && unit) t = (mul ? +(v * mul).toFixed(1) : v) + " " + unit;
    else t = String(v);
    return [label, t];
  }
  function pill(text, kind, id) { return h("span", {class: "pill pill-" + (kind || "off"), id: id, text: text}); }
  function setPill(id, text, kind) {
    const e = byId(id);
    if (!e) return;
    e.textContent = text;
    e.className = "pill pill-" + kind;
  }
  /* How far the battery values shown can be trusted (GET /api/status limits.data, bms.age_ms):
   * fresh, stale (older than failsafe.stale_ms: charging stopped), lost (fail-safe) or none (never
   * any data). The age keeps growing while no status arrives, and data the page has not heard
   * about for 5 s is stale whatever the last status said. */
  function bmsData(st) {
    const b = (st && st.bms) || {}, l = (st && st.limits) || {};
    if (!st) return {kind: "unknown", age: null};
    if (!b.valid || l.data === "no_data") return {kind: "none", age: null};
    const since = state.statusAt ? Date.now() - state.statusAt : 0;
    const age = (b.age_ms != null ? b.age_ms : l.data_age_ms || 0) + since;
    let kind = l.data === "fresh" ? "fresh" : l.data === "failsafe" ? "lost" : "stale";
    if (kind === "fresh" && since > 5000) kind = "stale";
    return {kind: kind, age: age};
  }
  /* The header pill (battery data, not the page connection) and every element marked data-bms:
   * greyed with the age when stale or lost, "no data" when there never was any. */
  function showFreshness() {
    const f = bmsData(state.status);
    const txt = {fresh: "battery data live", stale: "battery data stale · " + ago(f.age),
      lost: "battery data lost · " + ago(f.age), none: "no battery data", unknown: "battery …"}[f.kind];
    setPill("bms-data", txt, {fresh: "ok", stale: "warn", lost: "bad", none: "bad", unknown: "off"}[f.kind]);
    byId("bms-data").title = {fresh: "The TinyBMS answers; the values are current.",
      stale: "The TinyBMS has not answered for " + ago(f.age) + ": charging is stopped and the values shown are the last ones received.",
      lost: "The TinyBMS has not answered for " + ago(f.age) + ": the fail-safe applies and the values shown are the last ones received.",
      none: "No data from the TinyBMS since the gateway started.", unknown: "Waiting for the gateway."}[f.kind];
    const wait = byId("dash-wait");
    if (wait) {
      const w = f.kind === "none" ? "No data from the TinyBMS yet: nothing is known about the battery."
        : f.kind === "stale" || f.kind === "lost" ? "No data from the TinyBMS for " + ago(f.age) +
          ": the battery values below are the last ones received, not the battery now." : "";
      if (wait.textContent !== w) wait.textContent = w;
      wait.hidden = !w;
      wait.classList.toggle("bad", f.kind !== "stale");
    }
    const note = f.kind === "none" ? "no data" : f.kind === "stale" || f.kind === "lost" ? "last data " + ago(f.age) + " ago" : "";
    for (const e of document.querySelectorAll("[data-bms]")) {
      e.classList.toggle("stale", f.kind === "stale" || f.kind === "lost" || f.kind === "none");
      e.classList.toggle("lost", f.kind === "lost" || f.kind === "none");
      const n = e.querySelector(".age-note");
      if (n && n.textContent !== note) n.textContent = note;
      if (n) n.hidden = !note;
    }
  }
  /* A table that becomes one card per row on a phone (app.css table.stack): each cell gets its
   * column's name as data-label; the first column is the card's heading when `headFirst`. */
  function stackTable(t, headFirst) {
    const names = Array.from(t.querySelectorAll("thead th")).map((th) => th.textContent);
    t.classList.add("stack");
    for (const tr of t.querySelectorAll("tbody tr")) {
      Array.from(tr.children).forEach((td, i) => {
        if (headFirst && i === 0) td.classList.add("stack-head");
        else td.setAttribute("data-label", names[i] || "");
      });
    }
  }
  function levelKind(l) { return l === "ok" ? "ok" : l === "warning" ? "warn" : l === "alarm" ? "bad" : "off"; }

  let toastTimer = null;
  function toast(msg, bad) {
    const t = byId("toast");
    t.textContent = msg;
    t.className = "toast" + (bad ? " bad" : "");
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { t.hidden = true; }, bad ? 7000 : 3500);
  }

  /* A modal dialog; resolves true when the primary button is pressed. With `action` (async), the
   * primary button runs it first and the dialog stays open when it fails: the reason is shown in
   * the dialog (#dialog-err) and at the row of the field it names ([data-key] inside the body). */
  function confirmDialog(title, body, okText, danger, action) {
    const d = byId("dialog");
    d.textContent = "";
    return new Promise((resolve) => {
      const msg = h("p", {class: "err", id: "dialog-err", role: "alert", hidden: true});
      const ok = h("button", {class: danger ? "danger" : "primary", id: "dialog-ok", text: okText || "OK",
        onclick: async () => {
          if (action) {
            ok.disabled = true;
            msg.hidden = true;
            for (const e of d.querySelectorAll(".row-bad")) e.classList.remove("row-bad");
            for (const e of d.querySelectorAll(".row-err")) e.textContent = "";
            try {
              await action();
            } catch (e) {
              const f = e.data && e.data.field;
              const row = f && Array.from(d.querySelectorAll("[data-key]")).find((r) => r.dataset.key === f);
              msg.textContent = row ? "Nothing was changed: the gateway refused " + f + " (marked above)." : e.message;
              msg.hidden = false;
              if (row) {
                row.classList.add("row-bad");
                const re = row.querySelector(".row-err");
                if (re) re.textContent = e.message;
                row.scrollIntoView({block: "nearest"});
              }
              ok.disabled = false;
              return;
            }
          }
          d.close();
          resolve(true);
        }});
      const cancel = h("button", {id: "dialog-cancel", text: okText === null ? "Close" : "Cancel", onclick: () => { d.close(); resolve(false); }});
      d.appendChild(h("h2", {text: title}));
      d.appendChild(typeof body === "string" ? h("p", {text: body}) : body);
      d.appendChild(msg);
      d.appendChild(h("div", {class: "row"}, okText === null ? null : ok, cancel));
      d.addEventListener("cancel", () => resolve(false), {once: true});
      d.showModal();
    });
  }

  /* ---- reviewing changes: shared by BMS settings and the configuration ------------------------ */
  /* A value as a person reads it, with its unit. */
  function showValue(v, unit) {
    if (v === undefined || v === null) return "–";
    if (v === true) return "on";
    if (v === false) return "off";
    if (v === "") return "(empty)";
    return String(v) + (unit ? " " + unit : "");
  }
  /* The diff table of a review dialog: one row per change, old → new, with its flags; a refused
   * value's reason goes to the row's .row-err (confirmDialog). rows: {key, label, sub, old, new,
   * unit, flags: [nodes], error} */
  function diffTable(id, rows) {
    return h("table", {class: "diff", id: id}, h("tbody", {}, rows.map((r) => h("tr", {"data-key": r.key, class: r.error ? "row-bad" : null},
      h("td", {}, h("div", {text: r.label}), r.sub ? h("div", {class: "small muted mono", text: r.sub}) : null, r.flags || null,
        h("div", {class: "small err row-err", text: r.error || ""})),
      h("td", {class: "num old", text: showValue(r.old, r.unit)}), h("td", {text: "→"}),
      h("td", {class: "num new", text: showValue(r.new, r.unit)})))));
  }
  /* Why a number is refused, or null: the same checks as the gateway's, before anything is sent. */
  function rangeError(name, v, min, max, unit, integer) {
    if (typeof v !== "number" || !isFinite(v)) return name + " must be a number";
    if (integer && Math.round(v) !== v) return name + " = " + v + " must be a whole number";
    if ((min != null && v < min) || (max != null && v > max)) {
      return name + " = " + v + " is out of range: allowed " + (min != null ? min : "…") + " … " + (max != null ? max : "…") + (unit ? " " + unit : "");
    }
    return null;
  }
  /* The bar under a form that stays on screen (app.css .actions): "N unsaved changes", Review,
   * Discard. ids: {review, discard, count, result}. Returns the element; .update(n) refreshes it. */
  function saveBar(ids, reviewText, onReview, onDiscard) {
    const count = h("span", {id: ids.count, class: "pending", text: "No unsaved changes"});
    const rv = h("button", {class: "primary", id: ids.review, text: reviewText, disabled: true, onclick: onReview});
    const dc = h("button", {id: ids.discard, text: "Discard changes", disabled: true, onclick: onDiscard});
    const bar = h("div", {class: "row actions savebar"}, count, rv, dc, h("span", {class: "spacer"}), h("span", {id: ids.result, class: "small"}));
    bar.pending = 0;
    bar.update = (n) => {
      bar.pending = n;
      count.textContent = n ? n + " unsaved change" + (n > 1 ? "s" : "") : "No unsaved changes";
      count.classList.toggle("has", n > 0);
      rv.disabled = !n; /* fields are read-only without a login; a lost session asks at the write */
      dc.disabled = !n;
    };
    return bar;
  }
  /* Bring the first refused field into view and say so in the save bar (`where`), not in a toast
   * that would cover the bar. */
  function showFieldErrors(errs, where) {
    const res = byId(where);
    if (res) {
      res.textContent = !errs.length ? "" : "Not saved: " + (errs.length === 1 ? errs[0].msg : errs.length + " values are not allowed (marked)");
      res.className = "small err";
    }
    if (!errs.length) return;
    errs[0].inp.scrollIntoView({block: "center"});
    errs[0].inp.focus({preventScroll: true});
  }

  /* ---- API --------------------------------------------------------------------------------- */
  /* A change refused with 401 means the session is gone (a restart, an expiry, a logout
   * elsewhere): the login dialog asks for the password in place, and the same request is sent
   * once more after a login, so nothing typed on the page is lost. */
  async function api(method, path, body, again) {
    const opt = {method: method, headers: {}, credentials: "same-origin", cache: "no-store"};
    if (body !== undefined) {
      opt.headers["Content-Type"] = "application/json";
      opt.body = typeof body === "string" ? body : JSON.stringify(body);
    }
    const r = await fetch(path, opt);
    const ct = r.headers.get("Content-Type") || "";
    const data = ct.indexOf("application/json") === 0 ? await r.json() : await r.text();
    if (!r.ok) {
      const e = new Error((data && data.reason) || r.status + " " + r.statusText);
      e.status = r.status;
      e.data = data;
      e.retryAfter = r.headers.get("Retry-After");
      if (r.status === 401 && method === "GET") needLogin();
      if (r.status === 401 && method !== "GET" && path.indexOf("/api/auth/") !== 0) {
        if (!again && await sessionLost()) return api(method, path, body, true);
        e.message = state.auth && state.auth.setup_required ? "Nothing was changed: no admin password is set yet."
          : "Nothing was changed: you are not logged in.";
      }
      throw e;
    }
    return data;
  }
  const get = (p) => api("GET", p);

  function needLogin() {
    if (location.hash !== "#/login" && location.hash !== "#/setup") {
      state.returnTo = location.hash || "#/";
      location.hash = "#/login";
    }
  }

  /* The session ended behind the page's back: update the header and ask for the password in a
   * dialog over the page. Resolves true once logged in again (one dialog for any number of
   * refused requests). */
  function sessionLost() {
    if (state.relogin) return state.relogin;
    state.relogin = (async () => {
      await refreshAuth();
      if (loggedIn()) return true; /* someone logged in meanwhile (another tab) */
      const d = byId("login-dialog");
      d.textContent = "";
      const ok = await new Promise((resolve) => {
        const done = (v) => { d.close(); resolve(v); };
        d.appendChild(h("h2", {text: state.auth.setup_required ? "Set the admin password" : "Log in again"}));
        d.appendChild(h("p", {id: "relogin-why", text: state.auth.setup_required
          ? "This gateway has no admin password any more. Set one with the setup code to carry on; nothing was changed yet."
          : "You are no longer logged in: the gateway restarted or your login expired. Log in to carry on; nothing was changed yet."}));
        d.appendChild(authForm(state.auth.setup_required ? "setup" : "login", "rl-", () => done(true), () => done(false)));
        d.addEventListener("cancel", () => resolve(false), {once: true});
        d.showModal();
      });
      if (ok && state.renderedLoggedOut && !pageDirty()) route(); /* its fields were read-only */
      return ok;
    })();
    state.relogin.finally(() => { state.relogin = null; });
    return state.relogin;
  }
  /* Whether the page holds edits a re-render would throw away. */
  function pageDirty() { return !!document.querySelector("#view .changed"); }

  function showError(where, e) {
    const msg = e.data && e.data.field ? e.data.field + ": " + e.message : e.message;
    if (where) where.textContent = msg;
    toast(msg, true);
  }

  /* ---- authentication ----------------------------------------------------------------------- */
  async function refreshAuth() {
    const was = state.auth && state.auth.logged_in;
    try {
      state.auth = await get("/api/auth");
    } catch (e) {
      state.auth = {setup_required: false, logged_in: false, read_only_open: false};
    }
    /* logged in before, not now, without "Log out": the session ended by itself */
    if (was && !state.auth.logged_in && !state.loggingOut) state.sessionEnded = true;
    if (state.auth.logged_in) state.sessionEnded = false;
    clearTimeout(state.authTimer);
    if (state.auth.logged_in && state.auth.expires_in_s != null) {
      state.authTimer = setTimeout(refreshAuth, Math.min(state.auth.expires_in_s + 2, 86400) * 1000);
    }
    const who = byId("who");
    who.textContent = "";
    if (state.auth.logged_in) {
      who.appendChild(h("span", {class: "name", text: "admin"}));
      who.appendChild(h("button", {id: "logout", text: "Log out", onclick: logout}));
    } else if (!state.auth.setup_required) {
      who.appendChild(h("a", {href: "#/login", id: "login-link", class: "btn", text: "Log in"}));
    }
    const b = byId("banner");
    b.textContent = "";
    if (state.auth.setup_required) {
      b.appendChild(document.createTextNode("No admin password is set yet: nothing can be changed until it is. "));
      b.appendChild(h("a", {href: "#/login", text: "Set the admin password"}));
    } else if (state.sessionEnded) {
      b.appendChild(document.createTextNode("You were logged out: the gateway restarted or your login expired. "));
      b.appendChild(h("button", {id: "relogin", text: "Log in again", onclick: () => sessionLost()}));
    }
    b.hidden = !b.firstChild;
    return state.auth;
  }

  /* The login form, or while no password is set the set-up form (setup code + new password).
   * Used by the login page and the login dialog (ids prefixed with `pre`). */
  function authForm(kind, pre, onDone, onCancel) {
    const id = (x) => pre + x;
    const cancel = onCancel ? h("button", {type: "button", id: id("auth-cancel"), text: "Cancel", onclick: onCancel}) : null;
    if (kind === "setup") {
      const f = h("form", {class: "formbox", id: id("setup-form"), onsubmit: async (ev) => {
        ev.preventDefault();
        if (byId(id("new-pw")).value !== byId(id("new-pw2")).value) { setText(id("setup-msg"), "The passwords differ."); return; }
        try {
          await api("POST", "/api/auth/setup", {code: byId(id("setup-code")).value.trim(), password: byId(id("new-pw")).value});
          await refreshAuth();
          toast("Admin password set; you are logged in");
          onDone();
        } catch (e) { showError(byId(id("setup-msg")), e); }
      }},
        h("p", {class: "hint", text: "This gateway has no password yet. The one-time setup code is printed in the gateway's log when it starts (journalctl -u tinybms-gateway) and stored in the file web-setup-code of its state directory, so only someone with access to the gateway itself can set the password."}),
        h("label", {for: id("setup-code"), text: "Setup code"}),
        h("input", {type: "text", id: id("setup-code"), autocomplete: "off", placeholder: "XXXXX-XXXXX", required: true}),
        h("label", {for: id("new-pw"), text: "New admin password (at least 8 characters)"}),
        h("input", {type: "password", id: id("new-pw"), autocomplete: "new-password", minlength: 8, required: true}),
        h("label", {for: id("new-pw2"), text: "Password again"}),
        h("input", {type: "password", id: id("new-pw2"), autocomplete: "new-password", minlength: 8, required: true}),
        h("p", {class: "row"}, h("button", {class: "primary", type: "submit", id: id("setup-btn"), text: "Set password"}), cancel),
        h("p", {class: "small err", id: id("setup-msg")}));
      return f;
    }
    return h("form", {class: "formbox", id: id("login-form"), onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        await api("POST", "/api/auth/login", {password: byId(id("password")).value});
        await refreshAuth();
        toast("Logged in");
        onDone();
      } catch (e) {
        showError(byId(id("login-msg")), e.status === 429 ? Object.assign(e, {message: e.message + " (" + e.retryAfter + " s)"}) : e);
      }
    }},
      h("label", {for: id("password"), text: "Admin password"}),
      h("input", {type: "password", id: id("password"), autocomplete: "current-password", required: true, autofocus: true}),
      h("p", {class: "row"}, h("button", {class: "primary", type: "submit", id: id("login-btn"), text: "Log in"}), cancel),
      h("p", {class: "small err", id: id("login-msg")}),
      h("p", {class: "hint", text: "Forgot it? Stop the gateway, delete web-admin.json in its state directory and start it again: it prints a new setup code."}));
  }

  async function logout() {
    try { await api("POST", "/api/auth/logout", {}); } catch (e) { /* the cookie is gone either way */ }
    state.loggingOut = true;
    await refreshAuth();
    state.loggingOut = false;
    toast("Logged out");
    route();
  }

  function loggedIn() { return state.auth && state.auth.logged_in; }

  function loginNote() {
    if (loggedIn()) return null;
    return h("p", {class: "hint"}, "Read-only: ", h("a", {href: "#/login", text: "log in"}), " to change anything.");
  }

  /* ---- live data: WebSocket, with polling as a fallback --------------------------------------- */
  function wsTopics() {
    const t = ["status", "events"];
    if (state.page === "logs") t.push("log");
    if (state.page === "can") t.push("can");
    return t;
  }

  function wsSubscribe() {
    if (state.ws && state.wsOpen) {
      state.ws.send(JSON.stringify({subscribe: wsTopics(), log_level: state.logLevel}));
    }
  }

  function setConn(text, kind) { setPill("conn", text, kind); }

  function wsConnect() {
    let ws;
    try {
      ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
    } catch (e) {
      startPolling();
      return;
    }
    state.ws = ws;
    ws.onopen = () => {
      state.wsOpen = true; state.wsRetry = 1000; stopPolling(); setConn("live", "ok"); wsSubscribe();
      if (state.wsWasOpen) refreshAuth(); /* back after a restart or an outage: is the session still there? */
      state.wsWasOpen = true;
    };
    ws.onmessage = (ev) => {
      let m;
      try { m = JSON.parse(ev.data); } catch (e) { return; }
      state.lastMsg = Date.now();
      dispatch(m);
    };
    ws.onclose = () => {
      state.wsOpen = false;
      state.ws = null;
      setConn("reconnecting", "warn");
      startPolling();
      setTimeout(wsConnect, state.wsRetry);
      state.wsRetry = Math.min(state.wsRetry * 2, 15000);
    };
  }

  function startPolling() {
    if (state.pollTimer) return;
    const poll = async () => {
      try {
        const st = await get("/api/status");
        dispatch({type: "status", data: st});
        if (!state.wsOpen) setConn("polling", "info");
      } catch (e) {
        if (!state.wsOpen) setConn("offline", "off");
      }
    };
    poll();
    state.pollTimer = setInterval(poll, 2000);
  }

  function stopPolling() {
    clearInterval(state.pollTimer);
    state.pollTimer = null;
  }

  /* The gateway started from the backup of its configuration file (GET /api/status config_warning). */
  function configBanner(warning) {
    const b = byId("cfg-banner");
    b.textContent = warning ? "Configuration: " + warning : "";
    b.hidden = !warning;
  }

  /* Conditions the gateway warns about (GET /api/status warnings), on the pages where they matter. */
  function warningsBanner() {
    const w = (state.status && state.status.warnings) || [];
    const b = byId("warn-banner");
    const show = w.length > 0 && ["dashboard", "config", "settings"].indexOf(state.page) >= 0;
    const txt = show ? w.map((x) => x.text).join("\n") : "";
    if (b.dataset.txt !== txt) {
      b.dataset.txt = txt;
      b.textContent = "";
      for (const x of show ? w : []) {
        b.appendChild(h("p", {class: "warn-item", "data-id": x.id}, h("strong", {text: "Warning: "}), x.text,
          x.id === "bms_full_voltage" && state.page !== "settings" ? h("span", {}, " ", h("a", {href: "#/settings", text: "BMS settings"})) : null));
      }
    }
    b.hidden = !show;
  }

  function dispatch(m) {
    const p = pages[state.page];
    if (m.type === "status") {
      state.status = m.data;
      state.statusAt = Date.now();
      configBanner(m.data.config_warning);
      warningsBanner();
      if (p && p.update) p.update(m.data);
      showFreshness();
    } else if (m.type === "events") {
      const faults = (m.events || []).filter((e) => e.class === "fault");
      if (faults.length) toast("TinyBMS: " + faults[faults.length - 1].name, true);
      if (p && p.onEvents) p.onEvents(m);
    } else if (m.type === "log") {
      if (p && p.onLog) p.onLog(m);
    } else if (m.type === "can") {
      if (p && p.onCan) p.onCan(m.data);
    }
  }

  /* ---- pages ---------------------------------------------------------------------------------- */
  const pages = {};

  /* The dashboard's per-cell bars: height within min-margin..max+margin, lowest and highest
   * marked, a dot over a cell that is balancing. */
  function miniCells(box, v, act) {
    if (!box || !v.length) return;
    const mn = Math.min(...v), mx = Math.max(...v), margin = Math.max(0.01, (mx - mn) * 0.5);
    const lo = mn - margin, hi = mx + margin;
    if (box.children.length !== v.length) {
      box.textContent = "";
      v.forEach((_, i) => box.appendChild(h("div", {class: "mc", id: "mc-" + (i + 1)}, h("i"))));
    }
    v.forEach((cv, i) => {
      const c = box.children[i];
      c.className = "mc" + (cv === mn ? " min" : "") + (cv === mx && mx !== mn ? " max" : "") + (act[i] ? " bal" : "");
      c.firstChild.style.height = Math.max(4, (cv - lo) / (hi - lo) * 100) + "%";
      c.title = "Cell " + (i + 1) + ": " + cv.toFixed(3) + " V" + (act[i] ? ", balancing" : "");
    });
  }

  /* Dashboard ---------------------------------------------------------------------------------- */
  pages.dashboard = {
    title: "Dashboard",
    render() {
      const card = (title, ...kids) => h("section", {class: "card"}, h("h2", {text: title}), ...kids);
      /* a card of BMS values: greyed with the age of its data when they are not fresh */
      const bcard = (id, title, ...kids) => h("section", {class: "card", id: id, "data-bms": ""},
        h("div", {class: "row card-head"}, h("h2", {text: title}), h("span", {class: "spacer"}), h("span", {class: "age-note", hidden: true})), ...kids);
      const kv = (...pairs) => h("dl", {class: "kv"}, pairs.map(([k, id]) => [h("dt", {text: k}), h("dd", {id: id, text: "–"})]));
      view.appendChild(h("h1", {text: "Dashboard"}));
      view.appendChild(h("p", {id: "dash-wait", class: "data-warn", role: "alert", hidden: true}));
      view.appendChild(h("div", {class: "grid"},
        bcard("card-battery", "Battery",
          h("div", {class: "row"},
            h("div", {class: "big num"}, h("span", {id: "pack-v", text: "–"}), h("span", {class: "unit", text: "V"})),
            h("div", {class: "big num"}, h("span", {id: "pack-a", text: "–"}), h("span", {class: "unit", text: "A"}))),
          h("div", {class: "num"}, h("span", {id: "pack-p", text: "–"}), " ", h("span", {class: "muted", text: "W"})),
          h("div", {class: "row"}, h("span", {class: "muted", text: "State of charge"}), h("span", {class: "spacer"}),
            h("strong", {id: "soc", class: "num", text: "–"})),
          h("div", {class: "soc"}, h("div", {id: "soc-bar"})),
          h("div", {class: "ttg", id: "ttg", hidden: true}),
          kv(["Remaining", "ah-rem"], ["Consumed", "ah-used"], ["Installed capacity", "cap"], ["Charge cycles", "cycles"],
            ["BMS status", "bms-status"], ["Data age", "bms-age"], ["State of health", "soh"])),
        h("section", {class: "card", id: "card-limits"}, h("h2", {text: "Charge limits for the GX"}),
          h("div", {class: "row"}, pill("–", "off", "chg-state"), pill("–", "off", "data-state"), h("span", {class: "spacer"})),
          h("div", {class: "sent", id: "sent", text: "–"}),
          h("dl", {class: "kv allow"}, h("dt", {text: "Charging"}), h("dd", {id: "chg-ok", text: "–"}),
            h("dt", {text: "Discharging"}), h("dd", {id: "dis-ok", text: "–"})),
          h("div", {class: "limits", id: "limits"},
            h("div", {}, h("div", {class: "muted small", text: "CVL"}), h("div", {class: "big num"}, h("span", {id: "cvl", text: "–"}), h("span", {class: "unit", text: "V"})), h("div", {class: "small muted", id: "cvl-lim"})),
            h("div", {}, h("div", {class: "muted small", text: "CCL"}), h("div", {class: "big num"}, h("span", {id: "ccl", text: "–"}), h("span", {class: "unit", text: "A"})), h("div", {class: "small muted", id: "ccl-lim"})),
            h("div", {}, h("div", {class: "muted small", text: "DCL"}), h("div", {class: "big num"}, h("span", {id: "dcl", text: "–"}), h("span", {class: "unit", text: "A"})), h("div", {class: "small muted", id: "dcl-lim"}))),
          h("div", {class: "reason", id: "reason", text: "–"})),
        card("Alarms", h("div", {id: "alarms"}, "–")),
        bcard("card-cells", "Cells",
          h("div", {class: "minicells", id: "mini-cells", role: "img", "aria-label": "cell voltages"}),
          kv(["Lowest", "cell-min"], ["Highest", "cell-max"], ["Spread", "cell-spread"], ["Balancing", "cell-bal"]),
          h("p", {}, h("a", {href: "#/cells", text: "All cells →"}))),
        card("Victron GX and CAN",
          h("div", {class: "row"}, pill("–", "off", "gx"), pill("–", "off", "can-mode")),
          kv(["GX last seen", "gx-seen"], ["Frames sent", "can-tx"], ["TX errors", "can-err"], ["CAN port", "can-port"])),
        card("TinyBMS link",
          h("div", {class: "row"}, pill("–", "off", "link")),
          kv(["Last reply", "link-age"], ["Requests / replies", "link-req"], ["Timeouts", "link-to"],
             ["CRC errors", "link-crc"], ["Last round trip", "link-rtt"])),
        bcard("card-temps", "Temperatures", kv(["Internal", "t-int"], ["External 1", "t-e1"], ["External 2", "t-e2"])),
        card("Energy",
          h("table", {class: "energy", id: "energy-days"},
            h("thead", {}, h("tr", {}, h("th", {text: ""}), h("th", {class: "num", text: "Charged"}), h("th", {class: "num", text: "Discharged"}))),
            h("tbody", {}, [["Today", "today"], ["Yesterday", "yday"], ["Last 7 days", "week"], ["All time", "total"]].map(([k, id]) =>
              h("tr", {}, h("th", {text: k}), h("td", {class: "num", id: "e-" + id + "-in", text: "–"}), h("td", {class: "num", id: "e-" + id + "-out", text: "–"}))))),
          h("p", {class: "small muted", id: "e-clock", hidden: true}),
          kv(["Gateway up", "uptime"])),
        h("section", {class: "card wide", id: "card-power"}, h("h2", {text: "Power, last hour"}),
          h("p", {class: "small muted", text: "Positive: charging, negative: discharging."}), h("div", {id: "dash-power"}))));
      if (state.status) this.update(state.status);
      this.loadExtra();
      this.timer = setInterval(() => this.loadExtra(), 30000);
    },
    leave() { clearInterval(this.timer); },
    /* daily energy (GET /api/energy) and the power chart (GET /api/history), every 30 s */
    async loadExtra() {
      try {
        const e = await get("/api/energy");
        if (!byId("energy-days")) return;
        const d = e.daily || {};
        const put = (id, o) => { setText("e-" + id + "-in", o ? energyText(o.charged_wh) : "–"); setText("e-" + id + "-out", o ? energyText(o.discharged_wh) : "–"); };
        put("today", d.today); put("yday", d.yesterday); put("week", d.last_7_days);
        put("total", {charged_wh: e.charged_wh, discharged_wh: e.discharged_wh});
        const note = byId("e-clock");
        note.textContent = d.clock_known ? "Days by the gateway's clock; today is " + d.date + "."
          : "The gateway does not know the date yet (its clock is not set): energy is counted in the totals only, days start once the clock is known.";
        note.hidden = false;
      } catch (err) { /* the next try in 30 s; the status keeps flowing */ }
      try {
        const hi = await get("/api/history?range=1h&points=240");
        const box = byId("dash-power");
        if (!box) return;
        const pw = hi.t.map((_, i) => hi.pack_v[i] == null || hi.pack_a[i] == null ? null : hi.pack_v[i] * hi.pack_a[i]);
        TbChart.line(box, {t: hi.t, gap_s: hi.interval_s * 3, zero: true, height: 160, title: "power",
          series: [{label: "Power", unit: "W", data: pw, color: "#2471a3", dec: 0}]});
      } catch (err) { /* idem */ }
    },
    update(st) {
      const b = st.bms || {};
      if (!byId("pack-v")) return;
      setText("pack-v", fix(b.pack_voltage_v, 2));
      setText("pack-a", fix(b.pack_current_a, 1));
      setText("pack-p", fix(b.power_w, 0));
      setText("soc", b.valid ? fix(b.soc_pct, 1) + " %" : "–");
      const bar = byId("soc-bar");
      if (bar) bar.style.width = (b.valid ? Math.max(0, Math.min(100, b.soc_pct)) : 0) + "%";
      setText("bms-status", human(b.status) || "–");
      setText("bms-age", ago(b.age_ms));
      setText("soh", b.soh_pct == null ? "–" : fix(b.soh_pct, 0) + " %");
      const bt = st.battery || {};
      const tg = bt.time_to_go || {};
      const ttg = byId("ttg");
      const ttgText = !b.valid || tg.seconds == null || (tg.direction !== "full" && tg.direction !== "empty") ? ""
        : (tg.direction === "full" ? "full in " : "empty in ") + span(tg.seconds) + (tg.source === "estimate" ? " (estimate)" : "");
      setText("ttg", ttgText);
      ttg.hidden = !ttgText;
      const ah = (v) => v == null ? "–" : fix(v, 1) + " Ah";
      setText("ah-rem", bt.remaining_ah == null ? "–" : ah(bt.remaining_ah) + (bt.capacity_ah ? " (" + fix(b.soc_pct, 0) + "\u00a0%)" : ""));
      setText("ah-used", ah(bt.consumed_ah));
      setText("cap", bt.capacity_ah == null ? "not read yet" : ah(bt.capacity_ah));
      setText("cycles", bt.charge_count == null ? "not read yet"
        : bt.charge_count + (bt.charge_count === 1 ? " charge, " : " charges, ") + bt.full_charge_count + " full");
      const allow = (id, ok, why, lim) => {
        const e = byId(id);
        e.textContent = ok ? "allowed" + (lim != null ? ", up to " + fix(lim, 1) + "\u00a0A" : "") : "not allowed: " + (why || "–");
        e.className = ok ? "ok" : "err";
      };
      allow("chg-ok", bt.charge_allowed, bt.charge_why_not, (st.limits || {}).ccl_a);
      allow("dis-ok", bt.discharge_allowed, bt.discharge_why_not, (st.limits || {}).dcl_a);
      const l = st.limits || {};
      /* what the GX actually receives: nothing at all while CAN is stopped (fail-safe
       * stop_transmitting, no data yet), the computed limits otherwise */
      const can = st.can || {};
      const sent = l.transmit === true && (can.mode === "transmitting" || can.mode === "shadow");
      const shadow = can.mode === "shadow";
      const lim = l.limiter || {};
      for (const [id, v, d, k] of [["cvl", l.cvl_v, 2, "cvl"], ["ccl", l.ccl_a, 1, "ccl"], ["dcl", l.dcl_a, 1, "dcl"]]) {
        setText(id, sent ? fix(v, d) : "–");
        setText(id + "-lim", !sent ? "not sent" : lim[k] && lim[k] !== "none" ? "limited by " + (LIMITER_WORDS[lim[k]] || human(lim[k])) : "");
      }
      byId("limits").classList.toggle("notsent", !sent || shadow);
      let what, kind;
      if (!sent && l.state === "no_data") { what = "nothing is sent yet: waiting for the first data from the TinyBMS"; kind = "bad"; }
      else if (!sent) { what = "nothing is sent: the GX stops charging and discharging within ~3 s"; kind = "bad"; }
      else if (shadow) { what = "shadow mode: computed, not sent (another BMS talks to the GX)"; kind = "info"; }
      else if (l.ccl_a === 0 && l.dcl_a === 0) { what = "0 A sent: the GX neither charges nor discharges"; kind = "bad"; }
      else if (l.ccl_a === 0) { what = "CCL 0 A sent: charging stopped; discharging allowed up to " + fix(l.dcl_a, 1) + " A"; kind = "warn"; }
      else if (l.dcl_a === 0) { what = "DCL 0 A sent: discharging stopped; charging allowed up to " + fix(l.ccl_a, 1) + " A"; kind = "warn"; }
      else { what = "sent to the GX"; kind = "ok"; }
      setText("sent", what);
      byId("sent").className = "sent sent-" + kind;
      setText("reason", l.reason || "–");
      /* the phase only while it is what happens: stopped or discharging say so */
      let ph, pk;
      if (!l.state || l.state === "no_data") { ph = "no data"; pk = "off"; }
      else if (l.charge_stopped || l.state === "stale" || l.state === "failsafe") {
        ph = l.discharge_stopped ? "charging and discharging stopped" : "charging stopped";
        pk = l.state === "failsafe" || l.discharge_stopped ? "bad" : "warn";
      } else if (b.pack_current_a < 0) { ph = "discharging"; pk = "info"; }
      else { ph = human(l.state); pk = "ok"; }
      setPill("chg-state", ph, pk);
      byId("chg-state").title = "charge phase: " + human(l.phase || l.state || "–") + ", state: " + human(l.state || "–");
      setPill("data-state", l.data === "fresh" ? "data fresh" : l.data === "stale" ? "data stale · " + ago(l.data_age_ms)
        : l.data === "failsafe" ? "data lost · " + ago(l.data_age_ms) : "no data",
        l.data === "fresh" ? "ok" : l.data === "stale" ? "warn" : "bad");
      const al = st.alarms || {};
      const box = byId("alarms");
      box.textContent = "";
      const active = Object.keys(al).filter((k) => al[k] === "warning" || al[k] === "alarm");
      if (!active.length) box.appendChild(h("div", {}, pill("all clear", "ok", "alarms-ok")));
      /* alarm_since_s: seconds per category, in the order of the alarms object's categories */
      const since = st.alarm_since_s || [], cats = Object.keys(al).slice(0, since.length);
      for (const k of active) {
        const s = since[cats.indexOf(k)], age = s == null ? null : s * 1000;
        const at = age == null ? "" : st.time_ms ? "since " + when(st.time_ms - age) : "for " + ago(age);
        box.appendChild(h("div", {class: "row"}, pill(al[k], levelKind(al[k])), h("span", {text: human(k)}),
          h("span", {class: "small muted", text: at})));
      }
      if (al.internal_reason && al.internal_reason !== "none") box.appendChild(h("p", {class: "small muted", text: "BMS internal: " + human(al.internal_reason)}));
      if (al.fault_event) box.appendChild(h("p", {class: "small muted", text: "Fault event: " + al.fault_event}));
      if (b.valid) {
        const cells = b.cells_v || [];
        const imin = cells.indexOf(Math.min(...cells)), imax = cells.indexOf(Math.max(...cells));
        setText("cell-min", fix(b.min_cell_v, 3) + " V (cell " + (imin + 1) + ")");
        setText("cell-max", fix(b.max_cell_v, 3) + " V (cell " + (imax + 1) + ")");
        setText("cell-spread", fix(b.cell_spread_v * 1000, 0) + " mV");
        const bal = (b.balancing_active || []).filter(Boolean).length;
        setText("cell-bal", bal ? bal + " cell" + (bal > 1 ? "s" : "") : "none");
        miniCells(byId("mini-cells"), cells, b.balancing_active || []);
      }
      const gx = st.gx || {};
      setPill("gx", gx.present ? "GX present" : "GX not seen", gx.present ? "ok" : "warn");
      setPill("can-mode", "CAN " + human(can.mode || "–"), can.mode === "transmitting" ? "ok" : can.mode === "shadow" ? "info" : "warn");
      setText("gx-seen", gx.last_seen_ms == null ? "never" : ago(gx.last_seen_ms) + " ago");
      setText("can-tx", can.tx_frames);
      setText("can-err", can.tx_errors);
      setText("can-port", can.port_open ? "open" : "closed" + (can.port_error ? ": " + can.port_error : ""));
      const lk = st.link || {};
      setPill("link", lk.up ? "link up" : "link down", lk.up ? "ok" : "bad");
      setText("link-age", lk.last_reply_age_ms == null ? "never" : ago(lk.last_reply_age_ms) + " ago");
      setText("link-req", lk.requests + " / " + lk.replies);
      setText("link-to", lk.timeouts);
      setText("link-crc", lk.crc_errors);
      setText("link-rtt", lk.last_rtt_ms == null ? "–" : lk.last_rtt_ms + " ms");
      const t = b.temperatures_c || {};
      setText("t-int", t.internal == null ? "–" : fix(t.internal, 1) + " °C");
      setText("t-e1", t.external_1 == null ? "no sensor" : fix(t.external_1, 1) + " °C");
      setText("t-e2", t.external_2 == null ? "no sensor" : fix(t.external_2, 1) + " °C");
      setText("uptime", dur(st.uptime_s));
    },
  };

  /* Cells -------------------------------------------------------------------------------------- */
  pages.cells = {
    title: "Cells",
    render() {
      view.appendChild(h("h1", {text: "Cells"}));
      view.appendChild(h("section", {class: "card", id: "card-cellpage", "data-bms": ""},
        h("div", {class: "row card-head"}, h("h2", {text: "Pack"}), h("span", {class: "spacer"}), h("span", {class: "age-note", hidden: true})),
        h("dl", {class: "kv", id: "cell-summary"},
          h("dt", {text: "Lowest"}), h("dd", {id: "c-min", text: "–"}),
          h("dt", {text: "Highest"}), h("dd", {id: "c-max", text: "–"}),
          h("dt", {text: "Spread"}), h("dd", {id: "c-spread", text: "–"}),
          h("dt", {text: "Average"}), h("dd", {id: "c-avg", text: "–"}),
          h("dt", {text: "Balancing"}), h("dd", {id: "c-bal", text: "–"})),
        h("h3", {text: "Cell voltages"}),
        h("div", {class: "legend"}, h("span", {}, h("i", {class: "sw-bar"}), "cell"), h("span", {}, h("i", {class: "sw-min"}), "lowest"),
          h("span", {}, h("i", {class: "sw-max"}), "highest"), h("span", {text: "⚡ balancing  • wants balancing"}),
          h("span", {id: "c-scale"})),
        h("div", {class: "cells", id: "cells"})));
      if (state.status) this.update(state.status);
    },
    update(st) {
      const b = st.bms || {};
      const box = byId("cells");
      if (!box) return;
      if (!b.valid) { box.textContent = "no data"; return; }
      const v = b.cells_v || [];
      const mn = Math.min(...v), mx = Math.max(...v);
      const margin = Math.max(0.02, mx - mn);
      const lo = mn - margin, hi = mx + margin;
      setText("c-scale", "bars from " + lo.toFixed(3) + " to " + hi.toFixed(3) + " V");
      if (box.children.length !== v.length) {
        box.textContent = "";
        v.forEach((_, i) => box.appendChild(h("div", {class: "cell", id: "cell-" + (i + 1)},
          h("div", {class: "bal"}), h("div", {class: "bar"}, h("div", {class: "fill"})), h("div", {class: "v"}), h("div", {class: "muted", text: "#" + (i + 1)}))));
      }
      const act = b.balancing_active || [], need = b.balancing_needed || [];
      v.forEach((cv, i) => {
        const c = box.children[i];
        c.className = "cell" + (cv === mn ? " min" : "") + (cv === mx && mx !== mn ? " max" : "");
        c.querySelector(".fill").style.height = Math.max(2, (cv - lo) / (hi - lo) * 100) + "%";
        c.querySelector(".v").textContent = cv.toFixed(3);
        c.querySelector(".bal").textContent = act[i] ? "⚡" : need[i] ? "•" : "";
        c.title = "Cell " + (i + 1) + ": " + cv.toFixed(4) + " V" + (act[i] ? ", balancing" : need[i] ? ", wants balancing" : "");
      });
      setText("c-min", mn.toFixed(3) + " V (cell " + (v.indexOf(mn) + 1) + ")");
      setText("c-max", mx.toFixed(3) + " V (cell " + (v.indexOf(mx) + 1) + ")");
      setText("c-spread", ((mx - mn) * 1000).toFixed(1) + " mV");
      setText("c-avg", (v.reduce((a, x) => a + x, 0) / v.length).toFixed(3) + " V");
      const na = act.filter(Boolean).length, nn = need.filter(Boolean).length;
      setText("c-bal", na + " active, " + nn + " wanted");
    },
  };

  /* Charts ------------------------------------------------------------------------------------- */
  pages.charts = {
    title: "Charts",
    range: "1h",
    render() {
      view.appendChild(h("h1", {text: "History"}));
      const bar = h("div", {class: "row"});
      for (const r of ["1h", "24h", "7d"]) {
        bar.appendChild(h("button", {class: r === this.range ? "primary" : "", id: "range-" + r, text: r,
          onclick: () => { this.range = r; route(); }}));
      }
      bar.appendChild(h("span", {class: "spacer"}));
      bar.appendChild(h("a", {class: "btn", id: "csv", href: "/api/history.csv?range=" + this.range, download: "", text: "Download CSV"}));
      view.appendChild(h("section", {class: "card"}, bar, h("p", {class: "hint", id: "hist-info"})));
      const mk = (id, title) => h("section", {class: "card wide"}, h("h2", {text: title}), h("div", {id: id}));
      view.appendChild(h("div", {class: "grid"},
        mk("ch-v", "Pack voltage and CVL"), mk("ch-a", "Current and current limits"),
        mk("ch-soc", "State of charge"), mk("ch-cell", "Lowest and highest cell"), mk("ch-t", "Highest temperature")));
      this.load();
      this.timer = setInterval(() => this.load(), this.range === "1h" ? 15000 : 60000);
    },
    leave() { clearInterval(this.timer); },
    async load() {
      let d;
      try { d = await get("/api/history?range=" + this.range + "&points=600"); } catch (e) { showError(byId("hist-info"), e); return; }
      if (!byId("ch-v")) return;
      setText("hist-info", d.count + (d.count === 1 ? " point" : " points") + ", one per " + d.interval_s + " s, kept on the gateway (24 h at 10 s, 7 d at 1 min).");
      const neg = (a) => a.map((x) => x == null ? null : -x);
      const gap = d.interval_s * 3;
      TbChart.line(byId("ch-v"), {t: d.t, gap_s: gap, series: [
        {label: "Pack", unit: "V", data: d.pack_v, color: "#2471a3"}, {label: "CVL", unit: "V", data: d.cvl_v, color: "#c0392b", dash: true}]});
      TbChart.line(byId("ch-a"), {t: d.t, gap_s: gap, zero: true, series: [
        {label: "Current", unit: "A", data: d.pack_a, color: "#2471a3", dec: 1},
        {label: "CCL", unit: "A", data: d.ccl_a, color: "#1e8449", dash: true, dec: 1},
        {label: "−DCL", unit: "A", data: neg(d.dcl_a), color: "#c0392b", dash: true, dec: 1}]});
      TbChart.line(byId("ch-soc"), {t: d.t, gap_s: gap, series: [{label: "SOC", unit: "%", data: d.soc_pct, color: "#1e8449", dec: 1}]});
      TbChart.line(byId("ch-cell"), {t: d.t, gap_s: gap, series: [
        {label: "Lowest", unit: "V", data: d.cell_min_v, color: "#e67e22", dec: 3}, {label: "Highest", unit: "V", data: d.cell_max_v, color: "#8e44ad", dec: 3}]});
      TbChart.line(byId("ch-t"), {t: d.t, gap_s: gap, series: [{label: "Highest", unit: "°C", data: d.temp_max_c, color: "#b9770e", dec: 1}]});
    },
  };

  /* BMS settings -------------------------------------------------------------------------------- */
  pages.settings = {
    title: "BMS settings",
    async render() {
      view.appendChild(h("h1", {text: "TinyBMS settings"}));
      const info = h("p", {class: "hint", id: "set-info", text: "Reading the settings…"});
      const actions = this.bar = saveBar({review: "review", discard: "revert", count: "set-pending", result: "set-result"},
        "Review changes", () => this.review(), () => route());
      view.appendChild(h("section", {class: "card"}, loginNote(), info,
        h("div", {class: "scroll"}, h("table", {id: "settings"})), actions));
      let d;
      try { d = await get("/api/bms/settings"); } catch (e) { showError(info, e); return; }
      if (!byId("settings")) return;
      this.regs = d.registers || [];
      info.textContent = d.valid
        ? "Values as last read from the TinyBMS " + ago(d.age_ms) + " ago. Ranges: the documented range" +
          (d.device_limits ? ", narrowed by the BMS's own limits (command 0x1D)." : ".") +
          " Every write is validated, sent, and read back."
        : "The TinyBMS settings have not been read yet.";
      const t = byId("settings");
      t.appendChild(h("thead", {}, h("tr", {}, ["Setting", "Value", "Range", "Default", "New value"].map((x) => h("th", {text: x})))));
      const tb = h("tbody");
      for (const r of this.regs) {
        const both = (a, b, f) => a == null ? b : b == null ? a : f(a, b);
        const lo = both(r.device_min, r.min, Math.max), hi = both(r.device_max, r.max, Math.min);
        const step = r.unit === "V" ? 0.001 : r.type === "FLOAT32" ? "any" : 1;
        r.unit = unitText(r.unit);
        const shown = r.not_set ? "not set" : r.value + " " + r.unit;
        r.lo = lo;
        r.hi = hi;
        const inp = r.writable ? h("input", {type: "number", id: "in-" + r.name, "data-name": r.name, value: r.not_set ? "" : r.value,
          min: lo, max: hi, step: step, disabled: !loggedIn(), oninput: (ev) => {
            if (ev.target.classList.contains("invalid")) { ev.target.classList.remove("invalid"); setText("res-" + r.name, ""); }
            this.changed();
          }}) : h("span", {class: "muted", text: "read-only"});
        tb.appendChild(h("tr", {id: "row-" + r.name},
          h("td", {}, h("div", {text: r.label}), h("div", {class: "small muted mono", text: r.name + " (" + r.address + ")"}),
            r.values ? h("div", {class: "small muted", text: r.values}) : null,
            r.reboots_bms ? h("div", {class: "small err", text: "changing it restarts the BMS"}) : null),
          h("td", {class: "num", id: "val-" + r.name, text: shown}),
          h("td", {class: "num small", text: lo != null ? lo + " … " + hi + " " + r.unit : "–"}),
          h("td", {class: "num small", text: r.device_default != null ? r.device_default + " " + r.unit : "–"}),
          h("td", {}, inp, h("div", {class: "small", id: "res-" + r.name}))));
      }
      t.appendChild(tb);
      stackTable(t, true);
    },
    edits() {
      const out = [];
      for (const r of this.regs || []) {
        const inp = byId("in-" + r.name);
        if (!inp || (inp.value === "" && !inp.validity.badInput)) continue;
        const nv = inp.validity.badInput ? NaN : Number(inp.value);
        if (!(Math.abs(nv - r.value) <= 1e-9)) out.push({reg: r, value: nv, inp: inp});
      }
      return out;
    },
    changed() {
      const e = this.edits();
      for (const r of this.regs || []) {
        const inp = byId("in-" + r.name);
        if (inp) inp.classList.toggle("changed", e.some((x) => x.reg === r));
      }
      if (this.bar) this.bar.update(e.length);
    },
    /* each new value against the register's range (the documented one, narrowed by the BMS's
     * own limits) before anything is shown or sent; the BMS write checks again */
    check(e) {
      const errs = [];
      for (const x of e) {
        /* no whole-number rule here: registers are scaled (0.1 Ah, 0.01 %), the BMS write rounds */
        const msg = rangeError(x.reg.name, x.value, x.reg.lo, x.reg.hi, x.reg.unit, false);
        const cell = byId("res-" + x.reg.name);
        x.inp.classList.toggle("invalid", !!msg);
        if (cell) { cell.textContent = msg ? "✗ " + msg : ""; cell.className = "small" + (msg ? " err" : ""); }
        if (msg) errs.push({inp: x.inp, msg: msg});
      }
      showFieldErrors(errs, "set-result");
      return !errs.length;
    },
    async review() {
      const e = this.edits();
      if (!e.length || !this.check(e)) return;
      const body = h("div", {}, h("p", {text: "These settings will be written to the TinyBMS, one after the other, and read back:"}),
        diffTable("diff", e.map((x) => ({key: x.reg.name, label: x.reg.label, sub: x.reg.name, old: x.reg.not_set ? null : x.reg.value, new: x.value, unit: x.reg.unit,
          flags: x.reg.reboots_bms ? h("div", {class: "small err", text: "restarts the BMS"}) : null}))),
        e.some((x) => x.reg.reboots_bms) ? h("p", {class: "err", text: "At least one of them restarts the BMS."}) : null,
        h("p", {class: "hint", text: "Wrong protection settings can damage cells. Check each value against the cell maker's datasheet."}));
      if (!(await confirmDialog("Write " + e.length + " setting" + (e.length > 1 ? "s" : "") + " to the BMS?", body, "Write to BMS"))) return;
      const res = byId("set-result");
      res.textContent = "Writing…";
      let ok = 0;
      for (const x of e) {
        const cell = byId("res-" + x.reg.name);
        cell.textContent = "writing…";
        cell.className = "small";
        try {
          const r = await api("PUT", "/api/bms/settings/" + encodeURIComponent(x.reg.name), {value: x.value});
          const rb = r.result || {};
          cell.textContent = rb.read_back == null ? "written (" + human(rb.result) + ")" : "✓ read back " + rb.read_back + " " + (rb.unit || "");
          cell.className = "small ok readback";
          setText("val-" + x.reg.name, (rb.read_back == null ? x.value : rb.read_back) + " " + x.reg.unit);
          x.reg.value = rb.read_back == null ? x.value : rb.read_back;
          byId("in-" + x.reg.name).classList.remove("changed");
          ok++;
        } catch (err) {
          cell.textContent = "✗ " + err.message;
          cell.className = "small err";
          byId("in-" + x.reg.name).classList.add("invalid");
          if (err.status === 401) break; /* not logged in: the rest would be refused as well */
        }
      }
      res.textContent = ok + " of " + e.length + " written and read back.";
      toast(res.textContent, ok !== e.length);
      this.changed();
    },
  };

  /* Events and statistics ----------------------------------------------------------------------- */
  pages.events = {
    title: "Events & stats",
    render() {
      view.appendChild(h("h1", {text: "TinyBMS events and statistics"}));
      const act = (label, what, danger, text) => h("button", {class: danger ? "danger" : "", id: "reset-" + what, disabled: !loggedIn(), text: label,
        onclick: async () => {
          if (!(await confirmDialog(label + "?", text, label, danger))) return;
          try {
            const r = await api("POST", "/api/bms/reset", {what: what});
            toast(r.message);
            setTimeout(() => this.load(), 1500);
          } catch (e) { showError(null, e); }
        }});
      view.appendChild(h("div", {class: "grid"},
        h("section", {class: "card wide"}, h("h2", {text: "Event log"}), h("p", {class: "hint", id: "ev-info"}),
          h("div", {class: "scroll"}, h("table", {id: "events"})),
          h("div", {class: "row"}, loginNote(), act("Clear the event log", "events", false, "The TinyBMS erases its event log."),
            act("Clear the statistics", "stats", false, "The TinyBMS resets its lifetime statistics."),
            act("Restart the BMS", "bms", true, "The TinyBMS restarts; the gateway stops charging until it answers again."))),
        h("section", {class: "card half"}, h("h2", {text: "Statistics"}), h("dl", {class: "kv", id: "stats"})),
        h("section", {class: "card half"}, h("h2", {text: "Version"}), h("dl", {class: "kv", id: "version"}))));
      this.load();
    },
    onEvents() { this.load(); },
    async load() {
      try {
        const [ev, st, ver] = await Promise.all([get("/api/bms/events"), get("/api/bms/stats"), get("/api/bms/version")]);
        const t = byId("events");
        if (!t) return;
        t.textContent = "";
        setText("ev-info", !ev.valid ? "Not read yet." : "As last read " + ago(ev.age_ms) + " ago; newest first. " +
          (ev.time_ms ? "Times are approximate (≈): worked out from the BMS's lifetime clock, which stops while the BMS is off."
            : "The gateway does not know the time of day: times are the BMS's lifetime clock."));
        t.appendChild(h("thead", {}, h("tr", {}, ["Time", "BMS lifetime", "Kind", "Event", "Code"].map((x) => h("th", {text: x})))));
        const tb = h("tbody");
        for (const e of (ev.events || []).slice().reverse()) {
          tb.appendChild(h("tr", {}, h("td", {class: "num", text: e.time_ms ? "≈ " + dateTime(e.time_ms) : "–"}),
            h("td", {class: "num", text: dur(e.timestamp_s)}),
            h("td", {}, pill(e.class, e.class === "fault" ? "bad" : e.class === "warning" ? "warn" : "info")),
            h("td", {text: e.name}), h("td", {class: "num mono", text: "0x" + e.id.toString(16).padStart(2, "0")})));
        }
        t.appendChild(tb);
        stackTable(t, false);
        const fill = (id, obj) => {
          const dl = byId(id);
          dl.textContent = "";
          for (const k in obj) if (k !== "valid" && k !== "age_ms") { const v = obj[k], hex = typeof v === "string" && /^[0-9A-F]+$/.test(v);
          const [label, txt] = hex ? [fieldRow(k, 0)[0], v] : fieldRow(k, v);
          dl.appendChild(h("dt", {text: label})); dl.appendChild(h("dd", {class: hex && v.length > 12 ? "brk" : null, text: txt})); }
          if (!obj.valid) dl.appendChild(h("dd", {text: "not read yet"}));
        };
        fill("stats", st);
        fill("version", ver);
      } catch (e) { showError(byId("ev-info"), e); }
    },
  };

  /* CAN monitor ------------------------------------------------------------------------------------- */
  pages.can = {
    title: "CAN monitor",
    render() {
      view.appendChild(h("h1", {text: "CAN monitor"}));
      view.appendChild(h("section", {class: "card"},
        h("div", {class: "row"}, pill("–", "off", "cm-mode"), pill("–", "off", "cm-gx"), h("span", {class: "muted small", id: "cm-port"})),
        h("p", {class: "hint", text: "The frames this gateway sends to the Victron GX (decoded), and what it hears from the GX. Live while this page is open."}),
        h("div", {class: "scroll"}, h("table", {id: "can-table"})),
        h("h3", {text: "Counters"}), h("dl", {class: "kv", id: "cm-counters"})));
      get("/api/can/frames").then((d) => this.onCan(d)).catch((e) => showError(null, e));
    },
    onCan(d) {
      const t = byId("can-table");
      if (!t) return;
      setPill("cm-mode", "CAN " + human(d.mode), d.mode === "transmitting" ? "ok" : d.mode === "shadow" ? "info" : "warn");
      setPill("cm-gx", d.gx.present ? "GX present" : "GX not seen", d.gx.present ? "ok" : "warn");
      setText("cm-port", d.port + (d.port_open ? "" : " (closed" + (d.port_error ? ": " + d.port_error : "") + ")"));
      t.textContent = "";
      t.appendChild(h("thead", {}, h("tr", {}, ["ID", "Frame", "Dir", "Count", "Age", "Data", "Decoded"].map((x) => h("th", {text: x})))));
      const tb = h("tbody");
      for (const f of d.frames) {
        const fmtv = (v) => {
          if (v == null) return "n/a";
          if (typeof v !== "object") return String(v);
          const odd = Object.keys(v).filter((k) => v[k] !== "ok" && v[k] !== "unsupported").map((k) => k + ":" + v[k]);
          return odd.length ? odd.join(",") : "all ok";
        };
        const fields = f.fields ? Object.keys(f.fields).map((k) => k + "=" + fmtv(f.fields[k])).join("  ") : (f.description || "");
        tb.appendChild(h("tr", {id: "can-" + f.id},
          h("td", {class: "mono", text: f.id}), h("td", {text: human(f.name)}), h("td", {text: f.direction}),
          h("td", {class: "num", text: f.count}), h("td", {class: "num", text: f.age_ms == null ? "–" : ago(f.age_ms)}),
          h("td", {class: "mono small", text: f.data || ""}), h("td", {class: "small", text: fields})));
      }
      t.appendChild(tb);
      stackTable(t, false);
      const dl = byId("cm-counters");
      dl.textContent = "";
      for (const k in d.counters) { dl.appendChild(h("dt", {text: human(k)})); dl.appendChild(h("dd", {text: String(d.counters[k])})); }
    },
  };

  /* Configuration ------------------------------------------------------------------------------------ */
  function cfgGet(cfg, key) {
    let o = cfg;
    for (const p of key.split(".")) { if (o == null) return undefined; o = o[p]; }
    return o;
  }
  function cfgSet(obj, key, v) {
    const parts = key.split(".");
    let o = obj;
    for (let i = 0; i < parts.length - 1; i++) o = o[parts[i]] = o[parts[i]] || {};
    o[parts[parts.length - 1]] = v;
  }

  pages.config = {
    title: "Configuration",
    async render() {
      view.appendChild(h("h1", {text: "Gateway configuration"}));
      const top = h("section", {class: "card"},
        loginNote(),
        h("div", {class: "row"},
          h("label", {class: "row small"}, h("input", {type: "checkbox", id: "cfg-adv", onchange: () => this.showAdvanced()}), "show advanced settings"),
          h("span", {class: "spacer"}),
          h("a", {class: "btn", id: "cfg-backup", href: "/api/config?download=1", download: "tinybms-gateway-config.json", text: "Backup"}),
          h("label", {class: "btn", for: "cfg-restore", text: "Restore…"}),
          h("input", {type: "file", id: "cfg-restore", accept: ".json,application/json", hidden: true, disabled: !loggedIn(), onchange: (e) => this.restore(e)})),
        h("p", {class: "hint", text: "Edit any value, then \"Review and save\" (at the bottom of the screen) shows every change before it is saved. Backups never contain passwords or other secrets; a restore shows what it would change first and keeps the secrets that are set. Settings marked \"restart\" apply after a restart of the gateway."}),
        h("div", {id: "cfg-result", class: "small"}));
      view.appendChild(top);
      const form = h("div", {id: "cfg-form"});
      view.appendChild(form);
      this.bar = saveBar({review: "cfg-save", discard: "cfg-discard", count: "cfg-pending", result: "cfg-bar-msg"},
        "Review and save…", () => this.review(), () => this.discard());
      view.appendChild(this.bar);
      this.schema = null;
      try {
        [this.schema, this.cfg] = await Promise.all([get("/api/config/schema"), get("/api/config")]);
      } catch (e) { showError(byId("cfg-result"), e); return; }
      if (!byId("cfg-form")) return;
      const sections = {};
      for (const p of this.schema) (sections[p.key.split(".")[0]] = sections[p.key.split(".")[0]] || []).push(p);
      for (const name in sections) {
        const card = h("section", {class: "card", id: "sec-" + name}, h("h2", {text: name}));
        for (const p of sections[name]) card.appendChild(this.field(p));
        form.appendChild(card);
      }
      this.showAdvanced();
    },
    field(p) {
      const id = "cfg-" + p.key.replace(/\./g, "-");
      const cur = cfgGet(this.cfg, p.key);
      let inp;
      const dis = !loggedIn() || p.read_only;
      if (p.type === "bool") inp = h("input", {type: "checkbox", id: id, checked: cur === true, disabled: dis});
      else if (p.type === "enum") inp = h("select", {id: id, disabled: dis}, p.values.map((v) => h("option", {value: v, text: v, selected: v === cur})));
      else if (p.type === "int" || p.type === "float") inp = h("input", {type: "number", id: id, value: cur, min: p.min, max: p.max, step: p.type === "int" ? 1 : "any", disabled: dis});
      else if (p.secret) inp = h("input", {type: "password", id: id, value: "", placeholder: "(unchanged)", autocomplete: "new-password", disabled: dis});
      else inp = h("input", {type: "text", id: id, value: cur == null ? "" : cur, maxlength: p.max_length, disabled: dis});
      inp.dataset.key = p.key;
      const mark = () => {
        inp.classList.toggle("changed", this.value(p, inp) !== undefined);
        if (inp.classList.contains("invalid")) { inp.classList.remove("invalid"); setText("err-" + id, ""); }
        this.changed();
      };
      inp.addEventListener("input", mark);
      inp.addEventListener("change", mark);
      const range = p.type === "int" || p.type === "float" ? " [" + p.min + " … " + p.max + (p.unit ? " " + p.unit : "") + ", default " + p.default + "]" : "";
      const row = h("div", {class: "field" + (p.advanced ? " adv" : ""), id: "f-" + id},
        h("label", {for: id}, h("div", {text: p.key.split(".").slice(1).join(".")}),
          h("div", {class: "small muted mono", text: p.key}),
          p.restart ? pill("restart", "warn") : null, p.secret ? pill("secret", "info") : null),
        h("div", {}, h("div", {class: "row"}, inp, p.unit && p.type !== "enum" ? h("span", {class: "muted", text: p.unit}) : null),
          h("div", {class: "doc", text: (p.doc || "") + range}), h("div", {class: "small err", id: "err-" + id})));
      return row;
    },
    /* the changed value of a field, or undefined if unchanged (NaN: not a number) */
    value(p, inp) {
      const cur = cfgGet(this.cfg, p.key);
      if (p.type === "bool") return inp.checked !== cur ? inp.checked : undefined;
      if (p.type === "int" || p.type === "float") {
        if (inp.validity && inp.validity.badInput) return NaN;
        if (inp.value === "") return undefined;
        const v = Number(inp.value);
        return Math.abs(v - cur) > 1e-9 ? v : undefined;
      }
      if (p.secret) return inp.value !== "" ? inp.value : undefined;
      return inp.value !== cur ? inp.value : undefined;
    },
    /* Why a value is refused by the schema, or null (the gateway checks again, and more). */
    check(p, v) {
      if (p.type === "int" || p.type === "float") return rangeError(p.key, v, p.min, p.max, p.unit, p.type === "int");
      if (p.type === "enum" && p.values.indexOf(v) < 0) return p.key + " must be one of " + p.values.join(", ");
      if (p.type === "bool" && typeof v !== "boolean") return p.key + " must be true or false";
      if (p.type === "string" && typeof v !== "string") return p.key + " must be a string";
      if (p.type === "string" && p.max_length != null && new TextEncoder().encode(v).length > p.max_length) return p.key + " is longer than " + p.max_length + " bytes";
      return null;
    },
    edits() {
      const out = [];
      for (const p of this.schema || []) {
        const inp = byId("cfg-" + p.key.replace(/\./g, "-"));
        const v = inp ? this.value(p, inp) : undefined;
        if (v !== undefined) out.push({p: p, inp: inp, value: v});
      }
      return out;
    },
    changed() { if (this.bar) this.bar.update(this.edits().length); },
    discard() {
      for (const x of this.edits()) {
        const cur = cfgGet(this.cfg, x.p.key);
        if (x.p.type === "bool") x.inp.checked = cur === true;
        else x.inp.value = x.p.secret || cur == null ? "" : cur;
        x.inp.classList.remove("changed", "invalid");
        setText("err-" + x.inp.id, "");
      }
      this.changed();
    },
    showAdvanced() {
      const on = byId("cfg-adv") && byId("cfg-adv").checked;
      for (const e of document.querySelectorAll(".field.adv")) e.hidden = !on;
    },
    /* the rows of a diff: the running value and the new one, with its unit and flags */
    rows(list) {
      return list.map((x) => ({key: x.p.key, label: x.p.key, old: x.p.secret ? "(secret)" : cfgGet(this.cfg, x.p.key),
        new: x.p.secret ? "(new secret)" : x.value, unit: x.p.type === "enum" ? "" : x.p.unit, error: x.error,
        flags: x.p.restart ? h("div", {}, pill("restart needed", "warn")) : null}));
    },
    /* PUT a document; on success show the outcome and read the configuration back. Throws the
     * refusal (e.data.field names the key), after marking that field on the page. */
    async send(doc, what) {
      const res = byId("cfg-result");
      for (const e of document.querySelectorAll("#cfg-form .err")) e.textContent = "";
      for (const e of document.querySelectorAll("#cfg-form .invalid")) e.classList.remove("invalid");
      let r;
      try {
        r = await api("PUT", "/api/config", doc);
      } catch (e) {
        const f = e.data && e.data.field;
        const id = f ? "cfg-" + f.replace(/\./g, "-") : null;
        if (id && byId(id)) { byId(id).classList.add("invalid"); setText("err-" + id, e.message); }
        res.className = "small err";
        res.textContent = what + " refused: " + e.message;
        throw e;
      }
      const rr = r.result || {};
      res.textContent = "";
      res.className = "small ok";
      res.appendChild(h("span", {text: what + ": " + (rr.changed && rr.changed.length ? rr.changed.length + " setting(s) changed." : "nothing changed.")}));
      if (rr.restart_required && rr.restart_required.length) {
        res.appendChild(h("span", {class: "err", text: " Applies after a restart: " + rr.restart_required.join(", ") + ". "}));
        res.appendChild(h("button", {id: "cfg-restart", text: "Restart now", onclick: restartGateway}));
      }
      toast(what + " saved");
      setText("cfg-bar-msg", res.firstChild.textContent);
      byId("cfg-bar-msg").className = "small ok";
      this.cfg = await get("/api/config");
      for (const e of document.querySelectorAll("#cfg-form .changed")) e.classList.remove("changed");
      for (const e of document.querySelectorAll("#cfg-form input[type=password]")) e.value = "";
      this.changed();
      return rr;
    },
    /* Save: every changed value is checked against the schema first (refused at its field, no
     * dialog); then the dialog lists each change, old → new, and saves on confirmation. */
    async review() {
      const e = this.edits();
      if (!e.length) { toast("Nothing to save"); return; }
      const errs = [];
      for (const x of e) {
        const msg = this.check(x.p, x.value);
        x.inp.classList.toggle("invalid", !!msg);
        setText("err-" + x.inp.id, msg || "");
        if (msg) errs.push({inp: x.inp, msg: msg});
      }
      showFieldErrors(errs, "cfg-bar-msg");
      if (errs.length) return;
      const doc = {};
      for (const x of e) cfgSet(doc, x.p.key, x.value);
      const restart = e.filter((x) => x.p.restart).length;
      const body = h("div", {}, h("p", {text: e.length === 1 ? "This setting changes:" : "These " + e.length + " settings change:"}),
        diffTable("cfg-diff", this.rows(e)),
        restart ? h("p", {class: "small", text: restart + " of them appl" + (restart > 1 ? "y" : "ies") + " only after a restart of the gateway."}) : null);
      await confirmDialog("Save " + e.length + " change" + (e.length > 1 ? "s" : "") + "?", body, "Save", false, () => this.send(doc, "Configuration"));
    },
    /* Restore: the file is read here first, and the dialog shows what it would change (values
     * the schema refuses are marked, and then it cannot be restored); the gateway validates it
     * as a whole, and a refusal is shown in the dialog. */
    restore(ev) {
      const f = ev.target.files[0];
      if (!f) return;
      const rd = new FileReader();
      rd.onload = async () => {
        ev.target.value = "";
        const text = String(rd.result);
        let doc;
        try {
          doc = JSON.parse(text);
          if (!doc || typeof doc !== "object" || Array.isArray(doc)) throw new Error("it is not a JSON object");
        } catch (e) {
          await confirmDialog("Cannot restore " + f.name, h("p", {id: "restore-bad", class: "err", text: f.name + " is not a configuration backup: " + e.message}), null);
          return;
        }
        const known = {};
        for (const p of this.schema || []) known[p.key] = p;
        const unknown = [], list = [];
        const walk = (o, pre) => {
          for (const k in o) {
            const key = pre ? pre + "." + k : k;
            if (known[key]) {
              const p = known[key], v = o[k];
              if (p.secret && v === "") continue;
              const cur = cfgGet(this.cfg, key);
              const same = p.type === "int" || p.type === "float" ? typeof v === "number" && Math.abs(v - cur) <= 1e-9 : v === cur;
              if (!same || p.secret) list.push({p: p, value: v, error: this.check(p, v)});
            } else if (o[k] && typeof o[k] === "object" && !Array.isArray(o[k])) walk(o[k], key);
            else unknown.push(key);
          }
        };
        walk(doc, "");
        const bad = list.filter((x) => x.error).length + unknown.length;
        const body = h("div", {},
          h("p", {id: "restore-summary", text: list.length ? "Restoring " + f.name + " changes " + (list.length === 1 ? "this setting" : "these " + list.length + " settings") + ":"
            : f.name + " holds the running configuration: restoring it changes nothing."}),
          list.length ? diffTable("restore-diff", this.rows(list)) : null,
          unknown.length ? h("p", {class: "err", id: "restore-unknown", text: "Not settings of this gateway: " + unknown.join(", ")}) : null,
          bad ? h("p", {class: "err", text: "This file cannot be restored as it is: correct the marked values."}) : null,
          h("p", {class: "hint", text: "Settings the file does not name keep their value; secrets that are set stay as they are."}));
        const done = await confirmDialog("Restore the configuration?", body, bad ? null : "Restore", false, () => this.send(text, "Restore"));
        if (done) route();
      };
      rd.readAsText(f);
    },
  };

  /* Logs ------------------------------------------------------------------------------------------- */
  pages.logs = {
    title: "Logs",
    render() {
      view.appendChild(h("h1", {text: "Logs"}));
      const sel = h("select", {id: "log-level", onchange: () => { state.logLevel = sel.value; route(); }},
        ["error", "warn", "info", "debug"].map((l) => h("option", {value: l, text: l, selected: l === state.logLevel})));
      view.appendChild(h("section", {class: "card"},
        h("div", {class: "row"}, h("label", {class: "row"}, "Level ", sel),
          h("label", {class: "row small"}, h("input", {type: "checkbox", id: "log-follow", checked: true}), "follow"),
          h("span", {class: "spacer"}), h("span", {class: "small muted", id: "log-count"})),
        h("p", {class: "hint", text: "The gateway keeps the last 512 lines in memory; secrets never appear in the log."}),
        h("div", {class: "log", id: "log"})));
      this.n = 0;
      this.last = 0;
      this.pending = []; /* live lines that arrive before the history: added after it */
      get("/api/logs?limit=300&level=" + state.logLevel).then((d) => {
        this.add(d.entries);
        const p = this.pending;
        this.pending = null;
        for (const entries of p) this.add(entries);
      }).catch((e) => showError(null, e));
    },
    onLog(m) {
      if (this.pending) this.pending.push(m.entries);
      else this.add(m.entries);
    },
    add(entries) {
      const box = byId("log");
      if (!box) return;
      for (const e of entries || []) {
        if (e.seq <= this.last) continue;
        const t = e.time_ms ? hms(e.time_ms) : "";
        box.appendChild(h("div", {class: "lv-" + e.level, text: t + " " + e.level.toUpperCase().padEnd(5) + " " + e.module + ": " + e.msg}));
        this.last = e.seq;
        this.n++;
      }
      while (box.children.length > 1000) box.removeChild(box.firstChild);
      setText("log-count", box.children.length + " lines");
      if (byId("log-follow").checked) box.scrollTop = box.scrollHeight;
    },
  };

  /* System ------------------------------------------------------------------------------------------ */
  async function restartGateway() {
    if (!(await confirmDialog("Restart the gateway?", "The gateway stops cleanly (energy counters saved, CAN stops for a few seconds) and starts again. The GX keeps its last limits for up to 3 s.", "Restart", true))) return;
    try {
      await api("POST", "/api/system/restart", {});
      toast("Restarting…");
      setConn("restarting", "warn");
    } catch (e) { showError(null, e); }
  }

  /* Firmware update card (ESP32 only: GET /api/system platform.ota; POST /api/system/ota, docs/api.md).
   * The image goes up with XMLHttpRequest for its upload progress; after a 200 the gateway restarts,
   * and the card polls /api/system until it answers again, then shows the version that runs (the
   * previous one if the new image was rolled back). */
  function otaCard(s, grid) {
    const o = s.platform && s.platform.ota;
    if (!o || !o.available || !grid) return;
    const rb = o.rolled_back ? "; rolled back: " + (o.rolled_back.version || "?") + " (" + o.rolled_back.partition + ")" : "";
    const last = o.last_upload ? "Last upload: " + human(o.last_upload.result) + (o.last_upload.version ? " (" + o.last_upload.version + ")" : "") : "No upload since the last start.";
    const input = h("input", {type: "file", id: "ota-file", accept: ".bin,application/octet-stream", disabled: !loggedIn() || o.pending_verify});
    const bar = h("progress", {id: "ota-progress", max: 100, value: 0, hidden: true});
    const msg = h("p", {class: "small", id: "ota-msg"});
    const btn = h("button", {class: "primary", id: "ota-upload", text: "Upload and restart", disabled: true});
    input.addEventListener("change", () => { btn.disabled = !input.files.length; msg.textContent = ""; });
    function waitBack(want, t0) {
      setTimeout(async () => {
        try {
          const n = await get("/api/system");
          const v = n.platform && n.platform.ota ? n.platform.ota : {};
          if (n.version !== want && v.rollback) {
            msg.textContent = "The new image was rolled back: " + n.version + " runs (" + (v.running_partition || "") + ").";
            toast("Update rolled back", true);
          } else {
            msg.textContent = "Back after " + Math.round((Date.now() - t0) / 1000) + " s: version " + n.version +
              (v.pending_verify ? " (on probation until it has read the BMS and sent the limits)" : "") + ".";
            if (n.version === want) toast("Updated to " + want);
          }
          setText("ota-version", n.version);
        } catch (e) {
          if (Date.now() - t0 < 180000) waitBack(want, t0);
          else msg.textContent = "The gateway has not answered for 3 minutes.";
        }
      }, 2000);
    }
    btn.addEventListener("click", async () => {
      const f = input.files[0];
      if (!f) return;
      if (f.size > o.slot_bytes) { msg.textContent = f.name + " is " + f.size + " bytes; the update slot holds " + o.slot_bytes + "."; return; }
      if (!(await confirmDialog("Update the firmware?", "The gateway writes " + f.name + " into " + o.update_partition + " and restarts into it (CAN stops for a few seconds). If the new image does not read the BMS and send the limits within a minute, or crashes, the gateway goes back to " + o.version + ".", "Upload", true))) return;
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/api/system/ota");
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      bar.hidden = false;
      bar.value = 0;
      btn.disabled = input.disabled = true;
      const t0 = Date.now();
      xhr.upload.onprogress = (ev) => {
        if (!ev.lengthComputable) return;
        bar.value = Math.round(100 * ev.loaded / ev.total);
        msg.textContent = "Uploading: " + Math.round(ev.loaded / 1024) + " of " + Math.round(ev.total / 1024) + " KiB";
      };
      xhr.onload = () => {
        let d = {};
        try { d = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
        if (xhr.status === 200) {
          bar.value = 100;
          msg.textContent = "Written and verified: " + d.version + " (" + Math.round((Date.now() - t0) / 1000) + " s). " + (d.restarting ? "Restarting…" : d.message);
          if (d.restarting) { setConn("restarting", "warn"); waitBack(d.version, Date.now()); }
        } else {
          bar.hidden = true;
          btn.disabled = input.disabled = false;
          msg.textContent = "Refused (" + xhr.status + (d.error ? ", " + d.error : "") + "): " + (d.reason || xhr.statusText);
          toast("Update refused", true);
        }
      };
      xhr.onerror = () => {
        bar.hidden = true;
        btn.disabled = input.disabled = false;
        msg.textContent = "The upload failed (connection lost).";
      };
      xhr.send(f);
    });
    grid.appendChild(h("section", {class: "card", id: "ota-card"}, h("h2", {text: "Firmware update"}),
      h("dl", {class: "kv"}, h("dt", {text: "Running"}), h("dd", {id: "ota-version", text: o.version}),
        h("dt", {text: "Partition"}), h("dd", {text: o.running_partition + " (" + human(o.state) + ")" + rb}),
        h("dt", {text: "Update slot"}), h("dd", {text: o.update_partition + ", " + Math.round(o.slot_bytes / 1024) + " KiB"})),
      h("p", {class: "small", text: last}),
      o.pending_verify ? h("p", {class: "hint", text: "This image is on probation for " + o.verify_left_s + " s more: uploads are accepted once it has read the BMS and sent the limits."}) : null,
      loggedIn() ? null : loginNote(),
      h("p", {class: "row"}, input, btn), bar, msg));
  }

  pages.system = {
    title: "System",
    async render() {
      view.appendChild(h("h1", {text: "System"}));
      const pw = h("form", {class: "formbox", id: "pw-form", onsubmit: async (ev) => {
        ev.preventDefault();
        const cur = byId("pw-cur").value, n1 = byId("pw-new").value, n2 = byId("pw-new2").value;
        if (n1 !== n2) { setText("pw-msg", "The new passwords differ."); return; }
        try {
          await api("PUT", "/api/auth/password", {current: cur, password: n1});
          setText("pw-msg", "Password changed; other sessions were logged out.");
          pw.reset();
        } catch (e) { showError(byId("pw-msg"), e); }
      }},
        h("label", {for: "pw-cur", text: "Current password"}), h("input", {type: "password", id: "pw-cur", autocomplete: "current-password", required: true}),
        h("label", {for: "pw-new", text: "New password (at least 8 characters)"}), h("input", {type: "password", id: "pw-new", autocomplete: "new-password", minlength: 8, required: true}),
        h("label", {for: "pw-new2", text: "New password again"}), h("input", {type: "password", id: "pw-new2", autocomplete: "new-password", minlength: 8, required: true}),
        h("p", {}, h("button", {class: "primary", type: "submit", text: "Change password"})), h("p", {class: "small", id: "pw-msg"}));
      view.appendChild(h("div", {class: "grid"},
        h("section", {class: "card half"}, h("h2", {text: "Gateway"}), h("dl", {class: "kv", id: "sys"}),
          h("p", {class: "row"}, h("button", {class: "danger", id: "restart", text: "Restart the gateway", disabled: !loggedIn(), onclick: restartGateway}),
            h("a", {class: "btn", href: "/metrics", text: "Prometheus metrics"}))),
        loggedIn() ? h("section", {class: "card"}, h("h2", {text: "Admin password"}), pw) : h("section", {class: "card"}, h("h2", {text: "Admin"}), loginNote())));
      try {
        const s = await get("/api/system");
        const dl = byId("sys");
        if (!dl) return;
        const rows = [["Version", s.version], ["Demo mode", s.demo ? "yes (simulated battery)" : "no"], ["Web service up", dur(s.uptime_s)],
          ["Configuration file", s.config_path], ["State directory", s.state_dir], ["Web address", s.http_listen], ["Server", s.server],
          ["TinyBMS port", s.serial], ["CAN port", s.can_port], ["Log level", s.log_level], ["Device id", s.device_id || "(from the BMS serial)"],
          ["Login for reading", s.auth.read_only_open ? "not needed (web.read_only_open)" : "required"],
          ["Live clients", s.websocket.clients + " at up to " + s.websocket.rate_hz + " updates/s"],
          ["Web UI size", s.ui.files + " files, " + (s.ui.gzip_bytes / 1024).toFixed(1) + " KiB compressed"]];
        for (const [k, v] of rows) { dl.appendChild(h("dt", {text: k})); dl.appendChild(h("dd", {text: v == null ? "–" : String(v)})); }
        otaCard(s, dl.closest(".grid"));
      } catch (e) { showError(null, e); }
    },
  };

  /* Login and first-start set-up: both go back to the page the user came from ---------------------- */
  function backToPage() {
    location.hash = state.returnTo && !/^#\/(login|setup)/.test(state.returnTo) ? state.returnTo : "#/";
  }
  pages.login = {
    title: "Log in",
    render() {
      if (state.auth && state.auth.setup_required) { pages.setup.render(); return; } /* nothing to log in with yet */
      view.appendChild(h("h1", {text: "Log in"}));
      if (loggedIn()) view.appendChild(h("p", {class: "hint", text: "You are logged in already."}));
      const f = authForm("login", "", backToPage);
      f.classList.add("card");
      view.appendChild(f);
    },
  };

  pages.setup = {
    title: "Set the admin password",
    render() {
      view.appendChild(h("h1", {text: "Set the admin password"}));
      if (state.auth && !state.auth.setup_required) {
        view.appendChild(h("p", {class: "hint"}, "The admin password is set already: ", h("a", {href: "#/login", text: "log in"}), "."));
        return;
      }
      const f = authForm("setup", "", backToPage);
      f.classList.add("card");
      view.appendChild(f);
    },
  };

  /* ---- router -------------------------------------------------------------------------------------- */
  const routes = {"": "dashboard", cells: "cells", charts: "charts", settings: "settings", events: "events",
    can: "can", config: "config", logs: "logs", system: "system", login: "login", setup: "setup"};

  function route() {
    const name = routes[(location.hash || "").replace(/^#\/?/, "").split("?")[0]] || "dashboard";
    const old = pages[state.page];
    /* unsaved changes on the page being left (its save bar counts them): ask before they are lost */
    const unsaved = old && old !== pages[name] && old.bar && old.bar.isConnected ? old.bar.pending : 0;
    if (unsaved && !state.leaveOk) {
      const to = location.hash || "#/";
      history.replaceState(null, "", state.here || "#/"); /* stay, without another hashchange */
      confirmDialog("Leave without saving?", unsaved + " unsaved change" + (unsaved > 1 ? "s" : "") +
        " on this page will be lost.", "Leave the page", true).then((yes) => {
        if (yes) {
          state.leaveOk = true;
          location.hash = to;
        }
      });
      return;
    }
    state.leaveOk = false;
    state.here = location.hash || "#/";
    if (old && old.leave) old.leave();
    /* where "Log in" (a link on any page) returns to */
    if (name !== "login" && name !== "setup") state.returnTo = location.hash || "#/";
    state.renderedLoggedOut = !loggedIn();
    state.page = name;
    view.textContent = "";
    document.title = pages[name].title + " · TinyBMS gateway";
    for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.page === name);
    byId("nav").classList.remove("open");
    pages[name].render();
    showFreshness();
    warningsBanner();
    wsSubscribe();
  }

  byId("menu-btn").addEventListener("click", () => {
    const n = byId("nav");
    n.classList.toggle("open");
    byId("menu-btn").setAttribute("aria-expanded", n.classList.contains("open"));
  });
  window.addEventListener("hashchange", route);
  document.addEventListener("visibilitychange", () => { if (!document.hidden && state.auth) refreshAuth(); });
  setInterval(() => {
    if (state.wsOpen && Date.now() - state.lastMsg > 5000) setConn("no updates", "warn");
    else if (state.wsOpen) setConn("live", "ok");
    showFreshness();
  }, 1000);

  refreshAuth().then(() => {
    route();
    wsConnect();
  });
})();
