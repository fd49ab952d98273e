/* Behaviour the templates ask for with data attributes, so no page needs inline script
 * (the Content-Security-Policy allows scripts from this origin and nonce'd blocks only):
 *
 *   <select data-autosubmit>   submits its form when the choice changes
 *   <button data-print>        opens the browser's print dialog
 *   <input type=checkbox data-select-all="ids">  ticks / unticks every checkbox named "ids"
 *                              of the same form (a table's bulk selection)
 *   <button data-nav-toggle aria-controls="ID">  shows / hides the element ID (the sidebar on
 *                              narrow screens), keeping aria-expanded true to what is seen
 *   <span data-css-level="#c62828">  sets the CSS custom property --level on the element
 *
 * The policy allows no style attribute (style-src-attr is not 'unsafe-inline'), so the colours
 * and widths that come from data (badges, bars, heat-map cells, the timeline) are carried by
 * data-css-<name> attributes and set here through element.style, which the policy allows. Only
 * the custom properties named in VARS are set; the stylesheets use them with var(--name). Markup
 * added later (live updates replacing innerHTML) is handled by a MutationObserver.
 */
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target instanceof HTMLElement && target.hasAttribute("data-autosubmit") && target.form) {
      target.form.submit();
    }
  });
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!(box instanceof HTMLInputElement) || !box.hasAttribute("data-select-all")) return;
    var name = box.getAttribute("data-select-all");
    var formId = box.getAttribute("form");
    document.querySelectorAll('input[type="checkbox"][name="' + name + '"]').forEach(function (b) {
      if (!formId || b.getAttribute("form") === formId) b.checked = box.checked;
    });
  });
  document.addEventListener("click", function (event) {
    var toggle = event.target instanceof Element ? event.target.closest("[data-nav-toggle]") : null;
    if (!toggle) return;
    var panel = document.getElementById(toggle.getAttribute("aria-controls"));
    if (!panel) return;
    var open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
    panel.classList.toggle("open", open);
  });
  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target.closest("[data-print]") : null;
    if (target) {
      event.preventDefault();
      window.print();
    }
  });

  var VARS = ["level", "swatch", "phase", "dot", "cols", "colour", "share", "w"];
  var SELECTOR = VARS.map(function (name) { return "[data-css-" + name + "]"; }).join(",");
  function applyOne(element) {
    VARS.forEach(function (name) {
      var value = element.getAttribute("data-css-" + name);
      if (value !== null) element.style.setProperty("--" + name, value);
    });
  }
  function apply(root) {
    if (!(root instanceof Element) && root !== document) return;
    if (root instanceof Element && root.matches(SELECTOR)) applyOne(root);
    root.querySelectorAll(SELECTOR).forEach(applyOne);
  }
  window.EncompassStyles = {apply: apply};
  apply(document);
  new MutationObserver(function (records) {
    records.forEach(function (record) {
      if (record.type === "attributes") applyOne(record.target);
      else record.addedNodes.forEach(apply);
    });
  }).observe(document.documentElement, {
    childList: true,
    subtree: true,
    attributes: true,
    attributeFilter: VARS.map(function (name) { return "data-css-" + name; }),
  });
})();
