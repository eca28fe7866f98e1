// Gatehouse passkeys. A form with data-passkey="create" or "get" carries
// the WebAuthn options the server made (data-options, JSON). Submitting it
// runs the ceremony (navigator.credentials), puts the browser's answer in
// the form's "credential" field and submits the form; the server checks
// everything. A "get" form with data-conditional also offers the passkeys
// in the username field's autofill, where the browser supports it.
"use strict";
(function () {
  if (!window.PublicKeyCredential) {
    document.querySelectorAll("form[data-passkey]").forEach(function (f) { f.hidden = true; });
    return;
  }
  function fromB64url(s) {
    var b = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4));
    var out = new Uint8Array(b.length);
    for (var i = 0; i < b.length; i++) out[i] = b.charCodeAt(i);
    return out.buffer;
  }
  function toB64url(buf) {
    var bytes = new Uint8Array(buf), s = "";
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function creationOptions(o) {
    if (PublicKeyCredential.parseCreationOptionsFromJSON) return PublicKeyCredential.parseCreationOptionsFromJSON(o);
    o.challenge = fromB64url(o.challenge);
    o.user.id = fromB64url(o.user.id);
    (o.excludeCredentials || []).forEach(function (c) { c.id = fromB64url(c.id); });
    return o;
  }
  function requestOptions(o) {
    if (PublicKeyCredential.parseRequestOptionsFromJSON) return PublicKeyCredential.parseRequestOptionsFromJSON(o);
    o.challenge = fromB64url(o.challenge);
    (o.allowCredentials || []).forEach(function (c) { c.id = fromB64url(c.id); });
    return o;
  }
  function answer(c) {
    if (c.toJSON) return JSON.stringify(c.toJSON());
    var r = c.response, json = { id: c.id, rawId: toB64url(c.rawId), type: c.type, clientExtensionResults: c.getClientExtensionResults(), response: { clientDataJSON: toB64url(r.clientDataJSON) } };
    if (r.attestationObject) {
      json.response.attestationObject = toB64url(r.attestationObject);
      if (r.getTransports) json.response.transports = r.getTransports();
    } else {
      json.response.authenticatorData = toB64url(r.authenticatorData);
      json.response.signature = toB64url(r.signature);
      if (r.userHandle) json.response.userHandle = toB64url(r.userHandle);
    }
    if (c.authenticatorAttachment) json.authenticatorAttachment = c.authenticatorAttachment;
    return JSON.stringify(json);
  }
  document.querySelectorAll("form[data-passkey]").forEach(function (form) {
    var kind = form.getAttribute("data-passkey");
    var options = JSON.parse(form.getAttribute("data-options")).publicKey;
    var error = form.querySelector("[data-passkey-error]");
    var conditional = null; // the autofill request, aborted when the button is used
    var busy = false;
    function run(mediation) {
      var request = { publicKey: null };
      if (mediation === "conditional") {
        conditional = new AbortController();
        request.mediation = "conditional";
        request.signal = conditional.signal;
      } else {
        if (busy) return;
        busy = true;
      }
      var call;
      if (kind === "create") {
        request.publicKey = creationOptions(JSON.parse(JSON.stringify(options)));
        call = navigator.credentials.create(request);
      } else {
        request.publicKey = requestOptions(JSON.parse(JSON.stringify(options)));
        call = navigator.credentials.get(request);
      }
      call.then(function (c) {
        form.elements.credential.value = answer(c);
        form.submit();
      }, function (e) {
        if (mediation === "conditional") return; // aborted, or no passkey chosen
        busy = false;
        if (!error) return;
        error.textContent = e && e.name === "NotAllowedError"
          ? "The passkey was not used (cancelled, or it timed out). Try again."
          : "Your browser could not use a passkey here: " + (e && e.message ? e.message : e);
        error.hidden = false;
      });
    }
    form.addEventListener("submit", function (ev) {
      if (form.elements.credential.value) return;
      ev.preventDefault();
      if (conditional) {
        conditional.abort();
        conditional = null;
      }
      run();
    });
    if (kind === "get" && form.hasAttribute("data-conditional") && PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (ok) { if (ok) run("conditional"); });
    }
  });
})();
