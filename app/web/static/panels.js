// The call screen's side panels (attachments, actions, contact log): forms post in place
// and swap the panel; uploads show their progress; times are shown in the browser's zone.
// Every form works without this script (it posts, and the server redirects back).
(function () {
  "use strict";

  function pad(n) { return String(n).padStart(2, "0"); }

  // "+01:00": the browser's offset from UTC at that moment (summer time included)
  function offsetAt(date) {
    const minutes = -date.getTimezoneOffset();
    const sign = minutes < 0 ? "-" : "+";
    const abs = Math.abs(minutes);
    return sign + pad(Math.floor(abs / 60)) + ":" + pad(abs % 60);
  }

  // A datetime-local field names its time zone <select> (data-zone-for): the offset of the
  // date chosen, until the person picks a zone by hand.
  function syncZone(input) {
    const select = document.getElementById(input.getAttribute("data-zone-for"));
    if (!select || select.dataset.manual === "1") return;
    const when = input.value ? new Date(input.value) : new Date();
    if (isNaN(when.getTime())) return;
    const offset = offsetAt(when);
    if (!Array.prototype.some.call(select.options, function (o) { return o.value === offset; })) {
      select.add(new Option("UTC" + offset, offset));
    }
    select.value = offset;
  }

  // Times are rendered in UTC; show them in the browser's zone, the UTC one on hover.
  function localTimes(root) {
    root.querySelectorAll("time[data-local]").forEach(function (el) {
      const when = new Date(el.getAttribute("datetime"));
      if (isNaN(when.getTime()) || el.dataset.shown) return;
      el.title = el.textContent;
      el.textContent = when.getFullYear() + "-" + pad(when.getMonth() + 1) + "-" + pad(when.getDate()) +
        " " + pad(when.getHours()) + ":" + pad(when.getMinutes()) + " (UTC" + offsetAt(when) + ")";
      el.dataset.shown = "1";
    });
  }

  function prepare(root) {
    root.querySelectorAll("input[data-zone-for]").forEach(syncZone);
    localTimes(root);
  }

  document.addEventListener("input", function (event) {
    const el = event.target;
    if (el.matches && el.matches(".panel input[data-zone-for]")) syncZone(el);
  });
  document.addEventListener("change", function (event) {
    const el = event.target;
    if (el.matches && el.matches(".panel select[data-zone]")) el.dataset.manual = "1";
  });

  function showAlert(panel, message) {
    const body = panel.querySelector("[id$='-body']");
    let alert = body.querySelector(".panel-alert");
    if (!alert) {
      alert = document.createElement("p");
      alert.className = "panel-alert";
      alert.setAttribute("role", "alert");
      alert.tabIndex = -1;
      body.prepend(alert);
    }
    alert.textContent = message;
    alert.focus();
  }

  // Swap the server's <template data-swap> blocks in; then put the keyboard somewhere useful:
  // the first field in error, else the message, else the item acted on, else the heading.
  function settle(panel, html, status, keep) {
    const doc = new DOMParser().parseFromString(html, "text/html");
    const blocks = doc.querySelectorAll("template[data-swap]");
    blocks.forEach(function (block) {
      const target = document.querySelector(block.getAttribute("data-swap"));
      if (target) target.innerHTML = block.innerHTML;
    });
    if (!blocks.length) {
      // an error page of the console, or a refusal before the console (a body too large)
      const main = doc.querySelector("main");
      const said = main ? main.textContent.replace(/\s+/g, " ").trim() : "";
      const fallback = status === 413 ? "The file is too large to upload."
        : "That did not work (" + status + "): reload the page and try again.";
      showAlert(panel, said || fallback);
      return;
    }
    prepare(panel);
    const bad = panel.querySelector("[aria-invalid='true']");
    const again = keep ? document.getElementById(keep) : null;
    const target = status >= 400 ? bad || panel.querySelector(".panel-alert") : again;
    (target || panel.querySelector("h2")).focus();
    document.dispatchEvent(new CustomEvent("panels:updated", { detail: { panel: panel.id } }));
  }

  function upload(form, panel, keep) {
    const box = document.getElementById("upload-progress");
    const bar = box.querySelector("progress");
    const text = box.querySelector("[data-progress-text]");
    const input = form.querySelector("input[type=file]");
    const name = input.files.length ? input.files[0].name : "the file";
    const button = form.querySelector("button[type=submit]");
    box.hidden = false;
    box.dataset.progressEvents = "0";
    box.dataset.state = "uploading";
    bar.max = 100;
    bar.value = 0;
    text.textContent = "Uploading " + name + "…";
    if (button) button.disabled = true;
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("X-Partial", "1");
    xhr.upload.addEventListener("progress", function (event) {
      if (!event.lengthComputable || !event.total) return;
      const pct = Math.round((event.loaded / event.total) * 100);
      bar.value = pct;
      text.textContent = "Uploading " + name + ": " + pct + "%";
      box.dataset.progressEvents = String(Number(box.dataset.progressEvents) + 1);
    });
    xhr.addEventListener("load", function () {
      const go = xhr.getResponseHeader("X-Redirect");
      if (go) { window.location.assign(go); return; }
      const ok = xhr.status < 400;
      if (ok) bar.value = 100;
      box.dataset.state = ok ? "done" : "refused";
      text.textContent = ok ? "Uploaded " + name + " (100%)." : name + " was not attached.";
      settle(panel, xhr.responseText, xhr.status, keep);
    });
    xhr.addEventListener("error", function () {
      box.dataset.state = "failed";
      text.textContent = "The upload of " + name + " failed.";
      if (button) button.disabled = false;
      showAlert(panel, "The upload failed: check the connection and try again.");
    });
    xhr.send(new FormData(form));
  }

  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-panel-form")) return;
    const panel = form.closest("section.panel");
    if (!panel || event.defaultPrevented) return;
    event.preventDefault();
    const item = form.closest("[data-keep]");
    const keep = item ? item.id : null;
    if (form.hasAttribute("data-upload")) { upload(form, panel, keep); return; }
    const button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    fetch(form.action, { method: "POST", body: new FormData(form), headers: { "X-Partial": "1" }, credentials: "same-origin" })
      .then(function (r) {
        const go = r.headers.get("X-Redirect");
        if (go) { window.location.assign(go); return; }
        return r.text().then(function (html) { settle(panel, html, r.status, keep); });
      })
      .catch(function (err) {
        if (button) button.disabled = false;
        showAlert(panel, "That could not be sent: check the connection and try again.");
        console.error(err);
      });
  });

  document.querySelectorAll("section.panel").forEach(prepare);
})();
