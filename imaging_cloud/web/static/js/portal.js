// Progressive enhancement shared by every portal page; the pages work without it.
"use strict";

/** The page's CSRF token (the server checks it against the HttpOnly cookie on every state change). */
window.imagingCloud = {
  csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  },
};

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});
