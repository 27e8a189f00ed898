// The study page's image viewer: WADO-RS /rendered images drawn on a canvas, no framework.
//
// The page embeds which series, instances and frames there are (a JSON block, not executed); every image is
// fetched from the API with the browser's own cookie, so each one is authorized and recorded like any API read.
// Window/level is asked of the server (PS3.18 `window=center,width,linear`), so nothing is ever burned into a
// stored object; zoom and pan are the canvas's own. Neighbouring images are prefetched into a small cache of
// decoded bitmaps so scrolling through a stack feels instant.
"use strict";

(() => {
  const root = document.getElementById("viewer");
  const block = document.getElementById("viewer-data");
  if (!root || !block) {
    return;
  }
  const data = JSON.parse(block.textContent);
  const labels = root.dataset;
  const canvas = document.getElementById("viewer-canvas");
  const stage = document.getElementById("viewer-stage");
  const context = canvas.getContext("2d");
  const toolbar = root.querySelector(".viewer-toolbar");
  const sliderBox = root.querySelector(".viewer-slider");
  const slider = document.getElementById("viewer-slider");
  const position = document.getElementById("viewer-position");
  const message = document.getElementById("viewer-message");
  const playButton = document.getElementById("viewer-play");
  const thumbs = Array.from(document.querySelectorAll(".series-thumb"));
  const overlay = (name) => root.querySelector(`[data-overlay="${name}"]`);

  const CACHE_SIZE = 48;
  const MAX_PARALLEL = 4;
  const PREFETCH_BEHIND = 2;
  const PREFETCH_AHEAD = 4;
  const ZOOM_STEP = 1.25;
  const MIN_ZOOM = 0.25;
  const MAX_ZOOM = 16;
  const WHEEL_STEP = 40;
  const SWIPE_STEP = 16;
  const RELOAD_KEY = "imagingCloud.viewerReloadedAt";
  const coarsePointer = window.matchMedia("(pointer: coarse)").matches;

  const state = {
    series: null,
    images: [],
    index: 0,
    window: null, // {center, width} the reader chose; null: the series' own window (the server's default)
    preset: "own",
    zoom: 1,
    panX: 0,
    panY: 0,
    tool: coarsePointer ? "browse" : "window",
    direction: 1,
    playing: false,
    shown: null, // {url, bitmap} on the canvas
  };

  // -- loading: a small queue (display first, then prefetch) and an LRU cache of decoded bitmaps ---------------

  const queue = [];
  let running = 0;

  function pump() {
    while (running < MAX_PARALLEL && queue.length) {
      const job = queue.shift();
      job.queued = false;
      running += 1;
      job
        .task()
        .then(job.resolve, job.reject)
        .finally(() => {
          running -= 1;
          pump();
        });
    }
  }

  class LoadFailed extends Error {
    constructor(status) {
      super(`HTTP ${status}`);
      this.status = status;
    }
  }

  async function fetchBitmap(url) {
    const response = await fetch(url, { headers: { Accept: "image/png" }, credentials: "same-origin" });
    if (!response.ok) {
      throw new LoadFailed(response.status);
    }
    return createImageBitmap(await response.blob());
  }

  const cache = {
    entries: new Map(), // url → {promise, bitmap, job}

    get(url, urgent) {
      let entry = this.entries.get(url);
      if (entry) {
        this.entries.delete(url); // most recently used last
        this.entries.set(url, entry);
        if (urgent && entry.job && entry.job.queued) {
          queue.splice(queue.indexOf(entry.job), 1);
          queue.unshift(entry.job);
          pump();
        }
        return entry.promise;
      }
      entry = { bitmap: null, job: null, promise: null };
      entry.promise = new Promise((resolve, reject) => {
        entry.job = { task: () => fetchBitmap(url), resolve, reject, queued: true, url };
        if (urgent) {
          queue.unshift(entry.job);
        } else {
          queue.push(entry.job);
        }
      });
      entry.promise.then(
        (bitmap) => {
          entry.bitmap = bitmap;
          this.trim();
        },
        () => this.entries.delete(url), // a failure is tried again next time, not remembered
      );
      this.entries.set(url, entry);
      pump();
      return entry.promise;
    },

    ready(url) {
      const entry = this.entries.get(url);
      return Boolean(entry && entry.bitmap);
    },

    /** Queued prefetches the reader has scrolled away from are dropped before they start. */
    dropQueuedPrefetches(keep) {
      for (let i = queue.length - 1; i >= 0; i -= 1) {
        const job = queue[i];
        if (!keep.has(job.url)) {
          queue.splice(i, 1);
          this.entries.delete(job.url);
          job.reject(new LoadFailed(0));
        }
      }
    },

    trim() {
      for (const [url, entry] of this.entries) {
        if (this.entries.size <= CACHE_SIZE) {
          break;
        }
        if (entry.bitmap && !(state.shown && state.shown.url === url)) {
          entry.bitmap.close();
          this.entries.delete(url);
        }
      }
    },
  };

  // -- what to show ------------------------------------------------------------------------------------------

  function imagesOf(series) {
    const images = [];
    for (const instance of series.instances) {
      if (instance.frames > 1) {
        for (let frame = 1; frame <= instance.frames; frame += 1) {
          images.push({ instance: instance.uid, frame, frames: instance.frames });
        }
      } else {
        images.push({ instance: instance.uid, frame: null, frames: 1 });
      }
    }
    return images;
  }

  function effectiveWindow() {
    return state.window || state.series.window;
  }

  function urlOf(index, win = state.window) {
    const series = state.series;
    const image = state.images[index];
    const path = [data.study, series.uid, image.instance].map(encodeURIComponent);
    let url = `/dicomweb/studies/${path[0]}/series/${path[1]}/instances/${path[2]}`;
    url += image.frame ? `/frames/${image.frame}/rendered` : "/rendered";
    const params = new URLSearchParams();
    if (win && !series.colour) {
      params.set("window", `${win.center},${win.width},linear`);
    }
    const side = Math.max(series.rows, series.columns);
    if (side > series.maxSide) {
      const scale = series.maxSide / side;
      const width = Math.max(1, Math.round(series.columns * scale));
      const height = Math.max(1, Math.round(series.rows * scale));
      params.set("viewport", `${width},${height}`);
    }
    const query = params.toString();
    return query ? `${url}?${query}` : url;
  }

  function wantedUrl() {
    return urlOf(state.index);
  }

  let displaying = false;

  /** Bring the canvas to the wanted image; while one load runs, later wishes wait and only the newest is loaded. */
  function refresh() {
    describe();
    if (displaying) {
      return;
    }
    const url = wantedUrl();
    if (state.shown && state.shown.url === url) {
      settled();
      return;
    }
    displaying = true;
    root.setAttribute("aria-busy", "true");
    cache
      .get(url, true)
      .then((bitmap) => {
        state.shown = { url, bitmap };
        hideMessage();
        draw();
      })
      .catch((error) => {
        if (url === wantedUrl()) {
          failed(error); // not retried by itself: the next wish of the reader (or the same again) tries anew
        }
      })
      .finally(() => {
        displaying = false;
        if (wantedUrl() !== url) {
          refresh();
        } else {
          settled();
        }
      });
  }

  function settled() {
    if (state.shown && state.shown.url === wantedUrl()) {
      root.dataset.shownIndex = String(state.index + 1);
      root.dataset.shownUrl = state.shown.url;
    }
    root.removeAttribute("aria-busy");
    prefetch();
  }

  function prefetch() {
    const count = state.images.length;
    const wanted = new Set();
    const ahead = state.playing ? Math.min(count - 1, 8) : PREFETCH_AHEAD;
    const behind = state.playing ? 0 : PREFETCH_BEHIND;
    for (let step = 1; step <= Math.max(ahead, behind); step += 1) {
      if (step <= ahead) {
        const index = state.playing
          ? (state.index + step) % count
          : state.index + step * state.direction;
        if (index >= 0 && index < count) {
          wanted.add(urlOf(index));
        }
      }
      if (step <= behind) {
        const index = state.index - step * state.direction;
        if (index >= 0 && index < count) {
          wanted.add(urlOf(index));
        }
      }
    }
    wanted.add(wantedUrl());
    cache.dropQueuedPrefetches(wanted);
    for (const url of wanted) {
      cache.get(url, false).catch(() => {}); // a failed prefetch shows only if the reader goes there
    }
  }

  function failed(error) {
    if (error instanceof LoadFailed && error.status === 401) {
      // The access cookie lapsed (15 minutes): reloading the page renews the sign-in from the refresh cookie.
      const last = Number(window.sessionStorage.getItem(RELOAD_KEY) || 0);
      if (Date.now() - last > 30000) {
        window.sessionStorage.setItem(RELOAD_KEY, String(Date.now()));
        remember();
        window.location.reload();
        return;
      }
      showMessage(labels.labelExpired);
      return;
    }
    showMessage(labels.labelFailed);
  }

  function showMessage(text) {
    message.textContent = text;
    message.hidden = false;
  }

  function hideMessage() {
    message.hidden = true;
  }

  // -- drawing and the overlay (HTML over the canvas: nothing is drawn into the image itself) -------------------

  function resizeCanvas() {
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
    const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    return ratio;
  }

  function draw() {
    const ratio = resizeCanvas();
    context.setTransform(1, 0, 0, 1, 0, 0);
    context.fillStyle = "#000";
    context.fillRect(0, 0, canvas.width, canvas.height);
    const bitmap = state.shown && state.shown.bitmap;
    if (!bitmap) {
      return;
    }
    const cssWidth = canvas.clientWidth;
    const cssHeight = canvas.clientHeight;
    const scale = Math.min(cssWidth / bitmap.width, cssHeight / bitmap.height) * state.zoom;
    const width = bitmap.width * scale;
    const height = bitmap.height * scale;
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.imageSmoothingEnabled = true;
    context.imageSmoothingQuality = "high";
    context.drawImage(bitmap, (cssWidth - width) / 2 + state.panX, (cssHeight - height) / 2 + state.panY, width, height);
  }

  function positionText() {
    const image = state.images[state.index];
    if (state.series.instances.length === 1 && image.frames > 1) {
      return `${labels.labelFrame} ${image.frame} / ${image.frames}`;
    }
    return `${labels.labelImage} ${state.index + 1} / ${state.images.length}`;
  }

  function describe() {
    const series = state.series;
    const where = positionText();
    overlay("series-description").textContent = series.description;
    overlay("series-number").textContent = series.number === null ? "" : `${labels.labelSeries} ${series.number}`;
    overlay("position").textContent = where;
    const win = effectiveWindow();
    overlay("window").textContent =
      series.colour || !win
        ? ""
        : `${labels.labelWindow} ${Math.round(win.width)} ${labels.labelLevel} ${Math.round(win.center)}`;
    overlay("zoom").textContent = `${Math.round(state.zoom * 100)}%`;
    canvas.setAttribute("aria-label", [series.description, where].filter(Boolean).join(", "));
    slider.value = String(state.index + 1);
    position.textContent = `${state.index + 1} / ${state.images.length}`;
    root.dataset.index = String(state.index + 1);
    root.dataset.window = state.window ? `${state.window.center},${state.window.width}` : "own";
    root.dataset.wantedUrl = wantedUrl();
  }

  // -- actions -----------------------------------------------------------------------------------------------

  function go(index) {
    const last = state.images.length - 1;
    const next = Math.max(0, Math.min(last, index));
    if (next !== state.index) {
      state.direction = next > state.index ? 1 : -1;
      state.index = next;
    }
    refresh();
    remember();
  }

  function step(delta) {
    go(state.index + delta);
  }

  function setWindow(win, preset) {
    state.window = win ? { center: Math.round(win.center), width: Math.max(1, Math.round(win.width)) } : null;
    state.preset = preset;
    for (const button of root.querySelectorAll("[data-preset]")) {
      button.setAttribute("aria-pressed", String(button.dataset.preset === preset));
    }
    refresh();
    remember();
  }

  function zoomAt(factor, pointX, pointY) {
    const zoom = Math.max(MIN_ZOOM, Math.min(MAX_ZOOM, state.zoom * factor));
    const ratio = zoom / state.zoom;
    // Keep the image point under (pointX, pointY) — relative to the canvas centre — where it is.
    state.panX = pointX - (pointX - state.panX) * ratio;
    state.panY = pointY - (pointY - state.panY) * ratio;
    state.zoom = zoom;
    draw();
    describe();
  }

  function fit() {
    state.zoom = 1;
    state.panX = 0;
    state.panY = 0;
    draw();
    describe();
  }

  function setTool(tool) {
    state.tool = tool;
    for (const button of root.querySelectorAll("[data-tool]")) {
      button.setAttribute("aria-pressed", String(button.dataset.tool === tool));
    }
    root.dataset.tool = tool;
  }

  let playTimer = null;

  function play(on) {
    state.playing = on && state.images.length > 1;
    playButton.setAttribute("aria-pressed", String(state.playing));
    playButton.textContent = state.playing ? labels.labelPause : labels.labelPlay;
    root.dataset.playing = String(state.playing);
    window.clearTimeout(playTimer);
    if (state.playing) {
      tick();
    }
  }

  /** One cine step: advance only to an image already loaded, so a slow network slows the loop, never skips. */
  function tick() {
    if (!state.playing) {
      return;
    }
    const next = (state.index + 1) % state.images.length;
    if (cache.ready(urlOf(next)) && !displaying) {
      state.direction = 1;
      state.index = next;
      refresh();
    } else {
      prefetch();
    }
    playTimer = window.setTimeout(tick, 1000 / state.series.cineFps);
  }

  function selectSeries(index, show = true) {
    const series = data.series[index];
    if (!series) {
      return;
    }
    play(false);
    state.series = series;
    state.images = imagesOf(series);
    state.index = 0;
    state.direction = 1;
    if (state.preset === "own") {
      state.window = null;
    }
    slider.max = String(state.images.length);
    sliderBox.hidden = state.images.length < 2;
    playButton.hidden = state.images.length < 2;
    for (const button of root.querySelectorAll("[data-preset], [data-tool='window']")) {
      button.disabled = series.colour;
    }
    if (series.colour && state.tool === "window") {
      setTool(coarsePointer ? "browse" : "pan");
    }
    thumbs.forEach((thumb, i) => {
      if (i === index) {
        thumb.setAttribute("aria-current", "true");
      } else {
        thumb.removeAttribute("aria-current");
      }
    });
    root.dataset.series = String(index + 1);
    if (show) {
      refresh();
    }
  }

  // -- remembering the place (a reload to renew the sign-in comes back to the same image) ----------------------

  let rememberTimer = null;

  /** The place in the address's fragment, written at most every few hundred ms (browsers limit replaceState). */
  function remember() {
    window.clearTimeout(rememberTimer);
    rememberTimer = window.setTimeout(() => {
      const params = new URLSearchParams();
      params.set("image", String(state.index + 1));
      if (state.window) {
        params.set("window", `${state.window.center},${state.window.width}`);
      }
      window.history.replaceState(window.history.state, "", `#${params.toString()}`);
    }, 400);
  }

  function restore() {
    const params = new URLSearchParams(window.location.hash.slice(1));
    const image = Number.parseInt(params.get("image") || "", 10);
    if (Number.isFinite(image)) {
      state.index = Math.max(0, Math.min(state.images.length - 1, image - 1));
    }
    const win = (params.get("window") || "").split(",").map(Number);
    if (win.length === 2 && win.every(Number.isFinite) && win[1] >= 1) {
      state.window = { center: Math.round(win[0]), width: Math.round(win[1]) };
      state.preset = "custom";
      for (const button of root.querySelectorAll("[data-preset]")) {
        button.setAttribute("aria-pressed", "false");
      }
    }
  }

  // -- input: wheel, keys, pointer (mouse, pen, touch), buttons ------------------------------------------------

  let wheelRest = 0;
  canvas.addEventListener(
    "wheel",
    (event) => {
      event.preventDefault();
      const delta = event.deltaY * (event.deltaMode === 1 ? 16 : event.deltaMode === 2 ? 400 : 1);
      if (event.ctrlKey) {
        const box = canvas.getBoundingClientRect();
        zoomAt(Math.exp(-delta / 300), event.clientX - box.left - box.width / 2, event.clientY - box.top - box.height / 2);
        return;
      }
      wheelRest += delta;
      if (Math.abs(wheelRest) >= WHEEL_STEP) {
        step(Math.sign(wheelRest));
        wheelRest = 0;
      }
    },
    { passive: false },
  );

  canvas.addEventListener("keydown", (event) => {
    const page = Math.max(1, Math.round(state.images.length / 10));
    const actions = {
      ArrowDown: () => step(1),
      ArrowRight: () => step(1),
      ArrowUp: () => step(-1),
      ArrowLeft: () => step(-1),
      PageDown: () => step(page),
      PageUp: () => step(-page),
      Home: () => go(0),
      End: () => go(state.images.length - 1),
      "+": () => zoomAt(ZOOM_STEP, 0, 0),
      "=": () => zoomAt(ZOOM_STEP, 0, 0),
      "-": () => zoomAt(1 / ZOOM_STEP, 0, 0),
      0: () => fit(),
      " ": () => play(!state.playing),
    };
    const action = actions[event.key];
    if (action && !event.altKey && !event.metaKey && !event.ctrlKey) {
      event.preventDefault();
      action();
    }
  });

  const pointers = new Map();
  let drag = null;

  function pinchGeometry() {
    const [a, b] = Array.from(pointers.values());
    return { distance: Math.hypot(a.x - b.x, a.y - b.y), x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
  }

  canvas.addEventListener("pointerdown", (event) => {
    try {
      canvas.setPointerCapture(event.pointerId); // keep the drag when the pointer leaves the canvas
    } catch {
      // a pointer the browser no longer tracks: the drag just ends at the canvas's edge
    }
    pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
    if (pointers.size === 2) {
      drag = { kind: "pinch", ...pinchGeometry() };
      return;
    }
    const tool = event.button === 1 ? "pan" : state.tool;
    drag = {
      kind: tool,
      x: event.clientX,
      y: event.clientY,
      panX: state.panX,
      panY: state.panY,
      window: effectiveWindow() || state.series.startWindow,
      travelled: 0,
    };
  });

  canvas.addEventListener("pointermove", (event) => {
    if (!pointers.has(event.pointerId) || !drag) {
      return;
    }
    pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
    if (drag.kind === "pinch") {
      if (pointers.size < 2) {
        return;
      }
      const now = pinchGeometry();
      const box = canvas.getBoundingClientRect();
      state.panX += now.x - drag.x;
      state.panY += now.y - drag.y;
      if (drag.distance > 0) {
        zoomAt(now.distance / drag.distance, now.x - box.left - box.width / 2, now.y - box.top - box.height / 2);
      }
      Object.assign(drag, now);
      draw();
      return;
    }
    const dx = event.clientX - drag.x;
    const dy = event.clientY - drag.y;
    if (drag.kind === "pan") {
      state.panX = drag.panX + dx;
      state.panY = drag.panY + dy;
      draw();
    } else if (drag.kind === "window") {
      const sensitivity = Math.max(0.5, drag.window.width / 200);
      setWindow({ center: drag.window.center + dy * sensitivity, width: drag.window.width + dx * sensitivity }, "custom");
    } else if (drag.kind === "browse") {
      const steps = Math.trunc((drag.y - event.clientY) / SWIPE_STEP) - drag.travelled;
      if (steps !== 0) {
        drag.travelled += steps;
        step(steps);
      }
    }
  });

  function endPointer(event) {
    pointers.delete(event.pointerId);
    if (pointers.size === 0) {
      drag = null;
    } else if (drag && drag.kind === "pinch") {
      drag = null; // lifting one finger of a pinch does not start a drag with the other
    }
  }
  canvas.addEventListener("pointerup", endPointer);
  canvas.addEventListener("pointercancel", endPointer);

  toolbar.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button || button.disabled) {
      return;
    }
    if (button.dataset.tool) {
      setTool(button.dataset.tool);
    } else if (button.dataset.zoom === "in") {
      zoomAt(ZOOM_STEP, 0, 0);
    } else if (button.dataset.zoom === "out") {
      zoomAt(1 / ZOOM_STEP, 0, 0);
    } else if (button.dataset.zoom === "fit") {
      fit();
    } else if (button.dataset.preset === "own") {
      setWindow(null, "own");
    } else if (button.dataset.preset) {
      const [center, width] = button.dataset.preset.split(",").map(Number);
      setWindow({ center, width }, button.dataset.preset);
    } else if (button === playButton) {
      play(!state.playing);
    }
  });

  slider.addEventListener("input", () => go(Number(slider.value) - 1));

  for (const thumb of thumbs) {
    thumb.addEventListener("click", (event) => {
      event.preventDefault();
      window.history.replaceState(window.history.state, "", thumb.href);
      selectSeries(Number(thumb.dataset.seriesIndex));
      canvas.focus();
    });
  }

  new ResizeObserver(() => draw()).observe(stage);

  // -- start ---------------------------------------------------------------------------------------------------

  canvas.hidden = false;
  toolbar.hidden = false;
  setTool(state.tool);
  selectSeries(data.selected || 0, false);
  restore();
  refresh();
  root.dataset.ready = "true";
})();
