// The operations dashboard: figures, charts, unanswered questions and the conversation
// browser, from the admin API. Every text from the store is set with textContent (customers
// wrote it); the admin token lives in this tab's sessionStorage only.
"use strict";
(function () {
  const KEY = "botsvc-admin-token";
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";
  let before = null;

  function el(tag, attrs, ...children) {
    const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== null && v !== undefined) node.setAttribute(k, String(v));
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }
  const pct = (x) => (x === null || x === undefined ? "-" : (100 * x).toFixed(1) + "%");
  const dur = (s) => (s === null || s === undefined ? "-" : s < 120 ? Math.round(s) + " s" : s < 7200 ? (s / 60).toFixed(1) + " min" : (s / 3600).toFixed(1) + " h");
  const day = (t) => new Date(t * 1000).toISOString().slice(0, 10);
  const when = (t) => new Date(t * 1000).toISOString().slice(0, 16).replace("T", " ");

  async function api(path, params) {
    const url = new URL(path, location.origin);
    for (const [k, v] of Object.entries(params || {})) if (v !== "" && v !== null && v !== undefined) url.searchParams.set(k, v);
    const r = await fetch(url, { headers: { Authorization: "Bearer " + sessionStorage.getItem(KEY) } });
    if (r.status === 401 || r.status === 403) { signOut("That token was refused."); throw new Error("auth"); }
    if (!r.ok) throw new Error(path + ": " + r.status);
    return r;
  }

  function signOut(message) {
    sessionStorage.removeItem(KEY);
    $("app").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
  }

  function tiles(f) {
    const items = [
      ["Conversations", f.conversations],
      ["Containment (no person needed)", pct(f.containment_rate)],
      ["Escalation to a person", pct(f.escalation_rate)],
      ["First-contact resolution", pct(f.fcr_rate)],
      ["CSAT (4-5 of 5)", pct(f.csat.satisfied_rate)],
      ["Fallback rate", pct(f.fallback_rate)],
      ["First agent reply (median)", dur(f.time_to_first_agent_reply.median_s)],
      ["KB answers found helpful", pct(f.helpful.helpful_rate)],
    ];
    $("tiles").replaceChildren(...items.map(([k, v]) => el("div", { class: "tile" }, el("div", { class: "v" }, v), el("div", { class: "k" }, k))));
  }

  function dailyChart(days) {
    if (!days.length) return $("daily").replaceChildren(el("p", { class: "muted" }, "No conversations in this window."));
    const w = 560, h = 180, pad = 28, max = Math.max(1, ...days.map((d) => Math.max(d.conversations, d.handoffs)));
    const bw = Math.min(48, (w - pad) / days.length);
    const svg = el("svg:svg", { viewBox: `0 0 ${w} ${h + 20}`, width: "100%", role: "img", "aria-label": "Conversations and handoffs per day" });
    days.forEach((d, i) => {
      const x = pad + i * bw;
      const ch = (d.conversations / max) * h, hh = (d.handoffs / max) * h;
      svg.append(el("svg:rect", { x: x + 2, y: h - ch, width: Math.max(2, bw * 0.45), height: ch, fill: "#2f6fde" }, el("svg:title", {}, `${day(d.day)}: ${d.conversations} conversations`)));
      svg.append(el("svg:rect", { x: x + 2 + bw * 0.45, y: h - hh, width: Math.max(2, bw * 0.35), height: hh, fill: "#d9572b" }, el("svg:title", {}, `${day(d.day)}: ${d.handoffs} handoffs`)));
      if (days.length <= 14 || i % Math.ceil(days.length / 10) === 0) svg.append(el("svg:text", { x: x + 2, y: h + 14 }, day(d.day).slice(5)));
    });
    svg.append(el("svg:text", { x: 0, y: 10 }, String(max)));
    const legend = el("p", { class: "muted" }, el("span", { class: "pill" }, "blue: conversations"), el("span", { class: "pill human" }, "orange: handoffs"));
    $("daily").replaceChildren(svg, legend);
  }

  function bars(target, rows, label) {
    if (!rows.length) return $(target).replaceChildren(el("p", { class: "muted" }, "Nothing yet."));
    const max = Math.max(...rows.map((r) => r[1]));
    const w = 560, rh = 22, lw = 190;
    const svg = el("svg:svg", { viewBox: `0 0 ${w} ${rows.length * rh}`, width: "100%", role: "img", "aria-label": label });
    rows.forEach(([name, n], i) => {
      svg.append(el("svg:text", { x: 0, y: i * rh + 15 }, name.length > 28 ? name.slice(0, 27) + "..." : name));
      svg.append(el("svg:rect", { x: lw, y: i * rh + 4, width: Math.max(2, ((w - lw - 40) * n) / max), height: 14, fill: "#d9572b" }));
      svg.append(el("svg:text", { x: lw + ((w - lw - 40) * n) / max + 6, y: i * rh + 15 }, String(n)));
    });
    $(target).replaceChildren(svg);
  }

  function funnel(flows) {
    if (!flows.length) return $("funnel").replaceChildren(el("p", { class: "muted" }, "No flow was started in this window."));
    const table = el("table", { "aria-label": "Flow funnel" }, el("thead", {}, el("tr", {}, ...["flow", "started", "completed", "cancelled", "handed off", "stopped at"].map((t) => el("th", {}, t)))));
    const body = el("tbody");
    for (const f of flows) {
      const stops = Object.entries(f.dropped).slice(0, 3).map(([s, n]) => `${s} (${n})`).join(", ");
      const done = f.started ? f.completed / f.started : 0;
      const bar = el("svg:svg", { width: 80, height: 10, "aria-hidden": "true" }, el("svg:rect", { x: 0, y: 0, width: 80, height: 10, fill: "#eef1f6" }), el("svg:rect", { x: 0, y: 0, width: 80 * done, height: 10, fill: "#1f9d63" }));
      body.append(el("tr", {}, el("td", {}, f.flow_id), el("td", {}, f.started), el("td", {}, f.completed, " ", bar), el("td", {}, f.cancelled), el("td", {}, f.handed_off), el("td", {}, stops || "-")));
    }
    table.append(body);
    $("funnel").replaceChildren(table);
  }

  function intents(rows) {
    if (!rows.length) return $("intents").replaceChildren(el("p", { class: "muted" }, "No messages yet."));
    const table = el("table", { "aria-label": "Intents" }, el("thead", {}, el("tr", {}, el("th", {}, "intent"), el("th", {}, "messages"), el("th", {}, "avg confidence"))));
    const body = el("tbody");
    for (const r of rows.slice(0, 12)) body.append(el("tr", {}, el("td", {}, r.intent), el("td", {}, r.turns), el("td", {}, r.average_confidence.toFixed(2))));
    table.append(body);
    $("intents").replaceChildren(table);
  }

  async function download(cluster, format) {
    const r = await api(`/admin/unanswered/${cluster.id}/export`, { format, since: $("window").value });
    const name = (r.headers.get("content-disposition") || "").split('filename="')[1]?.replace('"', "") || "export.txt";
    const a = el("a", { href: URL.createObjectURL(await r.blob()), download: name });
    document.body.append(a);
    a.click();
    a.remove();
  }

  function clusters(list) {
    if (!list.length) return $("clusters").replaceChildren(el("p", { class: "muted" }, "No unanswered question came up more than once."));
    $("clusters").classList.remove("muted");
    $("clusters").replaceChildren(...list.slice(0, 12).map((c) => {
      const rasa = el("button", { type: "button", class: "plain" }, "Export as Rasa NLU intent");
      const kb = el("button", { type: "button", class: "plain" }, "Export as KB article stub");
      rasa.onclick = () => download(c, "rasa");
      kb.onclick = () => download(c, "kb");
      const trend = c.recent > c.earlier ? "rising" : c.recent < c.earlier ? "falling" : "steady";
      return el("div", { class: "cluster" },
        el("strong", {}, `${c.size} x "${c.label}"`), " ",
        el("span", { class: "pill" }, trend), ...c.terms.map((t) => el("span", { class: "pill kb" }, t)),
        ...Object.entries(c.reasons).map(([k, n]) => el("span", { class: "pill fallback" }, `${k} ${n}`)),
        el("div", { class: "muted" }, c.examples.slice(1, 5).join(" / ")),
        el("div", {}, rasa, " ", kb));
    }));
  }

  async function browse(more) {
    const form = new FormData($("filters"));
    const params = Object.fromEntries(form.entries());
    params.since = $("window").value;
    if (more && before !== null) params.before = before;
    const data = await (await api("/admin/conversations", params)).json();
    before = data.next_before;
    $("more").hidden = before === null;
    const rows = data.conversations.map((c) => {
      const tr = el("tr", { class: "row", tabindex: 0 },
        el("td", {}, when(c.created_at)), el("td", {}, c.channel),
        el("td", {}, c.first_text || ""), el("td", {}, c.turns),
        el("td", {}, c.handoff_reason ? el("span", { class: "pill human" }, c.handoff_reason) : "-"),
        el("td", {}, c.rating ?? "-"));
      tr.onclick = () => open(c.id);
      tr.onkeydown = (e) => { if (e.key === "Enter") open(c.id); };
      return tr;
    });
    if (more) $("rows").append(...rows); else $("rows").replaceChildren(...rows);
    if (!more && !rows.length) $("rows").replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "muted" }, "No conversation matches.")));
  }

  function traceLine(t) {
    const tr = t.trace || {};
    const parts = [el("span", { class: "pill " + t.handled_by }, t.handled_by)];
    if (tr.nlu) parts.push(el("span", { class: "pill" }, `${tr.nlu.intent.name} ${tr.nlu.intent.confidence.toFixed(2)}`));
    for (const e of (tr.nlu && tr.nlu.entities) || []) parts.push(el("span", { class: "pill" }, `${e.entity}=${e.value}`));
    if (tr.kb && tr.kb.hits) for (const h of tr.kb.hits.slice(0, 2)) parts.push(el("span", { class: "pill kb" }, `KB ${h.title} ${h.score.toFixed(2)}`));
    const timing = tr.timings_ms ? ` - ${Math.round(tr.timings_ms.total)} ms (encode ${tr.timings_ms.encode}, nlu ${tr.timings_ms.nlu}, decide ${tr.timings_ms.decide})` : "";
    return el("div", { class: "trace" }, ...parts, el("div", {}, (tr.decision || "") + timing));
  }

  async function open(id) {
    const c = await (await api(`/admin/conversations/${encodeURIComponent(id)}`)).json();
    $("detail").hidden = false;
    $("h-detail").textContent = `Conversation ${c.conversation_id}`;
    const ho = c.handoffs.length ? c.handoffs.map((h) => `handed off: ${h.reason}, ${h.priority}, ${h.status}`).join("; ") : "no handoff";
    const rated = c.ratings.length ? ` - rated ${c.ratings[c.ratings.length - 1].score}/5` : "";
    $("detail-head").textContent = `${c.channel} - customer ${c.customer.id} - with the ${c.status === "human" ? "helpdesk" : "bot"} - ${ho}${rated}`;
    const byTurn = Object.fromEntries(c.turns.map((t) => [t.turn_id, t]));
    $("transcript").replaceChildren(...c.messages.map((m) => {
      const box = el("div", { class: "msg " + m.role }, el("div", { class: "who" }, `${m.role} - ${m.at.slice(11, 19)}`), el("div", {}, m.text));
      if (m.role === "customer" && m.turn_id && byTurn[m.turn_id]) box.append(traceLine(byTurn[m.turn_id]));
      return box;
    }));
    $("detail").scrollIntoView({ behavior: "instant", block: "start" });
  }

  async function load() {
    const since = $("window").value;
    const f = await (await api("/admin/figures", { since })).json();
    tiles(f);
    dailyChart(f.daily);
    bars("reasons", Object.entries(f.handoffs_by_reason), "Handoffs by reason");
    funnel(f.funnel);
    intents(f.intents);
    await browse(false);
    $("clusters").replaceChildren("Grouping the unanswered questions...");
    clusters((await (await api("/admin/unanswered", { since })).json()).clusters);
  }

  $("login-form").onsubmit = (e) => {
    e.preventDefault();
    sessionStorage.setItem(KEY, $("token").value);
    start();
  };
  $("logout").onclick = () => signOut("");
  $("window").onchange = () => load();
  $("filters").onsubmit = (e) => { e.preventDefault(); browse(false); };
  $("more").onclick = () => browse(true);

  function start() {
    if (!sessionStorage.getItem(KEY)) return signOut("");
    $("login").hidden = true;
    $("app").hidden = false;
    load().catch((err) => { if (err.message !== "auth") $("clusters").textContent = "Could not load: " + err.message; });
  }
  start();
})();
