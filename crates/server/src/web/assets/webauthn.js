// Keysmith pages: WebAuthn JSON <-> browser objects, JSON calls with the
// CSRF token, and status/error display. Loaded before admin.js/signin.js.
"use strict";
window.KS = (function () {
  function b64urlToBuf(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function bufToB64url(buf) {
    const bytes = new Uint8Array(buf);
    let bin = "";
    for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  // Graph's creation options -> PublicKeyCredentialCreationOptions.
  function creationOptions(pk) {
    const o = Object.assign({}, pk);
    o.challenge = b64urlToBuf(pk.challenge);
    o.user = Object.assign({}, pk.user, { id: b64urlToBuf(pk.user.id) });
    o.excludeCredentials = (pk.excludeCredentials || []).map(function (c) {
      return { type: c.type, id: b64urlToBuf(c.id), transports: c.transports };
    });
    if (pk.extensions) {
      o.extensions = Object.assign({}, pk.extensions);
      // Enforcing the weakest credProtect level is a no-op that browsers
      // reject as incongruent (Chromium: NotSupportedError); drop it.
      if (o.extensions.credentialProtectionPolicy === "userVerificationOptional") {
        delete o.extensions.enforceCredentialProtectionPolicy;
      }
    }
    return o;
  }
  function requestOptions(pk) {
    const o = Object.assign({}, pk);
    o.challenge = b64urlToBuf(pk.challenge);
    o.allowCredentials = (pk.allowCredentials || []).map(function (c) {
      return { type: c.type, id: b64urlToBuf(c.id) };
    });
    return o;
  }
  // A registration in Graph's fido2Methods POST shape.
  function registrationJSON(cred, displayName) {
    const body = {
      publicKeyCredential: {
        id: cred.id,
        response: {
          clientDataJSON: bufToB64url(cred.response.clientDataJSON),
          attestationObject: bufToB64url(cred.response.attestationObject),
        },
        clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      },
    };
    if (displayName) body.displayName = displayName;
    return body;
  }
  function assertionJSON(cred) {
    const r = cred.response;
    return {
      id: cred.id,
      response: {
        clientDataJSON: bufToB64url(r.clientDataJSON),
        authenticatorData: bufToB64url(r.authenticatorData),
        signature: bufToB64url(r.signature),
        userHandle: r.userHandle ? bufToB64url(r.userHandle) : null,
      },
    };
  }
  function csrf() {
    const m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.content : "";
  }
  // JSON call; rejects with an Error carrying Graph's message and status.
  async function call(method, url, body) {
    const headers = { Accept: "application/json" };
    const t = csrf();
    if (t) headers["X-CSRF-Token"] = t;
    const init = { method: method, headers: headers, credentials: "same-origin" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const res = await fetch(url, init);
    const text = await res.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
    if (!res.ok) {
      const msg = json && json.error ? json.error.message : "The server answered " + res.status + ".";
      const err = new Error(msg);
      err.status = res.status;
      err.code = json && json.error ? json.error.code : "";
      throw err;
    }
    return json;
  }
  // A browser-side WebAuthn failure, in words a person can act on.
  function ceremonyMessage(e) {
    if (!e) return "Something went wrong.";
    switch (e.name) {
      case "NotAllowedError":
        return "The passkey request was cancelled or timed out (no key was used). Try again and touch your security key when it blinks.";
      case "InvalidStateError":
        return "This security key already holds a passkey for this user.";
      case "SecurityError":
        return "This page's address is not allowed for passkeys (origin/RP ID mismatch).";
      case "NotSupportedError":
        return "This browser or security key does not support the requested passkey type.";
      case "AbortError":
        return "The passkey request was aborted.";
      default:
        return e.message || String(e);
    }
  }
  function status(text) {
    const s = document.getElementById("status");
    const e = document.getElementById("error");
    if (e) { e.hidden = true; e.textContent = ""; }
    if (s) s.textContent = text || "";
  }
  function error(text) {
    const s = document.getElementById("status");
    const e = document.getElementById("error");
    if (s) s.textContent = "";
    if (e) { e.textContent = text; e.hidden = false; e.focus && e.focus(); }
  }
  function tenant() {
    return document.body.dataset.tenant;
  }
  return {
    b64urlToBuf: b64urlToBuf, bufToB64url: bufToB64url,
    creationOptions: creationOptions, requestOptions: requestOptions,
    registrationJSON: registrationJSON, assertionJSON: assertionJSON,
    call: call, ceremonyMessage: ceremonyMessage, status: status, error: error, tenant: tenant,
  };
})();
