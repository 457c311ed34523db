// A Node server on the `ws` package with sluice-ws's benchmark endpoints,
// for tools/ws-bench-compare:
//
//   GET  /ws/echo         every message back with its type
//   GET  /ws/push         text "subscribe TOPIC" -> "subscribed TOPIC" (and unsubscribe)
//   POST /publish/:topic  the body to every subscriber of TOPIC as a text message
//
// usage: node server.js [--host ADDR] [--port N]   (port 0: a free one, printed)
//
// `ws` is not part of Node: tools/setup installs it into a git-ignored
// folder, and the caller points NODE_PATH at that node_modules.
'use strict';

const http = require('http');
const { WebSocketServer } = require('ws');

// sluice-ws's default --max-message-bytes: both servers refuse the same sizes.
const MAX_MESSAGE_BYTES = 1 << 20;

function parseFlags(argv) {
  const flags = { host: '127.0.0.1', port: 8090 };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].replace(/^--?/, '');
    if (!(name in flags) || i + 1 >= argv.length) {
      console.error(`usage: node server.js [--host ADDR] [--port N] (bad flag ${argv[i]})`);
      process.exit(2);
    }
    flags[name] = name === 'port' ? Number(argv[++i]) : argv[++i];
  }
  return flags;
}

const topics = new Map(); // topic -> Set of WebSockets

function subscribe(topic, ws) {
  if (!topics.has(topic)) topics.set(topic, new Set());
  topics.get(topic).add(ws);
}

function unsubscribe(topic, ws) {
  const subscribers = topics.get(topic);
  if (!subscribers) return;
  subscribers.delete(ws);
  if (subscribers.size === 0) topics.delete(topic);
}

function serveEcho(ws) {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
}

function servePush(ws) {
  const mine = new Set();
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    const text = data.toString();
    const space = text.indexOf(' ');
    const command = text.slice(0, space);
    const topic = text.slice(space + 1);
    if (space < 0 || topic === '') return;
    if (command === 'subscribe') {
      subscribe(topic, ws);
      mine.add(topic);
    } else if (command === 'unsubscribe') {
      unsubscribe(topic, ws);
      mine.delete(topic);
    } else {
      return;
    }
    ws.send(`${command}d ${topic}`);
  });
  ws.on('close', () => mine.forEach((topic) => unsubscribe(topic, ws)));
}

function publish(req, res, topic) {
  const chunks = [];
  let size = 0;
  req.on('data', (chunk) => {
    size += chunk.length;
    if (size > MAX_MESSAGE_BYTES) {
      res.writeHead(413).end();
      req.destroy();
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    // ws's own broadcast idiom: one send per client of the same Buffer.
    for (const ws of topics.get(topic) || []) {
      if (ws.readyState === ws.OPEN) ws.send(body, { binary: false });
    }
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end('published\n');
  });
}

const flags = parseFlags(process.argv.slice(2));
const echoServer = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
const pushServer = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
echoServer.on('connection', serveEcho);
pushServer.on('connection', servePush);

const server = http.createServer((req, res) => {
  const path = req.url.split('?')[0];
  const topic = path.startsWith('/publish/') ? path.slice('/publish/'.length) : '';
  if (topic !== '' && !topic.includes('/') && req.method === 'POST') {
    publish(req, res, topic);
  } else if (path === '/ws/echo' || path === '/ws/push') {
    res.writeHead(426, { 'Sec-WebSocket-Version': '13' }).end();
  } else {
    res.writeHead(404).end();
  }
});

server.on('upgrade', (req, socket, head) => {
  const path = req.url.split('?')[0];
  const wss = path === '/ws/echo' ? echoServer : path === '/ws/push' ? pushServer : null;
  if (!wss) {
    socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
});

// Idle connections must stay open as long as a benchmark holds them.
server.keepAliveTimeout = 0;
server.headersTimeout = 0;
server.requestTimeout = 0;

server.listen(flags.port, flags.host, () => {
  const { address, port } = server.address();
  console.log(`node-ws on ${address} port ${port}, node ${process.version}, ws ${require('ws/package.json').version}`);
});
process.on('SIGTERM', () => process.exit(0));
