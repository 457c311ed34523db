#!/usr/bin/env node
// Interoperability checks of the sluice-ws sample with Node's `ws` package.
//
//   node node_client.js --url ws://127.0.0.1:PORT [--http http://127.0.0.1:PORT] [--node-modules DIR]
//
// `ws` comes from --node-modules DIR (tools/setup installs it into
// build-node/node_modules) or else from NODE_PATH. Prints `ok NAME` or
// `FAIL NAME: why` per check; exits 1 if any check failed.
'use strict';

const crypto = require('crypto');
const path = require('path');

const TIMEOUT_MS = 10000; // for every single wait
const MAX_MESSAGE = 1048576; // the sample's default --max-message-bytes, inclusive

function parseArgs(argv) {
  const args = { url: null, http: null, nodeModules: null };
  for (let i = 0; i < argv.length; i += 2) {
    const value = argv[i + 1];
    if (argv[i] === '--url') args.url = value;
    else if (argv[i] === '--http') args.http = value;
    else if (argv[i] === '--node-modules') args.nodeModules = value;
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  if (!args.url) throw new Error('--url ws://HOST:PORT is required');
  args.url = args.url.replace(/\/+$/, '');
  if (!args.http) args.http = 'http' + args.url.slice('ws'.length);
  return args;
}

function loadWs(nodeModules) {
  try {
    return require(nodeModules ? path.join(path.resolve(nodeModules), 'ws') : 'ws');
  } catch (e) {
    console.log(`FAIL require-ws: Node's ws package is missing (tools/setup installs it): ${e.message}`);
    process.exit(2);
  }
}

function withTimeout(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${TIMEOUT_MS} ms waiting for ${what}`)), TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function expect(condition, why) {
  if (!condition) throw new Error(why);
}

function describe(data) {
  return data.length > 40 ? `${data.length} bytes` : JSON.stringify(data.toString());
}

// A client socket whose messages queue up until a check asks for them.
class Client {
  constructor(WebSocket, url) {
    // The client's own limit is above the server's so that the server's is the one tested.
    this.ws = new WebSocket(url, { maxPayload: 4 * MAX_MESSAGE });
    this.messages = [];
    this.waiters = [];
    this.ws.on('message', (data, isBinary) => {
      this.messages.push({ data, isBinary });
      this.waiters.splice(0).forEach((wake) => wake());
    });
    // Errors (a write after the server closed) are expected in some checks;
    // the close event says what happened.
    this.ws.on('error', (e) => { this.error = e; });
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
        this.waiters.splice(0).forEach((wake) => wake());
      });
    });
  }

  static async open(WebSocket, url) {
    const client = new Client(WebSocket, url);
    await withTimeout(new Promise((resolve, reject) => {
      client.ws.once('open', resolve);
      client.ws.once('error', reject);
    }), `open ${url}`);
    return client;
  }

  async next() {
    const arrived = new Promise((resolve) => {
      if (this.messages.length > 0 || this.ws.readyState === this.ws.CLOSED) resolve();
      else this.waiters.push(resolve);
    });
    await withTimeout(arrived, 'a message');
    expect(this.messages.length > 0, 'the connection closed before a message came');
    return this.messages.shift();
  }

  // Waits for the close handshake to end; the code is the one the server sent
  // (1006: none came, and this.error may say why).
  async expectCloseCode(want) {
    const { code } = await withTimeout(this.closed, 'the close');
    const why = this.error ? ` (client error: ${this.error.message})` : '';
    expect(code === want, `close code ${code}, want ${want}${why}`);
  }

  end() {
    if (this.ws.readyState !== this.ws.CLOSED) this.ws.terminate();
  }
}

async function withClient(WebSocket, url, body) {
  const client = await Client.open(WebSocket, url);
  try {
    return await body(client);
  } finally {
    client.end();
  }
}

async function expectEcho(client, message) {
  const binary = Buffer.isBuffer(message);
  client.ws.send(message, { binary });
  const got = await client.next();
  expect(got.isBinary === binary, `sent ${binary ? 'binary' : 'text'}, got ${got.isBinary ? 'binary' : 'text'}`);
  const sent = binary ? message : Buffer.from(message, 'utf8');
  expect(got.data.equals(sent), `sent ${describe(sent)}, got ${describe(got.data)}`);
}

function checks(WebSocket, args) {
  const echo = (body) => withClient(WebSocket, args.url + '/ws/echo', body);
  return [
    ['echo-text', () => echo((c) => expectEcho(c, 'hello, sluice \u00e9\u4e16\u{1f30d}'))],
    ['echo-binary', () => echo((c) => expectEcho(c, Buffer.concat([crypto.randomBytes(256), Buffer.from([0, 0xff])])))],
    ['echo-fragmented', () => echo(async (c) => {
      // fin: false keeps the message open: TEXT, CONT, CONT(fin).
      c.ws.send('frag', { fin: false });
      c.ws.send('ment', { fin: false });
      c.ws.send('ed \u00e9', { fin: true });
      const text = await c.next();
      expect(!text.isBinary && text.data.toString() === 'fragmented \u00e9', `got ${describe(text.data)}`);
      c.ws.send(Buffer.from([1, 2]), { binary: true, fin: false });
      c.ws.send(Buffer.from([3, 4, 5]), { binary: true, fin: true });
      const bytes = await c.next();
      expect(bytes.isBinary && bytes.data.equals(Buffer.from([1, 2, 3, 4, 5])), `got ${describe(bytes.data)}`);
    })],
    ['ping-pong', () => echo(async (c) => {
      const pong = new Promise((resolve) => c.ws.once('pong', resolve));
      c.ws.ping(Buffer.from('are you there'));
      const data = await withTimeout(pong, 'the pong');
      expect(data.toString() === 'are you there', `pong carried ${describe(data)}`);
    })],
    ['echo-64KiB', () => echo((c) => expectEcho(c, crypto.randomBytes(65536)))],
    ['echo-1MiB', () => echo(async (c) => {
      await expectEcho(c, crypto.randomBytes(MAX_MESSAGE));
      await expectEcho(c, 'x'.repeat(MAX_MESSAGE));
    })],
    ['too-big-1009', () => echo(async (c) => {
      c.ws.send(crypto.randomBytes(MAX_MESSAGE + 1));
      await c.expectCloseCode(1009);
    })],
    ['invalid-utf8-1007', () => echo(async (c) => {
      // ws sends the bytes as they are: it does not check outgoing text.
      c.ws.send(Buffer.from([0x6f, 0x6b, 0x20, 0xff]), { binary: false });
      await c.expectCloseCode(1007);
    })],
    ['close-4001-echoed', () => echo(async (c) => {
      c.ws.close(4001, 'interop done');
      await c.expectCloseCode(4001);
    })],
    ['chat-two-clients', async () => {
      const room = `${args.url}/ws/chat/node-${process.pid}`;
      await withClient(WebSocket, room, (a) => withClient(WebSocket, room, async (b) => {
        a.ws.send('hello from a');
        b.ws.send('hello from b');
        // Everyone in the room hears everything, the sender included.
        for (const [name, c] of [['a', a], ['b', b]]) {
          const heard = [(await c.next()).data.toString(), (await c.next()).data.toString()].sort();
          expect(heard[0] === 'hello from a' && heard[1] === 'hello from b', `${name} heard ${JSON.stringify(heard)}`);
        }
      }));
    }],
    ['push-publish', () => withClient(WebSocket, args.url + '/ws/push', async (c) => {
      const topic = `node-${process.pid}`;
      c.ws.send(`subscribe ${topic}`);
      let got = (await c.next()).data.toString();
      expect(got === `subscribed ${topic}`, `subscribe answered ${JSON.stringify(got)}`);
      const response = await withTimeout(
        fetch(`${args.http}/publish/${topic}`, { method: 'POST', body: 'news \u00e9' }), 'POST /publish');
      const body = await withTimeout(response.text(), 'the POST body');
      expect(response.status === 200 && body === 'published\n', `POST answered ${response.status} ${JSON.stringify(body)}`);
      got = (await c.next()).data.toString();
      expect(got === 'news \u00e9', `pushed ${JSON.stringify(got)}`);
      c.ws.send(`unsubscribe ${topic}`);
      got = (await c.next()).data.toString();
      expect(got === `unsubscribed ${topic}`, `unsubscribe answered ${JSON.stringify(got)}`);
    })],
  ];
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const WebSocket = loadWs(args.nodeModules);
  let failures = 0;
  for (const [name, check] of checks(WebSocket, args)) {
    try {
      await check();
      console.log(`ok ${name}`);
    } catch (e) {
      failures += 1;
      console.log(`FAIL ${name}: ${e.message}`);
    }
  }
  return failures ? 1 : 0;
}

main().then((code) => process.exit(code), (e) => {
  console.log(`FAIL setup: ${e.message}`);
  process.exit(2);
});
