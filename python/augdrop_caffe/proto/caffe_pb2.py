"""Caffe's protobuf messages (NetParameter, SolverParameter, BlobProto, Datum, ...) as pycaffe's
`caffe.proto.caffe_pb2` has them, plus AugmentedDropoutParameter.

No protoc step and no second copy of caffe.proto: the FileDescriptorProto is built at import
from schema.py's parsed declarations (the one source of the schema) and the classes come from
the `protobuf` runtime. The package is `caffe`, so text_format output and binary bytes are
Caffe's own (`caffe.NetParameter`, ...).

DEVIATION: the descriptors live in a private pool (POOL), not protobuf's default pool, so this
module can sit beside a real Caffe installation's caffe_pb2 without a duplicate-file error.
"""
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.internal import enum_type_wrapper

from .. import schema

try:
    from google.protobuf.message_factory import GetMessageClass as _message_class
except ImportError:  # protobuf < 4.22
    from google.protobuf import message_factory as _mf

    _FACTORY = _mf.MessageFactory()
    _message_class = _FACTORY.GetPrototype

PACKAGE = "caffe"
FILE_NAME = "augdrop_caffe/caffe.proto"

_FD = descriptor_pb2.FieldDescriptorProto
_SCALARS = {
    "double": _FD.TYPE_DOUBLE, "float": _FD.TYPE_FLOAT, "int64": _FD.TYPE_INT64,
    "uint64": _FD.TYPE_UINT64, "int32": _FD.TYPE_INT32, "fixed64": _FD.TYPE_FIXED64,
    "fixed32": _FD.TYPE_FIXED32, "bool": _FD.TYPE_BOOL, "string": _FD.TYPE_STRING,
    "bytes": _FD.TYPE_BYTES, "uint32": _FD.TYPE_UINT32, "sfixed32": _FD.TYPE_SFIXED32,
    "sfixed64": _FD.TYPE_SFIXED64, "sint32": _FD.TYPE_SINT32, "sint64": _FD.TYPE_SINT64,
}
_LABELS = {"optional": _FD.LABEL_OPTIONAL, "repeated": _FD.LABEL_REPEATED,
           "required": _FD.LABEL_REQUIRED}


def _default_text(type_name, text):
    """A default as FieldDescriptorProto.default_value spells it (what protoc writes)."""
    if type_name in ("string", "bytes"):
        return text[1:-1]
    if type_name in schema.FLOAT_TYPES:
        return repr(float(text))
    if type_name in schema.INT_TYPES:
        return str(int(text))
    return text  # bool (true/false) and enum value names


def _add_enum(container, name, values):
    enum = container.enum_type.add(name=name)
    for value_name, number in values.items():
        enum.value.add(name=value_name, number=number)


def file_descriptor_proto():
    """The FileDescriptorProto of Caffe's schema as schema.py declares it."""
    messages, enums = schema.DECLARATIONS
    fdp = descriptor_pb2.FileDescriptorProto(name=FILE_NAME, package=PACKAGE, syntax="proto2")
    for enum_name, values in enums.items():
        if "." not in enum_name:
            _add_enum(fdp, enum_name, values)
    for msg_name, decls in messages.items():
        msg = fdp.message_type.add(name=msg_name)
        for enum_name, values in enums.items():
            outer, _, inner = enum_name.rpartition(".")
            if outer == msg_name:
                _add_enum(msg, inner, values)
        for label, type_name, name, number, opts in decls:
            resolved = schema._resolve_type(type_name, msg_name, messages, enums)
            field = msg.field.add(name=name, number=number, label=_LABELS[label])
            if resolved in _SCALARS:
                field.type = _SCALARS[resolved]
            else:
                field.type = _FD.TYPE_ENUM if resolved in enums else _FD.TYPE_MESSAGE
                field.type_name = ".%s.%s" % (PACKAGE, resolved)
            if "default" in opts:
                field.default_value = _default_text(resolved, opts["default"])
            if opts.get("packed") == "true":
                field.options.packed = True
    return fdp


POOL = descriptor_pool.DescriptorPool()
POOL.AddSerializedFile(file_descriptor_proto().SerializeToString())
DESCRIPTOR = POOL.FindFileByName(FILE_NAME)


def _export():
    names = []
    for enum_name, enum_desc in DESCRIPTOR.enum_types_by_name.items():
        globals()[enum_name] = enum_type_wrapper.EnumTypeWrapper(enum_desc)
        for value in enum_desc.values:
            globals()[value.name] = value.number
        names.append(enum_name)
    for msg_name, msg_desc in DESCRIPTOR.message_types_by_name.items():
        cls = _message_class(msg_desc)
        cls.__module__ = __name__
        globals()[msg_name] = cls
        names.append(msg_name)
    return names


__all__ = _export()
