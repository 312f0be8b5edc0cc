// The rule preview refreshes as you type: the form's query is sent to
// /rules/preview with fragment=1 and the server-rendered results replace the
// old ones. Without JavaScript the form's submit button does the same.
"use strict";
(function () {
  const form = document.getElementById("preview-form");
  const results = document.getElementById("preview-results");
  if (!form || !results) return;
  let timer = null;
  let latest = 0;
  async function refresh() {
    const params = new URLSearchParams(new FormData(form));
    params.set("fragment", "1");
    const ticket = ++latest;
    results.setAttribute("aria-busy", "true");
    try {
      const response = await fetch("/rules/preview?" + params.toString(), {
        credentials: "same-origin",
        headers: { Accept: "text/html" },
      });
      const html = await response.text();
      if (ticket === latest) {
        results.innerHTML = html;  // server-rendered, every untrusted string escaped
        history.replaceState(null, "", "/rules/preview?" + params.toString().replace(/&?fragment=1/, ""));
      }
    } finally {
      if (ticket === latest) results.removeAttribute("aria-busy");
    }
  }
  form.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(refresh, 400);
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    clearTimeout(timer);
    refresh();
  });
})();
