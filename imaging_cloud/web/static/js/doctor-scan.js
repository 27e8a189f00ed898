// Scanning a patient's one-time code with the camera, where the browser can: BarcodeDetector + getUserMedia.
// Without them the scan button stays hidden and the doctor types the code; the form works either way.
"use strict";

(() => {
  const button = document.getElementById("scan-code");
  const field = document.getElementById("code");
  const video = document.getElementById("scan-video");
  const status = document.getElementById("scan-status");
  const media = navigator.mediaDevices;
  if (!button || !field || !video || !status) return;
  if (!("BarcodeDetector" in window) || !media || typeof media.getUserMedia !== "function") return;

  const CODE = /^[A-Za-z0-9]{1,16}-[0-9]{1,12}$/;
  let stream = null;

  const stop = () => {
    if (stream) stream.getTracks().forEach((track) => track.stop());
    stream = null;
    video.srcObject = null;
    video.hidden = true;
    button.setAttribute("aria-pressed", "false");
  };

  const look = async (detector) => {
    if (!stream) return;
    try {
      const found = await detector.detect(video);
      const code = found.map((barcode) => String(barcode.rawValue || "").trim()).find((value) => CODE.test(value));
      if (code) {
        field.value = code;
        stop();
        status.textContent = button.dataset.found;
        field.focus();
        return;
      }
    } catch (_notReady) {
      // the first frames may not be decodable yet: keep looking
    }
    window.setTimeout(() => look(detector), 150);
  };

  button.hidden = false;
  button.setAttribute("aria-pressed", "false");
  button.addEventListener("click", async () => {
    if (stream) {
      stop();
      status.textContent = "";
      return;
    }
    try {
      const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      stream = await media.getUserMedia({ video: { facingMode: "environment" }, audio: false });
      video.srcObject = stream;
      video.hidden = false;
      button.setAttribute("aria-pressed", "true");
      await video.play();
      status.textContent = button.dataset.scanning;
      look(detector);
    } catch (_denied) {
      stop();
      status.textContent = button.dataset.failed;
    }
  });
})();
