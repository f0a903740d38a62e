// The console's chrome: the notifications menu (its unread count kept fresh by polling)
// and the scanner combobox of the new-call form. Both pages work without it.
(function () {
  "use strict";

  const POLL_MS = 20000;

  function fetchText(url, options) {
    const opts = Object.assign({ credentials: "same-origin" }, options || {});
    opts.headers = Object.assign({ "X-Partial": "1" }, opts.headers || {});
    return fetch(url, opts);
  }

  // Put the <template data-swap="#id"> blocks of a fragment into their targets.
  function swapInto(html) {
    const doc = new DOMParser().parseFromString(html, "text/html");
    doc.querySelectorAll("template[data-swap]").forEach(function (block) {
      const target = document.querySelector(block.getAttribute("data-swap"));
      if (target) target.innerHTML = block.innerHTML;
    });
    return doc;
  }

  // -- notifications: count, menu, mark read ---------------------------------------------
  function notifications(menu) {
    const link = menu.querySelector(".notif-toggle");
    const panel = menu.querySelector("#notif-panel");
    const count = menu.querySelector("[data-unread-count]");
    const news = menu.querySelector("[data-unread-news]");
    if (!link || !panel || !count) return;

    // the link (the whole list, without script) becomes the menu's disclosure button
    const button = document.createElement("button");
    button.type = "button";
    button.className = "notif-toggle";
    button.setAttribute("aria-expanded", "false");
    button.setAttribute("aria-controls", "notif-panel");
    while (link.firstChild) button.appendChild(link.firstChild);
    link.replaceWith(button);

    function show(unread, fresh) {
      const before = Number(count.textContent);
      if (unread === before) return;
      count.textContent = String(unread);
      count.parentElement.classList.toggle("has-unread", unread > 0);
      // said once per change, not on every poll
      if (news && unread > before) news.textContent = "New notification: " + unread + " unread";
      if (!panel.hidden && !fresh) load();
    }

    function load() {
      return fetchText("/ui/notifications")
        .then(function (r) { return r.ok ? r.text() : ""; })
        .then(function (html) {
          if (!html) return;
          const doc = swapInto(html);
          const total = doc.querySelector("template[data-unread]");
          if (total) show(Number(total.getAttribute("data-unread")), true);
        })
        .catch(function (err) { console.error(err); });
    }

    let timer = null;
    function poll() {
      clearTimeout(timer);
      timer = null;
      if (document.hidden) return; // resumed by visibilitychange
      fetch("/ui/notifications/count", { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) { if (data) show(Number(data.unread)); })
        .catch(function (err) { console.error(err); })
        .then(schedule);
    }
    function schedule() {
      clearTimeout(timer);
      timer = document.hidden ? null : setTimeout(poll, POLL_MS);
    }
    document.addEventListener("visibilitychange", function () {
      if (document.hidden) { clearTimeout(timer); timer = null; } else poll();
    });
    schedule();

    function close(refocus) {
      panel.hidden = true;
      button.setAttribute("aria-expanded", "false");
      if (refocus) button.focus();
    }
    button.addEventListener("click", function () {
      if (!panel.hidden) { close(false); return; }
      // fixed under the button: the header wraps to several lines on a phone
      const top = button.getBoundingClientRect().bottom + 6;
      panel.style.top = top + "px";
      panel.style.maxHeight = "calc(100vh - " + (top + 12) + "px)";
      panel.hidden = false;
      button.setAttribute("aria-expanded", "true");
      load();
    });
    // captured: Escape closes the menu wherever the focus is, before console.js sees it
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && !panel.hidden) {
        close(menu.contains(document.activeElement) || document.activeElement === document.body);
        event.preventDefault();
        event.stopPropagation();
      }
    }, true);
    document.addEventListener("click", function (event) {
      if (!panel.hidden && !menu.contains(event.target)) close(false);
    });

    // "mark read" in the menu posts in place and reloads the list and the count
    panel.addEventListener("submit", function (event) {
      const form = event.target;
      if (!(form instanceof HTMLFormElement)) return;
      event.preventDefault();
      const wasFocused = form.contains(document.activeElement);
      fetchText(form.action, { method: "POST", body: new FormData(form) })
        .then(function () { return load(); })
        .then(function () {
          // the button went with its item: keep the keyboard in the menu
          if (wasFocused) (panel.querySelector("button, a[href]") || button).focus();
        })
        .catch(function (err) { console.error(err); });
    });
  }
  document.querySelectorAll("[data-notifications]").forEach(notifications);

  // -- scanner combobox (ARIA 1.2: list autocomplete with automatic selection) ---------
  function combobox(input) {
    const form = input.form;
    const target = document.querySelector(input.getAttribute("data-combobox-target"));
    const status = document.getElementById("asset-status");
    if (!form || !target) return;
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", "asset-listbox");
    const described = (input.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
    described.push("asset-chosen");
    input.setAttribute("aria-describedby", described.join(" "));

    let timer = null, controller = null, pending = null;
    function listbox() { return target.querySelector("[role=listbox]"); }
    function options() { return Array.prototype.slice.call(target.querySelectorAll("[role=option]")); }
    function selected() { return target.querySelector("[role=option][aria-selected=true]"); }
    // the chosen scanner: the popup's hidden field, or the checked radio of a page shown again
    function carrier() { return target.querySelector("input[type=hidden][name=asset_id], input[name=asset_id]:checked"); }

    function choose(option) {
      options().forEach(function (o) { o.setAttribute("aria-selected", o === option ? "true" : "false"); });
      const hidden = carrier();
      if (hidden && option) hidden.value = option.getAttribute("data-asset");
      if (option && input.getAttribute("aria-expanded") === "true") {
        input.setAttribute("aria-activedescendant", option.id);
        option.scrollIntoView({ block: "nearest" });
      }
      const chosen = document.getElementById("asset-chosen");
      if (chosen) chosen.textContent = option ? "Chosen: " + option.textContent.replace(/\s+/g, " ").trim() : "";
    }
    function expand(open) {
      const list = listbox();
      const chosen = document.getElementById("asset-chosen");
      const show = Boolean(open && list && options().length);
      input.setAttribute("aria-expanded", show ? "true" : "false");
      if (list) list.hidden = !show;
      if (chosen) chosen.hidden = show || !selected();
      const current = selected();
      if (show && current) input.setAttribute("aria-activedescendant", current.id);
      else input.removeAttribute("aria-activedescendant");
    }

    function lookup(open) {
      clearTimeout(timer);
      timer = null;
      if (controller) controller.abort();
      controller = new AbortController();
      const params = new URLSearchParams({ asset_q: input.value });
      const hidden = carrier();
      if (hidden && hidden.value) params.set("asset_id", hidden.value);
      pending = fetchText(input.getAttribute("data-combobox") + "?" + params.toString(), { signal: controller.signal })
        .then(function (r) { return r.text(); })
        .then(function (html) {
          swapInto(html);
          // a re-rendered form's own error stays with the box; the list is the script's now
          choose(selected());
          expand(open);
          pending = null;
        })
        .catch(function (err) { if (err.name !== "AbortError") { console.error(err); pending = null; } });
      return pending;
    }

    input.addEventListener("input", function () {
      // until it runs, submitting waits (it would send the scanner chosen for the old text)
      clearTimeout(timer);
      timer = setTimeout(function () { lookup(true); }, Number(input.getAttribute("data-debounce") || 150));
    });
    input.addEventListener("keydown", function (event) {
      const open = input.getAttribute("aria-expanded") === "true";
      const items = options();
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        if (!items.length) return;
        event.preventDefault();
        event.stopPropagation();
        if (!open) { expand(true); return; }
        const at = items.indexOf(selected());
        const step = event.key === "ArrowDown" ? 1 : -1;
        choose(items[Math.max(0, Math.min(items.length - 1, at + step))]);
        return;
      }
      if (event.key === "Enter" && open) {
        // Enter picks the highlighted scanner; the next Enter opens the call
        event.preventDefault();
        choose(selected());
        expand(false);
        return;
      }
      if (event.key === "Escape" && open) {
        event.preventDefault();
        event.stopPropagation(); // console.js would leave the box
        expand(false);
        return;
      }
      if (event.key === "Tab" && open) {
        // Tab accepts the highlighted one and moves on as usual
        choose(selected());
        expand(false);
      }
    });
    input.addEventListener("blur", function () { expand(false); });
    target.addEventListener("mousedown", function (event) {
      // clicking an option must not take the focus from the box
      if (event.target.closest && event.target.closest("[role=option]")) event.preventDefault();
    });
    target.addEventListener("click", function (event) {
      const option = event.target.closest ? event.target.closest("[role=option]") : null;
      if (!option) return;
      choose(option);
      expand(false);
      input.focus();
    });
    form.addEventListener("submit", function (event) {
      if (!pending && !timer) return;
      // the list is still catching up with the text: show it, and let them confirm
      event.preventDefault();
      const wait = timer ? lookup(true) : pending;
      Promise.resolve(wait).then(function () {
        if (status) status.textContent = "Check the scanner chosen, then open the call.";
        input.focus();
      });
    });
    // a form shown again (an error) lists its matches as radios: make them the popup
    if (input.value.trim().length >= 2) lookup(document.activeElement === input);
  }
  document.querySelectorAll("input[data-combobox]").forEach(combobox);
})();
