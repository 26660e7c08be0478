// Progressive enhancement only: a live countdown to the objection deadline.
// Every page works without it.
(function () {
  var el = document.getElementById("countdown");
  if (!el) return;
  var deadline = Date.parse(el.getAttribute("data-deadline"));
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function tick() {
    var s = Math.max(0, Math.floor((deadline - Date.now()) / 1000));
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    el.textContent = d + " d " + pad(h) + ":" + pad(m) + ":" + pad(s % 60);
  }
  tick();
  setInterval(tick, 1000);
})();
