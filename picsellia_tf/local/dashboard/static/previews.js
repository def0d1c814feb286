// picsellia_tf local dashboard: the previews page's slider and arrow keys.
// The page works without this script (links and a form); this only makes moving quicker.
"use strict";

(function () {
  const nav = document.getElementById("epochs");
  if (!nav) return;
  document.documentElement.classList.add("js");
  const form = nav.querySelector("form");
  const slider = form && form.querySelector("input[type=range]");
  const output = form && form.querySelector("output");
  if (slider) {
    slider.addEventListener("input", function () { if (output) output.textContent = slider.value; });
    slider.addEventListener("change", function () { form.submit(); });
  }
  document.addEventListener("keydown", function (event) {
    if (event.target && event.target.tagName === "INPUT") return;
    const rel = { ArrowLeft: "prev", ArrowRight: "next", Home: "first", End: "last" }[event.key];
    const link = rel && nav.querySelector("a[data-rel=" + rel + "]");
    if (link) { event.preventDefault(); window.location.assign(link.href); }
  });
})();
