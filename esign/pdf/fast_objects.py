"""A faster reader for the objects inside object streams: one regular-expression match per token.

pyHanko's ``read_object`` reads a dictionary a byte or two at a time, each a few Python calls; a
200-page document keeps ~400 small page and annotation dictionaries in object streams, about 50 µs
each. :func:`read_object` reads the same syntax with one compiled tokenizer (a dictionary's key and
a plain value in one match) and builds the very objects pyHanko builds (its own classes,
``container_ref`` on every object ``read_object`` sets it on, none on dictionary keys).

Only the plain case is taken: dictionaries and arrays nested at most :data:`MAX_DEPTH` deep, names
without ``#``, integers and reals as pyHanko spells them, ``N G R`` references, ``true``/``false``/
``null``, hex strings of digits and whitespace, literal strings without backslashes or inner
parentheses. Anything else — a comment, an escape, a duplicate key, a dictionary followed by
``stream``, an odd token, truncated syntax — answers ``None`` and the caller asks pyHanko, so
every result and every error stays pyHanko's; ``tests/test_fast_objects.py`` compares both on every
object of a corpus and on mutated syntax. The stream position pyHanko would leave is not kept: the
caller (:class:`esign.pdf.indexed_reader.IndexedReader`) reads one object per call.
"""

from __future__ import annotations

import re

from pyhanko.pdf_utils import generic

from esign.pdf.fast_tokens import DELIMITERS, HEX_STRING, NAME, WHITESPACE, hex_string_value

__all__ = ["MAX_DEPTH", "read_object"]

#: deeper nesting goes to pyHanko, whose recursive reader decides (it fails past Python's recursion
#: limit, some hundreds of levels down); real page trees nest a handful of levels
MAX_DEPTH = 32

_WS = b"[" + re.escape(WHITESPACE) + b"]"
_END = b"(?=[" + re.escape(WHITESPACE + DELIMITERS) + rb"]|\Z)"
#: pyHanko ends a reference's numbers at ``isspace`` bytes and then skips PDF whitespace: only bytes
#: that are both may stand between them here
_REF_SPACE = rb"[ \t\n\r\f]+"
_NAME, _DICT, _DICT_END, _HEX, _ARRAY, _ARRAY_END, _REF = 1, 2, 3, 4, 5, 6, 7
_UNSIGNED, _SIGNED, _REAL, _LITERAL, _TRUE, _FALSE, _NULL = 10, 11, 12, 13, 14, 15, 16
#: one token after optional whitespace; the group that matched says which (the numbers above)
_VALUE = (
    _WS
    + b"*(?:("
    + NAME
    + b")|(<<)|(>>)|("
    + HEX_STRING
    + rb")|(\[)|(\])|((\d+)"
    + _REF_SPACE
    + rb"(\d+)"
    + _REF_SPACE
    + b"R)(?=["
    + re.escape(WHITESPACE + DELIMITERS)
    + b"])"  # pyHanko's pattern wants a byte after R, not the end
    + rb"|(\d{1,32})"
    + _END
    + rb"|([+-]\d{1,32})"
    + _END
    + rb"|([+-]?(?:\d{1,32}\.\d{0,32}|\.\d{1,32}))"
    + _END
    + rb"|\(([^()\\]*)\)|(true)"
    + _END
    + b"|(false)"
    + _END
    + b"|(null)"
    + _END
    + b")"
)
_TOKEN = re.compile(_VALUE)
#: in a dictionary's key position: its ``>>`` (group 1), or a key (group 2) and the token after it, if
#: plain (the groups of ``_VALUE``, shifted by two): one match per entry instead of two
_ENTRY = re.compile(_WS + b"*(?:(>>)|(" + NAME + b")(?:" + _VALUE + b")?)")
_ENTRY_SHIFT = 2
_CLOSE, _KEY_ONLY = 1 - _ENTRY_SHIFT, 2 - _ENTRY_SHIFT
#: after ``>>`` pyHanko looks past whitespace and comments for ``stream``: plain only if neither follows
_AFTER_DICTIONARY = re.compile(b"(?!" + _WS + b"*[s%])")
#: pyHanko looks for a reference in the 20 bytes from a number's first digit
_REFERENCE_WINDOW = 20

_Dictionary, _Array, _Name = generic.DictionaryObject, generic.ArrayObject, generic.NameObject
_Reference, _Number, _Float = generic.IndirectObject, generic.NumberObject, generic.FloatObject
_reference_at = generic.INDIRECT_PATTERN.match
_entry, _token, _after_dictionary = _ENTRY.match, _TOKEN.match, _AFTER_DICTIONARY.match


def read_object(data: bytes, pos: int, container_ref: generic.Dereferenceable) -> generic.PdfObject | None:
    """The object at ``data[pos:]`` as ``generic.read_object`` would read it, or ``None``: ask pyHanko.

    An explicit stack instead of recursion: one loop iteration per dictionary entry or other token.
    """
    if pos >= len(data) or data[pos] in WHITESPACE:  # read_object itself skips no whitespace
        return None
    handler = container_ref.get_pdf_handler()
    stack: list[generic.DictionaryObject | generic.ArrayObject] = []
    keys: list[generic.NameObject | None] = []  # the pending key of each open container's parent
    key: generic.NameObject | None = None  # the key awaiting its value in the innermost dictionary
    top: generic.DictionaryObject | generic.ArrayObject | None = None
    while True:
        if key is None and type(top) is _Dictionary:
            token = _entry(data, pos)
            if token is None:
                return None
            kind = token.lastindex - _ENTRY_SHIFT
            if kind != _CLOSE:
                key = _Name(token.group(2).decode("ascii"))
                # pyHanko keeps a duplicate key's first value, with a warning, or refuses (strict)
                if kind == _KEY_ONLY or key in top:
                    return None
            shift = _ENTRY_SHIFT
        else:
            token = _token(data, pos)
            if token is None:
                return None
            kind = token.lastindex
            shift = 0
        pos = token.end()
        value: generic.PdfObject
        if kind == _NAME:
            value = _Name(token.group(kind + shift).decode("ascii"))
        elif kind == _REF:
            # the byte after R, which the lookahead saw, must lie inside pyHanko's window
            if pos + 1 - token.start(kind + shift) > _REFERENCE_WINDOW:
                return None
            idnum = int(token.group(_REF + 1 + shift))
            if idnum == 0:  # pyHanko refuses object number 0
                return None
            value = _Reference(idnum, int(token.group(_REF + 2 + shift)), handler)
        elif kind == _UNSIGNED:
            start = token.start(kind + shift)
            if _reference_at(data, start, start + _REFERENCE_WINDOW) is not None:
                return None  # a reference spelled in a way the tokenizer does not take
            value = _Number(token.group(kind + shift).decode("ascii"))
        elif kind == _SIGNED:
            value = _Number(token.group(kind + shift).decode("ascii"))
        elif kind == _REAL:
            value = _Float(token.group(kind + shift).decode("ascii"))
        elif kind in (_DICT, _ARRAY):
            if len(stack) >= MAX_DEPTH:
                return None
            top = _Dictionary() if kind == _DICT else _Array()
            stack.append(top)
            keys.append(key)
            key = None
            continue
        elif kind == _CLOSE:
            if _after_dictionary(data, pos) is None:
                return None
            value = top  # type: ignore[assignment]
            stack.pop()
            key = keys.pop()
        elif kind == _ARRAY_END:
            if type(top) is not _Array:
                return None
            value = top  # type: ignore[assignment]
            stack.pop()
            key = keys.pop()
        elif kind == _HEX:
            value = hex_string_value(token.group(kind + shift))
        elif kind == _LITERAL:
            value = generic.pdf_string(token.group(kind + shift))
        elif kind in (_TRUE, _FALSE):
            value = generic.BooleanObject(kind == _TRUE)
        elif kind == _NULL:
            value = generic.NullObject()
        else:  # ">>" outside a dictionary's key position
            return None
        value.container_ref = container_ref
        if not stack:
            return value
        top = stack[-1]
        if key is None:
            top.append(value)  # type: ignore[union-attr]
        else:
            dict.__setitem__(top, key, value)
            key = None
