// Stage 09's tokens, checked by a second, independent JWT implementation:
// jose (https://github.com/panva/jose, pinned in package-lock.json). jose
// verifies what the server signs, and signs tokens the server must accept or
// refuse. All the cryptography here is jose's; nothing is hand-rolled.
//
//   JWT_SECRET_FILE=secret node tests/jwt/crosscheck.mjs http://127.0.0.1:PORT
//
// crosscheck.sh starts a fresh stage-09 (no users yet, so alice gets id 1)
// with JWT_SECRET_FILE naming a secret it made, and runs this with the same
// file. One line per check; any failure exits 1. Every request is bounded.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { SignJWT, UnsecuredJWT, jwtVerify } from "jose";

const base = new URL(process.argv[2] ?? "");
assert.equal(base.hostname, "127.0.0.1", "the server must be on 127.0.0.1");
assert.ok(process.env.JWT_SECRET_FILE, "JWT_SECRET_FILE must name the server's secret");
// The file's bytes, as they are: the HMAC key.
const secret = new Uint8Array(await readFile(process.env.JWT_SECRET_FILE));
// As long as the server's (40 bytes), but not it.
const anotherSecret = new TextEncoder().encode("another secret, just as long as the real");
assert.equal(anotherSecret.length, 40);

const REQUEST_MS = 10_000;
const INVALID_TOKEN = 'Bearer error="invalid_token"';
let failures = 0;

async function api(method, path, { token, json } = {}) {
  const headers = {};
  if (token !== undefined) headers.Authorization = `Bearer ${token}`;
  if (json !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(new URL(path, base), {
    method,
    headers,
    body: json === undefined ? undefined : JSON.stringify(json),
    signal: AbortSignal.timeout(REQUEST_MS),
  });
  const body = await response.json().catch(() => null);
  return { status: response.status, headers: response.headers, body };
}

async function check(name, body) {
  try {
    await body();
    console.log(`ok: ${name}`);
  } catch (error) {
    failures += 1;
    console.error(`FAILED: ${name}\n  ${error.message.replaceAll("\n", "\n  ")}`);
  }
}

const now = () => Math.floor(Date.now() / 1000);

// A token jose signs with `alg`, `key` and these claims.
function signed(claims, { alg = "HS256", key = secret } = {}) {
  return new SignJWT(claims).setProtectedHeader({ alg, typ: "JWT" }).sign(key);
}

// What the server must say to a token it refuses.
async function assertRefused(token) {
  const answer = await api("GET", "/api/me", { token });
  assert.equal(answer.status, 401, `status ${answer.status}: ${JSON.stringify(answer.body)}`);
  assert.equal(answer.headers.get("www-authenticate"), INVALID_TOKEN);
  assert.deepEqual(answer.body, { error: "the token is not valid" });
}

try {
  const password = "correct horse battery";
  const signedUp = await api("POST", "/api/users", { json: { username: "alice", password } });
  assert.equal(signedUp.status, 201, `sign-up: ${JSON.stringify(signedUp.body)}`);
  const aliceId = signedUp.body.id;
  assert.equal(aliceId, 1, "a fresh server gives alice id 1");

  let issued;
  await check("(a) the server's login token verifies with jose (HS256, our secret)", async () => {
    const before = now();
    const login = await api("POST", "/api/login", { json: { username: "alice", password } });
    const after = now();
    assert.equal(login.status, 200, `login: ${JSON.stringify(login.body)}`);
    assert.equal(login.headers.get("cache-control"), "no-store");
    assert.equal(login.body.token_type, "Bearer");
    assert.equal(login.body.expires_in, 3600);
    issued = login.body.token;
    const { payload, protectedHeader } = await jwtVerify(issued, secret, { algorithms: ["HS256"] });
    assert.equal(protectedHeader.alg, "HS256");
    assert.equal(payload.sub, String(aliceId), "sub is the user id, as a string");
    assert.ok(Number.isInteger(payload.iat), "iat is a whole number of seconds");
    assert.ok(payload.iat >= before && payload.iat <= after, `iat ${payload.iat} is not now (${before}..${after})`);
    assert.equal(payload.exp, payload.iat + 3600, "exp is iat + 3600");
  });

  await check("(a) jose refuses the server's token under another secret", async () => {
    await assert.rejects(jwtVerify(issued, anotherSecret, { algorithms: ["HS256"] }), {
      code: "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
    });
  });

  // What (b) signs: sub 1 (alice), issued now, expiring in 10 minutes.
  const good = () => ({ sub: "1", iat: now(), exp: now() + 600 });

  await check("(b) a token jose signs (HS256, sub 1, 10 min) is accepted by GET /api/me", async () => {
    const token = await signed(good());
    const me = await api("GET", "/api/me", { token });
    assert.equal(me.status, 200, `status ${me.status}: ${JSON.stringify(me.body)}`);
    assert.equal(me.body.id, 1);
    assert.equal(me.body.username, "alice");
    const user = await api("GET", "/api/users/1", { token });
    assert.equal(user.status, 200, `GET /api/users/1: status ${user.status}`);
  });

  // Each of these is (b)'s accepted token with one thing changed, so that
  // one thing is what the server refuses.
  const refused = {
    "signed with another secret": () => signed(good(), { key: anotherSecret }),
    "HS384 with the right secret": () => signed(good(), { alg: "HS384" }),
    "HS512 with the right secret": () => signed(good(), { alg: "HS512" }),
    "expired 60 s ago": () => signed({ ...good(), iat: now() - 660, exp: now() - 60 }),
    "not valid before 5 min from now (nbf)": () => signed({ ...good(), nbf: now() + 300 }),
    "no exp": () => {
      const { exp: _, ...withoutExp } = good();
      return signed(withoutExp);
    },
    "unsecured (alg none, UnsecuredJWT)": async () => new UnsecuredJWT(good()).encode(),
    "sub 99 (no such user)": () => signed({ ...good(), sub: "99" }),
  };
  for (const [name, make] of Object.entries(refused)) {
    await check(`(c) refused with 401 invalid_token: ${name}`, async () => assertRefused(await make()));
  }
} catch (error) {
  failures += 1;
  console.error(`FAILED: could not set up alice: ${error.message}`);
}

console.log(failures === 0 ? "jose and the server agree on every token" : `${failures} check(s) failed`);
process.exit(failures === 0 ? 0 : 1);
