"""Safe, bounded XML parsing for token endpoint answers, with the standard library only.

A token answer never needs a DTD, so any document type or entity declaration is refused
before the parser could resolve it: no external entities, no entity expansion bombs.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from xml.parsers import expat

__all__ = ["MAX_XML_BYTES", "UnsafeXmlError", "XmlError", "find_local", "local_name", "parse_xml"]

MAX_XML_BYTES = 256 * 1024  # an STS answer is about 2 KiB; far larger is no token answer
MAX_DEPTH = 32  # STS nests four levels deep; deeper nesting is an attack, not data
_REFUSED_MARKUP = (b"<!doctype", b"<!entity")  # quick refusal before expat sees the bytes


class XmlError(ValueError):
    """Raised for a body that is not well-formed XML, too large or nested too deeply."""


class UnsafeXmlError(XmlError):
    """Raised for a body declaring a DTD or entities: refused, never resolved."""


def _qualified(name: str) -> str:
    # expat reports "uri}local" for namespaced names (separator "}"); ElementTree wants "{uri}local".
    return "{" + name if "}" in name else name


def _refuse(*_args: object) -> None:
    raise UnsafeXmlError("the XML declares a DTD or entities, which are refused")


class _Builder:
    """Feeds expat events into an ElementTree, counting depth."""

    def __init__(self) -> None:
        self.tree = ET.TreeBuilder()
        self.depth = 0

    def start(self, name: str, attrs: dict[str, str]) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise XmlError(f"the XML nests deeper than {MAX_DEPTH} levels")
        self.tree.start(_qualified(name), {_qualified(k): v for k, v in attrs.items()})

    def end(self, name: str) -> None:
        self.depth -= 1
        self.tree.end(_qualified(name))


def parse_xml(body: bytes, *, max_bytes: int = MAX_XML_BYTES) -> ET.Element:
    """Parse `body` into an element tree; raise `XmlError` (or `UnsafeXmlError`) if it is unusable.

    Namespaced tags come out as ``{uri}local``, as with `xml.etree.ElementTree`.
    """
    if len(body) > max_bytes:
        raise XmlError(f"the XML is larger than {max_bytes} bytes")
    lowered = body.lower()
    if any(marker in lowered for marker in _REFUSED_MARKUP):
        raise UnsafeXmlError("the XML declares a DTD or entities, which are refused")
    parser = expat.ParserCreate(namespace_separator="}")
    # Second line of defence for encodings the byte check cannot see (UTF-16 and the like).
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse  # type: ignore[assignment]
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    builder = _Builder()
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.tree.data
    try:
        parser.Parse(body, True)
    except XmlError:
        raise  # refused by a handler: already says why
    except expat.ExpatError as exc:
        raise XmlError(f"the body is not well-formed XML (line {exc.lineno}, column {exc.offset})") from None
    except (LookupError, ValueError):  # the declared encoding: unknown, multi-byte, or failing to decode
        raise XmlError("the body declares an XML encoding that cannot be read") from None
    return builder.tree.close()


def local_name(tag: str) -> str:
    """The tag without its ``{namespace}`` prefix."""
    return tag.rsplit("}", 1)[-1]


def find_local(element: ET.Element, name: str) -> ET.Element | None:
    """The first element (this one or a descendant) whose local name is `name`, in document order."""
    for candidate in element.iter():
        if local_name(candidate.tag) == name:
            return candidate
    return None
