"""`privacy: redact`: findings become typed placeholders (`<EMAIL_1>`) before a hosted call,
and the answer gets the originals back, streamed answers included."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from router.privacy.findings import KINDS, Findings

_PLACEHOLDER = re.compile(r"<(?:{})_\d{{1,4}}>".format("|".join(k.upper() for k in KINDS)))
# The longest placeholder: what a stream may have to hold back, at most.
_LONGEST = max(len(k) for k in KINDS) + len("<_9999>")
_PARTIAL = re.compile(r"<[A-Z_]*\d{0,4}\Z")


class Redaction:
    """The texts with every finding replaced; the same value gets the same placeholder."""

    def __init__(self, texts: Sequence[str], findings: Findings) -> None:
        self.originals: dict[str, str] = {}
        chosen: dict[tuple[str, str], str] = {}
        numbers: Counter[str] = Counter()
        self.texts: list[str] = []
        for index, text in enumerate(texts):
            parts, position = [], 0
            for finding in findings.in_text(index):
                value = text[finding.start : finding.end]
                placeholder = chosen.get((finding.kind, value))
                if placeholder is None:
                    numbers[finding.kind] += 1
                    placeholder = f"<{finding.kind.upper()}_{numbers[finding.kind]}>"
                    chosen[(finding.kind, value)] = placeholder
                    self.originals[placeholder] = value
                parts += [text[position : finding.start], placeholder]
                position = finding.end
            parts.append(text[position:])
            self.texts.append("".join(parts))

    @property
    def count(self) -> int:
        return len(self.originals)

    def restore(self, text: str) -> str:
        if "<" not in text:
            return text
        return _PLACEHOLDER.sub(lambda m: self.originals.get(m.group(), m.group()), text)

    def stream(self) -> StreamRestorer:
        return StreamRestorer(self)


class StreamRestorer:
    """Restores placeholders in streamed text. A placeholder may arrive split over several
    chunks, so a tail that could still become one (`<EMA`) waits for the next chunk; at
    most one placeholder's length is ever held back."""

    def __init__(self, redaction: Redaction) -> None:
        self.redaction = redaction
        self.pending = ""

    def feed(self, delta: str) -> str:
        text = self.pending + delta
        cut = text.rfind("<")
        if cut != -1 and len(text) - cut < _LONGEST and _PARTIAL.match(text, cut):
            self.pending = text[cut:]
            text = text[:cut]
        else:
            self.pending = ""
        return self.redaction.restore(text)

    def flush(self) -> str:
        text, self.pending = self.pending, ""
        return self.redaction.restore(text)
