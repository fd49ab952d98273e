/* Behaviour the templates ask for with data attributes, so no page needs inline script
 * (the Content-Security-Policy allows scripts from this origin and nonce'd blocks only):
 *
 *   <select data-autosubmit>   submits its form when the choice changes
 *   <button data-print>        opens the browser's print dialog
 */
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target instanceof HTMLElement && target.hasAttribute("data-autosubmit") && target.form) {
      target.form.submit();
    }
  });
  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target.closest("[data-print]") : null;
    if (target) {
      event.preventDefault();
      window.print();
    }
  });
})();
