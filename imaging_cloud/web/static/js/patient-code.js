// The new one-time code: a countdown to its expiry, every second (without this script the page shows the expiry
// time), and the history entry replaced by the code list, so reloading lists the codes instead of creating one.
"use strict";

(() => {
  const display = document.getElementById("code-display");
  if (!display) {
    return;
  }
  if (display.dataset.listUrl) {
    window.history.replaceState(null, "", display.dataset.listUrl);
  }
  const countdown = document.getElementById("code-countdown");
  const value = document.getElementById("countdown-value");
  const expired = document.getElementById("code-expired");
  const total = Number(display.dataset.secondsLeft) || 0;
  const started = performance.now();
  const twoDigits = (n) => String(n).padStart(2, "0");
  const format = (seconds) => {
    const hours = Math.floor(seconds / 3600);
    const rest = `${twoDigits(Math.floor((seconds % 3600) / 60))}:${twoDigits(seconds % 60)}`;
    return hours ? `${hours}:${rest}` : rest;
  };
  let timer = null;
  const tick = () => {
    const left = Math.max(0, total - Math.floor((performance.now() - started) / 1000));
    value.textContent = format(left);
    value.dataset.secondsLeft = String(left);
    if (left === 0) {
      countdown.hidden = true;
      expired.hidden = false;
      display.classList.add("expired");
      if (timer !== null) {
        clearInterval(timer);
      }
    }
  };
  countdown.hidden = false;
  tick();
  if (total > 0) {
    timer = setInterval(tick, 1000);
  }
})();
