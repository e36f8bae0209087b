/* botsvc chat widget: one <script> tag, no build step, no dependencies.

   <script src="https://bot.example.com/widget.js" data-key="pk_..." data-title="Shop assistant"
           defer></script>

   Attributes (all optional): data-api (botsvc base URL; default: the origin of this script),
   data-key (public API key), data-title, data-open ("true": start opened), data-customer-id,
   data-customer-hash (HMAC-SHA256 hex of the id, computed by the site's server),
   data-customer-name, data-customer-email, data-channel (default "widget").

   Exposes window.botsvc = {open(), close(), send(text)}.

   The file is ASCII only (other characters as \u escapes): a page or CDN serving it without a
   charset cannot garble it.

   Everything lives in an open Shadow DOM so the site's CSS cannot reach in (and ours cannot leak
   out). Server strings are only ever set as textContent; the only links are KB sources with an
   http(s) URL. */
(() => {
  "use strict";

  // document.currentScript is only set while this file first runs, so read it now
  const script =
    document.currentScript || [...document.querySelectorAll("script[src*='widget.js']")].pop();
  const data = script ? script.dataset : {};
  const config = {
    api: (data.api || new URL(script ? script.src : location.href, location.href).origin).replace(
      /\/+$/,
      "",
    ),
    key: data.key || null,
    title: data.title || "Chat with us",
    open: data.open === "true",
    channel: data.channel || "widget",
    customer: data.customerId
      ? {
          id: data.customerId,
          user_hash: data.customerHash || null,
          name: data.customerName || null,
          email: data.customerEmail || null,
        }
      : null,
  };
  // the api base is in the key so two botsvc deployments on one site keep apart; the customer id
  // too, so a different signed-in customer on a shared browser never sees another's transcript
  const STORAGE_KEY = `botsvc:conversation:${config.api}:${config.customer?.id ?? ""}`;
  const TOKEN_ERRORS = new Set(["conversation_token_required", "conversation_token_invalid"]);

  const CSS = `
    :host { all: initial; }
    * { box-sizing: border-box; }
    [hidden] { display: none !important; }
    .root {
      font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
      color: #1a1a1a;
    }
    button, textarea, input { font: inherit; color: inherit; }
    /* a visible ring on every control reached by keyboard; amber has >= 3:1 on white and blue */
    :focus-visible { outline: 3px solid #b45309; outline-offset: 2px; }
    .launcher {
      position: fixed; right: 20px; bottom: 20px; z-index: 2147483000;
      width: 56px; height: 56px; border: 0; border-radius: 50%; cursor: pointer;
      background: #1d4ed8; color: #fff; box-shadow: 0 4px 14px rgba(0, 0, 0, .25);
      display: grid; place-items: center;
    }
    .launcher svg { width: 26px; height: 26px; }
    .panel {
      position: fixed; right: 20px; bottom: 88px; z-index: 2147483001;
      width: 370px; height: min(600px, calc(100vh - 108px));
      display: flex; flex-direction: column; overflow: hidden;
      background: #fff; border-radius: 12px; box-shadow: 0 8px 30px rgba(0, 0, 0, .25);
    }
    header {
      display: flex; align-items: center; gap: 8px; padding: 12px 12px 12px 16px;
      background: #1d4ed8; color: #fff;
    }
    header h2 { flex: 1; margin: 0; font-size: 16px; font-weight: 600; }
    .close {
      width: 36px; height: 36px; border: 0; border-radius: 6px; cursor: pointer;
      background: transparent; color: #fff; font-size: 22px; line-height: 1;
    }
    .close:hover { background: rgba(255, 255, 255, .15); }
    header :focus-visible { outline-color: #fff; }
    .banner { margin: 0; padding: 8px 16px; background: #fef3c7; color: #78350f; font-size: 14px; }
    .log {
      flex: 1; overflow-y: auto; padding: 12px; display: flex; flex-direction: column; gap: 8px;
    }
    .msg { max-width: 85%; display: flex; flex-direction: column; gap: 6px; }
    .msg .bubble {
      padding: 8px 12px; border-radius: 14px; white-space: pre-wrap; overflow-wrap: anywhere;
    }
    .customer { align-self: flex-end; align-items: flex-end; }
    .customer .bubble { background: #1d4ed8; color: #fff; border-bottom-right-radius: 4px; }
    .bot, .agent { align-self: flex-start; }
    .bot .bubble { background: #f1f3f5; border-bottom-left-radius: 4px; }
    .agent .bubble { background: #e0f2e9; border-bottom-left-radius: 4px; }
    .who { font-size: 13px; color: #4b5563; }
    .system {
      align-self: center; max-width: 90%; text-align: center; font-size: 13px; color: #4b5563;
      white-space: pre-wrap;
    }
    .msg img { max-width: 100%; border-radius: 8px; }
    .buttons { display: flex; flex-wrap: wrap; gap: 6px; }
    .chip {
      padding: 6px 12px; border: 1px solid #1d4ed8; border-radius: 16px; cursor: pointer;
      background: #fff; color: #1d4ed8;
    }
    .chip:hover:not(:disabled) { background: #eff4ff; }
    .chip:disabled { cursor: default; border-color: #9ca3af; color: #4b5563; }
    .chip[aria-pressed="true"] { background: #1d4ed8; color: #fff; }
    .sources, .helpful, .csat p { margin: 0; font-size: 13px; color: #4b5563; }
    .sources a { color: #1d4ed8; }
    .helpful { display: flex; align-items: center; gap: 4px; }
    .helpful button {
      border: 1px solid transparent; border-radius: 6px; background: none; cursor: pointer;
      padding: 2px 6px; font-size: 16px;
    }
    .helpful button:hover { border-color: #9ca3af; }
    .csat {
      align-self: stretch; display: flex; flex-direction: column; gap: 8px; padding: 12px;
      border: 1px solid #d1d5db; border-radius: 10px;
    }
    .csat p.question { font-size: 15px; color: #1a1a1a; font-weight: 600; }
    .csat label { font-size: 13px; color: #4b5563; }
    .csat .comment { display: flex; gap: 6px; }
    .csat input {
      flex: 1; min-width: 0; padding: 6px 8px; font-size: 16px;
      border: 1px solid #6b7280; border-radius: 6px;
    }
    .typing { padding: 0 16px 6px; font-size: 13px; color: #4b5563; }
    .dots span { animation: blink 1.4s infinite both; }
    .dots span:nth-child(2) { animation-delay: .2s; }
    .dots span:nth-child(3) { animation-delay: .4s; }
    @keyframes blink { 0%, 80%, 100% { opacity: .2; } 40% { opacity: 1; } }
    @media (prefers-reduced-motion: reduce) { .dots span { animation: none; } }
    .notice {
      margin: 0 12px 8px; padding: 8px 12px; border-radius: 8px; font-size: 14px;
      background: #fee2e2; color: #7f1d1d;
    }
    form { display: flex; gap: 8px; padding: 10px 12px; border-top: 1px solid #e5e7eb; }
    textarea {
      flex: 1; min-width: 0; resize: none; max-height: 120px; padding: 8px 10px;
      font-size: 16px; /* 16px or more: iOS Safari does not zoom into the field */
      border: 1px solid #6b7280; border-radius: 8px; background: #fff;
    }
    .send, .csat .submit {
      padding: 0 14px; border: 0; border-radius: 8px; cursor: pointer;
      background: #1d4ed8; color: #fff; font-weight: 600;
    }
    .send[aria-disabled="true"] { background: #6b7280; cursor: default; }
    .sr-only {
      position: absolute; width: 1px; height: 1px; overflow: hidden;
      clip: rect(0 0 0 0); white-space: nowrap;
    }
    /* phones: the open panel is the whole screen */
    @media (max-width: 479.98px) {
      .panel {
        inset: 0; width: 100vw; height: 100vh; height: 100dvh; border-radius: 0;
      }
    }
  `;

  const ICON =
    '<svg viewBox="0 0 24 24" fill="currentColor" aria-hidden="true"><path d="M4 3h16a2 2 0 0 1 ' +
    "2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z\"/></svg>";

  // ---- small DOM helper: an element with properties/attributes and children ----
  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props)) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : value);
    }
    node.append(...children.filter(Boolean));
    return node;
  }

  function httpUrl(value) {
    try {
      const url = new URL(value, location.href);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch {
      return null;
    }
  }

  // ---- the widget's elements ----
  const host = el("div", { id: "botsvc-widget" });
  const shadow = host.attachShadow({ mode: "open" }); // open: tests and devtools can reach in
  const launcher = el("button", {
    class: "launcher",
    type: "button",
    "aria-label": `Chat: ${config.title}`,
    "aria-expanded": "false",
    "aria-controls": "botsvc-panel",
  });
  launcher.innerHTML = ICON; // a constant of ours, never a server string
  const banner = el("p", { class: "banner", role: "status", hidden: true });
  const log = el("div", {
    class: "log",
    role: "log",
    "aria-live": "polite",
    "aria-label": "Messages",
  });
  const dots = el("span", { class: "dots", "aria-hidden": "true" }); // the animated ellipsis
  for (let i = 0; i < 3; i++) dots.append(el("span", {}, "."));
  const typing = el(
    "div",
    { class: "typing", role: "status", hidden: true },
    "Assistant is typing",
    dots,
  );
  const notice = el("p", { class: "notice", role: "alert", hidden: true });
  const input = el("textarea", {
    id: "botsvc-input",
    rows: "1",
    maxlength: "5000",
    placeholder: "Type your message\u2026",
    autocomplete: "off",
  });
  const sendButton = el("button", { class: "send", type: "submit" }, "Send");
  const form = el(
    "form",
    { onsubmit: onSubmit },
    el("label", { class: "sr-only", for: "botsvc-input", text: "Your message" }),
    input,
    sendButton,
  );
  const panel = el(
    "section",
    { class: "panel", id: "botsvc-panel", role: "dialog", "aria-label": config.title },
    el(
      "header",
      {},
      el("h2", { text: config.title }),
      el(
        "button",
        { class: "close", type: "button", "aria-label": "Close chat", onclick: close },
        "\u00d7", // a multiplication sign
      ),
    ),
    banner,
    log,
    typing,
    notice,
    form,
  );
  panel.hidden = true;
  const root = el("div", { class: "root" }, launcher, panel);
  shadow.append(el("style", { text: CSS }), root);

  // ---- conversation state ----
  let conversation = null; // {id, token}; saved once the server knows it
  let lastSeq = 0; // the highest transcript seq seen, so a stream reconnect asks only for newer
  let busy = false; // a POST is in flight
  let stream = null;
  let retryDelay = 1000;
  let handoff = { id: null, state: "none", agent: null }; // state: none | queued | joined

  function saved() {
    try {
      const value = JSON.parse(localStorage.getItem(STORAGE_KEY) || "null");
      return value && typeof value.id === "string" ? value : null;
    } catch {
      return null; // storage disabled (privacy mode) or garbage: start afresh
    }
  }

  function save() {
    try {
      localStorage.setItem(STORAGE_KEY, JSON.stringify(conversation));
    } catch {
      /* no storage: the conversation just won't survive a reload */
    }
  }

  function forget() {
    if (stream) stream.close();
    stream = null;
    conversation = null;
    lastSeq = 0;
    handoff = { id: null, state: "none", agent: null };
    showBanner();
    try {
      localStorage.removeItem(STORAGE_KEY);
    } catch {
      /* nothing stored */
    }
  }

  function newId() {
    if (crypto.randomUUID) return `w-${crypto.randomUUID()}`;
    // randomUUID needs a secure context; a plain-http test site still gets 128 random bits
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return `w-${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
  }

  // ---- HTTP ----
  class ApiError extends Error {
    constructor(status, code, message) {
      super(message || code);
      this.status = status;
      this.code = code;
    }
  }

  async function call(method, path, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (config.key) headers.Authorization = `Bearer ${config.key}`;
    if (conversation?.token) headers["X-Conversation-Token"] = conversation.token;
    let response;
    try {
      response = await fetch(config.api + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new ApiError(0, "network", String(err));
    }
    const payload = await response.json().catch(() => null);
    if (!response.ok) {
      const error = payload?.error ?? {};
      throw new ApiError(response.status, error.code || "http_error", error.message);
    }
    return payload;
  }

  function conversationPath(suffix = "") {
    return `/v1/conversations/${encodeURIComponent(conversation.id)}${suffix}`;
  }

  const isTokenError = (err) => [401, 403].includes(err.status) && TOKEN_ERRORS.has(err.code);

  // ---- rendering ----
  function scrollDown() {
    log.scrollTop = log.scrollHeight;
  }

  function addMessage(role, text, { who = null, image = null } = {}) {
    if (role === "system") {
      const line = el("p", { class: "msg system", text });
      log.append(line);
      scrollDown();
      return line;
    }
    const src = image && httpUrl(image);
    const node = el(
      "div",
      { class: `msg ${role}` },
      who && el("span", { class: "who", text: who }),
      text && el("div", { class: "bubble", text }),
      src && el("img", { src, alt: "Image from the assistant", loading: "lazy" }),
    );
    log.append(node);
    scrollDown();
    return node;
  }

  function addButtons(node, buttons, { enabled = true } = {}) {
    const row = el("div", { class: "buttons", role: "group", "aria-label": "Suggested replies" });
    for (const b of buttons) {
      const chip = el("button", { class: "chip", type: "button", text: b.title });
      chip.disabled = !enabled;
      chip.addEventListener("click", async () => {
        setDisabled(row, true);
        chip.setAttribute("aria-pressed", "true");
        // the payload goes to the bot, the customer sees the title they clicked
        if (!(await send(b.payload, b.title))) {
          setDisabled(row, false); // not sent: the choice can be made again
          chip.removeAttribute("aria-pressed");
        }
      });
      row.append(chip);
    }
    node.append(row);
  }

  function setDisabled(container, disabled) {
    for (const b of container.querySelectorAll("button")) b.disabled = disabled;
  }

  function addSources(node, sources) {
    const line = el("p", { class: "sources" }, "Sources: ");
    sources.forEach((s, i) => {
      if (i) line.append(", ");
      const href = s.url && httpUrl(s.url);
      line.append(
        href
          ? el("a", { href, target: "_blank", rel: "noopener noreferrer", text: s.title })
          : s.title,
      );
    });
    node.append(line);
  }

  function addHelpful(node, turnId) {
    const line = el("p", { class: "helpful" }, "Was this helpful?");
    const vote = async (helpful) => {
      setDisabled(line, true);
      try {
        await call("POST", conversationPath(`/turns/${encodeURIComponent(turnId)}/feedback`), {
          helpful,
        });
        notice.hidden = true;
        line.replaceChildren("Thanks for letting us know.");
      } catch {
        setDisabled(line, false);
        showNotice("Sorry, we couldn't record that. Please try again.");
      }
    };
    const thumb = (label, emoji, helpful) =>
      el("button", { type: "button", "aria-label": label, onclick: () => vote(helpful) }, emoji);
    line.append(
      thumb("Yes, this was helpful", "\u{1F44D}", true),
      thumb("No, this was not helpful", "\u{1F44E}", false),
    );
    node.append(line);
  }

  function renderTurn(turn) {
    const messages = turn.messages || [];
    let last = null;
    for (const m of messages) {
      last = addMessage("bot", m.text, { image: m.image });
      if (m.buttons?.length) addButtons(last, m.buttons);
    }
    // sources and the helpful question belong to the answer as a whole: under its last message
    if (last && turn.sources?.length) {
      addSources(last, turn.sources);
      addHelpful(last, turn.turn_id);
    }
    if (turn.handoff?.status === "open" && handoff.state === "none") {
      handoff = { id: turn.handoff.id, state: "queued", agent: null };
      showBanner();
    }
    scrollDown();
  }

  // one stored transcript message: from the stream (live) or from the restored transcript
  function renderStored(m, { live, isLast = false }) {
    lastSeq = Math.max(lastSeq, m.seq || 0);
    if (m.role === "agent") {
      const name = m.agent?.name || handoff.agent || "Agent";
      if (handoff.state !== "joined") joined(name); // in case the join notice never came
      addMessage("agent", m.text, { who: name, image: m.image });
    } else if (m.role === "system") {
      if (m.event === "agent_joined") joined(m.agent?.name || "An agent");
      if (m.event === "resolved") {
        handoff = { id: null, state: "none", agent: null };
        showBanner();
      }
      addMessage("system", m.text);
      if (m.event === "resolved" && live) askRating();
    } else if (!live) {
      // the restored transcript shows everyone; live, the POST already showed ours and the bot's
      const role = m.role === "customer" ? "customer" : "bot";
      const node = addMessage(role, m.text, { image: m.image });
      // only the buttons of a question still open (the last message) can be answered
      if (m.buttons?.length) addButtons(node, m.buttons, { enabled: isLast });
    }
  }

  function joined(name) {
    handoff = { ...handoff, state: "joined", agent: name };
    showBanner();
  }

  function showBanner() {
    const text = {
      none: "",
      queued: "You're in the queue \u2014 a person will join shortly.",
      joined: `${handoff.agent} has joined`,
    }[handoff.state];
    banner.textContent = text;
    banner.hidden = !text;
  }

  // CSAT once a person resolved the conversation: a score posts at once; a comment is optional
  // and posted after it (the server keeps the latest rating of a handoff)
  function askRating() {
    const box = el(
      "div",
      { class: "csat", role: "group", "aria-label": "Rate this conversation" },
      el("p", { class: "question", text: "How would you rate this conversation?" }),
    );
    const scores = el("div", { class: "buttons" });
    let score = null;
    const comment = el("input", { id: "botsvc-csat-comment", type: "text", maxlength: "1000" });
    const thanks = el("p", { text: "Thanks for your feedback!", hidden: true });
    const submit = el("button", { class: "submit", type: "button", text: "Send" });
    const commentRow = el(
      "div",
      {},
      el("label", { for: "botsvc-csat-comment", text: "Anything you'd like to add? (optional)" }),
      el("div", { class: "comment" }, comment, submit),
    );
    const rate = async (withComment) => {
      const body = { score };
      if (withComment && comment.value.trim()) body.comment = comment.value.trim();
      setDisabled(box, true);
      try {
        await call("POST", conversationPath("/rating"), body);
        notice.hidden = true;
        thanks.hidden = false;
        if (withComment) commentRow.remove();
        else setDisabled(commentRow, false); // the score is given; a comment may follow
      } catch {
        setDisabled(box, false);
        showNotice("Sorry, we couldn't send your rating. Please try again.");
      }
    };
    for (let n = 1; n <= 5; n++) {
      const label = `${n} out of 5`;
      const b = el("button", { class: "chip", type: "button", "aria-label": label }, String(n));
      b.addEventListener("click", () => {
        score = n;
        for (const other of scores.children) {
          other.setAttribute("aria-pressed", String(other === b));
        }
        rate(false);
      });
      scores.append(b);
    }
    submit.addEventListener("click", () =>
      score ? rate(true) : showNotice("Please pick a score from 1 to 5 first."),
    );
    box.append(scores, commentRow, thanks);
    log.append(box);
    scrollDown();
  }

  function showNotice(text) {
    notice.textContent = text;
    notice.hidden = false;
  }

  // ---- live events: agents' messages and system notices arrive over Server-Sent Events ----
  function openStream() {
    if (stream || !conversation || typeof EventSource === "undefined") return;
    const query = new URLSearchParams({ token: conversation.token || "", after: String(lastSeq) });
    if (config.key) query.set("key", config.key); // EventSource cannot send headers
    const source = new EventSource(`${config.api}${conversationPath("/stream")}?${query}`);
    stream = source;
    source.addEventListener("open", () => (retryDelay = 1000));
    source.addEventListener("message", (event) => {
      let m;
      try {
        m = JSON.parse(event.data);
      } catch {
        return;
      }
      if (m.seq && m.seq <= lastSeq) return; // already shown (a reconnect can replay)
      renderStored(m, { live: true });
    });
    // EventSource would reconnect by itself, but with the `after` of its first URL: reopen it
    // ourselves with the latest seq, backing off while the server is away
    source.addEventListener("error", () => {
      source.close();
      if (stream !== source) return;
      stream = null;
      setTimeout(openStream, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 30000);
    });
  }

  // ---- sending ----
  async function postTurn(text) {
    if (!conversation) conversation = { id: newId(), token: null };
    const body = { text, channel: config.channel };
    if (config.customer) body.customer = config.customer;
    const turn = await call("POST", conversationPath("/messages"), body);
    if (turn.conversation_token) conversation.token = turn.conversation_token;
    save();
    openStream();
    return turn;
  }

  // Sends `text` to the bot, showing `shown` as the customer's bubble; true when it went through
  async function send(text, shown = text) {
    text = String(text ?? "").trim();
    if (!text || busy) return false;
    busy = true;
    sendButton.setAttribute("aria-disabled", "true");
    notice.hidden = true;
    const bubble = addMessage("customer", shown);
    typing.hidden = false;
    try {
      let turn;
      try {
        turn = await postTurn(text);
      } catch (err) {
        if (!isTokenError(err)) throw err;
        // the stored conversation is not ours any more: start a new one and say it once more
        forget();
        addMessage("system", "A new conversation has started.");
        turn = await postTurn(text);
      }
      typing.hidden = true;
      renderTurn(turn);
      return true;
    } catch (err) {
      bubble.remove();
      showNotice(
        err.status === 0
          ? "Sorry, we couldn't reach the assistant. Please check your connection and try again."
          : "Sorry, something went wrong sending your message. Please try again.",
      );
      return false;
    } finally {
      busy = false;
      typing.hidden = true;
      sendButton.removeAttribute("aria-disabled");
    }
  }

  async function onSubmit(event) {
    event.preventDefault();
    const text = input.value;
    if (!text.trim() || busy) return;
    input.value = "";
    fitInput();
    if (!(await send(text)) && !input.value) {
      input.value = text; // not sent: give the text back to retry
      fitInput();
    }
  }

  function fitInput() {
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight + 2, 120)}px`;
  }

  input.addEventListener("input", fitInput);
  input.addEventListener("keydown", (event) => {
    // Enter sends, Shift+Enter is a new line; not while an IME is composing a character
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  // ---- restoring a stored conversation on page load ----
  async function restore() {
    const stored = saved();
    if (!stored) return;
    conversation = stored;
    let view;
    try {
      view = await call("GET", conversationPath());
    } catch (err) {
      if (isTokenError(err) || err.status === 404) forget();
      else showNotice("Sorry, we couldn't load your earlier messages.");
      return;
    }
    const messages = view.messages || [];
    let offered = []; // the buttons of the bot's latest question
    messages.forEach((m, i) => {
      // a clicked button was stored as its payload: show its title again, as when it was clicked
      const title = m.role === "customer" && offered.find((b) => b.payload === m.text)?.title;
      if (m.role === "bot") offered = m.buttons || [];
      renderStored(title ? { ...m, text: title } : m, {
        live: false,
        isLast: i === messages.length - 1,
      });
    });
    // the replay saw every handoff of the conversation; the current one decides the banner
    const current = view.handoff?.status === "open" ? view.handoff : null;
    if (!current) handoff = { id: null, state: "none", agent: null };
    else if (handoff.state === "none") handoff = { id: current.id, state: "queued", agent: null };
    showBanner();
    openStream();
  }

  // ---- opening and closing ----
  function open() {
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    scrollDown();
    input.focus();
  }

  function close() {
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    launcher.focus();
  }

  launcher.addEventListener("click", () => (panel.hidden ? open() : close()));
  root.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !panel.hidden) {
      event.stopPropagation();
      close();
    }
  });

  function start() {
    document.body.append(host);
    if (config.open) {
      // open without stealing focus from the page: a visitor may be reading or typing elsewhere
      panel.hidden = false;
      launcher.setAttribute("aria-expanded", "true");
    }
    restore();
  }

  window.botsvc = {
    open,
    close,
    send: (text) => {
      if (panel.hidden) open(); // the customer should see what is said on their behalf
      return send(text);
    },
  };
  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start, { once: true });
})();
