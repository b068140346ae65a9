// Rasd: the alert form's live query check and preview (the form works without this file).
(function () {
  "use strict";
  var form = document.getElementById("alert-form");
  if (!form || !window.fetch || !window.FormData) { return; }
  var status = document.getElementById("query-status");
  var preview = document.getElementById("preview");
  var timer = null, seqs = {};

  function post(url, target) {
    var mine = seqs[url] = (seqs[url] || 0) + 1;
    var data = new FormData(form);
    data.delete("action");
    return fetch(url, { method: "POST", body: data, credentials: "same-origin",
                        headers: { "X-CSRF-Token": data.get("csrf") } })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        // the server escapes every crawled text in these fragments
        if (mine === seqs[url]) { target.innerHTML = html; }
      })
      .catch(function () {});
  }

  function check() {
    if (status) { post("/alerts/validate", status); }
    if (preview) { post("/alerts/preview", preview); }
  }

  form.addEventListener("input", function (ev) {
    if (ev.target && /^(query|outlets|languages|topics|days|name)$/.test(ev.target.name || "")) {
      clearTimeout(timer);
      timer = setTimeout(check, 400);
    }
  });
  form.addEventListener("change", function (ev) {
    if (ev.target && /^(outlets|languages|topics|days)$/.test(ev.target.name || "")) {
      clearTimeout(timer);
      timer = setTimeout(check, 100);
    }
  });
  if (document.getElementById("query").value.trim()) { check(); }
})();
