// The "check your inbox" page: wait for approval from another device, then sign in.
// Without this script the page's "continue" button does the same.
(function () {
  "use strict";
  var box = document.getElementById("attempt");
  if (!box || !window.fetch) { return; }
  var id = box.getAttribute("data-attempt");
  var base = "/api/v1/auth/attempts/" + encodeURIComponent(id);
  var delay = 2000;
  var stopped = false;

  function show(which) {
    ["wait", "approved", "expired", "used"].forEach(function (name) {
      var el = document.getElementById("attempt-" + name);
      if (el) { el.hidden = name !== which; }
    });
  }

  function complete() {
    stopped = true;
    show("approved");
    fetch(base + "/complete", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: "{}"
    }).then(function (resp) {
      if (!resp.ok) { throw resp; }
      return resp.json();
    }).then(function (data) {
      window.location.assign(data.next || "/account");
    }).catch(function (resp) {
      if (resp && resp.status === 410) { show("used"); return; }
      show("wait");
      stopped = false;  // not signed in (yet): keep waiting
      schedule();
    });
  }

  function poll() {
    if (stopped || document.hidden) { schedule(); return; }
    fetch(base, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (resp) { return resp.ok ? resp.json() : { status: resp.status === 404 ? "expired" : "pending" }; })
      .then(function (data) {
        if (data.status === "approved") { complete(); return; }
        if (data.status === "expired") { show("expired"); stopped = true; return; }
        if (data.status === "signed_in") { show("used"); stopped = true; return; }
        schedule();
      })
      .catch(schedule);
  }

  function schedule() {
    if (!stopped) { window.setTimeout(poll, delay); }
  }

  schedule();
})();
