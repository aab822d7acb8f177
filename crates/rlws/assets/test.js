/* rlws test page logic */
(function () {
  "use strict";

  var RECONNECT_MS = 1000;

  var state = {
    sockets: { dumb: null, mirror: null, echo: null, status: null },
    extensions: {}
  };
  window.rlwsTest = state;

  var dimmed = false;

  function $(id) { return document.getElementById(id); }

  function wsUrl() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    return scheme + location.host + "/";
  }

  function setStatus(el, up) {
    el.textContent = up ? "connected" : "disconnected";
    el.classList.toggle("on", up);
  }

  function allOpen() {
    var s = state.sockets;
    for (var k in s) {
      if (!s[k] || s[k].readyState !== WebSocket.OPEN)
        return false;
    }
    return true;
  }

  function updateDim() {
    var up = allOpen();
    document.body.dataset.connected = up ? "1" : "0";
    if (up && dimmed) {
      window.lws_gray_out(false);
      dimmed = false;
    } else if (!up && !dimmed) {
      window.lws_gray_out(true, { zindex: "499" });
      dimmed = true;
    }
  }

  var decoder = new TextDecoder();

  function dataToText(data) {
    if (typeof data === "string")
      return data;
    if (data instanceof ArrayBuffer)
      return decoder.decode(data);
    return String(data);
  }

  /*
   * Open one WebSocket for `protocol`, store it under state.sockets[key],
   * and keep reconnecting after RECONNECT_MS whenever it closes.
   */
  function connect(key, protocol, statusId, handlers) {
    var statusEl = $(statusId);

    function retry() {
      setTimeout(open, RECONNECT_MS);
    }

    function open() {
      var ws;
      try {
        ws = new WebSocket(wsUrl(), protocol);
      } catch (e) {
        retry();
        return;
      }
      ws.binaryType = "arraybuffer";
      state.sockets[key] = ws;

      ws.onopen = function () {
        if (state.sockets[key] !== ws)
          return;
        state.extensions[protocol] = ws.extensions;
        setStatus(statusEl, true);
        updateDim();
        if (handlers.open)
          handlers.open(ws);
      };

      ws.onmessage = function (ev) {
        if (handlers.message)
          handlers.message(dataToText(ev.data), ws);
      };

      ws.onclose = function () {
        if (state.sockets[key] !== ws)
          return;
        setStatus(statusEl, false);
        updateDim();
        if (handlers.close)
          handlers.close(ws);
        retry();
      };

      /* errors are always followed by a close event, handled above */
      ws.onerror = function () {};
    }

    setStatus(statusEl, false);
    open();
  }

  function sendOn(key, text) {
    var ws = state.sockets[key];
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(text);
      return true;
    }
    return false;
  }

  /* ---- dumb-increment-protocol ---- */

  var dumbNumber = $("dumb-number");

  $("dumb-reset").addEventListener("click", function () {
    sendOn("dumb", "reset\n");
  });

  /* ---- lws-mirror-protocol ---- */

  var canvas = $("mirror-canvas");
  var ctx = canvas.getContext("2d");
  var colourSel = $("mirror-colour");
  var BRUSH_R = 5;
  var COLOUR_RE = /^#[0-9a-fA-F]{6}$/;

  function clearCanvas() {
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
  }
  clearCanvas();

  $("mirror-clear").addEventListener("click", clearCanvas);

  function nums(parts, from, count) {
    var out = [];
    for (var i = 0; i < count; i++) {
      var n = Number(parts[from + i]);
      if (parts[from + i] === undefined || !isFinite(n))
        return null;
      out.push(n);
    }
    return out;
  }

  function drawCommand(cmd) {
    var parts = cmd.trim().split(/\s+/);
    if (parts.length < 2 || !COLOUR_RE.test(parts[1]))
      return;
    var colour = parts[1];
    var n;

    if (parts[0] === "c") {
      n = nums(parts, 2, 3);
      if (!n || n[2] < 0)
        return;
      ctx.fillStyle = colour;
      ctx.beginPath();
      ctx.arc(n[0], n[1], n[2], 0, Math.PI * 2);
      ctx.fill();
    } else if (parts[0] === "d") {
      n = nums(parts, 2, 4);
      if (!n)
        return;
      ctx.strokeStyle = colour;
      ctx.lineWidth = 2;
      ctx.lineCap = "round";
      ctx.beginPath();
      ctx.moveTo(n[0], n[1]);
      ctx.lineTo(n[2], n[3]);
      ctx.stroke();
    }
  }

  function handleMirror(text) {
    var cmds = text.split(";");
    for (var i = 0; i < cmds.length; i++) {
      if (cmds[i].trim())
        drawCommand(cmds[i]);
    }
  }

  var drawing = false;

  function canvasPoint(ev) {
    var r = canvas.getBoundingClientRect();
    var sx = r.width ? canvas.width / r.width : 1;
    var sy = r.height ? canvas.height / r.height : 1;
    return {
      x: Math.round((ev.clientX - r.left) * sx),
      y: Math.round((ev.clientY - r.top) * sy)
    };
  }

  function sendDot(ev) {
    var p = canvasPoint(ev);
    if (p.x < 0 || p.y < 0 || p.x > canvas.width || p.y > canvas.height)
      return;
    sendOn("mirror", "c " + colourSel.value + " " + p.x + " " + p.y + " " + BRUSH_R + ";");
  }

  canvas.addEventListener("pointerdown", function (ev) {
    if (ev.button !== 0)
      return;
    drawing = true;
    if (canvas.setPointerCapture)
      canvas.setPointerCapture(ev.pointerId);
    sendDot(ev);
    ev.preventDefault();
  });

  canvas.addEventListener("pointermove", function (ev) {
    if (drawing)
      sendDot(ev);
  });

  function stopDrawing() { drawing = false; }
  canvas.addEventListener("pointerup", stopDrawing);
  canvas.addEventListener("pointercancel", stopDrawing);
  canvas.addEventListener("lostpointercapture", stopDrawing);

  /* ---- rlws-echo ---- */

  var echoInput = $("echo-input");
  var echoOutput = $("echo-output");

  function sendEcho() {
    if (sendOn("echo", echoInput.value))
      echoInput.select();
  }

  $("echo-send").addEventListener("click", sendEcho);
  echoInput.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter") {
      ev.preventDefault();
      sendEcho();
    }
  });

  /* ---- lws-status ---- */

  var statusBody = $("status-body");
  var statusServer = $("status-server");
  var lastConnections = [];
  var UA_MAX = 60;

  function pad2(n) { return (n < 10 ? "0" : "") + n; }

  function formatDuration(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var h = Math.floor(s / 3600);
    var m = Math.floor((s % 3600) / 60);
    s = s % 60;
    if (h)
      return h + "h " + pad2(m) + "m " + pad2(s) + "s";
    if (m)
      return m + "m " + pad2(s) + "s";
    return s + "s";
  }

  function truncate(str, max) {
    str = String(str);
    return str.length > max ? str.slice(0, max - 1) + "\u2026" : str;
  }

  function cell(tr, text, cls) {
    var td = document.createElement("td");
    td.textContent = text;
    if (cls)
      td.className = cls;
    tr.appendChild(td);
    return td;
  }

  function renderStatus() {
    var now = Date.now();
    var frag = document.createDocumentFragment();

    for (var i = 0; i < lastConnections.length; i++) {
      var c = lastConnections[i] || {};
      var tr = document.createElement("tr");
      if (c.id !== undefined)
        tr.dataset.id = String(c.id);
      cell(tr, c.id !== undefined ? String(c.id) : "");
      cell(tr, c.peer !== undefined ? String(c.peer) : "");
      cell(tr, c.protocol !== undefined ? String(c.protocol) : "");
      var since = Number(c.since_ms);
      cell(tr, isFinite(since) ? formatDuration(now - since) : "");
      var ua = c.ua !== undefined ? String(c.ua) : "";
      var uaCell = cell(tr, truncate(ua, UA_MAX), "ua");
      uaCell.title = ua;
      frag.appendChild(tr);
    }

    statusBody.textContent = "";
    statusBody.appendChild(frag);
  }

  function handleStatus(text) {
    var obj;
    try {
      obj = JSON.parse(text);
    } catch (e) {
      return;
    }
    if (!obj || typeof obj !== "object")
      return;
    lastConnections = Array.isArray(obj.connections) ? obj.connections : [];

    var info = [];
    if (obj.server !== undefined)
      info.push("Server: " + String(obj.server));
    if (obj.threads !== undefined)
      info.push("threads: " + String(obj.threads));
    info.push("connections: " + lastConnections.length);
    statusServer.textContent = info.join(" \u00b7 ");

    renderStatus();
  }

  /* keep "connected for" ticking between updates */
  setInterval(function () {
    if (lastConnections.length)
      renderStatus();
  }, 1000);

  renderStatus();

  /* ---- start ---- */

  document.body.dataset.connected = "0";
  window.lws_gray_out(true, { zindex: "499" });
  dimmed = true;

  connect("dumb", "dumb-increment-protocol", "dumb-status", {
    message: function (text) { dumbNumber.textContent = text.trim(); }
  });

  connect("mirror", "lws-mirror-protocol", "mirror-status", {
    message: handleMirror
  });

  connect("echo", "rlws-echo", "echo-status", {
    message: function (text) { echoOutput.textContent = text; }
  });

  connect("status", "lws-status", "status-status", {
    message: handleStatus
  });
})();
