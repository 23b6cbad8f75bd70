// Live countdowns for notification clocks: each .countdown[data-deadline] (an ISO UTC instant) shows the
// time left, updated every second; the deadline itself is rendered by the server, so nothing depends on this.
(function () {
  "use strict";
  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function describe(ms) {
    var late = ms < 0;
    var s = Math.floor(Math.abs(ms) / 1000);
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    var text = (d ? d + "d " : "") + pad(h) + "h " + pad(m) + "m " + pad(s % 60) + "s";
    return late ? "overdue by " + text : text + " left";
  }
  function update(nodes) {
    var now = Date.now();
    nodes.forEach(function (node) {
      var left = Date.parse(node.getAttribute("data-deadline")) - now;
      node.textContent = describe(left);
      node.classList.toggle("countdown-late", left < 0);
      node.classList.toggle("countdown-soon", left >= 0 && left < 4 * 3600 * 1000);
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var nodes = Array.prototype.slice.call(document.querySelectorAll(".countdown[data-deadline]"));
    if (!nodes.length) { return; }
    update(nodes);
    window.setInterval(function () { update(nodes); }, 1000);
  });
}());
