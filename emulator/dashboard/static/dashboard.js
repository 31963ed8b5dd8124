// The local dashboard: each panel reads /_dashboard/api/... and draws it. No framework,
// nothing from elsewhere; every value is put in the page as text, never as markup.
"use strict";
(function () {
  var API = "/_dashboard/api/";
  var ACTION_HEADER = "X-Tributum-Dashboard";

  function el(tag, text, attrs) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }
  function row(cells) {
    var tr = el("tr");
    cells.forEach(function (c) {
      if (c instanceof Node) { var td = el("td"); td.appendChild(c); tr.appendChild(td); }
      else tr.appendChild(el("td", c));
    });
    return tr;
  }
  function panel(id) { return document.getElementById(id); }
  function status(id, text, isError) {
    var p = panel(id).querySelector(".status");
    p.textContent = text;
    p.className = "status" + (isError ? " error" : "");
  }
  function problemText(body, code) {
    if (body && body.detail) return body.detail + (body.code ? " (" + body.code + ")" : "");
    return "HTTP " + code;
  }
  function call(method, path, body) {
    var init = { method: method, headers: {} };
    if (method === "POST") {
      init.headers[ACTION_HEADER] = "1";
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body || {});
    }
    return fetch(API + path, init).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) throw new Error(problemText(data, response.status));
        return data;
      });
    });
  }
  function load(id, path, draw) {
    status(id, "loading…");
    return call("GET", path).then(function (data) {
      draw(data);
      status(id, "updated " + new Date().toLocaleTimeString());
    }).catch(function (error) { status(id, error.message, true); });
  }
  function tbody(id) {
    var body = panel(id).querySelector("tbody");
    body.textContent = "";
    return body;
  }
  function button(text, onClick, attrs) {
    var b = el("button", text, attrs);
    b.addEventListener("click", onClick);
    return b;
  }

  // -- functions and logs ---------------------------------------------------------------
  function drawFunctions(data) {
    var body = tbody("functions");
    if (!data.running) { status("functions", "no stack recorded", true); return; }
    data.components.forEach(function (c) {
      var health = el("span", c.healthy ? "healthy" : c.running ? "not answering" : "down",
        { "class": c.healthy ? "ok" : "bad" });
      // A mail sink the stack uses but did not start has no log of the stack's.
      var logs = c.log ? button("log", function () { showLog(c.log); }) : "";
      var tr = row([c.name, c.role, c.kind || "", c.port === null ? "-" : c.port, health,
        c.restarts, logs]);
      tr.setAttribute("data-name", c.name);
      body.appendChild(tr);
    });
  }
  function showLog(name) {
    var form = panel("log-filters");
    form.elements.log.value = name;
    loadLogs();
    panel("logs").scrollIntoView();
  }
  function loadLogNames() {
    return call("GET", "log-names").then(function (names) {
      var select = panel("log-filters").elements.log;
      var current = select.value;
      select.textContent = "";
      select.appendChild(el("option", "all", { value: "" }));
      names.forEach(function (n) { select.appendChild(el("option", n, { value: n })); });
      select.value = current;
    }).catch(function (error) { status("logs", error.message, true); });
  }
  var logRequests = 0;
  function loadLogs() {
    // Only the latest request is drawn: an earlier, slower answer never replaces it.
    var ticket = ++logRequests;
    var form = panel("log-filters");
    var query = new URLSearchParams();
    ["log", "severity", "correlation_id", "lines"].forEach(function (name) {
      var value = form.elements[name].value.trim();
      if (value) query.set(name, value);
    });
    return load("logs", "logs?" + query.toString(), function (lines) {
      if (ticket !== logRequests) return;
      var box = panel("logs").querySelector(".log-lines");
      box.textContent = "";
      lines.forEach(function (line) {
        var text = line.severity === null ? "[" + line.log + "] " + line.message
          : line.time.slice(11, 23) + " " + line.severity + " [" + line.log + "] " + line.message
            + (line.summary ? "  " + line.summary : "")
            + (line.correlation_id ? "  correlation_id=" + line.correlation_id : "");
        box.appendChild(el("div", text, { "class": "sev-" + (line.severity || "NONE"), title: line.line }));
      });
      if (!lines.length) box.appendChild(el("div", "no line matches"));
      box.scrollTop = box.scrollHeight;
    });
  }

  // -- topics -----------------------------------------------------------------------------
  function drawTopics(topics) {
    var body = tbody("topics");
    topics.forEach(function (t) {
      var subs = el("div");
      t.subscriptions.forEach(function (s) {
        var waiting = s.type === "pull" ? s.backlog + " waiting (peeked)" : "push";
        subs.appendChild(el("div", s.name + " · " + waiting, { title: s.push_endpoint || "" }));
      });
      var tr = row([t.name + (t.scheduled ? " (scheduled)" : ""), t.outbox_pending,
        t.dead_letters_stored + " / " + t.dead_letters_total, subs]);
      tr.setAttribute("data-topic", t.name);
      body.appendChild(tr);
    });
  }

  // -- dead letters -----------------------------------------------------------------------
  function deadLetterAction(letter, action) {
    var body = action === "discard" ? { note: "discarded from the local dashboard" } : {};
    status("dead-letters", action + " " + letter.id + "…");
    call("POST", "dead-letters/" + encodeURIComponent(letter.id) + "/" + action, body)
      .then(function (updated) {
        status("dead-letters", letter.id + " is now " + updated.status);
        return loadDeadLetters(true);
      })
      .catch(function (error) { status("dead-letters", error.message, true); });
  }
  function loadDeadLetters(keepStatus) {
    var chosen = document.getElementById("dead-letter-status").value;
    var path = "dead-letters" + (chosen ? "?status=" + chosen : "");
    return call("GET", path).then(function (letters) {
      var body = tbody("dead-letters");
      letters.forEach(function (d) {
        var actions = el("span");
        actions.appendChild(button("inspect", function () {
          var pre = panel("dead-letters").querySelector(".detail");
          pre.hidden = false;
          pre.textContent = JSON.stringify(d, null, 2);
        }, { "class": "inspect" }));
        if (d.status !== "discarded") {
          actions.appendChild(button("replay", function () { deadLetterAction(d, "replay"); },
            { "class": "replay" }));
          actions.appendChild(button("discard", function () { deadLetterAction(d, "discard"); },
            { "class": "discard" }));
        }
        var tr = row([d.id, d.tenant_id === null ? "(none)" : d.tenant_id, d.topic, d.reason,
          d.status, d.replay_count, d.first_seen, actions]);
        tr.setAttribute("data-id", d.id);
        tr.setAttribute("data-status", d.status);
        body.appendChild(tr);
      });
      if (!keepStatus) status("dead-letters", letters.length + " dead letters");
    }).catch(function (error) { status("dead-letters", error.message, true); });
  }

  // -- Firestore --------------------------------------------------------------------------
  function browse(path) {
    return load("firestore", "firestore?path=" + encodeURIComponent(path), function (node) {
      var box = panel("firestore");
      var crumbs = box.querySelector(".crumbs");
      crumbs.textContent = "";
      var link = el("a", "(root)", { "data-path": "" });
      link.addEventListener("click", function () { browse(""); });
      crumbs.appendChild(link);
      var parts = node.path ? node.path.split("/") : [];
      parts.forEach(function (part, index) {
        var target = parts.slice(0, index + 1).join("/");
        crumbs.appendChild(document.createTextNode(" / "));
        var a = el("a", part, { "data-path": target });
        a.addEventListener("click", function () { browse(target); });
        crumbs.appendChild(a);
      });
      var list = box.querySelector(".entries");
      list.textContent = "";
      var children = node.kind === "collection" ? node.documents : node.collections;
      children.forEach(function (child) {
        var target = node.path ? node.path + "/" + child : child;
        var item = el("li");
        var a = el("a", child, { "data-path": target });
        a.addEventListener("click", function () { browse(target); });
        item.appendChild(a);
        list.appendChild(item);
      });
      var pre = box.querySelector(".document");
      pre.hidden = node.kind !== "document";
      if (node.kind === "document") {
        pre.textContent = node.exists ? JSON.stringify(node.data, null, 2)
          : "(no document here; only subcollections)";
      }
      box.setAttribute("data-path", node.path);
    });
  }

  // -- schedules, mail, ledger --------------------------------------------------------------
  function drawSchedules(schedules) {
    var body = tbody("schedules");
    schedules.forEach(function (s) {
      var run = button("run now", function () {
        status("schedules", "publishing a tick to " + s.topic + "…");
        call("POST", "schedules/" + encodeURIComponent(s.topic) + "/run").then(function (r) {
          status("schedules", "published a tick to " + r.topic + " (message " + r.message_id + ")");
        }).catch(function (error) { status("schedules", error.message, true); });
      }, { "class": "run-now" });
      var next = s.next_tick + (s.speedup !== 1 ? " (clock ×" + s.speedup + ")" : "");
      var tr = row([s.topic, s.cron, s.time_zone, next, s.last_tick || "-", run]);
      tr.setAttribute("data-topic", s.topic);
      body.appendChild(tr);
    });
  }
  function drawMail(mail) {
    var body = tbody("mail");
    if (!mail.running) {
      status("mail", "the mail sink at " + mail.url + " is not running (python -m emulator up runs one)");
      return;
    }
    mail.messages.slice().reverse().forEach(function (m) {
      body.appendChild(row([m.received_at, m.to, m.subject, el("pre", m.text)]));
    });
  }
  function drawWebhooks(sink) {
    var body = tbody("webhooks");
    if (!sink.running) {
      status("webhooks", "no webhook sink answers at " + sink.url + " (python -m emulator webhook-sink runs one)");
      return;
    }
    sink.deliveries.slice().reverse().forEach(function (d) {
      body.appendChild(row([d.received_at, d.path, d.webhook_id || "-", d.event_type || "-",
        String(d.answered)]));
    });
  }
  function money(value) { return value && value.amount !== undefined ? value.amount : value; }
  function drawBalance(balance) {
    var box = panel("ledger").querySelector(".balances");
    box.textContent = "";
    box.appendChild(el("p", "as of " + balance.as_of + " · " +
      (balance.balanced ? "balanced" : "NOT balanced"), { "class": balance.balanced ? "ok" : "bad" }));
    balance.currencies.forEach(function (c) {
      box.appendChild(el("h3", c.currency));
      var table = el("table", null, { "data-currency": c.currency });
      var head = el("tr");
      ["code", "name", "type", "debit", "credit"].forEach(function (h) { head.appendChild(el("th", h)); });
      table.appendChild(head);
      c.accounts.forEach(function (a) {
        var tr = row([a.code, a.name, a.type, money(a.debit), money(a.credit)]);
        tr.setAttribute("data-account", a.account_id);
        tr.children[3].className = tr.children[4].className = "num";
        table.appendChild(tr);
      });
      var total = row(["total", "", "", money(c.total_debits), money(c.total_credits)]);
      total.className = "total";
      total.children[3].className = total.children[4].className = "num";
      table.appendChild(total);
      box.appendChild(table);
    });
  }
  function loadBalance() {
    var tenant = document.getElementById("ledger-tenant").value;
    if (!tenant) { status("ledger", "no tenant yet"); return Promise.resolve(); }
    return load("ledger", "trial-balance?tenant=" + encodeURIComponent(tenant), drawBalance);
  }
  function loadLedger() {
    return call("GET", "tenants").then(function (tenants) {
      var select = document.getElementById("ledger-tenant");
      var current = select.value;
      select.textContent = "";
      tenants.forEach(function (t) { select.appendChild(el("option", t, { value: t })); });
      if (current && tenants.indexOf(current) >= 0) select.value = current;
      return loadBalance();
    }).catch(function (error) { status("ledger", error.message, true); });
  }

  // "#firestore:tenants/t-1" opens the browser at that path.
  function startPath() {
    var hash = decodeURIComponent(window.location.hash || "");
    return hash.indexOf("#firestore:") === 0 ? hash.slice("#firestore:".length) : "";
  }

  var loaders = {
    functions: function () { return load("functions", "functions", drawFunctions); },
    logs: function () { return loadLogNames().then(loadLogs); },
    topics: function () { return load("topics", "topics", drawTopics); },
    "dead-letters": function () { return loadDeadLetters(false); },
    firestore: function () {
      var shown = panel("firestore").getAttribute("data-path");
      return browse(shown === null ? startPath() : shown);
    },
    schedules: function () { return load("schedules", "schedules", drawSchedules); },
    mail: function () { return load("mail", "mail", drawMail); },
    webhooks: function () { return load("webhooks", "webhooks", drawWebhooks); },
    ledger: loadLedger,
  };
  document.querySelectorAll("[data-refresh]").forEach(function (b) {
    b.addEventListener("click", function () { loaders[b.getAttribute("data-refresh")](); });
  });
  panel("log-filters").addEventListener("submit", function (event) {
    event.preventDefault();
    loadLogs();
  });
  document.getElementById("dead-letter-status").addEventListener("change", function () {
    loadDeadLetters(false);
  });
  document.getElementById("ledger-tenant").addEventListener("change", loadBalance);
  window.addEventListener("hashchange", function () {
    if (startPath()) browse(startPath());
  });
  Object.keys(loaders).forEach(function (name) { loaders[name](); });
})();
