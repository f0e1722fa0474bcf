"""The local mailbox: where SNS deliveries to `email` and `email-json` subscriptions land.

Each message is an RFC 5322 file, `<root>/<address>/<epoch-ms>-<message-id>.eml`, so a person can open it
with any mail reader (or `make mail`), and a test can read it through `messages()` or the emulator's
`/_local/mailbox.json`. Nothing is ever sent off the machine.
"""
from __future__ import annotations

import email
import email.policy
import json
import os
import re
import shutil
import threading
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

_SAFE = re.compile(r"[^A-Za-z0-9@._+-]")
SENDER = "no-reply@sns.amazonaws.com"


class Mailbox:
    def __init__(self, root: Path):
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._parsed: dict[str, dict[str, Any]] = {}
        # Each folder's messages, listed from the disk at its first read and kept up to date by deliver():
        # the estate is the mailbox's only writer, and a test polls its folder many times a second
        # (a listing and a stat of every message each time grew with the estate's age).
        self._listed: dict[Path, list[Path]] = {}

    def deliver(self, to: str, subject: str, body: str, *, topic_arn: str, message_id: str) -> Path:
        msg = EmailMessage()
        msg["From"] = f"AWS Notifications <{SENDER}>"
        msg["To"] = to
        msg["Subject"] = subject
        msg["Date"] = email.utils.formatdate(usegmt=True)
        msg["Message-ID"] = f"<{message_id}@sns.local>"
        msg["X-SNS-Topic-Arn"] = topic_arn
        msg.set_content(body)
        folder = self.root / _SAFE.sub("_", to.lower())
        with self._lock:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{int(time.time() * 1000):013d}-{message_id}.eml"
            # Written aside and renamed: a reader never sees half a message.
            partial = path.with_suffix(".part")
            partial.write_bytes(msg.as_bytes(policy=email.policy.SMTP))
            os.replace(partial, path)
            listed = self._listed.get(folder)
            if listed is not None:
                listed.append(path)
        return path

    def _paths(self, folder: Path) -> list[Path]:
        with self._lock:
            listed = self._listed.get(folder)
            if listed is None:
                listed = self._listed[folder] = sorted(folder.glob("*.eml")) if folder.is_dir() else []
            return list(listed)

    def messages(self, to: str | None = None, contains: str | None = None) -> list[dict[str, Any]]:
        """Every message (oldest first), or those to one address, as dicts with the links found in them;
        only those whose subject or body contains `contains` when given. A message file never changes
        once delivered: each is parsed once, and each folder listed once."""
        folders = [self.root / _SAFE.sub("_", to.lower())] if to else sorted(self.root.iterdir())
        out: list[dict[str, Any]] = []
        for folder in folders:
            for path in self._paths(folder):
                key = str(path)
                msg = self._parsed.get(key)
                if msg is None:
                    msg = self._parsed[key] = read_message(path)
                if contains is None or contains in msg["body"] or contains in (msg["subject"] or ""):
                    out.append(msg)
        out.sort(key=lambda m: m["file"].rsplit("/", 1)[-1])
        return out


_LINK = re.compile(r"https?://[^\s<>\"')]+")


def read_message(path: Path) -> dict[str, Any]:
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    part = msg.get_body(preferencelist=("plain",)) if msg.is_multipart() else msg
    body = part.get_content() if part is not None else ""
    return {
        "file": str(path),
        "to": msg["To"],
        "from": msg["From"],
        "subject": msg["Subject"],
        "date": msg["Date"],
        "message_id": msg["Message-ID"],
        "topic_arn": msg["X-SNS-Topic-Arn"],
        "body": body,
        "links": _LINK.findall(body),
    }


def sns_email_body(message: str, subject: str | None, protocol: str, *, topic_arn: str,
                   message_id: str, unsubscribe_url: str, timestamp: str) -> tuple[str, str]:
    """Subject and body as SNS writes them for `email` (plain text) and `email-json` subscriptions."""
    subject = subject or "AWS Notification Message"
    if protocol == "email-json":
        doc = {"Type": "Notification", "MessageId": message_id, "TopicArn": topic_arn,
               "Subject": subject, "Message": message, "Timestamp": timestamp,
               "UnsubscribeURL": unsubscribe_url}
        return subject, json.dumps(doc, indent=2)
    footer = (
        "\n\n--\nIf you wish to stop receiving notifications from this topic, please click or visit the link "
        f"below to unsubscribe:\n{unsubscribe_url}\n\nPlease do not reply directly to this email. "
        "If you have any questions or comments regarding this email, please contact us at "
        "https://aws.amazon.com/support"
    )
    return subject, message + footer


def fresh(root: Path) -> Mailbox:
    """The mailbox of an estate that is starting: empty. The mail of the estate that ran before names
    executions and signed links its successor does not have (the accounts live in memory), and kept in
    place it only grows (thousands of messages after days of runs, each read at a folder's first
    listing); it is moved to `<root>.previous`, replacing the one before, for a person to look at."""
    previous = root.with_name(root.name + ".previous")
    if root.is_dir():
        shutil.rmtree(previous, ignore_errors=True)
        os.replace(root, previous)
    return Mailbox(root)


def main(argv: list[str]) -> int:
    """`make mail [MAIL_TO=address]`: print the local mailbox, newest last."""
    from .settings import Settings

    box = Mailbox(Settings.from_env().state_dir / "mailbox")
    msgs = box.messages(argv[1] if len(argv) > 1 else None)
    for m in msgs:
        print(f"--- {m['date']}  To: {m['to']}\nSubject: {m['subject']}\n\n{m['body']}\n")
    print(f"{len(msgs)} message(s) in {box.root}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv))
