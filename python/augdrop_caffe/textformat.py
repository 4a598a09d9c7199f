"""Protobuf text format for Caffe prototxt files, typed by `schema`, without protobuf itself.

    net = parse_file("lenet.prototxt", "NetParameter")
    conv = net.getlist("layer")[1]
    conv.get("convolution_param").get("num_output")      # 20 (int)
    conv.get("convolution_param").get("bias_term")       # True: the schema default
    net.to_dict()                                        # plain {name: [values]} for the core
    format_message(net)                                  # text format again

The grammar is protobuf's text format as Caffe reads it (google::protobuf::TextFormat::Parse):
`#` comments; `field: value`; `field { ... }`, `field: { ... }` and `field < ... >`; strings in
single or double quotes with C escapes, adjacent strings concatenated; integers (decimal,
0x hex, 0-prefixed octal), floats (1e-4, .5, 2.f, inf, -inf, nan); enum names (or numbers);
true/false; lists `dim: [1, 2]`; an optional `,` or `;` after a field. As in protobuf, a
non-repeated scalar given twice keeps the last value and a non-repeated message given twice is
merged. Values are typed: int for integer fields, float for float/double fields (float fields
rounded to float32, the value Caffe itself would hold), bool, str for strings and for enums
(the value's name), Message for message fields.

Every error is a PrototxtError whose text names the file and line and, inside a layer, the
layer: `lenet.prototxt:12: unknown field 'kernal_size' in ConvolutionParameter (layer 'conv1');
did you mean 'kernel_size'?`.
"""

import copy
import difflib
import math
import numbers
import re
from collections import namedtuple
from collections.abc import Mapping

from . import schema
from .schema import to_float32

__all__ = ["Message", "PrototxtError", "parse_text", "parse_bytes", "parse_file",
           "parse_source", "format_message", "message_from_dict"]


class PrototxtError(ValueError):
    """A malformed prototxt. Attributes: filename, line (or None), reason, layer (the name of
    the enclosing layer when known, else None), layer_line (line of that layer's block)."""

    def __init__(self, filename, line, reason, layer=None, layer_line=None, hint=None):
        self.filename, self.line, self.reason = filename, line, reason
        self.layer, self.layer_line, self.hint = layer, layer_line, hint
        where = "%s:%d" % (filename, line) if line is not None else str(filename)
        text = "%s: %s" % (where, reason)
        if layer is not None:
            text += " (layer '%s')" % layer
        elif layer_line is not None:
            text += " (layer at line %d)" % layer_line
        if hint:
            text += "; " + hint
        super().__init__(text)


_MISSING = object()


class Message:
    """One parsed message: `type_name` (a schema message), `fields` ({name: [values]} in the
    order fields first appeared; always a list) and `lines` ({name: [line of each value]},
    None for values set from Python)."""

    __slots__ = ("type_name", "fields", "lines")

    def __init__(self, type_name):
        if type_name not in schema.MESSAGES:
            raise ValueError("unknown message type %r" % (type_name,))
        self.type_name = type_name
        self.fields = {}
        self.lines = {}

    def _field(self, name):
        fd = schema.MESSAGES[self.type_name].get(name)
        if fd is None:
            raise KeyError("%s has no field '%s'" % (self.type_name, name))
        return fd

    # -- reading ---------------------------------------------------------------------------
    def has(self, name):
        """True if the field was given (a repeated field: at least once)."""
        self._field(name)
        return bool(self.fields.get(name))

    __contains__ = has

    def get(self, name, default=_MISSING):
        """The field's value: the last one given, else `default` if passed, else the schema
        default (an empty Message, not attached, for a message field). For a repeated field,
        the list of values."""
        fd = self._field(name)
        values = self.fields.get(name)
        if values:
            return list(values) if fd.repeated else values[-1]
        if default is not _MISSING:
            return default
        if fd.repeated:
            return []
        if schema.is_message_type(fd.type):
            return Message(fd.type)
        return fd.default

    def getlist(self, name):
        """All values of the field, as a new list ([] when absent)."""
        self._field(name)
        return list(self.fields.get(name, ()))

    def line_of(self, name, index=0):
        """The line of the index-th value of the field, or None (absent, or set from Python)."""
        self._field(name)
        lines = self.lines.get(name, ())
        try:
            return lines[index]
        except IndexError:
            return None

    # -- writing ---------------------------------------------------------------------------
    def set(self, name, value):
        """Set a field: a value for a singular field, a list of values for a repeated one.
        Values are checked and converted as the parser would (dicts become Messages)."""
        fd = self._field(name)
        if fd.repeated:
            if isinstance(value, (str, bytes, Mapping, Message)) or not hasattr(value, "__iter__"):
                raise TypeError("field '%s' of %s is repeated: set() takes a list"
                                % (name, self.type_name))
            values = [_coerce(fd, v, self.type_name) for v in value]
        else:
            values = [_coerce(fd, value, self.type_name)]
        self.fields[name] = values
        self.lines[name] = [None] * len(values)

    def add(self, name, value):
        """Append a value to a repeated field; returns the stored value (the Message for a
        message field, so that it can be filled in)."""
        fd = self._field(name)
        if not fd.repeated:
            raise TypeError("field '%s' of %s is not repeated: use set()" % (name, self.type_name))
        v = _coerce(fd, value, self.type_name)
        self._append(name, v, None)
        return v

    def mutable(self, name):
        """The Message of a singular message field, created and attached when absent."""
        fd = self._field(name)
        if fd.repeated or not schema.is_message_type(fd.type):
            raise TypeError("field '%s' of %s is not a singular message field"
                            % (name, self.type_name))
        if not self.fields.get(name):
            self._store(name, Message(fd.type), None)
        return self.fields[name][-1]

    def clear(self, name):
        self._field(name)
        self.fields.pop(name, None)
        self.lines.pop(name, None)

    def _append(self, name, value, line):
        self.fields.setdefault(name, []).append(value)
        self.lines.setdefault(name, []).append(line)

    def _store(self, name, value, line):
        if name in self.fields:  # keep the field's first position, as protobuf prints it
            self.fields[name][:] = [value]
            self.lines[name][:] = [line]
        else:
            self.fields[name] = [value]
            self.lines[name] = [line]

    # -- conversion ------------------------------------------------------------------------
    def to_dict(self, defaults=False):
        """Plain nested {field: [values]} (messages as dicts), for the compiled core. With
        defaults=True every unset scalar or enum field is added too: [default] when singular,
        [] when repeated (unset message fields stay absent)."""
        out = {}
        for name, values in self.fields.items():
            out[name] = [v.to_dict(defaults) if isinstance(v, Message) else v for v in values]
        if defaults:
            for name, fd in schema.MESSAGES[self.type_name].items():
                if name not in out and not schema.is_message_type(fd.type):
                    out[name] = [] if fd.repeated else [fd.default]
        return out

    def copy(self):
        return copy.deepcopy(self)

    def __eq__(self, other):
        if not isinstance(other, Message):
            return NotImplemented
        return self.type_name == other.type_name and self.to_dict() == other.to_dict()

    __hash__ = None

    def __repr__(self):
        text = format_message(self)
        if len(text) > 200:
            text = text[:200] + "..."
        return "<Message %s {%s}>" % (self.type_name, " ".join(text.split()))


def message_from_dict(data, type_name):
    """The inverse of Message.to_dict: a Message of `type_name` from {field: value or [values]}."""
    msg = Message(type_name)
    if not isinstance(data, Mapping):
        raise TypeError("%s: expected a mapping, got %s" % (type_name, type(data).__name__))
    for name, value in data.items():
        fd = msg._field(name)
        if fd.repeated:
            msg.set(name, value)
        elif isinstance(value, (list, tuple)):
            if value:  # to_dict's [value]; an empty list leaves the field unset
                msg.set(name, value[-1])
        else:
            msg.set(name, value)
    return msg


def _coerce(fd, value, owner):
    """Check a Python value for field `fd` and convert it as the parser would."""
    t = fd.type

    def bad(expected):
        return TypeError("field '%s' of %s: expected %s, got %r"
                         % (fd.name, owner, expected, value))

    if schema.is_message_type(t):
        if isinstance(value, Message):
            if value.type_name != t:
                raise bad("a %s message" % t)
            return value
        if isinstance(value, Mapping):
            return message_from_dict(value, t)
        raise bad("a %s message or a dict" % t)
    if schema.is_enum_type(t):
        values = schema.enum_values(t)
        if isinstance(value, str) and value in values:
            return value
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            name = schema.enum_name(t, int(value))
            if name is not None:
                return name
        raise ValueError("field '%s' of %s: %r is not one of %s"
                         % (fd.name, owner, value, ", ".join(values)))
    if t in schema.INT_TYPES:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise bad("an integer")
        lo, hi = schema.INT_RANGES[t]
        if not lo <= int(value) <= hi:
            raise ValueError("field '%s' of %s: %d is out of range for %s"
                             % (fd.name, owner, value, t))
        return int(value)
    if t in schema.FLOAT_TYPES:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise bad("a number")
        return to_float32(value) if t == "float" else float(value)
    if t == "bool":
        if type(value).__name__ in ("bool", "bool_"):
            return bool(value)
        raise bad("a bool")
    if not isinstance(value, str):
        raise bad("a string")
    return value


# ---------------------------------------------------------------------------------------------
# Tokenizer. Kinds: IDENT, INT, FLOAT (value = source text), STRING (value = decoded text),
# SYM (one of {}<>[]:,;-), EOF, and ERROR (value = the reason): a lexical error becomes a token
# so that the parser reports it with the layer it sits in.

_Token = namedtuple("_Token", "kind value line")

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"0[xX][0-9A-Fa-f]+|(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[fF]?")
_WORD_TAIL = re.compile(r"[A-Za-z0-9_.]*")
_SKIP = re.compile(r"(?:[ \t\r\f\v]+|#[^\n]*)+")
_SYMBOLS = frozenset("{}<>[]:,;-")
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f",
                   "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?"}
_STRING_RUNS = {q: re.compile(r"[^\\\n%s]+" % q) for q in "'\""}


def _tokenize(text):
    tokens, pos, line, n = [], 0, 1, len(text)
    while pos < n:
        m = _SKIP.match(text, pos)
        if m:
            pos = m.end()
            continue
        c = text[pos]
        if c == "\n":
            line += 1
            pos += 1
        elif c in _SYMBOLS:
            tokens.append(_Token("SYM", c, line))
            pos += 1
        elif c == "_" or ("a" <= c <= "z") or ("A" <= c <= "Z"):
            m = _IDENT.match(text, pos)
            tokens.append(_Token("IDENT", m.group(), line))
            pos = m.end()
        elif ("0" <= c <= "9") or (c == "." and pos + 1 < n and "0" <= text[pos + 1] <= "9"):
            m = _NUMBER.match(text, pos)
            word = m.group() + _WORD_TAIL.match(text, m.end()).group()
            if len(word) != len(m.group()):
                tokens.append(_Token("ERROR", "invalid number '%s'" % word, line))
                break
            if word[:2] in ("0x", "0X"):
                kind = "INT"
            elif any(ch in word for ch in ".eEfF"):
                kind = "FLOAT"
            else:
                kind = "INT"
                if len(word) > 1 and word[0] == "0" and not set(word) <= set("01234567"):
                    tokens.append(_Token("ERROR", "invalid number '%s': a leading 0 makes it "
                                         "octal" % word, line))
                    break
            tokens.append(_Token(kind, word, line))
            pos = m.end()
        elif c in "'\"":
            value, pos, error = _read_string(text, pos)
            if error:
                tokens.append(_Token("ERROR", error, line))
                break
            tokens.append(_Token("STRING", value, line))
        else:
            tokens.append(_Token("ERROR", "unexpected character %r" % c, line))
            break
    tokens.append(_Token("EOF", None, line))
    return tokens


def _read_string(text, pos):
    """Read the quoted string at text[pos]; returns (value, end, error)."""
    quote, i, n = text[pos], pos + 1, len(text)
    run = _STRING_RUNS[quote]
    out = bytearray()
    while True:
        m = run.match(text, i)
        if m:
            out += m.group().encode("utf-8")
            i = m.end()
        if i >= n or text[i] == "\n":
            return None, i, "unterminated string (a string must close on the line it opens)"
        c = text[i]
        if c == quote:
            i += 1
            break
        i += 1  # a backslash
        e = text[i] if i < n else ""
        if e in _SIMPLE_ESCAPES:
            out += _SIMPLE_ESCAPES[e].encode()
            i += 1
        elif "0" <= e <= "7":
            digits = re.match(r"[0-7]{1,3}", text[i:i + 3]).group()
            if int(digits, 8) > 255:
                return None, i, "octal escape '\\%s' out of range" % digits
            out.append(int(digits, 8))
            i += len(digits)
        elif e in ("x", "X"):
            digits = re.match(r"[0-9A-Fa-f]{0,2}", text[i + 1:i + 3]).group()
            if not digits:
                return None, i, "invalid escape '\\x' without hex digits"
            out.append(int(digits, 16))
            i += 1 + len(digits)
        elif e in ("u", "U"):
            width = 4 if e == "u" else 8
            digits = text[i + 1:i + 1 + width]
            if not re.fullmatch(r"[0-9A-Fa-f]{%d}" % width, digits) or int(digits, 16) > 0x10FFFF:
                return None, i, "invalid escape '\\%s%s'" % (e, digits)
            out += chr(int(digits, 16)).encode("utf-8", "surrogatepass")
            i += 1 + width
        elif e in ("", "\n"):
            return None, i, "unterminated string (a string must close on the line it opens)"
        else:
            return None, i, "invalid escape sequence '\\%s' in string" % e
    try:
        return out.decode("utf-8"), i, None
    except UnicodeDecodeError:
        return None, i, "string is not valid UTF-8 after unescaping"


def _describe(tok, negative=False):
    if tok.kind in ("INT", "FLOAT", "IDENT"):
        return "'%s%s'" % ("-" if negative else "", tok.value)
    if tok.kind == "STRING":
        return "string %s" % _quote(tok.value)
    if tok.kind == "SYM":
        return "'%s'" % tok.value
    return "end of file"


def _close_match(word, candidates):
    found = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return "did you mean '%s'?" % found[0] if found else None


# ---------------------------------------------------------------------------------------------
# Parser.

def _int_of(text):
    if text[:2] in ("0x", "0X"):
        return int(text, 16)
    if len(text) > 1 and text[0] == "0":
        return int(text, 8)
    return int(text)


_TRUE = frozenset(("true", "True", "t"))
# The blocks whose name an error inside them reports (V1 and V0 layers of old nets too).
_LAYER_TYPES = frozenset(("LayerParameter", "V1LayerParameter", "V0LayerParameter"))
_FALSE = frozenset(("false", "False", "f"))


class _Parser:
    def __init__(self, tokens, filename):
        self.toks = tokens
        self.i = 0
        self.filename = filename
        self.layers = []  # enclosing LayerParameter blocks: (message, index of '{', line)

    # -- errors ----------------------------------------------------------------------------
    def fail(self, reason, tok, hint=None):
        layer = layer_line = None
        if self.layers:
            msg, open_index, layer_line = self.layers[-1]
            names = msg.fields.get("name")
            layer = names[-1] if names else self._scan_layer_name(open_index)
        raise PrototxtError(self.filename, tok.line, reason, layer, layer_line, hint)

    def _scan_layer_name(self, open_index):
        """The layer's name, given later in its block than the error: look ahead in the
        tokens at the block's own depth for `name: "..."`."""
        toks, depth, j = self.toks, 0, open_index + 1
        while toks[j].kind not in ("EOF", "ERROR"):
            t = toks[j]
            if t.kind == "SYM" and t.value in "{<":
                depth += 1
            elif t.kind == "SYM" and t.value in "}>":
                if depth == 0:
                    break
                depth -= 1
            elif (depth == 0 and t.kind == "IDENT" and t.value == "name"
                  and toks[j + 1].kind == "SYM" and toks[j + 1].value == ":"
                  and toks[j + 2].kind == "STRING"):
                j += 2
                value = ""
                while toks[j].kind == "STRING":
                    value += toks[j].value
                    j += 1
                return value
            j += 1
        return None

    # -- tokens ----------------------------------------------------------------------------
    def peek(self):
        tok = self.toks[self.i]
        if tok.kind == "ERROR":
            self.fail(tok.value, tok)
        return tok

    def take(self):
        tok = self.peek()
        if tok.kind != "EOF":
            self.i += 1
        return tok

    def at(self, symbol):
        tok = self.peek()
        return tok.kind == "SYM" and tok.value == symbol

    # -- grammar ---------------------------------------------------------------------------
    def parse_body(self, msg, open_tok=None, closer=None, block_name=None):
        while True:
            tok = self.peek()
            if tok.kind == "EOF":
                if closer is None:
                    return
                self.fail("unterminated block '%s': no closing '%s' before the end of the file"
                          % (block_name, closer), open_tok)
            if tok.kind == "SYM" and tok.value == closer:
                self.i += 1
                return
            if tok.kind != "IDENT":
                if tok.kind == "SYM" and tok.value in "}>":
                    reason = ("unexpected '%s': no block is open" % tok.value if closer is None
                              else "unexpected '%s': expected '%s' to close '%s'"
                              % (tok.value, closer, block_name))
                elif tok.kind == "SYM" and tok.value == "[":
                    reason = "unexpected '[': extension fields are not supported"
                else:
                    reason = "expected a field name, got %s" % _describe(tok)
                self.fail(reason, tok)
            self.parse_field(msg)
            if self.at(",") or self.at(";"):
                self.i += 1

    def parse_field(self, msg):
        name_tok = self.take()
        name = name_tok.value
        fd = schema.field(msg.type_name, name)
        if fd is None:
            self.fail("unknown field '%s' in %s" % (name, msg.type_name), name_tok,
                      _close_match(name, schema.MESSAGES[msg.type_name]))
        is_message = schema.is_message_type(fd.type)
        if self.at(":"):
            self.i += 1
        elif not is_message:
            self.fail("expected ':' after field name '%s', got %s"
                      % (name, _describe(self.peek())), self.peek())
        if self.at("["):
            list_tok = self.take()
            if not fd.repeated:
                self.fail("field '%s' of %s is not repeated: a list [...] is not allowed"
                          % (name, msg.type_name), list_tok)
            if self.at("]"):
                self.i += 1
                return
            while True:
                self.parse_value(msg, fd, self.peek())
                tok = self.take()
                if tok.kind == "SYM" and tok.value == "]":
                    return
                if not (tok.kind == "SYM" and tok.value == ","):
                    self.fail("expected ',' or ']' in the list of '%s', got %s"
                              % (name, _describe(tok)), tok)
        self.parse_value(msg, fd, name_tok)

    def parse_value(self, msg, fd, line_tok):
        if schema.is_message_type(fd.type):
            open_tok = self.take()
            if not (open_tok.kind == "SYM" and open_tok.value in "{<"):
                self.fail("expected '{' to open message field '%s', got %s"
                          % (fd.name, _describe(open_tok)), open_tok)
            if fd.repeated or not msg.fields.get(fd.name):
                sub = Message(fd.type)
            else:
                sub = msg.fields[fd.name][-1]  # a singular message given again is merged
            if fd.repeated:
                msg._append(fd.name, sub, line_tok.line)
            else:
                msg._store(fd.name, sub, line_tok.line)
            is_layer = fd.type in _LAYER_TYPES
            if is_layer:
                self.layers.append((sub, self.i - 1, open_tok.line))
            self.parse_body(sub, open_tok, "}" if open_tok.value == "{" else ">", fd.name)
            if is_layer:
                self.layers.pop()
            return
        value = self.parse_scalar(fd, msg.type_name)
        if fd.repeated:
            msg._append(fd.name, value, line_tok.line)
        else:
            msg._store(fd.name, value, line_tok.line)

    def parse_scalar(self, fd, owner):
        tok = self.take()
        negative = False
        if tok.kind == "SYM" and tok.value == "-":
            negative = True
            tok = self.take()
            if tok.kind not in ("INT", "FLOAT", "IDENT"):
                self.fail("expected a number after '-', got %s" % _describe(tok), tok)
        if tok.kind == "STRING":
            while self.peek().kind == "STRING":  # "abc" "def" is "abcdef"
                tok = _Token("STRING", tok.value + self.take().value, tok.line)
        t = fd.type
        where = "field '%s' of %s" % (fd.name, owner)
        if tok.kind in ("EOF", "SYM"):
            self.fail("expected a value for %s, got %s" % (where, _describe(tok)), tok)

        def wrong(expected, hint=None):
            self.fail("invalid value for %s (%s): expected %s, got %s"
                      % (where, t.rsplit(".", 1)[-1], expected, _describe(tok, negative)),
                      tok, hint)

        if t in schema.INT_TYPES:
            if tok.kind != "INT":
                wrong("an integer")
            value = -_int_of(tok.value) if negative else _int_of(tok.value)
            lo, hi = schema.INT_RANGES[t]
            if not lo <= value <= hi:
                self.fail("value %d is out of range for %s (%s: %d to %d)"
                          % (value, where, t, lo, hi), tok)
            return value
        if t in schema.FLOAT_TYPES:
            if tok.kind == "INT":
                value = float(_int_of(tok.value))
            elif tok.kind == "FLOAT":
                value = float(tok.value.rstrip("fF"))
            elif tok.kind == "IDENT" and tok.value.lower() in ("inf", "infinity"):
                value = math.inf
            elif tok.kind == "IDENT" and tok.value.lower() == "nan":
                value = math.nan
            else:
                wrong("a number")
            if negative:
                value = -value
            return to_float32(value) if t == "float" else value
        if t == "bool":
            if not negative and tok.kind == "IDENT" and tok.value in _TRUE | _FALSE:
                return tok.value in _TRUE
            if not negative and tok.kind == "INT" and tok.value in ("0", "1"):
                return tok.value == "1"
            wrong("true or false")
        if t in ("string", "bytes"):
            if tok.kind != "STRING":
                wrong("a quoted string")
            return tok.value
        values = schema.enum_values(t)
        if tok.kind == "IDENT" and not negative:
            if tok.value in values:
                return tok.value
            self.fail("unknown value '%s' for enum field '%s' of %s; expected one of %s"
                      % (tok.value, fd.name, owner, ", ".join(values)), tok,
                      _close_match(tok.value, values))
        if tok.kind == "INT":
            number = -_int_of(tok.value) if negative else _int_of(tok.value)
            name = schema.enum_name(t, number)
            if name is not None:
                return name
            self.fail("unknown value %d for enum field '%s' of %s; expected one of %s"
                      % (number, fd.name, owner, ", ".join(values)), tok)
        wrong("one of " + ", ".join(values))


def parse_text(text, root_type, filename="<string>", upgrade=False):
    """Parse prototxt text into a Message of `root_type` ('NetParameter', 'SolverParameter'
    or any schema message). With upgrade=True an old NetParameter or SolverParameter (V0 and
    V1 layers, legacy inputs, solver_type, ...) is brought to the current format as Caffe
    reads it, and the upgrade is logged once per file (upgrade.py). Raises PrototxtError."""
    if root_type not in schema.MESSAGES:
        raise ValueError("unknown message type %r" % (root_type,))
    if text.startswith("\ufeff"):
        text = text[1:]
    root = Message(root_type)
    _Parser(_tokenize(text), filename).parse_body(root)
    if upgrade:
        from .upgrade import upgrade_message  # upgrade builds on this module
        upgrade_message(root, filename)
    return root


def parse_file(path, root_type, upgrade=False):
    """Parse a prototxt file; errors name the file as `path` was given."""
    filename = str(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise PrototxtError(filename, None, "cannot read prototxt: %s" % (e.strerror or e)) from e
    return parse_bytes(raw, root_type, filename, upgrade)


def parse_bytes(raw, root_type, filename="<bytes>", upgrade=False):
    """Parse a prototxt file's bytes (UTF-8 text). Raises PrototxtError."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise PrototxtError(filename, line, "the file is not UTF-8 text (byte offset %d); is "
                            "it a binary file?" % e.start) from None
    return parse_text(text, root_type, filename, upgrade)


# ---------------------------------------------------------------------------------------------
# Writing.

def _quote(s):
    out = ['"']
    for ch in s:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append("\\%03o" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _format_float(v, single):
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if not single:
        return repr(v)
    for digits in range(1, 10):  # the shortest text that reads back as the same float32
        text = "%.*g" % (digits, v)
        if to_float32(float(text)) == v:
            return text
    return repr(v)


def _format_scalar(fd, v):
    t = fd.type
    if t == "bool":
        return "true" if v else "false"
    if t in schema.FLOAT_TYPES:
        return _format_float(v, t == "float")
    if t in ("string", "bytes"):
        return _quote(v)
    return str(v)  # integers, enum names


_NEVER_ONE_LINE = frozenset(("LayerParameter", "NetParameter", "SolverParameter",
                             "V1LayerParameter", "V0LayerParameter"))


def _format_body(msg, level, indent, out):
    pad = " " * (level * indent)
    table = schema.MESSAGES[msg.type_name]
    for name, values in msg.fields.items():
        fd = table[name]
        for v in values:
            if not isinstance(v, Message):
                out.append("%s%s: %s" % (pad, name, _format_scalar(fd, v)))
                continue
            if v.type_name not in _NEVER_ONE_LINE and \
                    not any(isinstance(x, Message) for xs in v.fields.values() for x in xs):
                inner = []
                _format_body(v, 0, indent, inner)
                one_line = "%s%s { %s }" % (pad, name, " ".join(inner)) if inner else \
                    "%s%s {}" % (pad, name)
                if len(one_line) <= 80:
                    out.append(one_line)
                    continue
            out.append("%s%s {" % (pad, name))
            _format_body(v, level + 1, indent, out)
            out.append("%s}" % pad)


def format_message(msg, indent=2):
    """The message in text format (fields in the order they were given), readable by
    parse_text and by Caffe. Small messages of scalars go on one line."""
    out = []
    _format_body(msg, 0, indent, out)
    return "\n".join(out) + "\n" if out else ""


# ---------------------------------------------------------------------------------------------
# Protobuf messages (caffe_pb2) as sources.

def is_protobuf_message(obj, root_type):
    """Whether obj is a protobuf message of Caffe's `root_type` (caffe_pb2's or any other
    build of caffe.proto), told by duck typing so that protobuf is imported only by users."""
    descriptor = getattr(obj, "DESCRIPTOR", None)
    return getattr(descriptor, "full_name", None) == "caffe." + root_type


def parse_source(source, root_type, **options):
    """(Message, filename) from a prototxt path or a protobuf message of `root_type`;
    options go to parse_text / parse_file.

    A protobuf message is written as text by protobuf's text_format and parsed here, so the
    one reader of prototxt rules (and its file:line errors, the file then named
    '<NetParameter message>') serves both."""
    if is_protobuf_message(source, root_type):
        from google.protobuf import text_format

        filename = "<%s message>" % root_type
        text = text_format.MessageToString(source)
        return parse_text(text, root_type, filename, **options), filename
    if not isinstance(source, (str, bytes)) and not hasattr(source, "__fspath__"):
        raise TypeError("expected a prototxt path or a caffe_pb2.%s, got %s"
                        % (root_type, type(source).__name__))
    return parse_file(source, root_type, **options), str(source)
