/* Passkey ceremonies for /login and /account/security (WebAuthn).
 * Served from our own origin under a strict CSP (script-src 'self'); the pages
 * work without it: the e-mailed link and code stay the way in. */
(function () {
  "use strict";

  if (!window.PublicKeyCredential || !navigator.credentials) return;

  function b64uToBuf(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function bufToB64u(buf) {
    var bytes = new Uint8Array(buf), s = "";
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (d) {
      return Object.assign({}, d, { id: b64uToBuf(d.id) });
    });
  }

  function creationOptions(o) {
    if (PublicKeyCredential.parseCreationOptionsFromJSON) {
      return PublicKeyCredential.parseCreationOptionsFromJSON(o);
    }
    return Object.assign({}, o, {
      challenge: b64uToBuf(o.challenge),
      user: Object.assign({}, o.user, { id: b64uToBuf(o.user.id) }),
      excludeCredentials: descriptors(o.excludeCredentials)
    });
  }

  function requestOptions(o) {
    if (PublicKeyCredential.parseRequestOptionsFromJSON) {
      return PublicKeyCredential.parseRequestOptionsFromJSON(o);
    }
    return Object.assign({}, o, {
      challenge: b64uToBuf(o.challenge),
      allowCredentials: descriptors(o.allowCredentials)
    });
  }

  function credentialJSON(cred) {
    if (typeof cred.toJSON === "function") {
      try { return cred.toJSON(); } catch (e) { /* fall through to the manual form */ }
    }
    var r = cred.response, response = { clientDataJSON: bufToB64u(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = bufToB64u(r.attestationObject);
      if (r.getTransports) response.transports = r.getTransports();
    } else {
      response.authenticatorData = bufToB64u(r.authenticatorData);
      response.signature = bufToB64u(r.signature);
      if (r.userHandle) response.userHandle = bufToB64u(r.userHandle);
    }
    return {
      id: cred.id, rawId: bufToB64u(cred.rawId), type: cred.type, response: response,
      authenticatorAttachment: cred.authenticatorAttachment || null,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {}
    };
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body || {})
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (data) {
        return { ok: resp.ok, status: resp.status, data: data };
      });
    });
  }

  function safeNext(next) {
    return next && next.charAt(0) === "/" && next.charAt(1) !== "/" ? next : "/account";
  }

  /* -- signing in (/login) ----------------------------------------------- */
  var signin = document.getElementById("passkey-signin");
  if (signin) {
    var status = document.getElementById("passkey-signin-status");
    var button = document.getElementById("passkey-signin-button");
    var pending = null;

    var signIn = function (conditional) {
      if (pending) pending.abort();
      var ctrl = new AbortController();
      pending = ctrl;
      return post("/api/v1/auth/passkey/options").then(function (o) {
        if (!o.ok) throw new Error("options");
        var opts = { publicKey: requestOptions(o.data.options), signal: ctrl.signal };
        if (conditional) opts.mediation = "conditional";
        return navigator.credentials.get(opts);
      }).then(function (cred) {
        if (!cred) throw new Error("none");
        return post("/api/v1/auth/passkey/verify", { credential: credentialJSON(cred) });
      }).then(function (v) {
        if (!v.ok) throw new Error(v.data && v.data.code || "refused");
        status.textContent = "";
        window.location.assign(safeNext(signin.dataset.next));
      }).catch(function (err) {
        if (ctrl.signal.aborted || (err && err.name === "AbortError")) return;
        status.textContent = signin.dataset.failed;
      });
    };

    signin.hidden = false;
    button.addEventListener("click", function () { signIn(false); });
    if (PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (yes) {
        if (yes) signIn(true);  // offers passkeys in the e-mail field's autofill
      }).catch(function () {});
    }
  }

  /* -- adding one (/account/security) ---------------------------------------- */
  var add = document.getElementById("passkey-add");
  if (add) {
    var addStatus = document.getElementById("passkey-add-status");
    add.hidden = false;
    document.getElementById("passkey-add-button").addEventListener("click", function () {
      addStatus.textContent = "";
      post("/api/v1/me/passkeys/options").then(function (o) {
        if (!o.ok) throw new Error("options");
        return navigator.credentials.create({ publicKey: creationOptions(o.data.options) });
      }).then(function (cred) {
        var name = document.getElementById("passkey-name").value.trim();
        var body = { credential: credentialJSON(cred) };
        if (name) body.name = name;
        return post("/api/v1/me/passkeys", body);
      }).then(function (r) {
        if (!r.ok) throw new Error(r.data && r.data.code || "refused");
        window.location.assign(add.dataset.added);
      }).catch(function () {
        addStatus.textContent = add.dataset.failed;
      });
    });
  }
})();
