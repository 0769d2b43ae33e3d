// Ocelot dashboard: the few things a server-rendered page cannot do by itself.
// Every piece of HTML put into the page here was escaped by the server (web/dashboard/ansi.py).
(function () {
  "use strict";

  function onReady(fn) {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", fn);
    } else {
      fn();
    }
  }

  function int(text) {
    var n = parseInt(text || "0", 10);
    return isNaN(n) ? 0 : n;
  }

  // A <select data-autosubmit> submits its form when changed.
  function autosubmit() {
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
  }

  // A button with data-confirm asks before its form is sent (also in parts swapped in later).
  function confirmations() {
    document.addEventListener("submit", function (event) {
      var button = event.submitter || event.target.querySelector("button[data-confirm]");
      var question = button && button.getAttribute("data-confirm");
      if (question && !window.confirm(question)) {
        event.preventDefault();
      }
    });
  }

  // --- the build page ----------------------------------------------------------------------

  function BuildLog(log) {
    this.log = log;
    this.page = int(log.getAttribute("data-page")) || 1000;
    this.total = int(log.getAttribute("data-total"));
    this.follow = document.getElementById("follow");
  }

  BuildLog.prototype.sections = function () {
    return this.log.querySelectorAll("details.sec");
  };

  BuildLog.prototype.bounds = function (sec) {
    return {
      first: int(sec.dataset.first), last: int(sec.dataset.last),
      lo: int(sec.dataset.lo), hi: int(sec.dataset.hi)
    };
  };

  BuildLog.prototype.store = function (sec, b) {
    sec.dataset.first = b.first;
    sec.dataset.last = b.last;
    sec.dataset.lo = b.lo;
    sec.dataset.hi = b.hi;
    sec.querySelector(".more.earlier").hidden = b.lo <= b.first;
    sec.querySelector(".more.later").hidden = b.hi >= b.last;
    var count = b.last - b.first + 1;
    sec.querySelector(".sec-count").textContent = count + (count === 1 ? " line" : " lines");
  };

  BuildLog.prototype.line = function (n, html) {
    var div = document.createElement("div");
    div.className = "ln";
    div.id = "L" + n;
    var a = document.createElement("a");
    a.className = "n";
    a.href = "#L" + n;
    a.textContent = String(n);
    var text = document.createElement("span");
    text.className = "t";
    text.innerHTML = html; // escaped and coloured by the server
    div.appendChild(a);
    div.appendChild(text);
    return div;
  };

  // Fetch lines first..last into a section: before or after what it shows, or instead of it.
  BuildLog.prototype.load = function (sec, first, last) {
    var self = this;
    var url = this.log.getAttribute("data-lines") + "?first=" + first + "&last=" + last;
    sec.classList.add("loading");
    return fetch(url, { credentials: "same-origin" }).then(function (resp) {
      if (!resp.ok) { throw new Error("HTTP " + resp.status); }
      return resp.json();
    }).then(function (data) {
      sec.classList.remove("loading");
      if (!data.lines.length) { return; }
      var box = sec.querySelector(".lines");
      var b = self.bounds(sec);
      var part = document.createDocumentFragment();
      data.lines.forEach(function (l) { part.appendChild(self.line(l.n, l.html)); });
      var lo = data.lines[0].n, hi = data.lines[data.lines.length - 1].n;
      if (b.hi >= b.lo && hi === b.lo - 1) {
        box.insertBefore(part, box.firstChild);
        b.lo = lo;
      } else if (b.hi >= b.lo && lo === b.hi + 1) {
        box.appendChild(part);
        b.hi = hi;
      } else {
        box.textContent = "";
        box.appendChild(part);
        b.lo = lo;
        b.hi = hi;
      }
      self.store(sec, b);
    }).catch(function (err) {
      sec.classList.remove("loading");
      sec.querySelector(".sec-count").textContent = "could not load lines: " + err.message;
    });
  };

  BuildLog.prototype.more = function (button) {
    var sec = button.closest("details.sec");
    var b = this.bounds(sec);
    if (button.classList.contains("earlier")) {
      this.load(sec, Math.max(b.first, b.lo - this.page), b.lo - 1);
    } else {
      this.load(sec, b.hi + 1, Math.min(b.last, b.hi + this.page));
    }
  };

  // Opening a section none of whose lines are in the page loads its last page.
  BuildLog.prototype.opened = function (sec) {
    var b = this.bounds(sec);
    if (sec.open && b.hi < b.lo && b.last >= b.first) {
      this.load(sec, Math.max(b.first, b.last - this.page + 1), b.last);
    }
  };

  // #L120: open its section, load the lines around it if they are not in the page, mark it.
  BuildLog.prototype.jump = function () {
    var match = /^#L(\d+)$/.exec(window.location.hash);
    if (!match) { return; }
    var n = int(match[1]);
    var self = this;
    var target = null;
    this.sections().forEach(function (sec) {
      var b = self.bounds(sec);
      if (b.first <= n && n <= b.last) { target = sec; }
    });
    if (!target) { return; }
    if (this.follow) { this.follow.checked = false; }
    target.open = true;
    var b = this.bounds(target);
    var show = function () {
      var el = document.getElementById("L" + n);
      if (!el) { return; }
      document.querySelectorAll(".ln.hl").forEach(function (old) { old.classList.remove("hl"); });
      el.classList.add("hl");
      el.scrollIntoView({ block: "center" });
    };
    if (b.lo <= n && n <= b.hi) {
      show();
      return;
    }
    var half = Math.floor(this.page / 2);
    this.load(target, Math.max(b.first, n - half), Math.min(b.last, n + half)).then(show);
  };

  BuildLog.prototype.scroll = function () {
    if (this.follow && this.follow.checked) {
      window.scrollTo(0, document.body.scrollHeight);
    }
  };

  BuildLog.prototype.newSection = function (attempt, stage) {
    var tpl = document.getElementById("section-template");
    var sec = tpl.content.firstElementChild.cloneNode(true);
    var secs = this.sections();
    var attempts = {};
    secs.forEach(function (s) { attempts[s.dataset.attempt] = true; });
    attempts[String(attempt)] = true;
    var name = stage || "set-up";
    sec.querySelector(".sec-name").textContent =
      Object.keys(attempts).length > 1 ? "attempt " + attempt + " · " + name : name;
    sec.id = "sec-" + secs.length;
    sec.dataset.attempt = String(attempt);
    sec.dataset.stage = stage || "";
    sec.open = true;
    var empty = document.getElementById("log-empty");
    if (empty) { empty.remove(); }
    this.log.appendChild(sec);
    this.store(sec, { first: this.total + 1, last: this.total, lo: this.total + 1, hi: this.total });
    return sec;
  };

  // A chunk from the event stream: its lines go to the end of its stage's section. Its last
  // line may be open (the chunk ended inside it): the next chunk then "continues" it.
  BuildLog.prototype.append = function (data) {
    var secs = this.sections();
    var sec = secs[secs.length - 1];
    var stage = data.stage || "";
    var fresh = false;
    if (!sec || sec.dataset.attempt !== String(data.attempt) || sec.dataset.stage !== stage) {
      sec = this.newSection(data.attempt, data.stage);
      fresh = true;
      this.refresh(); // a stage began: its row and the header change now, not at the next poll
    }
    var b = this.bounds(sec);
    var showing = b.hi >= b.last; // the tail is in the page: keep it so
    var box = sec.querySelector(".lines");
    var self = this;
    var lines = data.lines;
    if (data.continues && !fresh && lines.length) {
      var open = showing && box.lastElementChild; // the open line, already counted
      if (open) { open.querySelector(".t").insertAdjacentHTML("beforeend", lines[0]); }
      lines = lines.slice(1);
    }
    lines.forEach(function (html) {
      self.total += 1;
      b.last = self.total;
      if (showing) {
        box.appendChild(self.line(self.total, html));
        b.hi = self.total;
      }
    });
    this.store(sec, b);
    this.scroll();
  };

  // The header and the stages table, re-rendered by the server while the build runs.
  BuildLog.prototype.refresh = function () {
    var head = document.getElementById("build-head");
    var table = document.getElementById("stages-table");
    var self = this;
    if (!head) { return Promise.resolve(null); }
    return fetch(head.getAttribute("data-state"), { credentials: "same-origin" })
      .then(function (resp) { return resp.ok ? resp.json() : null; })
      .then(function (state) {
        if (!state) { return null; }
        head.innerHTML = state.head;
        if (table) { table.innerHTML = state.table; }
        self.sections().forEach(function (sec) {
          var status = sec.dataset.attempt === String(state.attempt) && state.stages[sec.dataset.stage];
          var badge = sec.querySelector(".sec-status");
          if (status) {
            badge.textContent = status;
            badge.className = "status sec-status s-" + status.toLowerCase();
            badge.hidden = false;
          }
        });
        return state;
      })
      .catch(function () { return null; });
  };

  BuildLog.prototype.live = function () {
    var self = this;
    var log = this.log;
    if (log.getAttribute("data-live") !== "yes") { return; }
    var timer = window.setInterval(function () {
      self.refresh().then(function (state) {
        if (state && state.finished) { window.clearInterval(timer); }
      });
    }, 2000);
    if (!window.EventSource) { return; }
    var last = int(log.getAttribute("data-after"));
    var source = new EventSource(log.getAttribute("data-events") + "?after=" + last);
    source.addEventListener("log", function (event) {
      var data = JSON.parse(event.data);
      if (data.seq <= last) { return; } // a reconnect replays what is shown
      last = data.seq;
      self.append(data);
    });
    source.addEventListener("end", function () {
      source.close();
      log.setAttribute("data-live", "no");
      window.clearInterval(timer);
      self.refresh();
    });
  };

  BuildLog.prototype.start = function () {
    var self = this;
    this.log.addEventListener("click", function (event) {
      var button = event.target.closest("button.more");
      if (button) { self.more(button); }
    });
    // "toggle" does not bubble: listen in the capture phase
    this.log.addEventListener("toggle", function (event) {
      if (event.target.matches && event.target.matches("details.sec")) { self.opened(event.target); }
    }, true);
    window.addEventListener("hashchange", function () { self.jump(); });
    if (this.follow) {
      this.follow.addEventListener("change", function () { self.scroll(); });
    }
    this.jump();
    if (!window.location.hash) { this.scroll(); }
    this.live();
  };

  onReady(function () {
    autosubmit();
    confirmations();
    var log = document.getElementById("log");
    if (log && log.getAttribute("data-lines")) {
      new BuildLog(log).start();
    }
  });
})();
