/*
 * newsrag widget loader. An intranet page includes it with one line:
 *
 *   <script src="https://HOST/widget.js" data-lang="it" data-title="…" data-greeting="…"
 *           data-color="#1f4e79" data-position="bottom-right" async></script>
 *
 * It adds a floating button that opens HOST/widget (the chat) in an iframe. Everything lives in
 * a shadow root under one <newsrag-widget> element, so the page's CSS cannot reach in and ours
 * cannot leak out; the only global is window.NewsragWidget. The data-* values are untrusted:
 * they only ever reach textContent, URL parameters or a validated colour.
 */
(function () {
  "use strict";
  if (window.NewsragWidget) return;

  function findScript() {
    if (document.currentScript && document.currentScript.src) return document.currentScript;
    var scripts = document.getElementsByTagName("script");
    for (var i = scripts.length - 1; i >= 0; i--) {
      if (/\/widget\.js([?#].*)?$/.test(scripts[i].src)) return scripts[i];
    }
    return null;
  }

  // the server writes its public address here; used only if our <script> cannot be found
  var CONFIGURED = "__NEWSRAG_URL__";
  var script = findScript();
  var src;
  if (script) src = new URL(script.src, document.baseURI);
  else if (/^https?:\/\//.test(CONFIGURED)) src = new URL(CONFIGURED + "/widget.js");
  else return;
  var origin = src.origin;
  var prefix = src.pathname.replace(/\/widget\.js$/, "");
  var data = script ? script.dataset : {};

  function clip(value, max) {
    return typeof value === "string" ? value.trim().slice(0, max) : "";
  }
  var browserLang = (navigator.language || "").toLowerCase().indexOf("it") === 0 ? "it" : "en";
  var lang = data.lang === "it" || data.lang === "en" ? data.lang : browserLang;
  var color = /^#[0-9a-fA-F]{3,8}$/.test(data.color || "") ? data.color : "#1f4e79";
  var position = data.position === "bottom-left" ? "bottom-left" : "bottom-right";
  var TEXT = {
    it: { open: "Apri l'assistente notizie", close: "Chiudi l'assistente notizie",
          title: "Assistente notizie" },
    en: { open: "Open the news assistant", close: "Close the news assistant",
          title: "News assistant" }
  }[lang];
  var title = clip(data.title, 80) || TEXT.title;
  var greeting = clip(data.greeting, 300);

  var params = new URLSearchParams({ lang: lang, title: title, color: color });
  if (greeting) params.set("greeting", greeting);
  var chatUrl = origin + prefix + "/widget?" + params.toString();

  var CSS = [
    ":host { all: initial; }",
    ".launcher, .panel { position: fixed; z-index: 2147483000; box-sizing: border-box;",
    "  font: 15px/1.4 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; }",
    ".launcher { bottom: 20px; width: 56px; height: 56px; margin: 0; padding: 0;",
    "  border: 0; border-radius: 50%; background: var(--accent); color: #fff;",
    "  cursor: pointer; box-shadow: 0 4px 14px rgba(0,0,0,.3); display: grid;",
    "  place-items: center; }",
    ".launcher:focus { outline: none; }",
    ".launcher:focus-visible { outline: 3px solid #111; outline-offset: 3px;",
    "  box-shadow: 0 0 0 6px #fff; }",
    ".launcher svg { width: 28px; height: 28px; fill: currentColor; }",
    ".panel { bottom: 88px; width: 380px; height: min(600px, calc(100vh - 110px));",
    "  border-radius: 12px; overflow: hidden; background: #fff;",
    "  box-shadow: 0 8px 30px rgba(0,0,0,.3); border: 1px solid rgba(0,0,0,.15); }",
    ".panel[hidden] { display: none; }",
    ".panel iframe { display: block; width: 100%; height: 100%; border: 0; }",
    ".right { right: 20px; } .left { left: 20px; }",
    "@media (max-width: 480px) {",
    "  .panel { inset: 0; width: 100%; height: 100%; max-height: none; border-radius: 0;",
    "    border: 0; }",
    "  .panel:not([hidden]) + .launcher { display: none; }",
    "}"
  ].join("\n");

  var ICON = "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z";

  var host = document.createElement("newsrag-widget");
  host.style.cssText = "all: initial !important; display: contents !important;";
  var root = host.attachShadow({ mode: "open" });
  var style = document.createElement("style");
  style.textContent = CSS;
  root.appendChild(style);

  var side = position === "bottom-left" ? "left" : "right";
  var panel = document.createElement("div");
  panel.className = "panel " + side;
  panel.id = "newsrag-panel";
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", title);
  panel.hidden = true;

  var button = document.createElement("button");
  button.type = "button";
  button.className = "launcher " + side;
  button.setAttribute("aria-label", TEXT.open);
  button.setAttribute("aria-expanded", "false");
  button.setAttribute("aria-controls", "newsrag-panel");
  button.title = title;
  var svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  var path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", ICON);
  svg.appendChild(path);
  button.appendChild(svg);

  root.appendChild(panel);
  root.appendChild(button);
  button.style.setProperty("--accent", color);

  var iframe = null;
  var loaded = false;

  function focusChat() {
    if (!iframe) return;
    iframe.focus();
    // before its load event the frame still holds about:blank, which must not get the message
    if (loaded) iframe.contentWindow.postMessage({ type: "newsrag:focus" }, origin);
  }

  function open() {
    if (!panel.hidden) return;
    if (!iframe) {
      iframe = document.createElement("iframe");
      iframe.title = title;
      iframe.src = chatUrl;
      iframe.setAttribute("allow", "clipboard-write");
      iframe.addEventListener("load", function () {
        loaded = true;
        if (!panel.hidden) focusChat();
      });
      panel.appendChild(iframe);
    }
    panel.hidden = false;
    button.setAttribute("aria-expanded", "true");
    button.setAttribute("aria-label", TEXT.close);
    focusChat();
  }

  function close() {
    if (panel.hidden) return;
    panel.hidden = true;
    button.setAttribute("aria-expanded", "false");
    button.setAttribute("aria-label", TEXT.open);
    button.focus();
  }

  button.addEventListener("click", function () {
    if (panel.hidden) open();
    else close();
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !panel.hidden) close();
  });
  // the chat is another origin: it asks us to close (its Escape key or close button)
  window.addEventListener("message", function (event) {
    if (!iframe || event.origin !== origin || event.source !== iframe.contentWindow) return;
    if (event.data && event.data.type === "newsrag:close") close();
  });

  function mount() {
    document.body.appendChild(host);
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);

  window.NewsragWidget = Object.freeze({ open: open, close: close, version: "1" });
})();
