#!/usr/bin/env python3
"""Writes the broken-file corpus in tests/data/broken/: one or more files per
rule of the format, each named x_<rule>_<case>.safetensors (x: must fail), and
expected.json mapping each file to the ErrorKind it must be refused with.

Run: python3 tests/data/make_broken.py  (stdlib only; output is committed)
"""
import json
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "broken")
W = '"dtype":"U8","shape":[2],"data_offsets":[0,2]'
expected = {}
# Where a 32-bit target refuses a file by another rule: shapes are usize
# there, so a dimension past 2^32 - 1 is an Overflow before any later rule.
expected_32bit = {}


def raw(name, kind, data, kind32=None):
    path = os.path.join(OUT, f"x_{name}.safetensors")
    with open(path, "wb") as f:
        f.write(data)
    expected[os.path.basename(path)] = kind
    if kind32 is not None:
        expected_32bit[os.path.basename(path)] = kind32


def file(name, kind, header, data=b"", declared=None, kind32=None):
    header = header.encode() if isinstance(header, str) else header
    n = len(header) if declared is None else declared
    raw(name, kind, struct.pack("<Q", n) + header + data, kind32)


os.makedirs(OUT, exist_ok=True)
for old in os.listdir(OUT):
    os.remove(os.path.join(OUT, old))

# Length prefix
raw("short_empty", "FileTooSmall", b"")
raw("short_1", "FileTooSmall", b"\x01")
raw("short_7", "FileTooSmall", b"\x02\x00\x00\x00\x00\x00\x00")
file("length_past_end", "HeaderOutOfBounds", "{}", declared=1000)
file("length_u64_max", "HeaderTooLarge", "{}", declared=2**64 - 1)
file("length_over_limit", "HeaderTooLarge", "{}", declared=100_000_001)
# Text
file("utf8_invalid", "InvalidUtf8", b'{"w\xff\xfe":1}')
file("utf8_bom", "JsonSyntax", "\ufeff{}")
file("json_not_json", "JsonSyntax", "safetensors")
file("json_truncated", "JsonSyntax", '{"w":{"dtype":"U8","shape":[2],"data_')
file("json_single_quotes", "JsonSyntax", "{'w':1}")
file("json_trailing_comma", "JsonSyntax", '{"w":{' + W + "},}", b"\0\0")
file("json_control_char", "JsonSyntax", '{"a\nb":1}')
file("json_lone_surrogate", "JsonSyntax", '{"\\ud800":1}')
file("json_bad_escape", "JsonSyntax", '{"\\x41":1}')
file("json_leading_zero", "JsonSyntax", '{"w":{"dtype":"U8","shape":[02],"data_offsets":[0,2]}}', b"\0\0")
file("json_number_out_of_range", "JsonSyntax", '{"w":{' + W + ',"x":1e999}}', b"\0\0")
file("after_object_nul", "TrailingCharacters", "{}\0\0\0\0\0\0")
file("after_object_text", "TrailingCharacters", "{} x")
file("after_object_second", "TrailingCharacters", "{}{}")
file("deep_nesting_100000", "RecursionLimit", "[" * 100_000)
file("deep_nesting_in_field", "RecursionLimit", '{"w":{' + W + ',"x":' + "[" * 100_000 + "]" * 100_000 + "}}", b"\0\0")
# Types
file("type_header_array", "InvalidType", "[]")
file("type_entry_number", "InvalidType", '{"w":1}')
file("type_entry_array", "InvalidType", '{"w":["U8",[2],[0,2]]}', b"\0\0")
file("type_dtype_number", "InvalidType", '{"w":{"dtype":8,"shape":[2],"data_offsets":[0,2]}}', b"\0\0")
file("type_shape_string", "InvalidType", '{"w":{"dtype":"U8","shape":"2","data_offsets":[0,2]}}', b"\0\0")
file("type_offsets_object", "InvalidType", '{"w":{"dtype":"U8","shape":[2],"data_offsets":{}}}', b"\0\0")
file("missing_dtype", "MissingField", '{"w":{"shape":[2],"data_offsets":[0,2]}}', b"\0\0")
file("missing_shape", "MissingField", '{"w":{"dtype":"U8","data_offsets":[0,2]}}', b"\0\0")
file("missing_offsets", "MissingField", '{"w":{"dtype":"U8","shape":[2]}}', b"\0\0")
file("duplicate_field", "DuplicateField", '{"w":{' + W + ',"shape":[2]}}', b"\0\0")
file("duplicate_name", "DuplicateTensor", '{"w":{' + W + '},"w":{"dtype":"U8","shape":[0],"data_offsets":[2,2]}}', b"\0\0")
file("duplicate_name_escaped", "DuplicateTensor", '{"w":{' + W + '},"\\u0077":{"dtype":"U8","shape":[0],"data_offsets":[2,2]}}', b"\0\0")
file("duplicate_metadata", "DuplicateMetadata", '{"__metadata__":{},"w":{' + W + '},"__metadata__":{}}', b"\0\0")
file("metadata_number_value", "InvalidMetadata", '{"__metadata__":{"a":1},"w":{' + W + "}}", b"\0\0")
file("metadata_null_value", "InvalidMetadata", '{"__metadata__":{"a":null},"w":{' + W + "}}", b"\0\0")
file("metadata_nested", "InvalidMetadata", '{"__metadata__":{"a":{"b":"c"}},"w":{' + W + "}}", b"\0\0")
file("metadata_array", "InvalidMetadata", '{"__metadata__":["a"],"w":{' + W + "}}", b"\0\0")
# Dtypes and numbers
file("dtype_unknown", "UnknownDtype", '{"w":{"dtype":"F128","shape":[2],"data_offsets":[0,2]}}', b"\0\0")
file("dtype_lower_case", "UnknownDtype", '{"w":{"dtype":"u8","shape":[2],"data_offsets":[0,2]}}', b"\0\0")
for tag, value in [("negative", "-2"), ("float", "2.0"), ("exponent", "2e0"), ("string", '"2"'), ("above_u64", "18446744073709551616"), ("minus_zero", "-0")]:
    file(f"dim_{tag}", "InvalidInteger", '{"w":{"dtype":"U8","shape":[' + value + '],"data_offsets":[0,2]}}', b"\0\0")
file("offset_negative", "InvalidInteger", '{"w":{"dtype":"U8","shape":[2],"data_offsets":[-1,2]}}', b"\0\0")
file("offsets_one", "InvalidOffsets", '{"w":{"dtype":"U8","shape":[2],"data_offsets":[2]}}', b"\0\0")
file("offsets_three", "InvalidOffsets", '{"w":{"dtype":"U8","shape":[2],"data_offsets":[0,2,2]}}', b"\0\0")
file("offsets_reversed", "InvalidOffsets", '{"w":{"dtype":"U8","shape":[2],"data_offsets":[2,0]}}', b"\0\0")
# Sizes
file("shape_overflow", "Overflow", '{"w":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,2]}}', b"\0\0")
file("bytes_overflow", "Overflow", '{"w":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,2]}}', b"\0\0")
file("subbyte_f4_odd", "PartialByte", '{"w":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}', b"\0\0")
file("subbyte_f6_two", "PartialByte", '{"w":{"dtype":"F6_E2M3","shape":[2],"data_offsets":[0,2]}}', b"\0\0")
file("size_mismatch", "SizeMismatch", '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', b"\0" * 4)
file("rank_65", "RankTooLarge", '{"w":{"dtype":"U8","shape":[' + ",".join(["1"] * 65) + '],"data_offsets":[0,1]}}', b"\0")
# Coverage of the data section
two = lambda a, b: '{"a":{"dtype":"U8","shape":[2],"data_offsets":' + a + '},"b":{"dtype":"U8","shape":[2],"data_offsets":' + b + "}}"
file("hole", "DataGap", two("[0,2]", "[3,5]"), b"\0" * 5)
file("not_starting_at_zero", "DataGap", '{"w":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}', b"\0" * 3)
file("overlap", "DataOverlap", two("[0,2]", "[1,3]"), b"\0" * 3)
file("aliasing", "DataOverlap", two("[0,2]", "[0,2]"), b"\0" * 2)
file("trailing_data", "TrailingData", '{"w":{' + W + "}}", b"\0" * 3)
file("truncated_data", "DataOutOfBounds", '{"w":{' + W + "}}", b"\0")
file("huge_offsets", "DataOutOfBounds", '{"w":{"dtype":"U8","shape":[1099511627776],"data_offsets":[0,1099511627776]}}', b"\0", kind32="Overflow")

# Numbers at the edge of u64: sums and products that overflow only at the
# end, in debug and release alike.
U64_MAX = 2**64 - 1


def chained(name, kind, dtype, dim, count):
    """`count` tensors of shape [dim] with back-to-back offsets."""
    entries, begin = [], 0
    step = dim if dtype == "U8" else None
    for i in range(count):
        entries.append(f'"t{i}":{{"dtype":"{dtype}","shape":[{dim}],"data_offsets":[{begin},{begin + step}]}}')
        begin += step
    file(name, kind, "{" + ",".join(entries) + "}", b"\0" * 8)


def padded(text, size):
    """`text` padded with spaces to exactly `size` bytes."""
    assert len(text) <= size, (len(text), size)
    return text + " " * (size - len(text))


# Eight spans of 2^61 - 1 bytes end at 2^64 - 8: every offset fits, the file
# length 8 + N + 2^64 - 8 does not (an 848-byte header that once panicked).
chained("chained_spans_overflow", "Overflow", "U8", 2**61 - 1, 8)
# Spans summing to exactly u64::MAX - 8 - N: the file length is u64::MAX,
# which fits, so the file is merely too short; one byte more overflows.
N = 200
for tag, extra, kind in [("to_u64_max", 0, "DataOutOfBounds"), ("past_u64_max", 1, "Overflow")]:
    span = U64_MAX - 8 - N + extra
    text = '{"w":{"dtype":"U8","shape":[' + str(span) + '],"data_offsets":[0,' + str(span) + "]}}"
    file(f"spans_{tag}", kind, padded(text, N), b"\0" * 8, kind32="Overflow")
file("offsets_u64_max", "Overflow", '{"w":{"dtype":"U8","shape":[18446744073709551615],"data_offsets":[0,18446744073709551615]}}', b"\0")
file("offsets_u64_max_empty", "DataGap", '{"w":{"dtype":"U8","shape":[0],"data_offsets":[18446744073709551615,18446744073709551615]}}')
file("length_u64_max_minus_7", "HeaderTooLarge", "{}", declared=2**64 - 8)
# F4 and F6 products whose bit count overflows u64 while the bytes fit: a
# header that can be listed, of a file far larger than this one.
file("f4_bits_past_u64", "DataOutOfBounds", '{"w":{"dtype":"F4","shape":[4611686018427387904,2],"data_offsets":[0,4611686018427387904]}}', b"\0", kind32="Overflow")
file("f6_bits_past_u64", "DataOutOfBounds", '{"w":{"dtype":"F6_E2M3","shape":[4611686018427387904],"data_offsets":[0,3458764513820540928]}}', b"\0", kind32="Overflow")
file("f4_elements_past_u64", "Overflow", '{"w":{"dtype":"F4","shape":[4611686018427387904,4],"data_offsets":[0,9223372036854775808]}}', b"\0")
# A dimension of 0 after dimensions whose product overflows: the element
# count is refused as it is computed, as the reference does.
file("shape_overflow_then_zero", "Overflow", '{"w":{"dtype":"U8","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}}')

# Further spellings of the rules above
for i, text in enumerate(["", "   ", "{", '{"w":', "{]", "{,}", "nul", '{"w":{"dtype":"U8",}}']):
    file(f"json_syntax_{i}", "JsonSyntax", text)
file("json_lone_trailing_surrogate", "JsonSyntax", '{"\\udc00":1}')
file("json_unknown_escape", "JsonSyntax", '{"\\q":1}')
for tag, text in [("number", "1"), ("string", '"s"'), ("null", "null"), ("bool", "true")]:
    file(f"type_header_{tag}", "InvalidType", text)
file("type_shape_number", "InvalidType", '{"w":{"dtype":"U8","shape":1,"data_offsets":[0,1]}}', b"\0")
file("missing_everything", "MissingField", '{"w":{}}', b"\0")
file("duplicate_metadata_escaped", "DuplicateMetadata", '{"__metadata__":{},"w":{' + W + '},"__metadata\\u005f_":{}}', b"\0\0")
for tag, value in [("number", "1"), ("string", '"s"'), ("array_of_strings", '["x"]')]:
    file(f"metadata_{tag}", "InvalidMetadata", '{"__metadata__":' + value + ',"w":{' + W + "}}", b"\0\0")
for i, dtype in enumerate(["", "BOOL ", "Bf16", "F8_E4M3FN", "f32"]):
    file(f"dtype_unknown_{i}", "UnknownDtype", '{"w":{"dtype":"' + dtype + '","shape":[],"data_offsets":[0,1]}}', b"\0")
for tag, value in [("exponent_upper", "1E0"), ("null", "null"), ("array", "[2]")]:
    file(f"dim_{tag}", "InvalidInteger", '{"w":{"dtype":"U8","shape":[' + value + '],"data_offsets":[0,2]}}', b"\0\0")
    file(f"offset_{tag}", "InvalidInteger", '{"w":{"dtype":"U8","shape":[2],"data_offsets":[0,' + value + ']}}', b"\0\0")
for tag, value in [("leading_zero", "01"), ("trailing_dot", "1."), ("plus", "+1"), ("hex", "0x10"), ("leading_dot", ".5"), ("minus", "-")]:
    file(f"dim_syntax_{tag}", "JsonSyntax", '{"w":{"dtype":"U8","shape":[' + value + '],"data_offsets":[0,2]}}', b"\0\0")
file("offsets_empty", "InvalidOffsets", '{"w":{"dtype":"U8","shape":[1],"data_offsets":[]}}', b"\0")
file("subbyte_f6_e3m2_two", "PartialByte", '{"w":{"dtype":"F6_E3M2","shape":[2],"data_offsets":[0,2]}}', b"\0\0")
file("hole_at_start", "DataGap", two("[1,3]", "[3,5]"), b"\0" * 5)

for name, table in [("expected.json", expected), ("expected-32bit.json", expected_32bit)]:
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(table, f, indent=1, sort_keys=True)
        f.write("\n")
print("wrote", len(expected), "broken files to", OUT)
