// The printed code slip: a Print button where scripts run (the browser's own print works without it).
"use strict";

(() => {
  const button = document.getElementById("print-slip");
  if (!button || typeof window.print !== "function") return;
  button.hidden = false;
  button.addEventListener("click", () => window.print());
})();
