/* loginsvc storefront widget: <loginsvc-account> and window.loginsvc.me().
 * No dependencies. Include once: <script src="https://account.shop.example/widget.js" defer></script>
 * Theme with CSS custom properties on the element: --loginsvc-accent, --loginsvc-text,
 * --loginsvc-bg, --loginsvc-radius, --loginsvc-font. */
(() => {
  "use strict";
  if (window.customElements && customElements.get("loginsvc-account")) return;
  const script = document.currentScript;
  const BASE = script ? new URL(script.src, location.href).origin : location.origin;
  const T = {
    en: { signin: "Sign in", email: "E-mail address", send: "Send me a code", code: "The 6-digit code from the e-mail", verify: "Sign in", inbox: "Check your inbox: type the 6-digit code from the e-mail here.", orLink: "…or use the link in the mail; this page notices when you are signed in.", inboxLink: "Check your inbox and open the link we sent you; this page notices when you are signed in.", account: "My account", hello: "Hello, {name}", cancel: "Cancel", bad: "Please enter a valid e-mail address.", wrong: "That code is not right. Try again.", expired: "The code has expired. Ask for a new one.", many: "Too many tries. Use the link in the e-mail, or ask for a new code.", wait: "Please wait a moment before trying again.", off: "Sign-in is not available right now.", busy: "One moment…" },
    es: { signin: "Iniciar sesión", email: "Correo electrónico", send: "Enviarme un código", code: "El código de 6 cifras del correo", verify: "Iniciar sesión", inbox: "Revisa tu bandeja de entrada: escribe aquí el código de 6 cifras del correo.", orLink: "…o usa el enlace del correo; esta página lo notará.", inboxLink: "Revisa tu bandeja de entrada y abre el enlace que te enviamos; esta página lo notará.", account: "Mi cuenta", hello: "Hola, {name}", cancel: "Cancelar", bad: "Introduce un correo electrónico válido.", wrong: "El código no es correcto. Inténtalo de nuevo.", expired: "El código ha caducado. Pide uno nuevo.", many: "Demasiados intentos. Usa el enlace del correo o pide un código nuevo.", wait: "Espera un momento antes de volver a intentarlo.", off: "El inicio de sesión no está disponible ahora.", busy: "Un momento…" },
    fr: { signin: "Se connecter", email: "Adresse e-mail", send: "M’envoyer un code", code: "Le code à 6 chiffres de l’e-mail", verify: "Se connecter", inbox: "Consultez votre boîte de réception : saisissez ici le code à 6 chiffres de l’e-mail.", orLink: "…ou utilisez le lien de l’e-mail ; cette page le remarquera.", inboxLink: "Consultez votre boîte de réception et ouvrez le lien envoyé ; cette page le remarquera.", account: "Mon compte", hello: "Bonjour, {name}", cancel: "Annuler", bad: "Saisissez une adresse e-mail valide.", wrong: "Ce code n’est pas le bon. Réessayez.", expired: "Le code a expiré. Demandez-en un nouveau.", many: "Trop d’essais. Utilisez le lien de l’e-mail ou demandez un nouveau code.", wait: "Patientez un instant avant de réessayer.", off: "La connexion n’est pas disponible pour le moment.", busy: "Un instant…" },
    pl: { signin: "Zaloguj się", email: "Adres e-mail", send: "Wyślij mi kod", code: "6-cyfrowy kod z e-maila", verify: "Zaloguj się", inbox: "Sprawdź skrzynkę: wpisz tutaj 6-cyfrowy kod z e-maila.", orLink: "…albo użyj linku z e-maila; ta strona to zauważy.", inboxLink: "Sprawdź skrzynkę i otwórz wysłany link; ta strona to zauważy.", account: "Moje konto", hello: "Witaj, {name}", cancel: "Anuluj", bad: "Podaj poprawny adres e-mail.", wrong: "Kod jest nieprawidłowy. Spróbuj ponownie.", expired: "Kod wygasł. Poproś o nowy.", many: "Zbyt wiele prób. Użyj linku z e-maila lub poproś o nowy kod.", wait: "Poczekaj chwilę i spróbuj ponownie.", off: "Logowanie jest teraz niedostępne.", busy: "Chwileczkę…" },
    de: { signin: "Anmelden", email: "E-Mail-Adresse", send: "Code senden", code: "Der 6-stellige Code aus der E-Mail", verify: "Anmelden", inbox: "Sieh in dein Postfach: Gib hier den 6-stelligen Code aus der E-Mail ein.", orLink: "…oder nutze den Link in der E-Mail; diese Seite merkt es, sobald du angemeldet bist.", inboxLink: "Sieh in dein Postfach und öffne den Link; diese Seite merkt es, sobald du angemeldet bist.", account: "Mein Konto", hello: "Hallo, {name}", cancel: "Abbrechen", bad: "Bitte gib eine gültige E-Mail-Adresse ein.", wrong: "Der Code stimmt nicht. Versuch es noch einmal.", expired: "Der Code ist abgelaufen. Fordere einen neuen an.", many: "Zu viele Versuche. Nutze den Link in der E-Mail oder fordere einen neuen Code an.", wait: "Bitte warte einen Moment.", off: "Die Anmeldung ist gerade nicht verfügbar.", busy: "Einen Moment…" },
  };

  let pending = null;
  const listeners = new Set();
  // One request at a time; null when signed out. The shop's own scripts use this too.
  function me(refresh) {
    if (!pending || refresh) {
      // Ask "signed in?" first: it answers 200 either way, so a signed-out visit logs no 401.
      const get = (p) => fetch(BASE + p, { credentials: "include", headers: { Accept: "application/json" } });
      pending = get("/api/v1/widget/session")
        .then((r) => (r.ok ? r.json() : { signed_in: false }))
        .then((s) => (s.signed_in ? get("/api/v1/me").then((r) => (r.ok ? r.json() : null)) : null))
        .catch(() => null);
      pending.then((p) => listeners.forEach((f) => f(p)));
    }
    return pending;
  }
  function post(path, body) {
    return fetch(BASE + path, {
      method: "POST", credentials: "include",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    }).then((r) => r.json().catch(() => ({})).then((data) => ({ status: r.status, data })));
  }
  window.loginsvc = Object.assign(window.loginsvc || {}, { me: () => me(false), base: BASE });

  const CSS = `:host{display:inline-block;font:var(--loginsvc-font,inherit);color:var(--loginsvc-text,inherit)}
button{font:inherit;cursor:pointer;border:0;border-radius:var(--loginsvc-radius,.4em);padding:.45em .9em;background:var(--loginsvc-accent,#2557a7);color:var(--loginsvc-on-accent,#fff)}
button.link{background:none;color:var(--loginsvc-accent,#2557a7);padding:.45em .3em;text-decoration:underline}
button:focus-visible,input:focus-visible,a:focus-visible{outline:2px solid var(--loginsvc-accent,#2557a7);outline-offset:2px}
form{display:flex;flex-wrap:wrap;gap:.4em;align-items:end;background:var(--loginsvc-bg,transparent);padding:.2em 0}
label{display:flex;flex-direction:column;gap:.2em;font-size:.9em}
input{font:inherit;padding:.4em .5em;border:1px solid #888;border-radius:var(--loginsvc-radius,.4em);min-width:14em}
a{color:var(--loginsvc-accent,#2557a7)}
p{margin:.3em 0;max-width:32em}
.err{color:#b00020}`;

  class LoginsvcAccount extends HTMLElement {
    constructor() {
      super();
      this.root = this.attachShadow({ mode: "open" });
      this.attempt = null;
      this.timer = null;
      this.onProfile = (p) => (p ? this.showSignedIn(p) : this.state === "signedin" && this.showSignedOut());
    }
    get t() {
      const want = (this.getAttribute("lang") || document.documentElement.lang || navigator.language || "en").slice(0, 2).toLowerCase();
      return T[want] || T.en;
    }
    connectedCallback() {
      listeners.add(this.onProfile);
      this.render(`<span aria-busy="true">${this.t.busy}</span>`);
      me(false).then((p) => (p ? this.showSignedIn(p) : this.showSignedOut()));
    }
    disconnectedCallback() {
      listeners.delete(this.onProfile);
      clearInterval(this.timer);
    }
    render(html) {
      this.root.innerHTML = `<style>${CSS}</style><div part="box">${html}</div><p class="status" role="status" aria-live="polite"></p>`;
    }
    say(text, error) {
      const s = this.root.querySelector(".status");
      s.textContent = text || "";
      s.className = "status" + (error ? " err" : "");
    }
    showSignedOut() {
      this.state = "signedout";
      clearInterval(this.timer);
      this.render(`<button type="button" part="button">${this.t.signin}</button>`);
      this.root.querySelector("button").addEventListener("click", () => this.showEmail());
    }
    showEmail() {
      this.state = "email";
      const t = this.t;
      this.render(`<form novalidate><label>${t.email}<input name="email" type="email" autocomplete="email" required></label><button>${t.send}</button><button type="button" class="link">${t.cancel}</button></form>`);
      const form = this.root.querySelector("form");
      form.querySelector(".link").addEventListener("click", () => this.showSignedOut());
      form.addEventListener("submit", (e) => { e.preventDefault(); this.sendLink(form.email.value.trim()); });
      form.email.focus();
    }
    sendLink(email) {
      const t = this.t;
      if (!/^[^\s@]+@[^\s@]+$/.test(email)) return this.say(t.bad, true);
      this.say(t.busy);
      const body = { email, locale: (this.getAttribute("lang") || document.documentElement.lang || "en").slice(0, 2) };
      const next = this.getAttribute("next");
      if (next) body.next = next;
      post("/api/v1/auth/login-link", body).then(({ status, data }) => {
        if (status === 202) return this.showCode(data.attempt);
        this.say(status === 422 ? t.bad : status === 429 ? t.wait : t.off, true);
      }, () => this.say(t.off, true));
    }
    showCode(attempt) {
      this.state = "code";
      this.attempt = attempt || null;
      const t = this.t;
      if (this.attempt) {
        this.render(`<p>${t.inbox}</p><form novalidate><label>${t.code}<input name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" maxlength="6" required></label><button>${t.verify}</button><button type="button" class="link">${t.cancel}</button></form><p>${t.orLink}</p>`);
        const form = this.root.querySelector("form");
        form.querySelector(".link").addEventListener("click", () => this.showSignedOut());
        form.addEventListener("submit", (e) => { e.preventDefault(); this.verifyCode(form.code.value.trim()); });
        form.code.focus();
      } else {
        this.render(`<p>${t.inboxLink}</p><button type="button" class="link">${t.cancel}</button>`);
        this.root.querySelector(".link").addEventListener("click", () => this.showSignedOut());
      }
      // Signed in with the link in another tab: the shared cookie shows up here too.
      clearInterval(this.timer);
      this.timer = setInterval(() => me(true), 3000);
    }
    verifyCode(code) {
      const t = this.t;
      post("/api/v1/auth/verify-code", { attempt: this.attempt, code }).then(({ status, data }) => {
        if (status === 200) return me(true);
        const c = data && data.code;
        this.say(c === "code_expired" ? t.expired : c === "too_many_attempts" ? t.many : status === 429 ? t.wait : t.wrong, true);
      }, () => this.say(t.off, true));
    }
    showSignedIn(profile) {
      this.state = "signedin";
      clearInterval(this.timer);
      const name = profile.name || profile.email;
      const span = document.createElement("span");
      span.textContent = this.t.hello.replace("{name}", name);
      this.render(`<span part="name"></span> <a part="link" href="${BASE}/account">${this.t.account}</a>`);
      this.root.querySelector("[part=name]").replaceWith(span);
      span.setAttribute("part", "name");
      this.dispatchEvent(new CustomEvent("loginsvc:signed-in", { bubbles: true, composed: true, detail: profile }));
    }
  }
  customElements.define("loginsvc-account", LoginsvcAccount);
})();
