"""End-to-end tests of content filtering through the real worker: SPF/DKIM/DMARC against a
real DNS server on loopback (test mail signed with dkimpy), Authentication-Results and
X-Moat-* on delivered mail, DMARC actions and score thresholds per domain policy, and a
spam model trained with `moat-mta learn` judging live mail. Closes with `N passed, M failed`.

Usage: python3 e2e/filter_test.py TARGET_DIR [TEST_NAME ...]
"""

import base64
import random
import signal
import smtplib
import subprocess
import tempfile
import time
from email.utils import formatdate, make_msgid

import dkim

import mta_test
from mta_test import BIN, TXT_RECORDS, wait_for

KEY_DIR = tempfile.mkdtemp(prefix="moat-dkim-")
subprocess.run(["openssl", "genrsa", "-out", f"{KEY_DIR}/key.pem", "2048"], check=True, capture_output=True)
PRIVATE_KEY = open(f"{KEY_DIR}/key.pem", "rb").read()
PUBLIC_DER = subprocess.run(["openssl", "rsa", "-in", f"{KEY_DIR}/key.pem", "-pubout", "-outform", "DER"],
                            check=True, capture_output=True).stdout

# good.test: SPF allows loopback, DKIM key at sel._domainkey, DMARC p=reject.
# strict.test: SPF allows nothing.
TXT_RECORDS.update({
    "good.test": "v=spf1 ip4:127.0.0.0/8 -all",
    "sel._domainkey.good.test": "v=DKIM1; k=rsa; p=" + base64.b64encode(PUBLIC_DER).decode(),
    "_dmarc.good.test": "v=DMARC1; p=reject",
    "strict.test": "v=spf1 -all",
})


def message(subject, sender, body="Hello, see you at lunch.\r\n", extra_headers="", to="user@example.test"):
    head = (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {formatdate()}\r\n"
            f"Message-ID: {make_msgid(domain='client.test')}\r\n{extra_headers}")
    return (head + "\r\n" + body).encode()


def signed(raw):
    signature = dkim.sign(raw, b"sel", b"good.test", PRIVATE_KEY,
                          include_headers=[b"From", b"To", b"Subject", b"Date", b"Message-ID"])
    return signature + raw


def send(sy, raw, mail_from, to="user@example.test"):
    s = sy.smtp()
    try:
        s.sendmail(mail_from, [to], raw)
    finally:
        s.quit()


def refused(sy, raw, mail_from):
    """The 5xx error of sending `raw`, or None when it was accepted."""
    try:
        send(sy, raw, mail_from)
        return None
    except smtplib.SMTPDataError as err:
        return err


def quarantined(sy, subject):
    user = sy.login("user@example.test", "moat-demo-user")
    return wait_for(lambda: [i for i in sy.http("GET", "/api/v1/quarantine", user)[1]["items"] if i["subject"] == subject],
                    what=f"'{subject}' in the user's quarantine")[0]


def header_block(data):
    return data.split(b"\r\n\r\n", 1)[0].decode()


# --- tests ---------------------------------------------------------------------------------
def test_clean_signed_message_is_delivered_with_authentication_results_and_score(sy):
    forged = "Authentication-Results: mx.moat.test; dkim=pass; dmarc=pass\r\nX-Moat-Score: -100\r\n"
    send(sy, signed(message("signed and clean", "Alice <alice@good.test>", extra_headers=forged)), "alice@good.test")
    got = wait_for(lambda: sy.sink.with_subject("signed and clean"), what="delivery")[0]
    head = header_block(got["data"])
    ours = [block for block in head.split("\r\nAuthentication-Results: ")[1:]]
    assert len(ours) == 1 and ours[0].startswith("mx.moat.test"), head
    results = ours[0].split("\r\nX-Moat", 1)[0].split("\r\nDKIM-Signature", 1)[0]
    for word in ("dkim=pass", "spf=pass", "dmarc=pass", "header.i=@good.test", "smtp.mailfrom=alice@good.test"):
        assert word in results, (word, results)
    assert "X-Moat-Score: " in head and "X-Moat-Verdict: deliver" in head, head
    assert "-100" not in head, "a sender's own X-Moat-Score is removed"
    score = float(head.split("X-Moat-Score: ", 1)[1].split("\r\n", 1)[0])
    assert score < 0, f"DMARC pass lowers the score: {score}"


def test_dmarc_failure_is_quarantined_or_rejected_per_domain_policy(sy):
    # From: good.test, sent by someone else, unsigned: DMARC fails and good.test asks p=reject.
    raw = message("spoofed ceo", "CEO <ceo@good.test>", body="Please wire the money today.\r\n")
    send(sy, raw, "mallory@evil.test")
    item = quarantined(sy, "spoofed ceo")
    assert item["reasons"][0] == "DMARC: good.test fails authentication and asks p=reject", item
    assert any(r.startswith("DMARC_FAIL") for r in item["reasons"]), item
    assert sy.sink.with_subject("spoofed ceo") == []
    # The domain's own policy follows the published p=reject.
    status, body = sy.http("PUT", f"/api/v1/domains/{sy.domain_id}/policy", sy.admin, {"dmarc_action": "reject"})
    assert status == 200 and body["dmarc_action"] == "reject", body
    try:
        err = wait_for(lambda: refused(sy, message("spoofed again", "CEO <ceo@good.test>"), "mallory@evil.test"),
                       what="550 once the domain policy says reject")
        assert err.smtp_code == 550 and b"DMARC" in err.smtp_error, err
        # Genuine mail from good.test still passes under the same policy.
        send(sy, signed(message("genuine ceo", "CEO <ceo@good.test>")), "ceo@good.test")
        wait_for(lambda: sy.sink.with_subject("genuine ceo"), what="genuine mail delivered")
    finally:
        assert sy.http("DELETE", f"/api/v1/domains/{sy.domain_id}/policy", sy.admin)[0] == 204
    status, body = sy.http("GET", f"/api/v1/domains/{sy.domain_id}/policy", sy.admin)
    assert status == 200 and body["dmarc_action"] == "quarantine", body


def spammy(subject):
    html = '<html><body><a href="http://192.0.2.55/claim">CLAIM YOUR PRIZE</a></body></html>\r\n'
    return message(subject, '"support@bank.test" <promo@strict.test>', body=html,
                   extra_headers="MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n")


def test_rules_score_and_domain_thresholds_decide(sy):
    send(sy, spammy("URGENT PRIZE NOTICE"), "promo@strict.test")
    item = quarantined(sy, "URGENT PRIZE NOTICE")
    for reason in ("SPF_FAIL (+3.0)", "HTML_ONLY (+1.0)", "URL_IP_HOST (+2.0)", "FROM_NAME_HAS_OTHER_ADDRESS (+2.0)",
                   "SUBJECT_ALL_CAPS (+1.0)"):
        assert reason in item["reasons"], (reason, item["reasons"])
    assert item["score"] >= 9.0, item
    tracked = wait_for(lambda: [m for m in sy.tracked("URGENT PRIZE NOTICE") if m["status"] == "quarantined"],
                       what="quarantined in tracking")
    assert tracked
    # Lower the domain's reject threshold: the same mail is now refused at DATA.
    status, _ = sy.http("PUT", f"/api/v1/domains/{sy.domain_id}/policy", sy.admin,
                        {"quarantine_threshold": 4, "reject_threshold": 8})
    assert status == 200
    try:
        err = wait_for(lambda: refused(sy, spammy("URGENT PRIZE AGAIN"), "promo@strict.test"), what="550 at score >= 8")
        assert err.smtp_code == 550 and b"SPF_FAIL" in err.smtp_error, err
        # A clean message stays under both thresholds.
        send(sy, message("plain note", "Ann <ann@ext.test>"), "ann@ext.test")
        got = wait_for(lambda: sy.sink.with_subject("plain note"), what="clean mail delivered")[0]
        assert "X-Moat-Verdict: deliver" in header_block(got["data"])
    finally:
        assert sy.http("DELETE", f"/api/v1/domains/{sy.domain_id}/policy", sy.admin)[0] == 204


SPAM_WORDS = "lottery winner claim prize cash bonus casino pills discount offer unclaimed jackpot".split()
HAM_WORDS = "meeting agenda project review minutes budget schedule draft quarterly roadmap sprint".split()


def test_a_model_from_moat_mta_learn_judges_live_mail(sy):
    corpus = tempfile.mkdtemp(prefix="moat-corpus-")
    rng = random.Random(7)
    for kind, words in (("spam", SPAM_WORDS), ("ham", HAM_WORDS)):
        subprocess.run(["mkdir", "-p", f"{corpus}/{kind}"], check=True)
        for n in range(40):
            text = " ".join(rng.choice(words) for _ in range(30))
            with open(f"{corpus}/{kind}/{n:03}.eml", "wb") as f:
                f.write(message(f"{kind} {n}", f"someone{n}@ext.test", body=text + "\r\n"))
    model = f"{sy.dir}/mta/spam.model"
    out = subprocess.run([f"{BIN}/moat-mta", "learn", "--model", model, "--spam", f"{corpus}/spam", "--ham", f"{corpus}/ham"],
                         env=sy.worker_env(), capture_output=True, text=True, check=True)
    assert "learned 40 spam and 40 ham" in out.stdout, out.stdout
    # The running worker picks the new model file up (it checks every 10 s).
    body = " ".join(SPAM_WORDS * 2) + "\r\n"
    user = sy.login("user@example.test", "moat-demo-user")
    attempts = iter(range(1000))

    def judged_by_the_model():
        subject = f"jackpot waiting {next(attempts)}"
        send(sy, message(subject, "Lucky <lucky@ext.test>", body=body), "lucky@ext.test")
        time.sleep(0.5)
        items = sy.http("GET", "/api/v1/quarantine", user)[1]["items"]
        return [i for i in items if i["subject"] == subject]

    item = wait_for(judged_by_the_model, timeout=25, what="a message quarantined by the learned model")[0]
    assert "BAYES_99 (+5.5)" in item["reasons"], item
    send(sy, message("sprint review", "Colleague <bob@ext.test>", body=" ".join(HAM_WORDS) + "\r\n"), "bob@ext.test")
    got = wait_for(lambda: sy.sink.with_subject("sprint review"), what="ham delivered")[0]
    assert "BAYES_00 (-2.0)" in header_block(got["data"]), header_block(got["data"])


def test_renamed_executables_pass_unless_sniffing_is_on(sy):
    from email.message import EmailMessage

    def renamed(subject):
        m = EmailMessage()
        m["From"], m["To"], m["Subject"] = "Ann <ann@ext.test>", "user@example.test", subject
        m["Date"], m["Message-ID"] = formatdate(), make_msgid(domain="ext.test")
        m.set_content("The notes you asked for.")
        m.add_attachment(b"MZ\x90\x00\x03 pretend program", maintype="application", subtype="octet-stream",
                         filename="notes.txt")
        return m.as_bytes().replace(b"\n", b"\r\n")

    send(sy, renamed("renamed exe, no sniffing"), "ann@ext.test")
    wait_for(lambda: sy.sink.with_subject("renamed exe, no sniffing"), what="renamed file passes by default")
    status, _ = sy.http("PUT", f"/api/v1/domains/{sy.domain_id}/policy", sy.admin, {"sniff_attachments": True})
    assert status == 200
    user = sy.login("user@example.test", "moat-demo-user")
    try:
        def held():
            subject = f"renamed exe, sniffed {time.time()}"
            send(sy, renamed(subject), "ann@ext.test")
            time.sleep(0.3)
            return [i for i in sy.http("GET", "/api/v1/quarantine", user)[1]["items"] if i["subject"] == subject]
        item = wait_for(held, what="the sniffed executable quarantined")[0]
        assert item["reasons"] == ["attachment: notes.txt (content is exe)"], item
    finally:
        assert sy.http("DELETE", f"/api/v1/domains/{sy.domain_id}/policy", sy.admin)[0] == 204


def test_rspamd_score_joins_ours_when_configured(sy):
    from rspamd import Rspamd
    rspamd = Rspamd(sy.dns_port)
    sy.kill_worker(signal.SIGTERM)
    sy.start_worker(MOAT_RSPAMD_URL=rspamd.url)
    try:
        # No Message-ID: rspamd's MISSING_MID (+2.5) and our MISSING_MESSAGE_ID (+1.0) both count.
        raw = (b"From: Ann <ann@ext.test>\r\nTo: user@example.test\r\nSubject: checked by rspamd\r\n"
               b"Date: " + formatdate().encode() + b"\r\n\r\nHello there.\r\n")
        send(sy, raw, "ann@ext.test")
        got = wait_for(lambda: sy.sink.with_subject("checked by rspamd"), what="delivery")[0]
        head = header_block(got["data"])
        verdict = head.split("X-Moat-Verdict: ", 1)[1].split("\r\n", 1)[0]
        assert "MISSING_MESSAGE_ID (+1.0)" in verdict and "RSPAMD[" in verdict and "MISSING_MID" in verdict, verdict
        rspamd_points = float(verdict.split("RSPAMD[", 1)[1].split("(", 1)[1].split(")", 1)[0])
        score = float(head.split("X-Moat-Score: ", 1)[1].split("\r\n", 1)[0])
        assert rspamd_points >= 2.0 and abs(score - (1.0 + rspamd_points)) < 0.01, (score, verdict)
    finally:
        sy.kill_worker(signal.SIGTERM)
        rspamd.stop()
        sy.start_worker()


if __name__ == "__main__":
    mta_test.main([v for k, v in list(globals().items()) if k.startswith("test_")])
