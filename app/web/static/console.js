// Progressive enhancement for the console: live results, in-place form posts, shortcuts.
// Every page works without it (forms post and redirect); this only makes it faster.
(function () {
  "use strict";

  // Replace targets with the <template data-swap="#id"> blocks of a server fragment.
  function swap(html) {
    const doc = new DOMParser().parseFromString(html, "text/html");
    const blocks = doc.querySelectorAll("template[data-swap]");
    blocks.forEach(function (block) {
      const target = document.querySelector(block.getAttribute("data-swap"));
      if (target) target.innerHTML = block.innerHTML;
    });
    return blocks.length;
  }

  // A live search the dispatcher has seen counts as a search: once they pause on the
  // results (data-shown-settle ms, cancelled by typing or Enter), the query goes to the
  // address the results named in X-Record-Shown. One pending at a time: a page has one box.
  let shown = null;
  function sendShown(pending) {
    if (shown === pending) shown = null;
    clearTimeout(pending.timer);
    return fetch(pending.url, { method: "POST", body: pending.body, headers: { "X-Partial": "1" }, credentials: "same-origin" })
      .then(function (r) { return r.status === 200 ? r.text() : ""; })
      .then(function (html) { if (html) swap(html); })
      .catch(function (err) { console.error(err); });
  }
  function cancelShown() {
    if (shown) clearTimeout(shown.timer);
    shown = null;
  }
  // leaving by a link (the "e" shortcut to escalate, too): record what was shown first
  document.addEventListener("click", function (event) {
    const link = event.target.closest ? event.target.closest("a[href]") : null;
    if (!link || !shown || event.defaultPrevented) return;
    const sent = sendShown(shown);
    if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey || link.target) return;
    event.preventDefault();
    sent.then(function () { window.location.assign(link.href); });
  });
  window.addEventListener("pagehide", function () {
    if (!shown) return;
    navigator.sendBeacon(shown.url, shown.body);
    cancelShown();
  });

  // Live search: debounced, stale responses dropped, time to first result kept for tests.
  document.querySelectorAll("form[data-live]").forEach(function (form) {
    const wait = Number(form.getAttribute("data-debounce") || 250);
    let timer = null, controller = null, typedAt = null;
    function run() {
      if (controller) controller.abort();
      controller = new AbortController();
      const params = new URLSearchParams(new FormData(form));
      const csrf = params.get("csrf_token");
      params.delete("csrf_token");
      const url = form.getAttribute("data-live") + "?" + params.toString();
      let record = null;
      fetch(url, { headers: { "X-Partial": "1" }, signal: controller.signal, credentials: "same-origin" })
        .then(function (r) { record = r.headers.get("X-Record-Shown"); return r.text(); })
        .then(function (html) {
          swap(html);
          if (typedAt !== null) {
            document.body.dataset.lastResultMs = String(Math.round(performance.now() - typedAt));
            typedAt = null;
          }
          cancelShown();
          if (record && csrf) {
            const body = new URLSearchParams(params);
            body.set("csrf_token", csrf);
            const settle = Number(form.getAttribute("data-shown-settle") || 1500);
            const pending = { url: record, body: body, timer: 0 };
            pending.timer = setTimeout(function () { sendShown(pending); }, settle);
            shown = pending;
          }
          document.dispatchEvent(new CustomEvent("console:results"));
        })
        .catch(function (err) { if (err.name !== "AbortError") console.error(err); });
    }
    const only = form.getAttribute("data-live-field");
    form.addEventListener("input", function (event) {
      if (only && event.target.name !== only) return;
      // measured from the last keystroke: what the dispatcher waits once they pause
      typedAt = performance.now();
      cancelShown();
      clearTimeout(timer);
      timer = setTimeout(run, wait);
    });
    // Enter records the search itself
    form.addEventListener("submit", cancelShown);
  });

  // Forms marked data-enhance post in place and swap the fragments the server returns.
  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-enhance")) return;
    event.preventDefault();
    const submitter = event.submitter;
    const item = form.closest("ol.results > li");
    const keep = item ? item.id : null;
    // an outcome: where the keyboard goes next depends on the list as it was
    const outcome = item && submitter && submitter.name === "outcome" ? submitter.value : null;
    const order = outcome ? results().map(function (li) { return li.id; }) : [];
    const details = item ? item.querySelector("details") : null;
    const stepsOpen = !!(details && details.open);
    const body = new FormData(form);
    if (submitter && submitter.name) body.append(submitter.name, submitter.value);
    fetch(form.action, { method: "POST", body: body, headers: { "X-Partial": "1" }, credentials: "same-origin" })
      .then(function (r) {
        const go = r.headers.get("X-Redirect");
        if (go) { window.location.assign(go); return ""; }
        return r.text();
      })
      .then(function (html) {
        if (html && !swap(html)) document.documentElement.innerHTML = html;
        document.dispatchEvent(new CustomEvent("console:results"));
        if (outcome) { afterOutcome(outcome, keep, order, stepsOpen); return; }
        // keep the keyboard where it was: on the same article, wherever it moved to
        const again = keep ? document.getElementById(keep) : null;
        if (again) reveal(again).focus();
      })
      .catch(function (err) { console.error(err); });
  });

  // After an outcome: "fixed" offers to resolve with that article (the form preselects
  // it); otherwise on to the next fix not tried yet, its steps open if these were open.
  function afterOutcome(outcome, keep, order, stepsOpen) {
    const resolve = document.querySelector('#resolve [data-testid="resolve"]');
    if (outcome === "fixed" && resolve) {
      resolve.scrollIntoView({ block: "center" });
      resolve.focus();
      return;
    }
    function untried(id) {
      const li = id ? document.getElementById(id) : null;
      return li && !li.querySelector("[data-testid=tried]") ? li : null;
    }
    const from = order.indexOf(keep);
    const ahead = order.slice(from + 1).concat(order.slice(0, Math.max(from, 0)));
    let next = null;
    for (let i = 0; i < ahead.length && !next; i++) next = untried(ahead[i]);
    next = next || results().filter(function (li) { return untried(li.id); })[0] || document.getElementById(keep);
    if (!next) return;
    const steps = next.querySelector("details");
    if (steps && stepsOpen) steps.open = true;
    reveal(next).focus();
  }

  // Targets in the status bar: time left, or overdue in words, said as the server says it;
  // one timer for the page, reading the bar afresh each time (its fragment is swapped).
  function span(m) { return m < 60 ? m + " min" : Math.floor(m / 60) + " h " + (m % 60) + " min"; }
  function tickTargets() {
    document.querySelectorAll(".status-bar time[data-target-due]").forEach(function (el) {
      const s = (Date.parse(el.getAttribute("data-target-due")) - Date.now()) / 1000;
      const text = s >= 0 ? span(Math.floor(s / 60)) + " left" : "overdue by " + span(Math.ceil(-s / 60));
      if (el.textContent !== text) el.textContent = text;
      el.classList.toggle("overdue", s < 0);
    });
  }
  if (document.querySelector(".status-bar time[data-target-due]")) {
    tickTargets();
    setInterval(tickTargets, 1000);
  }

  // Keyboard: shortcuts listed on screen in the element with data-shortcuts.
  function typing(el) {
    return el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable);
  }
  function results() { return Array.prototype.slice.call(document.querySelectorAll("ol.results > li")); }
  // results folded away as no good match open when the keyboard goes to them
  function reveal(el) {
    const fold = el && el.closest ? el.closest("details.no-match-fold") : null;
    if (fold) fold.open = true;
    return el;
  }
  function move(step) {
    const items = results();
    items.slice(0, 1).forEach(reveal);
    if (!items.length) return;
    const current = items.indexOf(document.activeElement.closest ? document.activeElement.closest("ol.results > li") : null);
    const next = items[Math.max(0, Math.min(items.length - 1, current + step))] || items[0];
    next.focus();
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const el = document.activeElement;
    const search = document.querySelector("[data-search-box]");
    if (el === search && (event.key === "ArrowDown" || event.key === "Escape")) {
      // leave the box for the results, where the single-key shortcuts work
      if (results().length) move(0); else search.blur();
      event.preventDefault();
      return;
    }
    if (typing(el)) {
      if (event.key === "Escape") { el.blur(); event.preventDefault(); }
      return;
    }
    if (event.key === "Escape" && search) { search.focus(); search.select(); event.preventDefault(); return; }
    const item = el && el.closest ? el.closest("ol.results > li") : null;
    if (event.key === "/" && search) { search.focus(); event.preventDefault(); return; }
    if (event.key === "j" || event.key === "ArrowDown") { move(1); event.preventDefault(); return; }
    if (event.key === "k" || event.key === "ArrowUp") { move(-1); event.preventDefault(); return; }
    if (item && (event.key === "Enter" || event.key === "o") && el === item) {
      const d = item.querySelector("details"); if (d) d.open = !d.open; event.preventDefault(); return;
    }
    if (item && /^[1-4]$/.test(event.key)) {
      const button = item.querySelector('button[data-key="' + event.key + '"]');
      if (button) { button.click(); event.preventDefault(); }
      return;
    }
    const link = document.querySelector('[data-shortcut="' + event.key + '"]');
    if (link) { link.focus(); link.click(); event.preventDefault(); }
  });

  // Steps editor: add, remove and reorder rows; names are renumbered so the order posts,
  // and ids with them, so labels and error messages stay tied to their own step.
  document.querySelectorAll("[data-steps-editor]").forEach(function (editor) {
    const list = editor.querySelector("ol");
    const stepId = /^steps-\d+-/;
    function renumber() {
      Array.prototype.forEach.call(list.children, function (li, i) {
        const prefix = "steps-" + i + "-";
        li.querySelectorAll("[data-error-for]").forEach(function (message) {
          message.id = prefix + message.getAttribute("data-error-for") + "-error";
        });
        li.querySelectorAll("[data-name]").forEach(function (input) {
          const part = input.getAttribute("data-name");
          input.name = prefix + part;
          input.id = input.name;
          // keep other descriptions; the step's own message gets its new id
          const kept = (input.getAttribute("aria-describedby") || "").split(/\s+/).filter(function (ref) {
            return ref && !stepId.test(ref);
          });
          if (li.querySelector('[data-error-for="' + part + '"]')) kept.push(input.id + "-error");
          if (kept.length) input.setAttribute("aria-describedby", kept.join(" "));
          else input.removeAttribute("aria-describedby");
        });
        li.querySelectorAll("label[data-for]").forEach(function (label) {
          label.htmlFor = prefix + label.getAttribute("data-for");
        });
        const n = li.querySelector("[data-step-number]");
        if (n) n.textContent = String(i + 1);
      });
    }
    editor.addEventListener("click", function (event) {
      const button = event.target.closest("button[data-step]");
      if (!button) return;
      event.preventDefault();
      const li = button.closest("li");
      const action = button.getAttribute("data-step");
      if (action === "add") {
        const template = editor.querySelector("template");
        list.appendChild(template.content.cloneNode(true));
        renumber();
        list.lastElementChild.querySelector("textarea").focus();
        return;
      }
      if (action === "up" && li.previousElementSibling) list.insertBefore(li, li.previousElementSibling);
      if (action === "down" && li.nextElementSibling) list.insertBefore(li.nextElementSibling, li);
      if (action === "remove" && list.children.length > 1) li.remove();
      renumber();
      button.focus();
    });
  });
})();
