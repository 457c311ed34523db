#pragma once
// The chat page sluice-ws serves at GET /: one self-contained HTML file (no
// external scripts, styles or CDN) so the sample runs offline. It joins
// /ws/chat/<room> (room from ?room=, default lobby) on the page's own host;
// test/websocket/interop/browser_check.py drives it through #input, #send,
// #log and #status.

#include <string_view>

namespace sluice_samples {

inline constexpr std::string_view kChatPage = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sluice chat</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
  h1 { font-size: 1.3rem; }
  #status { font-weight: bold; }
  #log { border: 1px solid #bbb; border-radius: 4px; height: 16rem; overflow-y: auto; padding: .5rem; margin: .5rem 0;
         white-space: pre-wrap; overflow-wrap: anywhere; }
  #log div + div { border-top: 1px solid #eee; }
  form { display: flex; gap: .5rem; }
  #input { flex: 1; padding: .3rem; }
</style>
</head>
<body>
<h1>sluice chat, room <span id="room"></span></h1>
<p>status: <span id="status">connecting</span></p>
<div id="log"></div>
<form id="form">
  <input id="input" autocomplete="off" placeholder="say something" autofocus>
  <button id="send" type="submit">send</button>
</form>
<script>
"use strict";
const room = new URLSearchParams(location.search).get("room") || "lobby";
const scheme = location.protocol === "https:" ? "wss:" : "ws:";
const socket = new WebSocket(`${scheme}//${location.host}/ws/chat/${encodeURIComponent(room)}`);
const status = document.getElementById("status");
const log = document.getElementById("log");
const input = document.getElementById("input");
document.getElementById("room").textContent = room;

socket.onopen = () => { status.textContent = "open"; };
socket.onclose = () => { status.textContent = "closed"; };
socket.onmessage = (event) => {
  const line = document.createElement("div");
  line.textContent = event.data;  // text, never markup: messages come from anyone in the room
  log.append(line);
  log.scrollTop = log.scrollHeight;
};
document.getElementById("form").onsubmit = (event) => {
  event.preventDefault();  // stay on the page
  if (input.value === "" || socket.readyState !== WebSocket.OPEN) return;
  socket.send(input.value);
  input.value = "";
};
</script>
</body>
</html>
)HTML";

}  // namespace sluice_samples
