"""Languages come from the catalogs present; pages and mails speak the right one."""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

from tests.helpers import ORIGIN


def _italian_catalog(root: Path) -> Path:
    """A new language: one .po file, nothing else."""
    catalog = Catalog(locale="it", domain="messages")
    catalog.add("Sign in", "Accedi")
    catalog.add("E-mail me a sign-in link", "Inviami un link di accesso")
    catalog.add("Your sign-in link for %(shop)s", "Il tuo link di accesso a %(shop)s")
    catalog.add("Check your inbox", "Controlla la posta", flags=["fuzzy"])
    path = root / "it" / "LC_MESSAGES" / "messages.po"
    path.parent.mkdir(parents=True)
    with open(path, "wb") as fp:
        write_po(fp, catalog)
    return root


def test_adding_a_language_is_adding_a_po_file(make_app, mailbox, tmp_path):
    client = make_app(translations_dir=str(_italian_catalog(tmp_path / "catalogs"))).test_client()
    r = client.get("/login", headers={"Accept-Language": "it-IT,it;q=0.9,en;q=0.5"})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and '<html lang="it">' in html
    assert "<h1>Accedi</h1>" in html and "Inviami un link di accesso" in html
    assert "No password needed" in html  # not in the catalog yet: the English text
    r = client.post("/api/v1/auth/login-link", json={"email": "it@example.com", "locale": "it"})
    assert r.status_code == 202 and r.get_json()["status"] == "sent"
    mail = mailbox.wait_for("it@example.com")[0]
    assert mail.subject == "Il tuo link di accesso a Our shop"
    # A fuzzy entry is a translation nobody checked yet: it is not used.
    r = client.post("/login", data={"email": "it2@example.com", "lang": "it"}, headers=ORIGIN)
    assert r.status_code == 202 and "Check your inbox" in r.get_data(as_text=True)
    # The shipped languages are still there.
    r = client.get("/login", headers={"Accept-Language": "pl"})
    assert '<html lang="pl">' in r.get_data(as_text=True)


def test_an_operators_catalog_overrides_single_shipped_texts(make_app, tmp_path):
    catalog = Catalog(locale="de", domain="messages")
    catalog.add("Sign in", "Einloggen")
    path = tmp_path / "catalogs" / "de" / "LC_MESSAGES" / "messages.po"
    path.parent.mkdir(parents=True)
    with open(path, "wb") as fp:
        write_po(fp, catalog)
    client = make_app(translations_dir=str(tmp_path / "catalogs")).test_client()
    html = client.get("/login?lang=de").get_data(as_text=True)
    assert "<h1>Einloggen</h1>" in html
    assert "Anmeldelink per E-Mail senden" in html  # every other text: the shipped catalog


def test_a_language_without_a_catalog_is_not_offered(client, mailbox):
    r = client.get("/login", headers={"Accept-Language": "it-IT,it;q=0.9"})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and '<html lang="en">' in html and "<h1>Sign in</h1>" in html
    r = client.post("/api/v1/auth/login-link", json={"email": "it@example.com", "locale": "it"})
    assert r.status_code == 202
    assert mailbox.wait_for("it@example.com")[0].subject == "Your sign-in link for Our shop"


def test_sent_page_states_the_real_link_age_in_the_page_language(make_app, mailbox):
    client = make_app(login_link_max_age=3600).test_client()
    r = client.post("/login", data={"email": "a@example.com"}, headers=ORIGIN)
    assert r.status_code == 202
    html = r.get_data(as_text=True)
    assert "It works once and stays valid for 1 hour." in html and "14 days" not in html
    r = client.post("/login", data={"email": "b@example.com"},
                    headers={**ORIGIN, "Accept-Language": "de"})
    assert r.status_code == 202
    assert "Er funktioniert einmal und ist 1 Stunde gültig." in r.get_data(as_text=True)


def test_sent_page_default_age_is_two_weeks(client, mailbox):
    r = client.post("/login", data={"email": "a@example.com"},
                    headers={**ORIGIN, "Accept-Language": "fr"})
    assert r.status_code == 202
    html = r.get_data(as_text=True)
    # CLDR puts a no-break space between the number and the unit.
    assert "Il fonctionne une fois et reste valable 2\u00a0semaines." in html
    assert "14 jours" not in html


def test_mail_is_in_the_recipients_language_not_the_browsers(client, mailbox):
    # The form is posted from a German browser, but the page's language is chosen (lang=pl):
    # the mail follows the choice, and the page answering the post stays in that language.
    r = client.post("/login", data={"email": "jan@example.com", "lang": "pl"},
                    headers={**ORIGIN, "Accept-Language": "de"})
    assert r.status_code == 202 and "Sprawdź skrzynkę" in r.get_data(as_text=True)
    mail = mailbox.wait_for("jan@example.com")[0]
    assert mail.subject == "Twój link do logowania w Our shop"
    assert "Dzień dobry," in mail.text and "ważny przez 2 tygodnie" in mail.text
    assert '<html lang="pl">' in mail.html and ">Zaloguj się</a>" in mail.html


def test_mail_rendered_outside_a_request_uses_the_given_locale(app):
    from loginsvc.core import mailer

    with app.app_context():
        subject, text, html = mailer.render(
            "approved", "es", {"link": "http://x/login/verify?token=t", "name": "Ana",
                               "valid_for": "2 semanas"})
        assert subject == "Tu cuenta en Our shop ha sido aprobada"
        assert text.startswith("Hola, Ana:\n")
        assert "válido durante 2 semanas" in text and '<html lang="es">' in html
        subject, _, _ = mailer.render(
            "approved", "xx", {"link": "http://x", "name": "", "valid_for": "2 weeks"})
        assert subject == "Your account at Our shop is approved"
