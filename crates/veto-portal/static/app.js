// Progressive enhancement only: the time left to the objection deadline,
// kept current. Every page works without it. It changes once a minute and
// is not a live region: a screen reader reads it when the reader gets
// there, not every time it changes.
(function () {
  var el = document.getElementById("countdown");
  if (!el) return;
  var deadline = Date.parse(el.getAttribute("data-deadline"));
  var format = el.getAttribute("data-format") || "{d} d {h} h {m} min";
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function tick() {
    var m = Math.max(0, Math.floor((deadline - Date.now()) / 60000));
    var text = format
      .replace("{d}", String(Math.floor(m / 1440)))
      .replace("{h}", pad(Math.floor(m / 60) % 24))
      .replace("{m}", pad(m % 60));
    if (el.textContent !== text) el.textContent = text;
  }
  tick();
  setInterval(tick, 15000);
})();
