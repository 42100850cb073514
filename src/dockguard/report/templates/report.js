(function () {
  "use strict";
  function cellValue(row, index, kind) {
    var cell = row.cells[index];
    if (!cell) { return ""; }
    var v = cell.hasAttribute("data-v") ? cell.getAttribute("data-v") : cell.textContent;
    if (kind === "num") { var n = parseFloat(v); return isNaN(n) ? -1 : n; }
    return v.trim().toLowerCase();
  }
  function sortTable(table, th) {
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var kind = th.getAttribute("data-sort");
    var dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
    table.querySelectorAll("th[data-sort]").forEach(function (h) {
      h.setAttribute("aria-sort", "none");
    });
    th.setAttribute("aria-sort", dir);
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var sign = dir === "ascending" ? 1 : -1;
    rows.sort(function (a, b) {
      var x = cellValue(a, index, kind), y = cellValue(b, index, kind);
      return (x < y ? -1 : x > y ? 1 : 0) * sign;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("th[data-sort]").forEach(function (th) {
      th.addEventListener("click", function () { sortTable(table, th); });
      th.addEventListener("keydown", function (ev) {
        if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); sortTable(table, th); }
      });
    });
  });
  function applyFilters(bar) {
    var target = bar.getAttribute("data-table");
    var items = target === "objects"
      ? document.querySelectorAll("#objects-list details.object")
      : document.querySelectorAll("#" + target + " tbody tr");
    var text = "", selects = [], hideSuppressed = false;
    bar.querySelectorAll("[data-filter]").forEach(function (el) {
      var name = el.getAttribute("data-filter");
      if (name === "text") { text = el.value.trim().toLowerCase(); }
      else if (name === "hide-suppressed") { hideSuppressed = el.checked; }
      else if (el.value) { selects.push([name, el.value]); }
    });
    var shown = 0;
    items.forEach(function (item) {
      var ok = !text || item.textContent.toLowerCase().indexOf(text) !== -1;
      selects.forEach(function (s) {
        if (item.getAttribute("data-" + s[0]) !== s[1]) { ok = false; }
      });
      if (hideSuppressed && item.hasAttribute("data-suppressed")) { ok = false; }
      item.hidden = !ok;
      if (ok) { shown += 1; }
    });
    var label = document.querySelector('[data-shown-for="' + target + '"]');
    if (label) { label.textContent = shown + " of " + items.length + " shown"; }
  }
  document.querySelectorAll(".filters").forEach(function (bar) {
    bar.querySelectorAll("[data-filter]").forEach(function (el) {
      el.addEventListener("input", function () { applyFilters(bar); });
      el.addEventListener("change", function () { applyFilters(bar); });
    });
    applyFilters(bar);
  });
  var button = document.getElementById("download-json");
  var data = document.getElementById("dockguard-data");
  if (button && data) {
    button.addEventListener("click", function () {
      var blob = new Blob([data.textContent], {type: "application/json"});
      var a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = "dockguard-report.json";
      document.body.appendChild(a);
      a.click();
      setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 0);
    });
  }
})();
