// cpuload viewer: hover values (mouse, tap, arrow keys) with a vertical rule, a ticking sample
// age, and live updates that fetch only the parts that changed. No outside script.
"use strict";
(function () {
  const body = document.body;
  const live = body.dataset.live === "1";
  const query = body.dataset.query || "";
  const PARTS = ["gaps", "instant", "average", "modes", "means"];
  const tags = {};
  let skew = Date.now() / 1000 - Number(body.dataset.now || Date.now() / 1000);
  let timer = null;
  let running = false; // one refresh at a time, even when the tab shows mid-way through one
  const pending = new Set(); // parts that changed and are not fetched yet
  const meta = new WeakMap();
  const chosen = new WeakMap(); // chart box -> index of the point the keys stepped to

  function data(svg) {
    if (!meta.has(svg)) {
      const node = svg.querySelector("metadata.cpuload-data");
      let d = null;
      if (node) {
        d = JSON.parse(node.textContent);
        let t = d.t0;
        d.stamps = d.steps.map((s) => (t += s));
      }
      meta.set(svg, d);
    }
    return meta.get(svg);
  }

  // Local time in the server's zone, from the offsets the chart carries.
  function offsetAt(d, ts) {
    let off = d.tz[0][1];
    for (const [from, o] of d.tz) if (ts >= from) off = o;
    return off;
  }
  function pad(n) { return String(n).padStart(2, "0"); }
  function label(d, ts, withDate) {
    const t = new Date((ts + offsetAt(d, ts)) * 1000);
    const time = pad(t.getUTCHours()) + ":" + pad(t.getUTCMinutes()) + ":" + pad(t.getUTCSeconds());
    if (!withDate) return time;
    return t.getUTCFullYear() + "-" + pad(t.getUTCMonth() + 1) + "-" + pad(t.getUTCDate()) + " " + time;
  }

  function nearest(stamps, t) {
    let lo = 0, hi = stamps.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (stamps[mid] < t) lo = mid; else hi = mid;
    }
    return Math.abs(stamps[lo] - t) <= Math.abs(stamps[hi] - t) ? lo : hi;
  }

  function xOf(d, ts) { return d.x0 + (ts - d.t0) * (d.x1 - d.x0) / (d.t1 - d.t0); }

  function pct(v) { return v === null || v === undefined ? "–" : Number(v).toFixed(1) + " %"; }

  function describe(d, i) {
    const c = d.columns, ts = d.stamps[i];
    if (d.kind === "instant") {
      const when = label(d, ts, d.dated);
      if (!d.reduced) return [when + " · " + pct(c[0][i])];
      return [when + " · mean " + pct(c[0][i]), "min " + pct(c[1][i]) + ", max " + pct(c[2][i]) + " · " + c[3][i] + " samples"];
    }
    if (d.kind === "average") {
      if (!d.reduced) {
        const lines = ["minute " + label(d, ts - 30, d.dated).slice(0, -3) + " · mean " + pct(c[0][i]), c[3][i] + " samples"];
        if (c[5][i]) lines[1] += " (a gap cuts this minute)";
        return lines;
      }
      return [label(d, ts, d.dated) + " · mean of minute means " + pct(c[0][i]),
        "min " + pct(c[1][i]) + ", max " + pct(c[2][i]) + " · " + c[4][i] + " minutes"];
    }
    const lines = [label(d, ts, d.dated)];
    d.modes.forEach((m, k) => lines.push(m + " " + Number(c[k][i]).toFixed(2) + " %"));
    return lines;
  }

  function parts(svg) {
    const box = svg.parentNode;
    let tip = box.querySelector(".tip");
    if (!tip) {
      tip = document.createElement("div");
      tip.className = "tip";
      tip.setAttribute("role", "status");
      tip.hidden = true;
      box.appendChild(tip);
    }
    let rule = svg.querySelector("line.rule");
    if (!rule) {
      rule = document.createElementNS("http://www.w3.org/2000/svg", "line");
      rule.setAttribute("class", "rule");
      svg.appendChild(rule);
    }
    return { box, tip, rule };
  }

  function hide(svg) {
    if (!svg) return;
    const { tip, rule } = parts(svg);
    tip.hidden = true;
    rule.setAttribute("visibility", "hidden");
  }

  function show(svg, lines, x, clientX, clientY) {
    const d = data(svg);
    const { box, tip, rule } = parts(svg);
    tip.replaceChildren(...lines.map((l) => { const s = document.createElement("div"); s.textContent = l; return s; }));
    if (x !== null) {
      rule.setAttribute("x1", x); rule.setAttribute("x2", x);
      rule.setAttribute("y1", d.top); rule.setAttribute("y2", d.top + d.height);
      rule.setAttribute("visibility", "visible");
    } else {
      rule.setAttribute("visibility", "hidden");
    }
    tip.hidden = false;
    const r = box.getBoundingClientRect();
    const w = tip.offsetWidth;
    const left = Math.min(Math.max(clientX - r.left + 12, 0), Math.max(r.width - w, 0));
    tip.style.left = left + "px";
    tip.style.top = Math.max(clientY - r.top - tip.offsetHeight - 12, 0) + "px";
  }

  function screenX(svg, x) {
    const m = svg.getScreenCTM();
    return m ? m.a * x + m.e : 0;
  }

  // A point under (or beside) the pointer; in a gap, the gap itself. No value is invented.
  function pointAt(event) {
    const svg = event.target.closest && event.target.closest("svg.pygal-chart");
    document.querySelectorAll("svg.pygal-chart").forEach((s) => { if (s !== svg) hide(s); });
    if (!svg) return;
    const d = data(svg);
    if (!d) return;
    const band = event.target.closest("rect.band");
    if (band) {
      const title = band.querySelector("title");
      show(svg, [title ? title.textContent : "gap"], null, event.clientX, event.clientY);
      return;
    }
    if (!d.stamps.length) { hide(svg); return; }
    const p = new DOMPoint(event.clientX, event.clientY).matrixTransform(svg.getScreenCTM().inverse());
    const t = d.t0 + (p.x - d.x0) * (d.t1 - d.t0) / (d.x1 - d.x0);
    const i = nearest(d.stamps, t);
    const x = xOf(d, d.stamps[i]);
    if (Math.abs(x - p.x) > 12) { hide(svg); return; }
    chosen.set(svg.parentNode, i);
    show(svg, describe(d, i), x, event.clientX, event.clientY);
  }

  function step(event) {
    const box = event.target.closest && event.target.closest(".chart");
    if (!box) return;
    const svg = box.querySelector("svg.pygal-chart");
    const d = svg && data(svg);
    if (!d || !d.stamps.length) return;
    const keys = { ArrowLeft: -1, ArrowRight: 1, Home: -Infinity, End: Infinity };
    if (event.key === "Escape") { hide(svg); chosen.delete(box); return; }
    if (!(event.key in keys)) return;
    event.preventDefault();
    const was = chosen.has(box) ? chosen.get(box) : d.stamps.length;
    const i = Math.min(Math.max(was + keys[event.key], 0), d.stamps.length - 1);
    chosen.set(box, i);
    const x = xOf(d, d.stamps[i]);
    const r = svg.getBoundingClientRect();
    show(svg, describe(d, i), x, screenX(svg, x), r.top + r.height / 3);
  }

  // The same format as the server's facts.duration(): 12.5 s, 3 min 20 s, 2 h 05 min, 3 d 04 h.
  function age(seconds) {
    if (seconds < 60) return Number(seconds.toPrecision(3)) + " s";
    const total = Math.round(seconds);
    const m = Math.floor(total / 60);
    if (m < 60) return m + " min " + pad(total % 60) + " s";
    const h = Math.floor(m / 60);
    if (h < 48) return h + " h " + pad(m % 60) + " min";
    return Math.floor(h / 24) + " d " + pad(h % 24) + " h";
  }

  function tick() {
    const el = document.getElementById("age");
    if (el) el.textContent = age(Math.max(Date.now() / 1000 - skew - Number(el.dataset.ts), 0));
  }

  async function fetchPart(name) {
    const headers = tags[name] ? { "If-None-Match": tags[name] } : {};
    const answer = await fetch("/?" + query + "&part=" + name, { cache: "no-store", headers });
    if (answer.status === 304) return false;
    if (!answer.ok) throw new Error("part " + name + ": " + answer.status);
    tags[name] = answer.headers.get("ETag");
    const html = await answer.text();
    const doc = new DOMParser().parseFromString("<body>" + html + "</body>", "text/html");
    const fresh = doc.body.firstElementChild;
    const old = document.getElementById(fresh.id);
    if (!old) return false;
    if (fresh.id === "means" && old.open) fresh.open = true;
    const focused = old.contains(document.activeElement);
    old.replaceWith(fresh);
    if (focused) { const c = fresh.querySelector(".chart"); if (c) c.focus(); }
    return true;
  }

  async function refresh() {
    timer = null;
    if (document.hidden || running) return; // resumed by visibilitychange
    running = true;
    try {
      if (await fetchPart("state")) PARTS.forEach((name) => pending.add(name));
      // A tab hidden mid-way asks for nothing more; the rest is fetched when it shows again,
      // and a part that failed is asked for again at the next poll.
      for (const name of PARTS) {
        if (document.hidden) break;
        if (!pending.has(name)) continue;
        await fetchPart(name);
        pending.delete(name);
      }
      body.classList.remove("offline");
    } catch (err) {
      body.classList.add("offline");
    }
    running = false;
    tick();
    schedule();
  }

  function schedule() {
    if (live && !document.hidden && timer === null) {
      timer = setTimeout(refresh, Number(body.dataset.poll || 10) * 1000);
    }
  }

  document.addEventListener("pointermove", (e) => { if (e.pointerType === "mouse") pointAt(e); });
  document.addEventListener("pointerdown", pointAt); // a tap on a phone, a click with a mouse
  document.addEventListener("keydown", step);
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) { if (timer !== null) { clearTimeout(timer); timer = null; } }
    else if (live && timer === null) { refresh(); }
  });
  // Each part as served carries its ETag, so the first poll already asks "changed since?".
  for (const name of ["state", ...PARTS]) {
    const el = document.getElementById(name);
    if (el && el.dataset.etag) tags[name] = el.dataset.etag;
  }
  setInterval(tick, 1000);
  schedule();
})();
