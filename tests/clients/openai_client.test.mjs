// The official `openai` npm client, unmodified, against the real `hark serve`: transcriptions in
// every response_format, word timestamps, streaming, translations, and an API error. The server
// is started here on a free port (--port 0; the port is read from its log) with an API key, so the
// client's Authorization header is exercised too. Paths come from run.sh (HARK_BINARY, HARK_MODEL,
// HARK_AUDIO).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import OpenAI from "openai";

const binary = process.env.HARK_BINARY;
const model = process.env.HARK_MODEL;
const audio = process.env.HARK_AUDIO;
const apiKey = "sk-hark-client-test";
let server;
let client;

function startServer() {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, ["serve", "--model", model, "--port", "0", "--api-key", apiKey,
                                 "--beam-size", "1", "--no-fallback", "--threads", "2"],
                        { stdio: ["ignore", "pipe", "pipe"] });
    let log = "";
    const onData = (chunk) => {
      log += chunk.toString();
      const m = log.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (m) resolve({ child, port: Number(m[1]) });
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => reject(new Error(`hark serve exited (${code}):\n${log}`)));
  });
}

async function waitReady(port) {
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/health`)).status === 200) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
}

before(async () => {
  server = await startServer();
  await waitReady(server.port);
  client = new OpenAI({ apiKey, baseURL: `http://127.0.0.1:${server.port}/v1`, maxRetries: 0,
                        timeout: 600_000 });
});

after(() => server?.child.kill("SIGTERM"));

test("transcriptions.create with the default json format", async () => {
  const r = await client.audio.transcriptions.create({
    file: fs.createReadStream(audio),
    model: "whisper-1",
  });
  assert.equal(typeof r.text, "string");
  assert.equal(r.usage.type, "duration");
  assert.equal(r.usage.seconds, 11);
});

test("text, srt and vtt come back as strings", async () => {
  const text = await client.audio.transcriptions.create({
    file: fs.createReadStream(audio), model: "whisper-1", response_format: "text" });
  assert.equal(typeof text, "string");
  const srt = await client.audio.transcriptions.create({
    file: fs.createReadStream(audio), model: "whisper-1", response_format: "srt" });
  assert.match(srt, /^1\n00:00:\d\d,\d{3} --> 00:00:\d\d,\d{3}\n/);
  const vtt = await client.audio.transcriptions.create({
    file: fs.createReadStream(audio), model: "whisper-1", response_format: "vtt" });
  assert.match(vtt, /^WEBVTT\n\n/);
});

test("verbose_json with word and segment timestamps", async () => {
  const r = await client.audio.transcriptions.create({
    file: fs.createReadStream(audio),
    model: "whisper-1",
    response_format: "verbose_json",
    timestamp_granularities: ["word", "segment"],
    language: "en",
    temperature: 0,
  });
  assert.equal(r.language, "english");
  assert.equal(r.duration, 11);
  assert.ok(Array.isArray(r.segments) && r.segments.length > 0);
  assert.ok(Array.isArray(r.words));
  for (const w of r.words) assert.ok(w.start <= w.end);
});

test("stream: delta events, then done with usage", async () => {
  const stream = await client.audio.transcriptions.create({
    file: fs.createReadStream(audio), model: "whisper-1", stream: true });
  const events = [];
  for await (const event of stream) events.push(event);
  assert.ok(events.length >= 2);
  const done = events.at(-1);
  assert.equal(done.type, "transcript.text.done");
  assert.equal(done.usage.type, "duration");
  const deltas = events.slice(0, -1);
  for (const e of deltas) assert.equal(e.type, "transcript.text.delta");
  assert.equal(deltas.map((e) => e.delta).join("").trim(), done.text);
});

test("translations.create", async () => {
  const r = await client.audio.translations.create({
    file: fs.createReadStream(audio), model: "whisper-1" });
  assert.equal(typeof r.text, "string");
});

test("errors arrive as APIError with OpenAI's fields", async () => {
  await assert.rejects(
    client.audio.transcriptions.create({ file: fs.createReadStream(audio), model: "gpt-9" }),
    (e) => e instanceof OpenAI.NotFoundError && e.status === 404 && e.code === "model_not_found");
  const anonymous = new OpenAI({ apiKey: "wrong", baseURL: client.baseURL, maxRetries: 0 });
  await assert.rejects(anonymous.models.list(),
                       (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
  const models = await client.models.list();
  assert.ok(models.data.some((m) => m.id === "whisper-1"));
});
