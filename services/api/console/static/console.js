// The console's only script: small enhancements; every page works without it.
// - the "as known at" list gets a slider, and choosing a moment redraws the page at once
//   (a GET of the same form, so the URL keeps the choice; keyboard steps wait for Enter);
// - "Print" buttons appear and print.
"use strict";

function enhanceTimeTravel(form) {
  const select = form.querySelector("select[data-moments]");
  const slider = form.querySelector("input[data-slider-for]");
  if (!select) return;
  // A pick redraws at once; stepping through the closed list with the keyboard does not (each
  // arrow key would reload the page): Enter or "Show" does then.
  let stepping = false;
  select.addEventListener("keydown", (event) => {
    stepping = event.key.startsWith("Arrow") || ["Home", "End", "PageUp", "PageDown"].includes(event.key);
    if (event.key === "Enter") {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  select.addEventListener("pointerdown", () => { stepping = false; });
  select.addEventListener("change", () => {
    if (!stepping) form.requestSubmit();
  });
  if (!slider || select.options.length < 2) return;
  const label = form.querySelector(".slider-label");
  slider.max = String(select.options.length - 1);
  slider.value = String(select.selectedIndex);
  slider.setAttribute("aria-valuetext", select.options[select.selectedIndex].text);
  slider.hidden = false;
  if (label) label.hidden = false;
  slider.addEventListener("input", () => {
    select.selectedIndex = Number(slider.value);
    slider.setAttribute("aria-valuetext", select.options[select.selectedIndex].text);
  });
  slider.addEventListener("change", () => form.requestSubmit());
}

function enhancePrint(button) {
  button.hidden = false;
  button.addEventListener("click", () => window.print());
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("form[data-time-travel]").forEach(enhanceTimeTravel);
  document.querySelectorAll("button[data-print]").forEach(enhancePrint);
});
