// Tier 2 screens: live countdowns to response targets, the queue that refreshes itself,
// "Update preview" posted in place, and "Add a part" on the work order form.
// Every one of these screens works without it; this only keeps them current.
(function () {
  "use strict";

  // Countdowns: the server wrote the words; the script writes the same words every 30 s
  // from data-due, corrected once, on load, by how far this clock is from the server's.
  const first = document.querySelector("[data-now]");
  const served = first ? Date.parse(first.getAttribute("data-now") || "") : NaN;
  const skew = isNaN(served) ? 0 : served - Date.now();
  function tick(root) {
    root.querySelectorAll("[data-due]").forEach(function (el) {
      const due = Date.parse(el.getAttribute("data-due") || "");
      if (isNaN(due)) return;
      // floored, as the server counts: 30 s past due is "overdue by 1 min"
      const left = Math.floor((due - (Date.now() + skew)) / 60000);
      const text = left < 0 ? "⚠ overdue by " + -left + " min" : left + " min left";
      if (el.textContent !== text) el.textContent = text;
      el.classList.toggle("overdue", left < 0);
    });
  }
  if (document.querySelector("[data-due], [data-queue-poll]")) {
    tick(document);
    setInterval(function () { tick(document); }, 30000);
  }

  // The queue: the list alone is fetched every 15 s and swapped when it changed; the
  // keyboard stays on the escalation it was on; the count goes in the heading and title.
  const list = document.querySelector("[data-queue-poll]");
  if (list) {
    document.querySelectorAll("[data-live-note]").forEach(function (note) { note.hidden = false; });
    const every = Number(list.getAttribute("data-poll-ms") || 15000);
    let last = null, busy = false, timer = null;
    const count = function (n) {
      const badge = document.getElementById("pending-count");
      const text = n + " pending";
      if (badge && badge.textContent !== text) {
        badge.textContent = text;
        const say = document.getElementById("queue-announce");
        if (say) say.textContent = n === 1 ? "1 escalation pending" : n + " escalations pending";
      }
      const base = document.title.replace(/^\(\d+\)\s*/, "");
      document.title = n ? "(" + n + ") " + base : base;
    };
    const apply = function (html) {
      const doc = new DOMParser().parseFromString(html, "text/html");
      const block = doc.querySelector('template[data-swap="#queue-list"]');
      if (!block) return;
      if (block.innerHTML !== last) {
        last = block.innerHTML;
        const active = document.activeElement;
        const inside = active && active !== list && list.contains(active);
        const id = inside ? active.id : "";
        list.innerHTML = block.innerHTML;
        tick(list);
        if (inside) {
          // the same escalation if it is still waiting, else the list itself
          const again = id ? document.getElementById(id) : null;
          (again || list).focus();
        }
      }
      count(Number(block.getAttribute("data-pending")) || 0);
    };
    const refresh = function () {
      if (busy || document.hidden) return;
      busy = true;
      fetch(list.getAttribute("data-queue-poll"), {
        headers: { "X-Partial": "1" }, credentials: "same-origin", cache: "no-store",
      })
        .then(function (r) {
          if (r.headers.get("X-Redirect")) { clearInterval(timer); return ""; } // signed out
          return r.ok ? r.text() : "";
        })
        .then(function (html) { if (html) apply(html); })
        .catch(function (err) { console.error(err); })
        .finally(function () { busy = false; });
    };
    timer = setInterval(refresh, every);
    document.addEventListener("visibilitychange", function () { if (!document.hidden) refresh(); });
  }

  // "Update preview": posted in place (never in the address); the check and brief swapped.
  const escalate = document.querySelector("form[data-escalate]");
  if (escalate) {
    let plain = false;
    escalate.addEventListener("submit", function (event) {
      const button = event.submitter;
      if (plain || !button || !button.hasAttribute("data-preview")) return;
      event.preventDefault();
      fetch(button.formAction, { method: "POST", body: new FormData(escalate), credentials: "same-origin" })
        .then(function (r) { return r.text(); })
        .then(function (html) {
          const doc = new DOMParser().parseFromString(html, "text/html");
          const pairs = ["#escalate-check", "#escalate-brief"].map(function (sel) {
            return [document.querySelector(sel), doc.querySelector(sel)];
          });
          if (pairs.some(function (p) { return !p[0] || !p[1]; })) {
            plain = true; // not the page we expected (signed out, refused): post it plainly
            escalate.requestSubmit(button);
            return;
          }
          pairs.forEach(function (p) { p[0].innerHTML = p[1].innerHTML; });
          const say = escalate.querySelector("[data-preview-status]");
          if (say) say.textContent = "Preview updated";
        })
        .catch(function (err) { console.error(err); });
    });
  }

  // Work order form: more part rows than the three the page has without the script.
  document.querySelectorAll("[data-parts]").forEach(function (box) {
    const button = box.querySelector("[data-add-part]");
    const rows = box.querySelector("[data-part-rows]");
    const template = box.querySelector("template[data-part-template]");
    if (!button || !rows || !template) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      const n = rows.querySelectorAll("[data-part-row]").length;
      if (n >= 100) return;
      rows.insertAdjacentHTML("beforeend",
        template.innerHTML.replace(/__n__/g, String(n)).replace(/__label__/g, String(n + 1)));
      const input = document.getElementById("part-" + n + "-part_number");
      if (input) input.focus();
    });
  });

  // A refused work order or cancel: the keyboard goes to the first field at fault.
  const bad = document.querySelector(".tier2-visit [aria-invalid=true]") ||
    document.querySelector(".tier2-visit .tier2-summary");
  if (bad) bad.focus();
})();
