// danegate web UI: the only script. The DANE Support select is inactive until TLS
// Support is enabled (as in the appliance's form); the server validates regardless.
(function () {
  "use strict";
  function effectiveTls(tls) {
    if (tls.value === "") {
      return tls.getAttribute("data-default") || "";
    }
    return tls.value;
  }
  function sync() {
    var tls = document.getElementById("tls");
    var dane = document.getElementById("dane");
    if (!tls || !dane) {
      return;
    }
    var off = effectiveTls(tls) === "none";
    dane.disabled = off;
    var note = document.getElementById("dane-note");
    if (note) {
      note.hidden = !off;
    }
  }
  document.addEventListener("DOMContentLoaded", function () {
    var tls = document.getElementById("tls");
    if (tls) {
      tls.addEventListener("change", sync);
      sync();
    }
    // "Maximum of" text fields select their radio when typed into.
    var inputs = document.querySelectorAll("input[data-radio]");
    for (var i = 0; i < inputs.length; i++) {
      inputs[i].addEventListener("input", function (e) {
        var r = document.getElementById(e.target.getAttribute("data-radio"));
        if (r) {
          r.checked = true;
        }
      });
    }
    // Confirmation for destructive buttons.
    var confirms = document.querySelectorAll("form[data-confirm]");
    for (var j = 0; j < confirms.length; j++) {
      confirms[j].addEventListener("submit", function (e) {
        if (!window.confirm(e.target.getAttribute("data-confirm"))) {
          e.preventDefault();
        }
      });
    }
  });
})();
