// The judge dashboard: fleet, jobs, a job's results live, submit, problems.
// Everything that comes from the server is put into the page as text (textContent), never
// as HTML. The token lives in sessionStorage and travels only in the Authorization header.
"use strict";

const main = () => document.getElementById("main");
const token = () => sessionStorage.getItem("judge-token");
let timer = null;
let stream = null;

/** An element with text and attributes; children appended. */
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

async function api(path, options) {
  const opts = Object.assign({ headers: {} }, options || {});
  opts.headers["Authorization"] = "Bearer " + token();
  const r = await fetch(path, opts);
  if (r.status === 401) {
    signOut("Your token was refused.");
    throw new Error("unauthenticated");
  }
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.message || r.statusText);
  return body;
}

function bar(fraction) {
  const f = Math.max(0, Math.min(1, fraction || 0));
  const b = el("span", { class: "bar" });
  const fill = el("span", { class: "fill" });
  fill.style.width = Math.round(f * 100) + "%";
  b.append(fill);
  return b;
}

function bytes(n) {
  if (!n) return "0";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return n.toFixed(i ? 1 : 0) + " " + u[i];
}

function table(head, rows) {
  const t = el("table");
  t.append(el("thead", {}, el("tr", {}, ...head.map((h) => el("th", {}, h)))));
  const body = el("tbody");
  for (const r of rows) body.append(el("tr", {}, ...r.map((c) => el("td", {}, c))));
  t.append(body);
  return t;
}

function stop() {
  if (timer) clearInterval(timer);
  timer = null;
  if (stream) stream.abort();
  stream = null;
}

/** Renders `draw()` now and every two seconds while the page stays. */
function live(draw) {
  draw().catch(showError);
  timer = setInterval(() => draw().catch(showError), 2000);
}

function showError(e) {
  const m = main();
  let p = m.querySelector(".error.page");
  if (!p) { p = el("p", { class: "error page" }); m.prepend(p); }
  p.textContent = String(e.message || e);
}

function page(title, ...content) {
  const m = main();
  m.replaceChildren(el("h1", {}, title), ...content);
}

async function fleet() {
  const box = el("div");
  page("Fleet", box);
  live(async () => {
    const { workers } = await api("/api/v1/workers");
    const rows = workers.map((w) => [
      w.name,
      !w.connected ? "gone" : w.draining ? "draining"
        : w.quarantined ? el("span", { title: w.quarantined }, "quarantined: " + w.quarantined)
        : "connected",
      `${w.running} / ${w.slots}`,
      w.job_types.join(", "),
      w.languages.join(", "),
      el("span", {}, bar(w.cpu_percent / 100), ` ${w.cpu_percent.toFixed(0)}%`),
      bytes(w.memory_free_bytes),
      bytes(w.disk_free_bytes),
      el("span", {}, bar(w.cache_size_bytes ? w.cached_bytes / w.cache_size_bytes : 0),
        ` ${bytes(w.cached_bytes)}`),
      w.cache_hits + w.cache_misses
        ? ((100 * w.cache_hits) / (w.cache_hits + w.cache_misses)).toFixed(0) + "%" : "-",
    ]);
    box.replaceChildren(table(
      ["Worker", "State", "Slots used", "Job kinds", "Languages", "CPU", "Free memory",
        "Free disk", "Cache", "Hit ratio"], rows));
  });
}

function jobLink(j) {
  return el("a", { href: "#/job/" + j.job_id }, String(j.job_id));
}

async function jobs() {
  const state = el("select", { id: "filter-state" },
    ...["", "queued", "assigned", "running", "done", "cancelled", "failed"]
      .map((s) => el("option", { value: s }, s || "any state")));
  const problem = el("input", { id: "filter-problem", placeholder: "problem" });
  const box = el("div");
  page("Jobs", el("div", { class: "filters" }, state, problem), box);
  live(async () => {
    const q = new URLSearchParams({ limit: "50" });
    if (state.value) q.set("state", state.value);
    if (problem.value) q.set("problem", problem.value);
    const list = await api("/api/v1/jobs?" + q);
    const rows = list.jobs.map((j) => [
      jobLink(j), j.owner, j.job_type === "judge" ? j.problem : j.job_type, j.language,
      j.priority, j.state, j.verdict || (j.run ? j.run.outcome : "-"),
      j.score === null || j.score === undefined ? "" : String(j.score),
      j.waiting || "", new Date(j.submitted_at_ms).toLocaleTimeString(),
    ]);
    box.replaceChildren(table(
      ["Job", "Owner", "Problem", "Language", "Class", "State", "Verdict", "Score", "Waiting",
        "Submitted"],
      rows));
  });
}

/** Reads a Server-Sent Events response, calling `onEvent(kind, data)` for each event. */
async function readEvents(path, onEvent) {
  const ctl = new AbortController();
  stream = ctl;
  const r = await fetch(path, {
    headers: { Authorization: "Bearer " + token() }, signal: ctl.signal,
  });
  if (!r.ok) throw new Error((await r.json().catch(() => ({}))).message || r.statusText);
  const reader = r.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      let kind = "message";
      let data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) kind = line.slice(6).trim();
        if (line.startsWith("data:")) data += line.slice(5).trim();
      }
      if (data) onEvent(kind, JSON.parse(data));
    }
  }
}

async function job(id) {
  const head = el("div", { id: "job-head" });
  const tests = el("tbody");
  const testTable = el("table", { id: "tests" }, el("thead", {}, el("tr", {},
    ...["Test", "Verdict", "CPU ms", "Wall ms", "Memory KiB", "Score", "Details"].map((h) => el("th", {}, h)))),
  tests);
  const groups = el("ul", { id: "groups" });
  const judgings = el("div", { id: "judgings" });
  const message = el("pre", { id: "job-message", class: "message" });
  const run = el("div", { id: "job-run" });
  const source = el("details", { id: "job-source" });
  page("Job " + id, head, judgings, testTable, groups, message, run, source);
  const draw = (j) => {
    testTable.hidden = j.job_type !== "judge";
    head.replaceChildren(
      el("p", {}, [j.job_type, j.problem, j.language, "owner " + j.owner, "class " + j.priority]
        .filter(Boolean).join(" · ")),
      el("p", { id: "job-state", class: "state" },
        `${j.state}${j.verdict ? " · " + j.verdict : ""}${j.score !== null && j.score !== undefined ? " · score " + j.score : ""}`),
      el("p", {}, j.worker ? "worker " + j.worker : (j.waiting ? "waiting: " + j.waiting : "")),
    );
    // Judged more than once (a rejudge): every judging, oldest first; the last is the verdict.
    judgings.replaceChildren(...(j.judgings && j.judgings.length > 1 ? [
      el("h2", {}, "Judgings"),
      table(["Version", "State", "Verdict", "Score", "CPU ms", "Class", "Ended"],
        j.judgings.map((g) => [g.problem_version, g.state, g.verdict || "-",
          g.score === null || g.score === undefined ? "" : String(g.score), g.time_ms, g.priority,
          g.finished_at_ms ? new Date(g.finished_at_ms).toLocaleTimeString() : ""])),
      el("h2", {}, "Tests of the newest judging"),
    ] : []));
    if (j.source && !source.childElementCount) {
      source.append(el("summary", {}, "Source"), el("pre", { class: "message" }, j.source));
    }
    message.textContent = j.message || "";
    message.hidden = !j.message;
    if (j.run) {
      run.replaceChildren(...[
        el("p", {}, `outcome ${j.run.outcome}, exit ${j.run.exit_code ?? "-"}, ${j.run.time_ms} ms`),
        j.run.compile_message ? el("h2", {}, "compiler") : null,
        j.run.compile_message ? el("pre", { class: "message" }, j.run.compile_message) : null,
        j.run.stdout ? el("h2", {}, "stdout") : null,
        j.run.stdout ? el("pre", { class: "message" }, j.run.stdout) : null,
        j.run.stderr ? el("h2", {}, "stderr") : null,
        j.run.stderr ? el("pre", { class: "message" }, j.run.stderr) : null,
      ].filter(Boolean));
    }
  };
  const addTest = (t) => tests.append(el("tr", {},
    el("td", {}, t.name), el("td", {}, t.verdict || "-"), el("td", {}, t.time_ms),
    el("td", {}, t.wall_ms), el("td", {}, t.memory_kb),
    el("td", {}, t.score === null || t.score === undefined ? "" : t.score),
    el("td", { class: "details" }, t.message || "")));
  const first = await api("/api/v1/jobs/" + encodeURIComponent(id));
  draw(first);
  first.tests.forEach(addTest);
  const shown = new Set(first.tests.map((t) => t.name));
  readEvents(`/api/v1/jobs/${encodeURIComponent(id)}/events`, async (kind, ev) => {
    if (kind === "test" && !shown.has(ev.name)) { shown.add(ev.name); addTest(ev); }
    if (kind === "group") groups.append(el("li", {}, `${ev.name}: ${ev.verdict} (${ev.score})`));
    if (kind === "requeued" || kind === "rejudged") { tests.replaceChildren(); shown.clear(); }
    draw(await api("/api/v1/jobs/" + encodeURIComponent(id)));
  }).catch((e) => { if (e.name !== "AbortError") showError(e); });
}

async function submit() {
  const problem = el("select", { id: "submit-problem", required: "" });
  const language = el("input", { id: "submit-language", placeholder: "python3", required: "" });
  const file = el("input", { id: "submit-file", type: "file" });
  const source = el("textarea", { id: "submit-source", rows: "14", required: "" });
  const error = el("p", { class: "error" });
  const form = el("form", { id: "submit-form" },
    el("label", {}, "Problem ", problem), el("label", {}, "Language ", language),
    el("label", {}, "Source file ", file), el("label", {}, "or paste it ", source),
    el("button", { type: "submit" }, "Submit"), error);
  page("Submit", form);
  const { problems } = await api("/api/v1/problems");
  problem.replaceChildren(...problems.map((p) => el("option", { value: p.id }, `${p.id} (${p.name})`)));
  file.addEventListener("change", async () => {
    if (file.files[0]) source.value = await file.files[0].text();
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const body = { problem: problem.value, language: language.value, source: source.value };
      const r = await api("/api/v1/jobs", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
      location.hash = "#/job/" + r.job_id;
    } catch (err) {
      error.textContent = err.message;
    }
  });
}

async function problems() {
  const box = el("div");
  page("Problems", box);
  const { problems } = await api("/api/v1/problems");
  box.replaceChildren(table(["Problem", "Name", "Version", "Kind", "Tests", "Time limit", "Size"],
    problems.map((p) => [p.id, p.name, p.version, p.kind, p.tests,
      (p.time_limit_ms / 1000) + " s", bytes(p.total_bytes)])));
}

/** Output as a terminal shows it: line ends, backspaces and nothing else interpreted. */
function paint(screen, text) {
  let t = screen.textContent;
  for (const ch of text) {
    if (ch === "\r") continue;
    if (ch === "\b") { t = t.slice(0, -1); continue; }
    if (ch === "\u0007") continue;
    t += ch;
  }
  screen.textContent = t.slice(-200000);
  screen.scrollTop = screen.scrollHeight;
}

async function consolePage() {
  const language = el("input", { id: "console-language", placeholder: "python3", required: "" });
  const source = el("textarea", { id: "console-source", rows: "10", required: "" });
  const status = el("p", { id: "console-status", class: "state" });
  const screen = el("pre", { id: "console-screen", class: "terminal", tabindex: "0" });
  const form = el("form", { id: "console-form" },
    el("label", {}, "Language ", language), el("label", {}, "Program ", source),
    el("button", { type: "submit" }, "Run live"));
  page("Console", form, status, screen);
  let socket = null;
  const decoder = new TextDecoder();
  const keys = { Enter: "\r", Backspace: "\u007f", Tab: "\t", Escape: "\u001b" };
  screen.addEventListener("keydown", (e) => {
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    let data = null;
    if (e.ctrlKey && e.key.length === 1) {
      data = String.fromCharCode(e.key.toUpperCase().charCodeAt(0) - 64);
    } else if (keys[e.key]) {
      data = keys[e.key];
    } else if (e.key.length === 1) {
      data = e.key;
    }
    if (data !== null) {
      e.preventDefault();
      socket.send(JSON.stringify({ input: data }));
    }
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (socket) socket.close();
    screen.textContent = "";
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/api/v1/console`);
    socket.binaryType = "arraybuffer";
    socket.onopen = () => socket.send(JSON.stringify({
      token: token(), language: language.value, source: source.value, rows: 24, cols: 80,
    }));
    socket.onmessage = (m) => {
      if (m.data instanceof ArrayBuffer) {
        paint(screen, decoder.decode(new Uint8Array(m.data), { stream: true }));
        return;
      }
      const ev = JSON.parse(m.data);
      if (ev.event === "queued") status.textContent = `console ${ev.job_id} queued`;
      if (ev.event === "assigned") status.textContent = `on worker ${ev.worker}`;
      if (ev.event === "compiling") status.textContent = "compiling";
      if (ev.event === "running") { status.textContent = "running"; screen.focus(); }
      if (ev.event === "end") {
        status.textContent = ev.outcome === "exited"
          ? `exited with ${ev.exit_code}` : `ended: ${ev.outcome || ev.message}`;
        if (ev.outcome === "compile_error") paint(screen, ev.message);
      }
      if (ev.event === "error") status.textContent = "refused: " + ev.message;
    };
  });
  stream = { abort: () => socket && socket.close() };
}

function route() {
  stop();
  if (!token()) return signOut();
  document.getElementById("nav").hidden = false;
  const [, what, arg] = (location.hash || "#/fleet").split("/");
  const pages = { fleet, jobs, submit, problems, console: consolePage, job: () => job(arg) };
  (pages[what] || fleet)().catch(showError);
}

function signOut(why) {
  stop();
  sessionStorage.removeItem("judge-token");
  document.getElementById("nav").hidden = true;
  const input = el("input", { id: "token", type: "password", autocomplete: "off", required: "" });
  const error = el("p", { id: "signin-error", class: "error" }, why || "");
  const form = el("form", { id: "signin-form" },
    el("label", {}, "Token ", input), el("button", { type: "submit" }, "Sign in"), error);
  main().replaceChildren(el("section", { id: "signin" }, el("h1", {}, "Sign in"), form,
    el("p", { class: "hint" }, "Your token stays in this browser tab only.")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    sessionStorage.setItem("judge-token", input.value.trim());
    try {
      await api("/api/v1/problems");
      if (!location.hash || location.hash === "#/") location.hash = "#/fleet";
      route();
    } catch (err) {
      sessionStorage.removeItem("judge-token");
      error.textContent = err.message === "unauthenticated" ? "That token was refused." : err.message;
    }
  });
}

window.addEventListener("hashchange", route);
document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("signout").addEventListener("click", () => signOut());
  route();
});
