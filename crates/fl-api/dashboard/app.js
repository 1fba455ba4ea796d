"use strict";
// Operator dashboard: polls the REST API every 2 s and draws small SVG charts by hand.
// All data is inserted with textContent / attributes (never innerHTML): client ids come
// from the network.
(function () {
  const POLL_MS = 2000;
  const KEY = "flAdminKey";
  const SVG = "http://www.w3.org/2000/svg";
  const W = 560, H = 220, M = { l: 48, r: 12, t: 12, b: 28 };
  const $ = (id) => document.getElementById(id);

  function el(name, attrs, text) {
    const e = document.createElementNS(SVG, name);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  const fmtPct = (v) => (v == null ? "–" : (v * 100).toFixed(2) + "%");
  const fmtNum = (v, d) => (v == null ? "–" : Number(v).toFixed(d));
  function fmtAgo(unix) {
    if (unix == null) return "–";
    const s = Math.max(0, Math.round(Date.now() / 1000 - unix));
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.round(s / 60) + " min ago";
    return Math.round(s / 3600) + " h ago";
  }
  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  function headers() {
    const k = sessionStorage.getItem(KEY);
    return k ? { Authorization: "Bearer " + k } : {};
  }
  async function api(path, method) {
    const r = await fetch("api/v1/" + path, { method: method || "GET", headers: headers(), cache: "no-store" });
    let body = null;
    try { body = await r.json(); } catch (_) { body = null; }
    return { ok: r.ok, status: r.status, body };
  }
  function notice(text, ok) {
    const n = $("notice");
    n.textContent = text || "";
    n.hidden = !text;
    n.classList.toggle("ok", !!ok);
  }
  const errText = (res) => (res.body && res.body.error ? res.body.error.message : "HTTP " + res.status);

  // Axes and horizontal grid with 4 ticks from 0 (or yMin) to yMax.
  function frame(svg, yMin, yMax, fmt) {
    const g = el("g", {});
    for (let i = 0; i <= 4; i++) {
      const v = yMin + ((yMax - yMin) * i) / 4;
      const y = M.t + (H - M.t - M.b) * (1 - i / 4);
      g.appendChild(el("line", { x1: M.l, x2: W - M.r, y1: y, y2: y, class: "grid-line" }));
      g.appendChild(el("text", { x: M.l - 6, y: y + 4, "text-anchor": "end" }, fmt(v)));
    }
    svg.appendChild(g);
  }
  function empty(svg, text) {
    svg.setAttribute("data-points", "0");
    svg.appendChild(el("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty" }, text));
  }
  const sx = (i, n) => M.l + (n <= 1 ? (W - M.l - M.r) / 2 : ((W - M.l - M.r) * i) / (n - 1));
  const sy = (v, lo, hi) => M.t + (H - M.t - M.b) * (1 - (v - lo) / (hi - lo || 1));

  function xLabels(svg, rounds, pos) {
    const step = Math.max(1, Math.ceil(rounds.length / 10));
    rounds.forEach((r, i) => {
      if (i % step === 0 || i === rounds.length - 1)
        svg.appendChild(el("text", { x: pos(i), y: H - 8, "text-anchor": "middle" }, String(r)));
    });
  }

  function lineChart(svg, rounds, values, color, fmt, fixedMax) {
    clear(svg);
    const pts = [];
    values.forEach((v, i) => { if (v != null && isFinite(v)) pts.push({ i, v, r: rounds[i] }); });
    if (!pts.length) return empty(svg, "no evaluated rounds yet");
    const hi = fixedMax || niceMax(Math.max(...pts.map((p) => p.v)));
    frame(svg, 0, hi, fmt);
    xLabels(svg, rounds, (i) => sx(i, rounds.length));
    const d = pts.map((p, k) => (k ? "L" : "M") + sx(p.i, rounds.length).toFixed(1) + " " + sy(p.v, 0, hi).toFixed(1)).join(" ");
    svg.appendChild(el("path", { d, fill: "none", stroke: color, "stroke-width": 2.5, "stroke-linejoin": "round" }));
    for (const p of pts) {
      const c = el("circle", { cx: sx(p.i, rounds.length), cy: sy(p.v, 0, hi), r: pts.length > 60 ? 1.5 : 3.5, fill: color, class: "point", "data-round": p.r, "data-value": p.v });
      c.appendChild(el("title", {}, "round " + p.r + ": " + fmt(p.v)));
      svg.appendChild(c);
    }
    svg.setAttribute("data-points", String(pts.length));
  }

  function barChart(svg, labels, values, color, fmt, marks) {
    clear(svg);
    if (!values.length) return empty(svg, "nothing yet");
    const top = Math.max(...values, ...marks.flatMap((m) => m.values.filter((v) => v != null)));
    const hi = niceMax(top * 1.05);
    frame(svg, 0, hi, fmt);
    const n = values.length, slot = (W - M.l - M.r) / n, bw = Math.max(1, Math.min(48, slot * 0.7));
    const cx = (i) => M.l + slot * (i + 0.5);
    xLabels(svg, labels, cx);
    values.forEach((v, i) => {
      const y = sy(v, 0, hi);
      const fill = typeof color === "function" ? color(i) : color;
      const b = el("rect", { x: cx(i) - bw / 2, y, width: bw, height: Math.max(0, H - M.b - y), rx: 2, fill, class: "bar", "data-label": labels[i], "data-value": v });
      b.appendChild(el("title", {}, labels[i] + ": " + fmt(v)));
      svg.appendChild(b);
    });
    for (const m of marks) {
      const vals = m.values;
      const uniform = vals.every((v) => v === vals[0]);
      if (uniform && vals[0] != null) {
        const y = sy(vals[0], 0, hi);
        svg.appendChild(el("line", { x1: M.l, x2: W - M.r, y1: y, y2: y, stroke: m.color, "stroke-width": 2, "stroke-dasharray": m.dash || "", class: m.cls }));
      } else {
        vals.forEach((v, i) => {
          if (v == null) return;
          const y = sy(v, 0, hi);
          svg.appendChild(el("line", { x1: cx(i) - slot / 2 + 2, x2: cx(i) + slot / 2 - 2, y1: y, y2: y, stroke: m.color, "stroke-width": 2, "stroke-dasharray": m.dash || "", class: m.cls }));
        });
      }
    }
    svg.setAttribute("data-points", String(n));
  }

  function renderRun(s) {
    $("run-id").textContent = "run " + s.run_id;
    const badge = $("phase");
    badge.textContent = s.phase;
    badge.setAttribute("data-phase", s.phase);
    $("round-progress").textContent = "round " + s.current_round + " / " + s.total_rounds + " · " + s.completed_rounds + " completed";
    const started = s.started_at_unix ? " · started " + fmtAgo(s.started_at_unix) : "";
    $("run-meta").textContent = s.strategy + " · " + s.model + started;
    $("kpi-clients").textContent = s.clients_connected + " / " + s.clients_registered;
    const st = s.training_state;
    $("btn-start").disabled = st !== "idle";
    $("btn-pause").disabled = st !== "running";
    $("btn-resume").disabled = st !== "paused";
    $("btn-stop").disabled = st === "finished";
  }

  function renderRounds(rounds) {
    const ids = rounds.map((r) => r.round);
    lineChart($("chart-accuracy"), ids, rounds.map((r) => r.accuracy), "var(--acc)", fmtPct, 1);
    lineChart($("chart-loss"), ids, rounds.map((r) => r.loss), "var(--loss)", (v) => fmtNum(v, 3));
    barChart($("chart-duration"), ids, rounds.map((r) => r.duration_seconds), "var(--part)", (v) => fmtNum(v, 1), []);
    const last = [...rounds].reverse().find((r) => r.accuracy != null);
    $("kpi-accuracy").textContent = last ? fmtPct(last.accuracy) : "–";
    const lastLoss = [...rounds].reverse().find((r) => r.loss != null);
    $("kpi-loss").textContent = lastLoss ? fmtNum(lastLoss.loss, 4) : "–";
  }

  function renderClients(clients) {
    const body = $("clients").tBodies[0];
    clear(body);
    for (const c of clients) {
      const tr = document.createElement("tr");
      tr.setAttribute("data-client-id", c.client_id);
      const cells = [c.client_id, null, fmtAgo(c.last_seen_unix), String(c.rounds_participated), String(c.capabilities.num_examples), String(c.capabilities.cores), fmtNum(c.epsilon_spent, 2), null];
      cells.forEach((text, i) => {
        const td = document.createElement("td");
        if (i === 1) {
          const dot = document.createElement("span");
          dot.className = "dot" + (c.online ? " on" : "");
          td.append(dot, c.online ? "online" : "offline");
        } else if (i === 7) {
          const f = c.budget_fraction;
          td.textContent = c.epsilon_budget == null ? "–" : fmtNum(c.epsilon_budget, 2) + " (" + (f == null ? "–" : Math.round(f * 100) + "%") + ")";
          td.className = "frac" + (c.budget_exhausted ? " bad" : f != null && f >= 0.8 ? " warn" : "");
        } else td.textContent = text;
        tr.appendChild(td);
      });
      body.appendChild(tr);
    }
  }

  function renderPrivacy(p) {
    const dl = $("privacy");
    clear(dl);
    const rows = [
      ["DP-SGD", p.enabled ? "enabled" : "disabled"], ["Accountant", p.accountant], ["δ", String(p.delta)],
      ["ε budget", fmtNum(p.epsilon_budget, 2)], ["Noise σ", fmtNum(p.noise_multiplier, 2)], ["Clip C", fmtNum(p.max_grad_norm, 2)],
      ["ε max", fmtNum(p.epsilon_max, 3)], ["At ≥ 80 %", String(p.clients_at_warning)], ["Exhausted", String(p.clients_exhausted)],
    ];
    for (const [k, v] of rows) { dl.append(Object.assign(document.createElement("dt"), { textContent: k }), Object.assign(document.createElement("dd"), { textContent: v })); }
    $("kpi-epsilon").textContent = p.enabled ? fmtNum(p.epsilon_max, 2) + " / " + fmtNum(p.epsilon_budget, 2) : "off";
    $("kpi-warnings").textContent = p.enabled ? p.clients_at_warning + " (" + p.clients_exhausted + " exhausted)" : "–";
    const cs = p.clients;
    barChart($("chart-epsilon"), cs.map((c) => c.client_id), cs.map((c) => c.epsilon_spent),
      (i) => (cs[i].budget_exhausted ? "var(--bad)" : cs[i].budget_fraction >= 0.8 ? "var(--warn)" : "var(--ok)"),
      (v) => fmtNum(v, 2),
      [{ values: cs.map((c) => c.epsilon_budget), color: "var(--bad)", cls: "budget-line" },
       { values: cs.map((c) => (c.epsilon_budget == null ? null : 0.8 * c.epsilon_budget)), color: "var(--warn)", dash: "5 4", cls: "warn-line" }]);
  }

  let polling = false;
  async function poll() {
    if (polling) return;
    polling = true;
    try {
      const [run, rounds, clients, privacy] = await Promise.all(["run", "rounds", "clients", "privacy"].map((p) => api(p)));
      const bad = [run, rounds, clients, privacy].find((r) => !r.ok);
      if (bad) {
        const hint = bad.status === 401 || bad.status === 403 ? " — reads need the admin key: click Key" : "";
        notice(errText(bad) + hint);
        $("phase").setAttribute("data-phase", "error");
        return;
      }
      renderRun(run.body); renderRounds(rounds.body); renderClients(clients.body); renderPrivacy(privacy.body);
      $("updated").textContent = "updated " + new Date().toLocaleTimeString();
      if (!$("notice").classList.contains("ok")) notice("");
    } catch (e) {
      notice("coordinator unreachable: " + e.message);
      $("phase").setAttribute("data-phase", "error");
    } finally { polling = false; }
  }

  function askKey() {
    const k = prompt("Admin API key (kept in this tab's sessionStorage only). Leave empty to forget it.");
    if (k === null) return null;
    if (k.trim()) sessionStorage.setItem(KEY, k.trim()); else sessionStorage.removeItem(KEY);
    return k.trim() || null;
  }
  async function command(cmd) {
    if (cmd === "stop" && !confirm("Stop the run for good?")) return;
    if (!sessionStorage.getItem(KEY) && !askKey()) return;
    const res = await api("training/" + cmd, "POST");
    if (res.ok) { notice(cmd + ": ok, training " + res.body.training_state, true); renderRun(res.body); }
    else {
      if (res.status === 401 || res.status === 403) sessionStorage.removeItem(KEY);
      notice(cmd + " refused: " + errText(res));
    }
    poll();
  }
  document.querySelectorAll("button[data-cmd]").forEach((b) => b.addEventListener("click", () => command(b.getAttribute("data-cmd"))));
  $("btn-key").addEventListener("click", () => { askKey(); poll(); });
  poll();
  setInterval(poll, POLL_MS);
})();
