// cpuload viewer: hover values, a ticking sample age, and in-place updates. No outside script.
"use strict";
(function () {
  const body = document.body;
  let skew = Date.now() / 1000 - Number(body.dataset.now || Date.now() / 1000);
  const meta = new WeakMap();

  function data(svg) {
    if (!meta.has(svg)) {
      const node = svg.querySelector("metadata.cpuload-data");
      meta.set(svg, node ? JSON.parse(node.textContent) : null);
    }
    return meta.get(svg);
  }

  function nearest(points, t) {
    let lo = 0, hi = points.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (points[mid][0] < t) lo = mid; else hi = mid;
    }
    return Math.abs(points[lo][0] - t) <= Math.abs(points[hi][0] - t) ? points[lo] : points[hi];
  }

  function tipFor(box) {
    let tip = box.querySelector(".tip");
    if (!tip) {
      tip = document.createElement("div");
      tip.className = "tip";
      tip.setAttribute("role", "status");
      tip.hidden = true;
      box.appendChild(tip);
    }
    return tip;
  }

  function hover(event) {
    const svg = event.target.closest && event.target.closest("svg.pygal-chart");
    document.querySelectorAll(".tip").forEach((t) => {
      if (!svg || !svg.parentNode.contains(t)) t.hidden = true;
    });
    if (!svg) return;
    const d = data(svg);
    const tip = tipFor(svg.parentNode);
    if (!d || !d.points.length) { tip.hidden = true; return; }
    const p = new DOMPoint(event.clientX, event.clientY).matrixTransform(svg.getScreenCTM().inverse());
    const perSecond = (d.x1 - d.x0) / (d.t1 - d.t0);
    const point = nearest(d.points, d.t0 + (p.x - d.x0) / perSecond);
    // No value is invented: far from any point (in a gap) the tip stays hidden.
    if (Math.abs(d.x0 + (point[0] - d.t0) * perSecond - p.x) > 12) { tip.hidden = true; return; }
    let text = point[4] + " · " + point[1].toFixed(1) + " %";
    if (point[2] !== point[3]) text += " (min " + point[2].toFixed(1) + ", max " + point[3].toFixed(1) + ")";
    tip.textContent = text;
    const box = svg.parentNode.getBoundingClientRect();
    const left = Math.min(event.clientX - box.left + 12, box.width - 200);
    tip.style.left = Math.max(left, 0) + "px";
    tip.style.top = Math.max(event.clientY - box.top - 36, 0) + "px";
    tip.hidden = false;
  }

  // The same format as the server's window.duration(): 12.5 s, 3 min 20 s, 2 h 05 min.
  function age(seconds) {
    if (seconds < 60) return Number(seconds.toPrecision(3)) + " s";
    const total = Math.round(seconds);
    const m = Math.floor(total / 60);
    if (m < 60) return m + " min " + String(total % 60).padStart(2, "0") + " s";
    return Math.floor(m / 60) + " h " + String(m % 60).padStart(2, "0") + " min";
  }

  function tick() {
    const el = document.getElementById("age");
    if (el) el.textContent = age(Math.max(Date.now() / 1000 - skew - Number(el.dataset.ts), 0));
  }

  async function refresh() {
    try {
      const answer = await fetch(location.pathname + location.search, { cache: "no-store" });
      const doc = new DOMParser().parseFromString(await answer.text(), "text/html");
      const fresh = doc.getElementById("view");
      if (!fresh) throw new Error("no page");
      const open = document.querySelector("#means") && document.querySelector("#means").open;
      document.getElementById("view").replaceChildren(...fresh.childNodes);
      const means = document.querySelector("#means");
      if (means && open) means.open = true;
      skew = Date.now() / 1000 - Number(doc.body.dataset.now);
      body.dataset.poll = doc.body.dataset.poll;
      body.classList.remove("offline");
    } catch (err) {
      body.classList.add("offline");
    }
    tick();
    setTimeout(refresh, Number(body.dataset.poll || 5) * 1000);
  }

  document.addEventListener("pointermove", hover);
  setInterval(tick, 1000);
  setTimeout(refresh, Number(body.dataset.poll || 5) * 1000);
})();
