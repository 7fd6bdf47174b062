// The /docs page: plain HTML + JavaScript, no external resources (the machines this runs on
// often reach no CDN). It renders /openapi.json: every operation with its parameters and body
// fields, and a form per operation that sends the request from the browser.
#include "server/docs_routes.h"

namespace hark::server {

const char* docs_page() {
  return R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>hark API</title>
<style>
body{font-family:system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d232a}
header{background:#1d232a;color:#fff;padding:14px 24px}
header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#c8ccd2;font-size:14px}
main{max-width:980px;margin:0 auto;padding:16px}
.key{margin:8px 0 16px;font-size:14px}
details{background:#fff;border:1px solid #d9dde3;border-radius:6px;margin:8px 0}
summary{cursor:pointer;padding:10px 12px;font-family:ui-monospace,monospace}
.m{display:inline-block;min-width:56px;text-align:center;border-radius:4px;color:#fff;
  font-weight:600;margin-right:8px;padding:2px 6px}
.get{background:#2f7dd1}.post{background:#2f9e57}
.body{padding:0 16px 12px}
table{border-collapse:collapse;width:100%;font-size:14px;margin:6px 0}
td,th{border-bottom:1px solid #eceff3;text-align:left;padding:4px 6px;vertical-align:top}
input[type=text],textarea{width:100%;box-sizing:border-box;font-family:ui-monospace,monospace}
pre{background:#111820;color:#e6e9ed;padding:10px;border-radius:4px;overflow:auto;max-height:420px}
button{padding:6px 14px;margin-top:6px}
.lock{color:#9a6a00;font-size:12px;margin-left:6px}
</style>
</head>
<body>
<header><h1 id="title">hark API</h1><p id="desc">loading /openapi.json…</p></header>
<main>
<div class="key">API key (sent as <code>Authorization: Bearer</code> when set):
<input type="text" id="apikey" style="width:320px"></div>
<div id="ops"></div>
</main>
<script>
"use strict";
const keyInput = document.getElementById("apikey");
keyInput.value = localStorage.getItem("hark-api-key") || "";
keyInput.addEventListener("change", () => localStorage.setItem("hark-api-key", keyInput.value));

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

function resolve(doc, schema) {
  if (schema && schema["$ref"]) return doc.components.schemas[schema["$ref"].split("/").pop()];
  return schema || {};
}

function fieldRow(name, schema, required, where) {
  let input;
  if (schema.format === "binary") {
    input = el("input", {type: "file", "data-name": name, "data-where": where});
  } else if (schema.enum) {
    input = el("select", {"data-name": name, "data-where": where}, el("option", {value: ""}, ""));
    for (const v of schema.enum) input.append(el("option", {value: v}, v));
  } else {
    input = el("input", {type: "text", "data-name": name, "data-where": where,
                         placeholder: schema.type || ""});
  }
  return el("tr", {}, el("td", {}, el("code", {}, name), required ? " *" : ""),
            el("td", {}, schema.description || schema.type || ""), el("td", {}, input));
}

async function send(method, path, form, out) {
  const query = new URLSearchParams();
  const multipart = new FormData();
  let hasMultipart = false, json = null;
  for (const input of form.querySelectorAll("[data-name]")) {
    const name = input.dataset.name, where = input.dataset.where;
    if (input.type === "file") {
      if (input.files.length) { multipart.append(name, input.files[0]); hasMultipart = true; }
      continue;
    }
    if (!input.value) continue;
    if (where === "query") query.append(name, input.value);
    else if (where === "json") { json = json || {}; json[name] = input.value; }
    else { multipart.append(name, input.value); hasMultipart = true; }
  }
  const headers = {};
  if (keyInput.value) headers["Authorization"] = "Bearer " + keyInput.value;
  let body;
  if (json) { body = JSON.stringify(json); headers["Content-Type"] = "application/json"; }
  else if (hasMultipart) body = multipart;
  const url = path + (query.toString() ? "?" + query : "");
  out.textContent = method + " " + url + " …";
  const t0 = performance.now();
  try {
    const r = await fetch(url, {method, headers, body});
    const text = await r.text();
    let shown = text;
    try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (e) {}
    out.textContent = r.status + " " + r.statusText + " (" +
        Math.round(performance.now() - t0) + " ms)\n\n" + shown;
  } catch (e) {
    out.textContent = "request failed: " + e;
  }
}

function render(doc) {
  document.getElementById("title").textContent = doc.info.title + " " + doc.info.version;
  document.getElementById("desc").textContent = doc.info.description;
  const ops = document.getElementById("ops");
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const M = method.toUpperCase();
      const head = el("summary", {}, el("span", {class: "m " + method}, M), path, "  ",
                      el("span", {style: "font-family:system-ui;color:#59636e"}, op.summary || ""));
      if (op.security && op.security.length) head.append(el("span", {class: "lock"}, "key"));
      const table = el("table", {}, el("tr", {}, el("th", {}, "field"), el("th", {}, "meaning"),
                                       el("th", {}, "value")));
      for (const p of op.parameters || []) {
        table.append(fieldRow(p.name, Object.assign({description: p.description}, p.schema),
                              p.required, "query"));
      }
      const content = (op.requestBody || {}).content || {};
      for (const [type, media] of Object.entries(content)) {
        const schema = resolve(doc, media.schema);
        const where = type === "application/json" ? "json" : "form";
        for (const [name, s] of Object.entries(schema.properties || {})) {
          table.append(fieldRow(name, resolve(doc, s), (schema.required || []).includes(name),
                                where));
        }
      }
      const out = el("pre", {}, "");
      const button = el("button", {}, "Send");
      const body = el("div", {class: "body"}, table, button, out);
      button.addEventListener("click", () => send(M, path, body, out));
      const codes = Object.keys(op.responses || {}).join(", ");
      body.insertBefore(el("p", {}, "Responses: " + codes), table);
      ops.append(el("details", {}, head, body));
    }
  }
}

fetch("/openapi.json").then(r => r.json()).then(render).catch(e => {
  document.getElementById("desc").textContent = "could not load /openapi.json: " + e;
});
</script>
</body>
</html>
)HTML";
}

}  // namespace hark::server
