"""An SMTP client for tests/api/smtp.rs, written with Python's own smtplib: one session as the JSON in argv[1]
says, the message on stdin. Prints every reply as JSON lines `[step, code, text]` and stops after a refusal."""

import base64
import json
import smtplib
import ssl
import sys

cfg = json.loads(sys.argv[1])
message = sys.stdin.buffer.read()
context = ssl.create_default_context(cafile=cfg["ca"]) if cfg.get("ca") else None


def say(step, code, text):
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    print(json.dumps([step, code, str(text)]), flush=True)
    return code


def run():
    if cfg["mode"] == "implicit":
        s = smtplib.SMTP_SSL(cfg["host"], cfg["port"], context=context, timeout=30)
    else:
        s = smtplib.SMTP(cfg["host"], cfg["port"], timeout=30)
    say("ehlo", *s.ehlo("printer.test"))
    if cfg["mode"] == "starttls":
        say("starttls", *s.starttls(context=context))
        if cfg.get("peer_cert"):
            # The certificate the server presented, as the base64 of its DER (a PEM file's body on one line).
            say("peer_cert", 0, base64.b64encode(s.sock.getpeercert(binary_form=True)).decode())
            s.quit()
            return
        say("ehlo", *s.ehlo("printer.test"))
    if "user" in cfg:
        s.user, s.password = cfg["user"], cfg["password"]
        mechanism = cfg.get("mechanism", "PLAIN")
        method = s.auth_plain if mechanism == "PLAIN" else s.auth_login
        try:
            say("auth", *s.auth(mechanism, method, initial_response_ok=cfg.get("initial", True)))
        except smtplib.SMTPAuthenticationError as e:
            say("auth", e.smtp_code, e.smtp_error)
            return
    code = say("mail", *s.mail(cfg["from"], cfg.get("mail_options", [])))
    if code != 250:
        return
    for to in cfg["to"]:
        say("rcpt", *s.rcpt(to))
    try:
        say("data", *s.data(message))
    except smtplib.SMTPDataError as e:
        say("data", e.smtp_code, e.smtp_error)
        return
    say("quit", *s.quit())


try:
    run()
except smtplib.SMTPServerDisconnected as e:
    say("disconnected", 0, e)
