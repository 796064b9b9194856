"""The page ``lab ui`` serves: one HTML document with its style and script inline (no build step,
nothing fetched from another machine). Pure.

The script opens ``/events`` (server-sent events) and redraws from each message: the lab's SVG
when it changed, the counts over each pod's box, each service port's paths and endpoints with the
share each pod gets, and the running exercise. Every element that shows a count carries
``data-role`` and its ``data-*`` names, so a test (or a teacher's script) can read the page.
"""

import html
import json

CSP = ("default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; img-src data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")

STYLE = """
body { font-family: Helvetica, Arial, sans-serif; margin: 0; background: #fafafa; color: #222; }
header { display: flex; align-items: center; gap: 1em; padding: .5em 1em; background: #2d3e50; color: #fff; }
header h1 { font-size: 1.3em; margin: 0; font-weight: normal; }
#live { font-size: .9em; opacity: .85; }
#live.on::before { content: "\\25CF  "; color: #6f6; }
#live.off::before { content: "\\25CF  "; color: #f66; }
main { display: flex; gap: 1em; padding: 1em; align-items: flex-start; }
#diagram { flex: 3; background: #fff; border: 1px solid #ddd; padding: .5em; overflow: auto; }
#diagram svg { max-width: 100%; height: auto; }
#side { flex: 2; min-width: 26em; display: flex; flex-direction: column; gap: 1em; }
.card { background: #fff; border: 1px solid #ddd; padding: .6em .9em; }
.card h2 { font-size: 1.1em; margin: .1em 0 .5em; }
.muted { color: #777; font-size: .85em; }
table { border-collapse: collapse; width: 100%; font-size: .95em; }
td { padding: .15em .4em; vertical-align: middle; }
td.count { text-align: right; font-variant-numeric: tabular-nums; font-weight: bold; width: 4em; }
.bar { background: #e6efe6; height: 1.1em; position: relative; min-width: 8em; }
.bar span { position: absolute; left: 0; top: 0; bottom: 0; background: #3c9d3c; }
.share { width: 3.5em; text-align: right; color: #2a7d2a; }
[data-tip] { cursor: help; }
button { font-size: 1em; padding: .3em .8em; cursor: pointer; }
#tip { position: fixed; display: none; max-width: 46em; background: #222; color: #eee; padding: .5em .7em;
       font-family: monospace; font-size: .85em; white-space: pre-wrap; z-index: 10; pointer-events: none; }
.pass { color: #2a7d2a; } .fail { color: #c00; } .pending { color: #888; }
pre.task { white-space: pre-wrap; font-size: .85em; max-height: 16em; overflow: auto; background: #f6f6f6;
           padding: .5em; }
#problems { color: #c00; }
"""

SCRIPT = r"""
"use strict";
const TOKEN = __TOKEN__;
const q = (p) => p + (p.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(TOKEN);
const $ = (id) => document.getElementById(id);
let svgVersion = -1, lastState = null;

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k === "text") e.textContent = v; else if (k === "cls") e.className = v; else e.setAttribute(k, v);
  }
  for (const k of kids) if (k) e.appendChild(typeof k === "string" ? document.createTextNode(k) : k);
  return e;
}
const num = (n) => (n === null || n === undefined) ? "\u2013" : String(n);
const pct = (s) => (s === null || s === undefined) ? "" : Math.round(s * 100) + "%";

function ruleTip(rules) {
  return [...rules].sort((a, b) => (b.count || 0) - (a.count || 0))
    .map(r => `${r.node}: ${num(r.count)} new connection(s)\n  ${r.rule}\n  # ${r.note}` +
              (r.counted ? `\n  (counted by ${r.counted})` : ""))
    .join("\n\n");
}

function drawTraffic(state) {
  const box = $("traffic");
  box.replaceChildren();
  if (!state.traffic.length) box.appendChild(el("p", {cls: "muted", text: "No services with kube-proxy rules."}));
  for (const t of state.traffic) {
    const card = el("div", {cls: "card", "data-role": "service", "data-service": t.service, "data-port": t.port});
    card.appendChild(el("h2", {}, `${t.service} ${t.port}: `,
      el("span", {"data-role": "total", text: num(t.total)}), " new connections"));
    const paths = el("table", {});
    for (const p of t.paths) {
      paths.appendChild(el("tr", {"data-role": "path", "data-kind": p.kind, "data-address": p.address,
                                  "data-tip": ruleTip(p.rules)},
        el("td", {text: p.kind + (p.kind === "NodePort" && p.rules.length === 1 ? " on " + p.rules[0].node : "")}),
        el("td", {text: p.address}),
        el("td", {cls: "count", "data-role": "count", text: num(p.count)})));
    }
    card.appendChild(el("div", {cls: "muted", text: "ways in (the rule that enters the service, per node):"}));
    card.appendChild(paths);
    card.appendChild(el("div", {cls: "muted", text: "endpoints (the DNAT rules: the share each pod gets):"}));
    const eps = el("table", {});
    for (const b of t.backends) {
      const fill = el("span", {});
      fill.style.width = b.share ? (b.share * 100).toFixed(1) + "%" : "0";
      eps.appendChild(el("tr", {"data-role": "backend", "data-pod": b.pod || "", "data-address": b.address,
                                "data-node": b.node || "", "data-tip": ruleTip(b.rules)},
        el("td", {text: (b.pod || b.address) + (b.node ? ` (${b.node})` : "")}),
        el("td", {}, el("div", {cls: "bar"}, fill)),
        el("td", {cls: "count", "data-role": "count", text: num(b.count)}),
        el("td", {cls: "share", text: pct(b.share)})));
    }
    if (!t.backends.length) eps.appendChild(el("tr", {}, el("td", {text: "no endpoints"})));
    card.appendChild(eps);
    box.appendChild(card);
  }
}

const SVGNS = "http://www.w3.org/2000/svg";
function svgNode(id) {
  for (const g of document.querySelectorAll("#diagram g.node")) {
    const t = g.querySelector("title");
    if (t && t.textContent === id) return g;
  }
  return null;
}

function drawOverlay(state) {
  for (const old of document.querySelectorAll("#diagram .ui-overlay")) old.remove();
  const perPod = {};
  for (const t of state.traffic) for (const b of t.backends) {
    if (!b.pod_id || b.count === null) continue;
    const p = perPod[b.pod_id] || (perPod[b.pod_id] = {count: 0, parts: [], best: 0});
    p.count += b.count;
    if (b.share !== null) {
      p.parts.push(`${pct(b.share)} of ${t.service.replace(/^default\//, "")}`);
      p.best = Math.max(p.best, b.share);
    }
  }
  for (const [id, p] of Object.entries(perPod)) {
    const g = svgNode(id);
    if (!g) continue;
    const shape = g.querySelector("path, polygon");
    const bb = (shape || g).getBBox();
    const share = p.parts.length ? p.best : null;
    const o = document.createElementNS(SVGNS, "g");
    o.setAttribute("class", "ui-overlay");
    o.setAttribute("data-role", "pod-count");
    o.setAttribute("data-pod-id", id);
    const x = bb.x + 6, w = bb.width - 12, y = bb.y + bb.height - 15;
    const back = document.createElementNS(SVGNS, "rect");
    back.setAttribute("x", x); back.setAttribute("y", y); back.setAttribute("width", w);
    back.setAttribute("height", 11); back.setAttribute("fill", "#ffffff"); back.setAttribute("stroke", "#2a7d2a");
    const fill = document.createElementNS(SVGNS, "rect");
    fill.setAttribute("x", x); fill.setAttribute("y", y); fill.setAttribute("height", 11);
    fill.setAttribute("width", share === null ? 0 : w * share); fill.setAttribute("fill", "#7cc47c");
    const tx = document.createElementNS(SVGNS, "text");
    tx.setAttribute("x", x + 3); tx.setAttribute("y", y + 9);
    tx.setAttribute("font-size", 9); tx.setAttribute("fill", "#113311");
    tx.textContent = `${p.count} new conn.` + (p.parts.length ? "  " + p.parts.join(", ") : "");
    o.appendChild(back); o.appendChild(fill); o.appendChild(tx);
    g.appendChild(o);
  }
}

function drawExercise(state) {
  const box = $("exercise");
  const ex = state.exercise;
  box.style.display = ex ? "" : "none";
  if (!ex) return;
  box.replaceChildren();
  box.appendChild(el("h2", {text: `Exercise ${ex.name}: ${ex.title}`}));
  box.appendChild(el("pre", {cls: "task", text: ex.task}));
  const list = el("table", {});
  for (const c of ex.checks) {
    const mark = c.passed === null ? "\u2026" : (c.passed ? "\u2714" : "\u2718");
    const cls = c.passed === null ? "pending" : (c.passed ? "pass" : "fail");
    list.appendChild(el("tr", {"data-role": "check", "data-passed": String(c.passed),
                               "data-tip": c.passed === null ? null : `expected ${c.expected}\ngot ${c.got}`},
      el("td", {cls, text: mark}), el("td", {text: c.name})));
  }
  box.appendChild(list);
  const score = ex.running ? "checking\u2026" : (ex.score ? `score ${ex.score}` + (ex.solved ? ": solved" : "") : "");
  const again = el("button", {id: "recheck", text: "Re-run the checks"});
  again.disabled = ex.running;
  again.onclick = () => fetch(q("/check"), {method: "POST"});
  box.appendChild(el("p", {}, again, " ", el("span", {"data-role": "score", text: score}),
                      ex.error ? el("span", {cls: "fail", text: " " + ex.error}) : null));
}

function draw(msg) {
  const state = msg.state;
  lastState = state;
  if (msg.svg !== null && msg.svg_version !== svgVersion) {
    $("diagram").innerHTML = msg.svg;
    svgVersion = msg.svg_version;
  }
  $("title").textContent = state.down ? `lab ${state.lab}: not up` :
    `lab ${state.lab}: kube-proxy ${state.mode} (profile ${state.profile})`;
  $("counted").textContent = state.counted_from || "";
  $("since").textContent = state.reset_at ? "since the reset at " + new Date(state.reset_at * 1000).toLocaleTimeString()
                                          : "since the rules were written";
  $("problems").textContent = (state.problems || []).join("; ");
  if (state.down) { $("traffic").replaceChildren(); return; }
  drawTraffic(state);
  drawOverlay(state);
  drawExercise(state);
}

function connect() {
  const es = new EventSource(q("/events"));
  es.onopen = () => { $("live").className = "on"; $("live").textContent = "live"; };
  es.onmessage = (e) => {
    draw(JSON.parse(e.data));
    $("live").textContent = "live, " + new Date().toLocaleTimeString();
  };
  es.onerror = () => { $("live").className = "off"; $("live").textContent = "reconnecting"; };
}

document.addEventListener("mouseover", (e) => {
  const t = e.target.closest && e.target.closest("[data-tip]");
  const tip = $("tip");
  if (!t) { tip.style.display = "none"; return; }
  tip.textContent = t.getAttribute("data-tip");
  tip.style.display = "block";
});
document.addEventListener("mousemove", (e) => {
  const tip = $("tip");
  tip.style.left = Math.min(e.clientX + 14, window.innerWidth - tip.offsetWidth - 8) + "px";
  // above the pointer when there is room, so the rows under it stay in sight
  const above = e.clientY - tip.offsetHeight - 14;
  tip.style.top = (above >= 0 ? above : Math.min(e.clientY + 14, window.innerHeight - tip.offsetHeight - 8)) + "px";
});
$("reset").onclick = () => fetch(q("/reset"), {method: "POST"});
connect();
"""

BODY = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>svclab: lab {lab}</title>
<style>{style}</style></head>
<body>
<header><h1 id="title">lab {lab}</h1><span id="live" class="off">connecting</span></header>
<main>
  <div id="diagram"></div>
  <div id="side">
    <div class="card"><h2>New connections <span class="muted" id="since"></span></h2>
      <div class="muted" id="counted"></div>
      <p><button id="reset">Reset the counts</button>
         <span class="muted">(remembers the counters now; the kernel's own are left alone)</span></p>
      <div id="problems"></div></div>
    <div id="traffic"></div>
    <div class="card" id="exercise" style="display: none"></div>
  </div>
</main>
<div id="tip"></div>
<script nonce="{nonce}">{script}</script>
</body></html>
"""


def render(lab, token, nonce):
    """The page, with the token its requests carry and the nonce its script runs under."""
    return BODY.format(lab=html.escape(lab), style=STYLE, nonce=nonce,
                       script=SCRIPT.replace("__TOKEN__", json.dumps(token)))
