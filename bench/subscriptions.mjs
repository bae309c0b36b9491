// Live-update load: SUBSCRIBERS WebSocket connections (graphql-transport-ws, one
// `messagePosted` subscription each) spread over the tenants of TOKENS_FILE, and one writer
// posting RATE messages a second for DURATION seconds to conversations of CONVERSATIONS_FILE,
// round robin over the tenants. Each message's body carries the time it was sent; each
// delivery records (receipt - sent) and (receipt - the writer's HTTP answer, i.e. after
// commit). Prints one JSON line of figures.
import { createRequire } from 'node:module';
// `ws` comes with tests/js's packages (npm ci --prefix tests/js).
const WebSocket = createRequire(new URL('../tests/js/package.json', import.meta.url))('ws');
import { readFileSync } from 'node:fs';

const base = process.argv[2];
const SUBSCRIBERS = Number(process.env.SUBSCRIBERS || 1000);
const RATE = Number(process.env.RATE || 20);
const DURATION = Number(process.env.DURATION || 20);
const tokens = readFileSync(process.env.TOKENS_FILE, 'utf8').trim().split('\n');
const conversations = readFileSync(process.env.CONVERSATIONS_FILE, 'utf8').trim().split('\n');
const wsUrl = base.replace(/^http/, 'ws') + '/graphql';

const sentAt = new Map(); // body -> [sent, acknowledged]
const sinceSend = [];
const sinceAck = [];
let delivered = 0;
let errors = 0;

function connect(token) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl, 'graphql-transport-ws');
    ws.on('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload: { Authorization: `Bearer ${token}` } })));
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString());
      if (m.type === 'connection_ack') {
        ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: 'subscription { messagePosted { id body } }' } }));
        resolve(ws);
      } else if (m.type === 'next') {
        const now = performance.now();
        const body = m.payload?.data?.messagePosted?.body;
        const times = body && sentAt.get(body);
        if (!times) { errors++; return; }
        delivered++;
        sinceSend.push(now - times[0]);
        if (times[1]) sinceAck.push(now - times[1]);
      } else if (m.type === 'error') {
        errors++;
      }
    });
    ws.on('error', reject);
    ws.on('close', (code) => { if (code !== 1000) errors++; });
  });
}

const sockets = [];
for (let i = 0; i < SUBSCRIBERS; i++) {
  sockets.push(await connect(tokens[i % tokens.length]));
}
await new Promise((r) => setTimeout(r, 1000));

let posted = 0;
const started = performance.now();
const writes = [];
while (performance.now() - started < DURATION * 1000) {
  const k = posted % tokens.length;
  const body = `live ${posted}`;
  posted++;
  const sent = performance.now();
  sentAt.set(body, [sent, null]);
  writes.push(fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens[k]}` },
    body: JSON.stringify({ query: 'mutation($c: ID!, $b: String!) { postMessage(input: {conversation: $c, body: $b}) { id } }', variables: { c: conversations[k], b: body } }),
  }).then((r) => r.json()).then((j) => {
    if (j.errors) errors++;
    sentAt.get(body)[1] = performance.now();
  }));
  const next = started + (posted * 1000) / RATE;
  await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
}
await Promise.all(writes);
const expected = posted * (SUBSCRIBERS / tokens.length);
const waitUntil = performance.now() + 10000;
while (delivered < expected && performance.now() < waitUntil) await new Promise((r) => setTimeout(r, 100));
const elapsed = (performance.now() - started) / 1000;
for (const ws of sockets) ws.close(1000);

const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN; };
console.log(JSON.stringify({
  subscribers: SUBSCRIBERS, tenants: tokens.length, posted, expected, delivered, errors,
  deliveries_per_s: delivered / elapsed,
  send_to_receipt_ms: { p50: pct(sinceSend, 50), p95: pct(sinceSend, 95), p99: pct(sinceSend, 99) },
  commit_ack_to_receipt_ms: { p50: pct(sinceAck, 50), p95: pct(sinceAck, 95), p99: pct(sinceAck, 99) },
}));
process.exit(0);
