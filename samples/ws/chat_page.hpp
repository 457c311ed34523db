#pragma once
// The chat page sluice-ws serves at "/": self-contained, no external scripts.
#include <string_view>

namespace sluice_samples {
inline constexpr std::string_view kChatPage = R"HTML(<!doctype html>
<html><head><meta charset="utf-8"><title>sluice chat</title></head>
<body>
<p>Status: <span id="status">connecting</span></p>
<input id="text" autofocus> <button id="send">Send</button>
<pre id="log"></pre>
<script>
const room = new URLSearchParams(location.search).get("room") || "lobby";
const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/chat/" + encodeURIComponent(room));
const status = document.getElementById("status"), log = document.getElementById("log"), text = document.getElementById("text");
ws.onopen = () => { status.textContent = "open"; };
ws.onclose = () => { status.textContent = "closed"; };
ws.onmessage = (e) => { log.textContent += e.data + "\n"; };
document.getElementById("send").onclick = () => { if (text.value) { ws.send(text.value); text.value = ""; } };
</script>
</body></html>
)HTML";
}  // namespace sluice_samples
