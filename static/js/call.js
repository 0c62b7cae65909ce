// The call screen by keyboard: a digit chooses the call's outcome (<input data-key="1">), Ctrl+Enter (⌘+Enter on a
// Mac) presses «Save and next customer» (<button data-key-submit>), in <form data-call-keys>. A digit typed into a
// text field stays in the field. And the customer's clock (<time data-now data-utc-offset>) keeps time.
// Loaded on the call screen only; no inline scripts (the CSP forbids them).
(function () {
  "use strict";

  var NOT_TYPING = ["radio", "checkbox", "button", "submit", "reset", "file", "range", "color", "image"];

  // Whether a key pressed here is text the operator is typing (a note, a date, a sum), not a command.
  function isTyping(element) {
    if (!element || element === document.body) { return false; }
    if (element.isContentEditable) { return true; }
    var tag = element.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") { return true; }
    if (tag !== "INPUT") { return false; }
    return NOT_TYPING.indexOf((element.getAttribute("type") || "text").toLowerCase()) === -1;
  }

  function two(number) { return (number < 10 ? "0" : "") + number; }

  function onReady(fn) {
    if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }

  onReady(function () {
    var form = document.querySelector("form[data-call-keys]");
    if (form) {
      document.addEventListener("keydown", function (event) {
        if (event.defaultPrevented || event.isComposing || event.repeat) { return; }
        if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !event.altKey && !event.shiftKey) {
          var button = form.querySelector("button[data-key-submit]");
          if (button && !button.disabled) {
            event.preventDefault();
            form.requestSubmit(button);  // the form's own checks and its one-submit guard run as for a click
          }
          return;
        }
        if (event.ctrlKey || event.metaKey || event.altKey || !/^[1-9]$/.test(event.key)) { return; }
        if (isTyping(event.target)) { return; }
        var choice = form.querySelector("input[data-key='" + event.key + "']");
        if (!choice || choice.disabled) { return; }
        event.preventDefault();
        choice.click();  // checked, and "change" shows the parts of the form this outcome needs
        choice.focus();
      });
      form.setAttribute("data-keys-ready", "");  // for tests and tools: the keys work from here on
    }

    // The customer's local time, counted from the server's clock when the page was made (the operator's computer
    // may be set to any zone, or be a few minutes off).
    document.querySelectorAll("time[data-now][data-utc-offset]").forEach(function (clock) {
      var serverNow = parseInt(clock.getAttribute("data-now"), 10);
      var offset = parseInt(clock.getAttribute("data-utc-offset"), 10);
      if (isNaN(serverNow) || isNaN(offset)) { return; }
      var loadedAt = Date.now();
      var tick = function () {
        var local = new Date(serverNow + (Date.now() - loadedAt) + offset * 60000);
        clock.textContent = two(local.getUTCHours()) + ":" + two(local.getUTCMinutes());
      };
      window.setInterval(tick, 15000);
    });
  });
})();
