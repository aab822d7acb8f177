/* rlws: shared page helpers */
(function () {
  "use strict";

  var OVERLAY_ID = "lws-gray-out-overlay";

  /**
   * Dim (on = true) or un-dim (on = false) the whole page.
   * opts.zindex: z-index of the overlay (string or number), default "50".
   * opts.opacity: overlay opacity, default 0.5.
   * opts.bgcolor: overlay colour, default "#000".
   */
  function lws_gray_out(on, opts) {
    opts = opts || {};
    var el = document.getElementById(OVERLAY_ID);

    if (!on) {
      if (el && el.parentNode)
        el.parentNode.removeChild(el);
      return;
    }

    if (!document.body)
      return;

    if (!el) {
      el = document.createElement("div");
      el.id = OVERLAY_ID;
      el.setAttribute("aria-hidden", "true");
      document.body.appendChild(el);
    }

    var s = el.style;
    s.position = "fixed";
    s.top = "0";
    s.left = "0";
    s.right = "0";
    s.bottom = "0";
    s.width = "100%";
    s.height = "100%";
    s.zIndex = String(opts.zindex !== undefined ? opts.zindex : "50");
    s.backgroundColor = opts.bgcolor || "#000";
    s.opacity = String(opts.opacity !== undefined ? opts.opacity : 0.5);
    s.display = "block";
  }

  window.lws_gray_out = lws_gray_out;
})();
