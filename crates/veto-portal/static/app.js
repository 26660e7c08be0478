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

// "Show password": the boxes are hidden until this script runs, since
// without it they would do nothing. Showing is the person's choice; the
// field is never changed otherwise (paste and password managers work).
(function () {
  var boxes = document.querySelectorAll("input.show-password");
  for (var i = 0; i < boxes.length; i++) {
    var box = boxes[i];
    box.parentNode.hidden = false;
    box.addEventListener("change", function (e) {
      var ids = e.target.getAttribute("data-for").split(" ");
      for (var j = 0; j < ids.length; j++) {
        var field = document.getElementById(ids[j]);
        if (field) field.type = e.target.checked ? "text" : "password";
      }
    });
  }
})();
