// Ocelot dashboard: the few things a server-rendered page cannot do by itself.
(function () {
  "use strict";

  var ANSI = /\x1b\[[0-9;?]*[ -\/]*[@-~]/g;

  function onReady(fn) {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", fn);
    } else {
      fn();
    }
  }

  // A <select data-autosubmit> submits its form when changed.
  function autosubmit() {
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
  }

  // A button with data-confirm asks before its form is sent.
  function confirmations() {
    document.querySelectorAll("button[data-confirm]").forEach(function (button) {
      button.form.addEventListener("submit", function (event) {
        if (!window.confirm(button.getAttribute("data-confirm"))) {
          event.preventDefault();
        }
      });
    });
  }

  // The build log: append what the server streams after the rendered part.
  function liveLog() {
    var log = document.getElementById("log");
    if (!log || log.getAttribute("data-live") !== "yes" || !window.EventSource) {
      return;
    }
    var follow = document.getElementById("follow");
    var status = document.getElementById("build-status");
    var last = parseInt(log.getAttribute("data-after") || "0", 10);
    var url = log.getAttribute("data-events") + "?after=" + last;
    var source = new EventSource(url);

    function scroll() {
      if (follow && follow.checked) {
        log.scrollTop = log.scrollHeight;
        window.scrollTo(0, document.body.scrollHeight);
      }
    }

    source.addEventListener("log", function (event) {
      var data = JSON.parse(event.data);
      if (data.seq <= last) {
        return; // a reconnect replays what is already shown
      }
      last = data.seq;
      log.appendChild(document.createTextNode(String(data.text).replace(ANSI, "")));
      if (status && status.textContent === "QUEUED") {
        status.textContent = "RUNNING";
        status.className = "status s-running";
      }
      scroll();
    });

    source.addEventListener("end", function (event) {
      source.close();
      var data = JSON.parse(event.data);
      if (status && data.status) {
        status.textContent = data.status;
        status.className = "status s-" + String(data.status).toLowerCase();
      }
      log.setAttribute("data-live", "no");
      // The stages table and header are rendered by the server: show their final state.
      window.setTimeout(function () { window.location.reload(); }, 500);
    });

    if (follow) {
      follow.addEventListener("change", scroll);
    }
    scroll();
  }

  onReady(function () {
    autosubmit();
    confirmations();
    liveLog();
  });
})();
