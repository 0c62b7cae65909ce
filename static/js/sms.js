// The SMS editor (integrations/sms.html): each text's length and SMS parts, again as it is typed. The page shows
// the same figures on load, computed by the server (integrations/sms_texts.py: `fill` and `measure`); this only keeps
// them current between saves. The placeholders are filled with the sample values the form carries.
(function () {
  "use strict";
  var form = document.querySelector("[data-sms-samples]");
  if (!form) return;
  var samples = {};
  try {
    samples = JSON.parse(form.getAttribute("data-sms-samples"));
  } catch (error) {
    return;
  }
  var GSM7 = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡" +
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var EXTENSION = "^{}\\[~]|€\f";

  function fill(text) {
    return text
      .replace(/\{(\w+)\}/g, function (whole, name) {
        return Object.prototype.hasOwnProperty.call(samples, name) ? samples[name] : whole;
      })
      .replace(/[ \t]+/g, " ")
      .replace(/ +([.,!?:;)])/g, "$1")
      .split("\n")
      .map(function (line) { return line.trim(); })
      .join("\n")
      .trim();
  }

  function measure(text) {
    var gsm = true;
    var units = 0;
    for (var i = 0; i < text.length; i += 1) {
      var ch = text.charAt(i);
      if (EXTENSION.indexOf(ch) >= 0) {
        units += 2;
      } else if (GSM7.indexOf(ch) >= 0) {
        units += 1;
      } else {
        gsm = false;
        break;
      }
    }
    var single = 160;
    var multi = 153;
    if (!gsm) {
      units = text.length; // UTF-16 code units, as UCS-2 counts them
      single = 70;
      multi = 67;
    }
    var parts = units === 0 ? 0 : (units <= single ? 1 : Math.ceil(units / multi));
    return { units: units, parts: parts, encoding: gsm ? "GSM7" : "UCS2" };
  }

  function update(row) {
    var area = row.querySelector("textarea[data-sms-text]");
    var fallback = row.querySelector("[data-sms-default]");
    var output = row.querySelector("[data-sms-length]");
    if (!area || !output) return;
    var text = area.value.trim() || (fallback ? fallback.textContent : "");
    var length = measure(fill(text));
    output.querySelector("[data-chars]").textContent = String(length.units);
    output.querySelector("[data-parts]").textContent = String(length.parts);
    output.querySelector("[data-encoding]").textContent = length.encoding;
  }

  Array.prototype.forEach.call(form.querySelectorAll("[data-sms-row]"), function (row) {
    var area = row.querySelector("textarea[data-sms-text]");
    if (area) area.addEventListener("input", function () { update(row); });
  });
})();
