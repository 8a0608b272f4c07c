"""E-mail (.eml, RFC 5322 and MIME) through the standard library: the subject as a heading,
the body (plain text, else the HTML part's main text), then each text attachment under its name."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from models.documents.builder import TextBuilder
from models.documents.markup import add_markdown
from models.documents.web import add_html


def add_email(data: bytes, builder: TextBuilder) -> str | None:
    """Append the message's text; return its subject."""
    message = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(message, EmailMessage)  # policy.default makes EmailMessage objects
    subject = " ".join(str(message.get("subject", "")).split()) or None
    if subject:
        builder.add("heading", subject)
    body = message.get_body(preferencelist=("plain", "html"))
    if isinstance(body, EmailMessage):
        _add_part(body, builder)
    elif not message.is_multipart():
        _add_part(message, builder)
    for attachment in message.iter_attachments():
        if isinstance(attachment, EmailMessage) and attachment.get_content_maintype() == "text":
            builder.add("heading", f"Attachment: {attachment.get_filename() or 'untitled'}")
            _add_part(attachment, builder)
    return subject


def _add_part(part: EmailMessage, builder: TextBuilder) -> None:
    try:
        content = part.get_content()
    except (LookupError, ValueError):  # an unknown charset, a broken encoding: its bytes, as best they go
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else ""
    if not isinstance(content, str):
        return
    subtype = part.get_content_subtype()
    if subtype == "html":
        add_html(content, builder)
    elif subtype == "markdown":
        add_markdown(content, builder)
    else:
        for paragraph in content.replace("\r\n", "\n").split("\n\n"):
            builder.add("paragraph", paragraph)
