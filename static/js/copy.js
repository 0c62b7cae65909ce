// «Copy» buttons: <button data-copy="#id-of-the-text" data-copied="Copied">. Loaded only by the pages that have one.
// The Clipboard API where the page may use it (HTTPS or localhost), else the selected text and execCommand; the button
// says the text is copied (and a screen reader hears it: the status beside it is a live region).
(function () {
  "use strict";

  function selectText(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function copied(button) {
    var status = document.getElementById(button.getAttribute("aria-describedby") || "");
    if (status) status.textContent = button.getAttribute("data-copied") || "";
    button.classList.add("is-copied");
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) return;
    var text = source.textContent.trim();
    selectText(source);
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { copied(button); }, function () {
        if (document.execCommand("copy")) copied(button);
      });
    } else if (document.execCommand("copy")) {
      copied(button);
    }
  });
})();
