// Signs JWTs as the reference CDS Hooks sandbox does: KJUR.jws.JWS.sign from jsrsasign.
// One request per line on stdin: {"header": {...}, "payload": {...}, "key": PEM | {"utf8": secret}};
// one answer per line on stdout: {"token": "..."} or {"error": "..."}. A long-lived process,
// so a test session pays node's start-up once.
"use strict";
const readline = require("readline");
const { KJUR, KEYUTIL } = require("jsrsasign");

const keys = new Map();
function keyFor(key) {
  if (typeof key !== "string") return key; // {"utf8": ...} for HMAC
  if (!keys.has(key)) keys.set(key, KEYUTIL.getKey(key));
  return keys.get(key);
}

const lines = readline.createInterface({ input: process.stdin });
lines.on("line", (line) => {
  let answer;
  try {
    const { header, payload, key } = JSON.parse(line);
    const token = KJUR.jws.JWS.sign(header.alg, JSON.stringify(header), JSON.stringify(payload),
                                    header.alg === "none" ? undefined : keyFor(key));
    answer = { token };
  } catch (error) {
    answer = { error: String(error && error.message ? error.message : error) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
});
