#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets: test/fuzz/corpus/<target>/<name>.

Each seed is made by hand here, with its name saying what it is: valid
requests, each request-smuggling vector, each limit, WebSocket frames of
every kind. Run it again after changing a seed (it rewrites every file and
removes none); tools/fuzz only reads these directories. Each input starts
with its target's settings bytes (see the comment at the top of
test/fuzz/<target>.cpp), then the data.
"""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

# Three bytes of cuts: how many (0-15; 16 and up: every byte alone) and a seed.
WHOLE = b"\x00\x00\x00"
CUT3 = b"\x03\x12\x34"
CUT9 = b"\x09\xbe\xef"
BYTEWISE = b"\x10\x00\x00"


def write(target, name, data):
    directory = os.path.join(HERE, "corpus", target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


# ---- http_server_codec: [settings][cuts][bytes] --------------------------------
# settings: bits 0-1 limits (0 defaults; 1 target 32, head 128, 4 fields,
# body 16, chunk line 8, streamed body 32), 4: two requests in flight,
# 8: three requests a connection, 16: the clock runs past every timeout,
# 32: the client closes its side, 64: the client reads nothing until the
# end, 128: small write watermarks.

DEFAULTS, SMALL = 0x00, 0x01
TWO_IN_FLIGHT, THREE_A_CONNECTION, CLOCK, EOF, STALL, WATERMARKS = 4, 8, 16, 32, 64, 128


def http(name, data, settings=DEFAULTS, cuts=CUT3):
    write("http_server_codec", name, bytes([settings]) + cuts + data)


def get(target, extra=b"", version=b"1.1"):
    return b"GET " + target + b" HTTP/" + version + b"\r\nHost: a\r\n" + extra + b"\r\n"


def post(target, body, extra=b""):
    return (b"POST " + target + b" HTTP/1.1\r\nHost: a\r\n" + extra +
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def chunked(target, body_chunks, extra=b"", method=b"POST"):
    return method + b" " + target + b" HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n" + extra + b"\r\n" + body_chunks


# Valid requests, through each route.
http("get_root", get(b"/"))
http("get_root_bytewise", get(b"/"), cuts=BYTEWISE)
http("pipelined_three", get(b"/") + get(b"/items/42") + get(b"/files/a/b%20c"), cuts=CUT9)
http("head", b"HEAD /items/1 HTTP/1.1\r\nHost: a\r\n\r\n" + get(b"/"))
http("post_echo", post(b"/echo", b"hello") + get(b"/"))
http("put_echo_chunked", chunked(b"/echo", b"5;ext=1\r\nhello\r\n3\r\nabc\r\n0\r\nTrailer: x\r\n\r\n", method=b"PUT"))
http("http10", get(b"/", version=b"1.0"))
http("http10_keep_alive", get(b"/", b"Connection: keep-alive\r\n", b"1.0") + get(b"/items/2", version=b"1.0"))
http("http10_streamed_answer", get(b"/chunked", version=b"1.0"))
http("chunked_answer", get(b"/chunked") + get(b"/"))
http("answered_later", get(b"/later") + get(b"/") + get(b"/later"))
http("handler_throws", get(b"/throw") + get(b"/"))
http("options_star", b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n" + b"GET * HTTP/1.1\r\nHost: a\r\n\r\n")
http("options_path_and_405", b"OPTIONS /echo HTTP/1.1\r\nHost: a\r\n\r\n" + b"DELETE /items/1 HTTP/1.1\r\nHost: a\r\n\r\n")
http("not_found", get(b"/nope") + get(b"/items/%zz"))
http("absolute_form", b"GET http://a/items/7?x=1 HTTP/1.1\r\nHost: a\r\n\r\n")
http("connection_close", get(b"/", b"Connection: close\r\n") + get(b"/"))
http("expect_continue", post(b"/echo", b"abc", b"Expect: 100-continue\r\n"))
http("expect_continue_head_only", b"POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
http("expect_continue_refused", post(b"/nope", b"abc", b"Expect: 100-continue\r\n"))
http("expect_unknown", get(b"/", b"Expect: nothing\r\n"))
http("upgrade_asked", get(b"/", b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                          b"Sec-WebSocket-Version: 13\r\n") + get(b"/items/1"))
# Streamed uploads, the empty ones included.
http("upload", post(b"/upload", b"0123456789") + get(b"/"))
http("upload_chunked", chunked(b"/upload", b"4\r\nabcd\r\n2\r\nef\r\n0\r\n\r\n") + get(b"/"), cuts=CUT9)
http("upload_empty_content_length", post(b"/upload", b"") + get(b"/"))
http("upload_empty_chunked", chunked(b"/upload", b"0\r\n\r\n") + get(b"/"))
http("upload_no_body", get(b"/upload") + b"POST /upload HTTP/1.1\r\nHost: a\r\n\r\n")
http("upload_too_large", post(b"/upload", b"x" * 40), SMALL)
http("upload_chunked_too_large", chunked(b"/upload", b"20\r\n" + b"y" * 32 + b"\r\n8\r\n" + b"z" * 8 + b"\r\n0\r\n\r\n"), SMALL)
http("upload_cut_by_eof", b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc", EOF)
http("upload_too_slow", b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc", CLOCK)
# The connection's life.
http("three_a_connection", get(b"/") * 4, THREE_A_CONNECTION)
http("two_in_flight", get(b"/later") * 5, TWO_IN_FLIGHT)
http("client_stalls", get(b"/files/" + b"x" * 200) * 6, STALL | WATERMARKS)
http("head_too_slow", b"GET / HTTP/1.1\r\nHo", CLOCK)
http("idle_keep_alive", get(b"/"), CLOCK | EOF)
http("eof_mid_head", b"GET / HTTP/1.1\r\nHost: a\r\n", EOF)
http("eof_after_requests", get(b"/") + get(b"/later"), EOF)
# Request smuggling and framing vectors: each is refused (400/501).
http("smuggle_cl_te", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + get(b"/"))
http("smuggle_te_cl", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n" + get(b"/"))
http("smuggle_two_content_lengths", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd")
http("smuggle_same_content_length_twice", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc")
http("smuggle_content_length_list", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc")
http("smuggle_content_length_sign", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc")
http("smuggle_te_chunked_twice", chunked(b"/echo", b"0\r\n\r\n", b"Transfer-Encoding: chunked\r\n"))
http("smuggle_te_not_last", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n")
http("smuggle_te_obfuscated", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n")
http("smuggle_te_tab", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\tchunked\r\n\r\n0\r\n\r\n")
http("smuggle_te_gzip_chunked", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n")
http("smuggle_te_on_http10", b"POST /echo HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
http("smuggle_obs_fold", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: one\r\n two\r\n\r\n")
http("smuggle_obs_fold_cut_after_crlf", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: one\r\n\ttwo\r\n\r\n", cuts=BYTEWISE)
http("smuggle_bare_lf", b"GET / HTTP/1.1\nHost: a\n\n")
http("smuggle_bare_cr", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: a\rb\r\n\r\n")
http("smuggle_nul_in_value", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x00b\r\n\r\n")
http("smuggle_space_before_colon", b"GET / HTTP/1.1\r\nHost : a\r\n\r\n")
http("smuggle_missing_host", b"GET / HTTP/1.1\r\n\r\n")
http("smuggle_two_hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
http("smuggle_chunk_size_overflow", chunked(b"/echo", b"fffffffffffffffff1\r\nx\r\n0\r\n\r\n"))
http("smuggle_chunk_bare_lf", chunked(b"/echo", b"5\nhello\n0\n\n"))
http("smuggle_chunk_extension_long", chunked(b"/echo", b"1;" + b"e" * 40 + b"\r\nx\r\n0\r\n\r\n"), SMALL)
http("smuggle_trailer_host", chunked(b"/echo", b"1\r\nx\r\n0\r\nHost: evil\r\nContent-Length: 5\r\n\r\n"))
http("http2_preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
http("version_1_2", get(b"/", version=b"1.2"))
http("version_2_0", get(b"/", version=b"2.0"))
http("unknown_method", b"BREW / HTTP/1.1\r\nHost: a\r\n\r\n")
http("bad_target", b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n")
# Each limit (small limits: target 32, head 128, 4 fields, body 16).
http("limit_uri", get(b"/items/" + b"9" * 40), SMALL)
http("limit_uri_then_bad_byte", b"GET /" + b"a" * 40 + b"\x00 HTTP/1.1\r\nHost: a\r\n\r\n", SMALL)
http("limit_field_count", get(b"/", b"A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n"), SMALL)
http("limit_head_bytes", get(b"/", b"X-Big: " + b"v" * 150 + b"\r\n"), SMALL)
http("limit_body_content_length", post(b"/echo", b"x" * 17), SMALL)
http("limit_body_chunked", chunked(b"/echo", b"a\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n"), SMALL)
http("limit_exactly", get(b"/items/" + b"1" * 24, b"A: 1\r\nB: 2\r\n") + post(b"/echo", b"x" * 16), SMALL)

# What fuzzing found (docs/fuzzing.md), kept as seeds.
http("found_limit_before_bad_byte", b"GET /" + b"N" * 40 + b"\x00\x00 HTTP/1.1\r\nHost: a\r\n\r\n", SMALL | 2)
http("found_chunk_line_before_bad_byte", chunked(b"/echo", b"1;" + b"e" * 27 + b"/" + b"9" * 20 + b"\r\nx\r\n0\r\n\r\n"), SMALL)
http("found_field_with_no_name", b"POST /upload HTTP/1.1\r\nHost: a\r\nX: chunked\r\n: a\r\n\r\n")
http("found_long_obs_fold", get(b"/", b"X-Big: " + b"v" * 33 + b"\r\n\t" + b"v" * 150 + b"\r\n"), SMALL)
http("found_idle_after_watermark", get(b"/chunked") + get(b"/"), WATERMARKS | CLOCK)
# A harness correction: /upload/file/ is no streamed route, so its body has
# the plain limit (4096 here), while /upload's streamed one has 8.
http("harness_upload_prefix_is_not_a_stream", post(b"/upload/file/", b"x" * 11) + post(b"/upload", b"y" * 11), 0x03)

# ---- router: text lines, routes, an empty line, requests --------------------------

def router(name, routes, requests):
    write("router", name, "\n".join(routes + [""] + requests).encode())


router("readme", ["GET /hello/:name", "POST /work", "GET /", "GET /files/*path", "~POST /upload"],
       ["GET /hello/world", "HEAD /hello/w%20x", "POST /work", "GET /work", "OPTIONS /work", "GET /files/a/b",
        "GET /files", "POST /upload", "GET /nope", "OPTIONS *", "GET *"])
router("specificity", ["GET /a/*rest", "GET /a/:x", "GET /a/b", "GET /m/:x/c", "GET /m/b/*rest", "GET /a"],
       ["GET /a/b", "GET /a/x", "GET /a/x/y", "GET /a", "GET /a/", "GET //a", "GET /m/b/c", "GET /m/z/c"])
router("root_and_wildcard", ["GET /*all", "GET /"], ["GET /", "GET //", "GET /x", "GET "])
router("percent", ["GET /users/:name", "GET /files/*path"],
       ["GET /users/a%20b", "GET /users/%zz", "GET /users/a%2Fb", "GET /files/dir%20one/f%2Bg", "GET /files/%"])
router("methods", ["GET /x", "HEAD /x", "PUT /x", "DELETE /y/:id"],
       ["HEAD /x", "OPTIONS /x", "POST /x", "DELETE /y/1", "GET /y/1", "PATCH /y/"])
router("malformed_patterns", ["GET x", "GET /:", "GET /*a/b", "GET ", "GET /ok/:", "GET /*"], ["GET /ok", "GET /"])
router("targets", ["GET /a"], ["GET /a?b=c#d", "GET http://h/a?x", "GET http://h", "GET /a#frag", "GET ?x"])

# ---- http_headers: operations -------------------------------------------------------
# op: 0 add(name, value), 1 set, 2 get, 3 get_all/count, 4 remove,
# 5 has_token(name, token), 6 clear, 7 add an own field, 8 set an own name,
# 9 set to an own value, 10 remove an own name, 11 copy, 12 add 40 times.
# A name byte below 0xC0 picks a common name and a case; 0xC0 + n: n raw
# bytes follow. A value byte below 0x80 picks a common value; 0x80 + n: n
# raw bytes follow. Ops 7-10 take the index of an own field first.

def headers(name, *ops):
    write("http_headers", name, b"".join(ops))


def raw_name(text):
    return bytes([0xC0 + len(text)]) + text


def raw_value(text):
    return bytes([0x80 + len(text)]) + text


headers("add_get_remove", b"\x00\x00\x00", b"\x00\x0c\x01", b"\x02\x18", b"\x03\x00", b"\x04\x0c", b"\x02\x00")
headers("connection_tokens", b"\x00\x03\x02", b"\x05\x03\x01", b"\x05\x0f" + raw_value(b"upgrade"), b"\x05\x03\x04")
headers("set_replaces", b"\x00\x04\x06", b"\x00\x10\x05", b"\x01\x04\x03", b"\x03\x28")
headers("own_views", b"\x00\x00\x00", b"\x00\x01\x04", b"\x07\x01", b"\x08\x00\x01", b"\x09\x00\x02",
        b"\x0a\x01", b"\x0b")
headers("spill_to_heap", b"\x0c" + raw_name(b"X-Long-Name") + raw_value(b"v" * 40), b"\x07\x05", b"\x0a\x00",
        b"\x06", b"\x00\x00\x00")
headers("raw_bytes", b"\x00" + raw_name(b"\xffN\x00") + raw_value(b"\r\n\x00"), b"\x02" + raw_name(b"\xffn\x00"))

# ---- line_decoder: [max_length][flags][cuts][bytes] ----------------------------------
# flags: 1 keeps the delimiter, 2 handles errors (goes on after a long line).

def lines(name, data, max_length=16, flags=0, cuts=CUT3):
    write("line_decoder", name, bytes([max_length, flags]) + cuts + data)


lines("lines", b"one\ntwo\r\nthree\n")
lines("keep_delimiter", b"one\ntwo\r\n\n", flags=1)
lines("empty_lines", b"\n\r\n\na\n")
lines("lone_cr", b"a\rb\n\r\r\n")
lines("unfinished", b"done\nnot yet")
lines("too_long_closes", b"ok\n" + b"x" * 20 + b"\nafter\n")
lines("too_long_skipped", b"ok\n" + b"x" * 20 + b"\nafter\n", flags=2)
lines("too_long_unfinished", b"ok\n" + b"y" * 40, flags=2, cuts=CUT9)
lines("exactly_max_with_cr", b"z" * 16 + b"\r\n" + b"z" * 17 + b"\r\n", flags=2, cuts=BYTEWISE)
lines("max_zero", b"\n\r\nx\n", max_length=0, flags=2)

# ---- length_field_decoder: [layout][adjustment][strip][max][cuts][bytes] -------------
# layout: bits 0-1 offset, bits 2-3 size (1, 2, 4, 8), 16 little-endian,
# 32 handle errors; adjustment signed; strip 0-15; max * 2.

def frames(name, data, layout, adjustment=0, strip=0, max_half=128, cuts=CUT3):
    write("length_field_decoder", name, bytes([layout, adjustment & 0xFF, strip, max_half]) + cuts + data)


SIZE1, SIZE2, SIZE4, SIZE8 = 0 << 2, 1 << 2, 2 << 2, 3 << 2
LITTLE, HANDLE = 16, 32
frames("u32_frames", struct.pack(">I", 5) + b"hello" + struct.pack(">I", 0) + struct.pack(">I", 3) + b"abc", SIZE4, strip=4)
frames("u16_little", struct.pack("<H", 2) + b"hi" + struct.pack("<H", 1) + b"!", SIZE2 | LITTLE, strip=2)
frames("u8_with_prefix", b"\xaa\x03xyz\xbb\x01q", 1 | SIZE1, strip=2)
frames("u64", struct.pack(">Q", 4) + b"abcd", SIZE8, strip=8)
frames("length_counts_header", struct.pack(">H", 6) + b"abcd", SIZE2, adjustment=-2, strip=2)
frames("keep_header", struct.pack(">H", 3) + b"abc", SIZE2, strip=0)
frames("too_long_closes", struct.pack(">H", 300) + b"x" * 10, SIZE2, strip=2, max_half=64)
frames("too_long_skipped", struct.pack(">H", 20) + b"x" * 20 + struct.pack(">H", 2) + b"ok", SIZE2 | HANDLE, strip=2,
       max_half=8, cuts=CUT9)
frames("negative_length", struct.pack(">H", 1) + b"x" + struct.pack(">H", 2) + b"ok", SIZE2 | HANDLE, adjustment=-5, strip=2)
frames("strip_beyond_frame", struct.pack(">H", 1) + b"x", SIZE2 | HANDLE, strip=9)
frames("absurd_u64", b"\xff" * 8 + b"rest", SIZE8 | HANDLE, adjustment=100, strip=8)

# ---- websocket_frame: [flags][max][cuts][bytes from the client] -------------------
# flags: 1 the codec alone, else a whole WebSocket that echoes; max:
# max_message_bytes.

KEY = b"\x37\xfa\x21\x3d"


def mask(payload, key=KEY):
    return bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def frame(opcode, payload, fin=True, masked=True, rsv=0, length_form=None):
    b0 = (0x80 if fin else 0) | rsv | opcode
    n = len(payload)
    form = length_form or ("7" if n < 126 else "16" if n <= 0xFFFF else "64")
    if form == "7":
        head = bytes([b0, (0x80 if masked else 0) | n])
    elif form == "16":
        head = bytes([b0, (0x80 if masked else 0) | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, (0x80 if masked else 0) | 127]) + struct.pack(">Q", n)
    return head + (KEY + mask(payload) if masked else payload)


TEXT, BINARY, CONT, CLOSE, PING, PONG = 1, 2, 0, 8, 9, 10


def ws(name, data, codec_alone=False, max_bytes=255, cuts=CUT3):
    write("websocket_frame", name, bytes([1 if codec_alone else 0, max_bytes]) + cuts + data)


def close(code, reason=b""):
    return frame(CLOSE, struct.pack(">H", code) + reason)


for alone in (False, True):
    suffix = "_codec" if alone else ""
    ws("text" + suffix, frame(TEXT, b"Hello") + close(1000, b"bye"), alone)
    ws("binary" + suffix, frame(BINARY, bytes(range(40))), alone)
    ws("fragmented_with_ping" + suffix,
       frame(TEXT, b"Hel", fin=False) + frame(PING, b"p") + frame(CONT, b"lo", fin=False) + frame(CONT, b"!"), alone,
       cuts=CUT9)
    ws("ping_pong" + suffix, frame(PING, b"are you there") + frame(PONG, b"unasked"), alone)
    ws("close_empty" + suffix, frame(CLOSE, b""), alone)
    ws("close_one_byte" + suffix, frame(CLOSE, b"\x03"), alone)
    ws("close_bad_code" + suffix, close(1005), alone)
    ws("close_bad_reason" + suffix, close(1000, b"\xff"), alone)
    ws("utf8_split_across_fragments" + suffix, frame(TEXT, "é€".encode()[:2], fin=False) +
       frame(CONT, "é€".encode()[2:]), alone, cuts=BYTEWISE)
    ws("utf8_invalid" + suffix, frame(TEXT, b"\xc0\xaf"), alone)
    ws("length_16" + suffix, frame(BINARY, b"m" * 200), alone)
    ws("length_not_shortest" + suffix, frame(BINARY, b"short", length_form="16"), alone)
    ws("length_64_not_shortest" + suffix, frame(BINARY, b"x" * 130, length_form="64"), alone)
    ws("too_big" + suffix, frame(BINARY, b"b" * 100), alone, max_bytes=64)
    ws("too_big_in_fragments" + suffix, frame(BINARY, b"b" * 40, fin=False) + frame(CONT, b"c" * 40), alone, max_bytes=64)
    ws("unmasked" + suffix, frame(TEXT, b"no mask", masked=False), alone)
    ws("rsv_bits" + suffix, frame(TEXT, b"x", rsv=0x40), alone)
    ws("unknown_opcode" + suffix, frame(3, b"x"), alone)
    ws("fragmented_control" + suffix, frame(PING, b"x", fin=False), alone)
    ws("control_too_long" + suffix, frame(PING, b"p" * 126), alone)
    ws("continuation_first" + suffix, frame(CONT, b"x"), alone)
    ws("new_message_inside_fragments" + suffix, frame(TEXT, b"a", fin=False) + frame(TEXT, b"b"), alone)
    ws("after_close" + suffix, close(1001) + frame(TEXT, b"late"), alone)

# ---- websocket_client_handshake: [cuts][bytes from the server] --------------------
ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def answer(fields, status=b"101 Switching Protocols", version=b"HTTP/1.1"):
    return version + b" " + status + b"\r\n" + b"".join(f + b"\r\n" for f in fields) + b"\r\n"


GOOD = [b"Upgrade: websocket", b"Connection: Upgrade", b"Sec-WebSocket-Accept: " + ACCEPT]


# [limit][cuts][bytes from the server]; limit: heads of at most 64 + 4 * limit
# bytes (0: the library's 16 KiB).
def client(name, data, cuts=CUT3, limit=0):
    write("websocket_client_handshake", name, bytes([limit]) + cuts + data)


client("accepted", answer(GOOD))
client("accepted_bytewise", answer(GOOD), cuts=BYTEWISE)
client("accepted_with_frames", answer(GOOD) + frame(TEXT, b"hi", masked=False) + frame(PING, b"p", masked=False) +
       frame(CLOSE, struct.pack(">H", 1000), masked=False), cuts=CUT9)
client("accepted_masked_frame", answer(GOOD) + frame(TEXT, b"servers do not mask"))
client("subprotocol", answer(GOOD + [b"Sec-WebSocket-Protocol: superchat"]))
client("subprotocol_not_offered", answer(GOOD + [b"Sec-WebSocket-Protocol: other"]))
client("extension_not_offered", answer(GOOD + [b"Sec-WebSocket-Extensions: permessage-deflate"]))
client("case_and_lists", answer([b"upgrade: WebSocket", b"connection: keep-alive, upgrade",
                                 b"sec-websocket-accept: " + ACCEPT]))
client("wrong_accept", answer([b"Upgrade: websocket", b"Connection: Upgrade", b"Sec-WebSocket-Accept: x"]))
client("no_upgrade", answer(GOOD[1:]))
client("not_101", answer([b"Content-Length: 0"], status=b"200 OK"))
client("http10", answer(GOOD, version=b"HTTP/1.0"))
client("folded_field", answer([b"Upgrade: websocket", b"Connection:", b" Upgrade", b"Sec-WebSocket-Accept: " + ACCEPT]))
client("not_http", b"SSH-2.0-OpenSSH\r\n\r\n")
client("unfinished", answer(GOOD)[:-2])
# The limit on the head (16 KiB in the library), here 64 + 4 * 40 = 224 bytes:
# a head just under it, and the same head in a few reads.
client("head_near_limit", answer(GOOD + [b"X-Pad: " + b"p" * 80]), cuts=CUT9, limit=40)
client("head_near_limit_whole", answer(GOOD + [b"X-Pad: " + b"p" * 80]), cuts=WHOLE, limit=40)
# What fuzzing found: a status code of four digits, a control byte in the reason.
client("found_status_of_four_digits", answer(GOOD, status=b"0101 Switching\x03Protocols"))
client("status_without_reason", answer(GOOD, status=b"101"))
