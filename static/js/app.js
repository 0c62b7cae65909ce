// Small behaviours shared by every page. No inline scripts anywhere: the CSP forbids them.
(function () {
  "use strict";

  function onReady(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  onReady(function () {
    // Phone-sized screens: the menu slides in. Opened, the keyboard goes on in it; Escape closes it and gives the
    // focus back to the button. Closed, it is hidden (app.css), so no Tab stops in it.
    var toggle = document.querySelector("[data-nav-toggle]");
    var sidebar = document.getElementById("sidebar");
    if (toggle && sidebar) {
      var setMenu = function (open) {
        sidebar.classList.toggle("is-open", open);
        toggle.setAttribute("aria-expanded", open ? "true" : "false");
      };
      toggle.addEventListener("click", function () {
        var open = !sidebar.classList.contains("is-open");
        setMenu(open);
        var first = open && sidebar.querySelector("a[href], button");
        if (first) { first.focus(); }
      });
      document.addEventListener("keydown", function (event) {
        if (event.key === "Escape" && sidebar.classList.contains("is-open")) {
          setMenu(false);
          toggle.focus();
        }
      });
    }

    // A page that comes back with a form's errors: the summary of them is read first, and its links lead to the
    // fields (includes/error_summary.html).
    var summary = document.querySelector("[data-error-summary]");
    if (summary) {
      summary.focus();
      summary.addEventListener("click", function (event) {
        var link = event.target.closest("a[href^='#']");
        var field = link && document.getElementById(decodeURIComponent(link.hash.slice(1)));
        if (!field) { return; }
        event.preventDefault();
        field.focus();
      });
    }

    // Buttons that must not be pressed twice (a slow connection invites a second tap).
    document.addEventListener("submit", function (event) {
      var form = event.target;
      if (form.hasAttribute("data-once")) {
        if (form.dataset.submitted === "1") {
          event.preventDefault();
          return;
        }
        form.dataset.submitted = "1";
        form.querySelectorAll("button[type=submit]").forEach(function (b) { b.setAttribute("aria-busy", "true"); });
      }
    });

    // Confirmation without inline handlers: <button data-confirm="Sure?">.
    document.addEventListener("click", function (event) {
      var el = event.target.closest("[data-confirm]");
      if (el && !window.confirm(el.getAttribute("data-confirm"))) {
        event.preventDefault();
        event.stopPropagation();
      }
    }, true);

    // "Select all" checkboxes for bulk actions: <input type=checkbox data-select-all="name">.
    document.querySelectorAll("[data-select-all]").forEach(function (master) {
      master.addEventListener("change", function () {
        var name = master.getAttribute("data-select-all");
        document.querySelectorAll("input[type=checkbox][name='" + name + "']").forEach(function (box) {
          box.checked = master.checked;
        });
      });
    });

    // Print buttons: <button data-print>.
    document.querySelectorAll("[data-print]").forEach(function (button) {
      button.addEventListener("click", function () { window.print(); });
    });

    // Parts of a form that matter for one choice only: <div data-show-for="outcome:agreed postponed">.
    // Without JavaScript every part stays visible.
    document.querySelectorAll("form").forEach(function (form) {
      var parts = form.querySelectorAll("[data-show-for]");
      if (!parts.length) { return; }
      var update = function () {
        parts.forEach(function (part) {
          var spec = part.getAttribute("data-show-for").split(":");
          var checked = form.querySelector("input[name='" + spec[0] + "']:checked");
          part.hidden = !checked || spec[1].split(" ").indexOf(checked.value) === -1;
        });
      };
      form.addEventListener("change", update);
      update();
    });

    // Drag-and-drop ordering: <ol data-sortable="url"><li draggable="true" data-id="…">; the new order is
    // POSTed as order=id,id,… (the arrows beside each row do the same without JavaScript).
    document.querySelectorAll("[data-sortable]").forEach(function (list) {
      var dragged = null;
      list.addEventListener("dragstart", function (event) {
        dragged = event.target.closest("li[draggable]");
        if (dragged) { dragged.classList.add("is-dragging"); }
      });
      list.addEventListener("dragover", function (event) {
        if (!dragged) { return; }
        event.preventDefault();
        var over = event.target.closest("li[draggable]");
        if (over && over !== dragged) {
          var box = over.getBoundingClientRect();
          list.insertBefore(dragged, event.clientY > box.top + box.height / 2 ? over.nextSibling : over);
        }
      });
      list.addEventListener("dragend", function () {
        if (!dragged) { return; }
        dragged.classList.remove("is-dragging");
        dragged = null;
        var ids = Array.prototype.map.call(list.querySelectorAll("li[data-id]"), function (li) {
          return li.getAttribute("data-id");
        });
        var token = document.querySelector("input[name=csrfmiddlewaretoken]");
        var body = new URLSearchParams({ order: ids.join(",") });
        fetch(list.getAttribute("data-sortable"), {
          method: "POST", body: body, credentials: "same-origin",
          headers: { "X-CSRFToken": token ? token.value : "", "HX-Request": "true" }
        });
      });
    });

    // A part of the page that htmx refreshes (the delivery board's couriers, every 30 seconds) gets new data, not a new
    // place for its reader: a <details> opened stays open, and the focus stays on the control it was on (the one of
    // the same id, link address or name in the new content).
    var placeOf = function (element) {
      if (element.id) { return "#" + CSS.escape(element.id); }
      if (element.tagName === "SUMMARY" && element.parentElement.id) { return "#" + CSS.escape(element.parentElement.id) + ">summary"; }
      if (element.tagName === "A" && element.getAttribute("href")) { return "a[href='" + CSS.escape(element.getAttribute("href")) + "']"; }
      if (element.name) { return "[name='" + CSS.escape(element.name) + "']"; }
      return null;
    };
    var kept = new WeakMap();
    document.addEventListener("htmx:beforeSwap", function (event) {
      var target = event.detail.target;
      var active = document.activeElement;
      var open = [];
      target.querySelectorAll("details").forEach(function (details, index) {
        if (details.open) { open.push(details.id ? "#" + CSS.escape(details.id) : index); }
      });
      var inside = active && active !== target && target.contains(active);
      kept.set(target, { open: open, inside: inside, focus: inside ? placeOf(active) : null });
    });
    document.addEventListener("htmx:afterSwap", function (event) {
      var target = event.detail.target;
      var place = kept.get(target);
      if (!place) { return; }
      kept.delete(target);
      var all = target.querySelectorAll("details");
      place.open.forEach(function (key) {
        var details = typeof key === "number" ? all[key] : target.querySelector(key);
        if (details) { details.open = true; }
      });
      if (place.inside) {
        var again = place.focus && target.querySelector(place.focus);
        if (!again) {  // what had the focus is gone: the refreshed part itself holds it, not the page's top
          target.setAttribute("tabindex", "-1");
          again = target;
        }
        again.focus({ preventScroll: true });
      }
    });

    // Auto-submit filter forms on change: <form data-autosubmit>.
    document.querySelectorAll("form[data-autosubmit]").forEach(function (form) {
      form.addEventListener("change", function () { form.requestSubmit(); });
    });

    labelTableCells(document);
    document.addEventListener("htmx:afterSwap", function (event) { labelTableCells(event.target); });
    var resized = null;
    window.addEventListener("resize", function () {
      clearTimeout(resized);
      resized = setTimeout(function () { labelTableCells(document); }, 150);
    });
  });

  // Tables on a phone become one block per row (app.css, below 640 px): each cell is headed by its column's name,
  // taken here from the table's header row (a cell's own data-label wins). A table that still scrolls sideways
  // in its wrapper (a wide pivot at a desk) can be reached and scrolled from the keyboard: the wrapper becomes a
  // focusable region named after the table's caption or the heading before it.
  function labelTableCells(root) {
    root.querySelectorAll(".table-wrap > table, table.table-stack").forEach(function (table) {
      var head = table.tHead && table.tHead.rows[0];
      if (head) {
        var names = [];
        Array.prototype.forEach.call(head.cells, function (th) {
          var span = th.colSpan || 1;
          var name = (th.getAttribute("aria-label") || th.textContent || "").replace(/\s+/g, " ").trim();
          if (th.querySelector("input")) { name = ""; }
          for (var i = 0; i < span; i++) { names.push(name); }
        });
        Array.prototype.forEach.call(table.tBodies, function (body) {
          Array.prototype.forEach.call(body.rows, function (row) {
            var column = 0;
            Array.prototype.forEach.call(row.cells, function (cell) {
              if (!cell.hasAttribute("data-label") && names[column] && cell.colSpan === 1) {
                cell.setAttribute("data-label", names[column]);
              }
              column += cell.colSpan || 1;
            });
          });
        });
      }
      var wrap = table.parentElement;
      if (!wrap.classList.contains("table-wrap")) { return; }
      if (wrap.scrollWidth > wrap.clientWidth + 1) {
        if (!wrap.hasAttribute("tabindex")) {
          wrap.setAttribute("tabindex", "0");
          wrap.setAttribute("role", "region");
          var caption = table.caption || previousHeading(wrap);
          wrap.setAttribute("aria-label", caption ? caption.textContent.trim() : document.title);
        }
      } else if (wrap.getAttribute("role") === "region") {
        wrap.removeAttribute("tabindex");
        wrap.removeAttribute("role");
        wrap.removeAttribute("aria-label");
      }
    });
  }

  function previousHeading(element) {
    for (var node = element; node && node !== document.body; node = node.parentElement) {
      for (var before = node.previousElementSibling; before; before = before.previousElementSibling) {
        if (/^H[1-6]$/.test(before.tagName)) { return before; }
        var inner = before.querySelector && before.querySelector("h1, h2, h3, h4, h5, h6");
        if (inner) { return inner; }
      }
    }
    return null;
  }
})();
