/* Small progressive enhancements. Every page works without this file. */
(function () {
  "use strict";

  // Copy buttons next to launch snippets.
  document.querySelectorAll("[data-copy-target]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var target = document.getElementById(button.getAttribute("data-copy-target"));
      if (!target || !navigator.clipboard) { return; }
      navigator.clipboard.writeText(target.textContent.trim()).then(function () {
        var old = button.textContent;
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = old; }, 1500);
      });
    });
  });

  // Browse: changing the sort submits the search form (a button is there without JS).
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });

  // Progress page: poll an HTML fragment and swap it in until the server says it is done.
  var live = document.querySelector("[data-poll-url]");
  if (live) {
    var interval = parseInt(live.getAttribute("data-poll-ms") || "1500", 10);
    var poll = function () {
      fetch(live.getAttribute("data-poll-url"), {headers: {"X-Requested-With": "fetch"}, credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          live.innerHTML = html;
          var state = live.querySelector("[data-done]");
          if (!state || state.getAttribute("data-done") !== "true") { setTimeout(poll, interval); }
        })
        .catch(function () { setTimeout(poll, interval * 4); });
    };
    var initial = live.querySelector("[data-done]");
    if (!initial || initial.getAttribute("data-done") !== "true") { setTimeout(poll, interval); }
  }
})();
