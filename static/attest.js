// Progressive enhancement only: every page works without this file.
document.documentElement.classList.add("js");

// Narrow screens: the main navigation folds behind the Menu button (without script it stays open).
document.addEventListener("DOMContentLoaded", function () {
  var toggle = document.querySelector(".nav-toggle"), nav = document.getElementById("mainnav");
  if (!toggle || !nav) { return; }
  toggle.hidden = false;
  toggle.addEventListener("click", function () {
    var open = nav.classList.toggle("open");
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
  });
});

// A table wider than the screen scrolls inside its frame: make that frame reachable by keyboard (and named),
// only while it does scroll, so wide screens keep no extra tab stops.
function markScrollableTables() {
  document.querySelectorAll(".table-wrap").forEach(function (wrap) {
    if (wrap.scrollWidth > wrap.clientWidth + 1) {
      var caption = wrap.querySelector("caption");
      wrap.setAttribute("tabindex", "0");
      wrap.setAttribute("role", "region");
      wrap.setAttribute("aria-label", caption ? caption.textContent.trim() : "Table (scrolls sideways)");
    } else if (wrap.getAttribute("role") === "region") {
      wrap.removeAttribute("tabindex"); wrap.removeAttribute("role"); wrap.removeAttribute("aria-label");
    }
  });
}
document.addEventListener("DOMContentLoaded", markScrollableTables);
window.addEventListener("resize", markScrollableTables);

document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
});

// Evidence pack page: follow the build (the page works without this: it has a Refresh link).
document.addEventListener("DOMContentLoaded", function () {
  var panel = document.getElementById("pack");
  if (!panel || !panel.dataset.statusUrl) { return; }
  var bar = document.getElementById("pack-progress"), status = document.getElementById("pack-status");
  function poll() {
    fetch(panel.dataset.statusUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (pack) {
        bar.value = pack.progress; bar.textContent = pack.progress + "%";
        status.textContent = pack.status + (pack.error ? ": " + pack.error : "");
        if (pack.status === "ready") {
          document.getElementById("pack-download").hidden = false;
          var refresh = document.getElementById("pack-refresh"); if (refresh) { refresh.hidden = true; }
        } else if (pack.status !== "failed") { setTimeout(poll, 1000); }
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  if (status.textContent.indexOf("ready") !== 0 && status.textContent.indexOf("failed") !== 0) { poll(); }
});

// Performance reports on an executive meeting's page: follow each build (without script, its Refresh link).
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("li.report[data-status-url]").forEach(function (item) {
    var bar = item.querySelector(".report-progress"), status = item.querySelector(".report-status");
    function poll() {
      fetch(item.dataset.statusUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (report) {
          bar.value = report.progress; bar.textContent = report.progress + "%";
          status.textContent = report.status + (report.error ? ": " + report.error : "");
          if (report.status === "ready" || report.status === "failed") {
            bar.hidden = true; item.querySelector(".report-refresh").hidden = true;
            item.querySelector(".report-files").hidden = report.status !== "ready";
          } else { setTimeout(poll, 1000); }
        })
        .catch(function () { setTimeout(poll, 5000); });
    }
    poll();
  });
});

// A form that creates something disables its buttons while it posts, so a double click sends it once (its
// idempotency key catches what still gets through, e.g. without script). Back from the next page, they work again.
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!form.querySelector('input[name="idempotency_key"]')) { return; }
  setTimeout(function () {  // after the browser has taken the clicked button's value
    if (event.defaultPrevented) { return; }
    form.querySelectorAll('button, input[type="submit"]').forEach(function (button) {
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
    });
  }, 0);
});
window.addEventListener("pageshow", function () {
  document.querySelectorAll('button[aria-busy="true"], input[aria-busy="true"]').forEach(function (button) {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  });
});
