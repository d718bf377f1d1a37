"""Request-plugin return values -> HTTP responses (engine-behavior.md §5.5)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from engine_runtime.errors import PluginError, ResponseError
from engine_runtime.plugins.responses import (
    CONTENT_TYPE,
    HEADER_ITEM_NOT_DICT_MESSAGE,
    UNSUPPORTED_RETURN_TYPE_MESSAGE,
    HttpResponse,
    error_response,
    to_http_response,
)


class FlaskResponse:
    """The duck-typed response of upstream's test_flask_response_object."""

    def __init__(
        self, response: object, status: object = 200, headers: dict[str, str] | None = None
    ) -> None:
        self.response = response
        self.status_code = status
        self.headers = headers or {}

    def get_data(self) -> object:
        return self.response

    def __flask_response__(self) -> object:
        return True


def _content_type(response: HttpResponse) -> str | None:
    # What an HTTP client sees; upstream tests read `content-type`.
    matches = [v for k, v in response.headers.items() if k.lower() == "content-type"]
    return matches[-1] if matches else None


# --- the upstream table (influxdb3/tests/cli/mod.rs) --------------------------------------


def test_flask_string_response() -> None:
    assert to_http_response("Hello, World!") == HttpResponse(
        200, {"Content-Type": "text/html"}, b"Hello, World!"
    )


def test_flask_dict_json_response() -> None:
    value = {"message": "Hello, World!", "status": "success"}
    response = to_http_response(value)
    assert response.status == 200
    assert response.headers == {"Content-Type": "application/json"}
    assert response.body == b'{"message": "Hello, World!", "status": "success"}'
    assert json.loads(response.body) == value


def test_flask_tuple_response_with_status() -> None:
    assert to_http_response(("Created successfully", 201)) == HttpResponse(
        201, {"Content-Type": "text/html"}, b"Created successfully"
    )


def test_flask_tuple_response_with_headers() -> None:
    value = (
        "Custom Content-Type",
        {"Content-Type": "text/plain", "X-Custom-Header": "test-value"},
    )
    assert to_http_response(value) == HttpResponse(
        200,
        {"Content-Type": "text/plain", "X-Custom-Header": "test-value"},
        b"Custom Content-Type",
    )


def test_flask_tuple_response_with_status_and_headers() -> None:
    value = ("Not Found", 404, {"Content-Type": "text/plain", "X-Error-Code": "NOT_FOUND"})
    assert to_http_response(value) == HttpResponse(
        404, {"Content-Type": "text/plain", "X-Error-Code": "NOT_FOUND"}, b"Not Found"
    )


def test_flask_list_json_response() -> None:
    response = to_http_response(["item1", "item2", "item3"])
    assert response == HttpResponse(
        200, {"Content-Type": "application/json"}, b'["item1", "item2", "item3"]'
    )


def test_flask_iterator_response() -> None:
    def generate_content() -> Iterator[str]:
        yield "Line 1\n"
        yield "Line 2\n"
        yield "Line 3\n"

    assert to_http_response(generate_content()) == HttpResponse(
        200, {"Content-Type": "text/html"}, b"Line 1\nLine 2\nLine 3\n"
    )


def test_flask_response_object() -> None:
    value = FlaskResponse(
        "Custom Flask Response",
        status=202,
        headers={"Content-Type": "text/custom", "X-Generated-By": "FlaskResponse"},
    )
    assert to_http_response(value) == HttpResponse(
        202,
        {"Content-Type": "text/custom", "X-Generated-By": "FlaskResponse"},
        b"Custom Flask Response",
    )


def test_flask_json_dict_with_status_in_tuple() -> None:
    response = to_http_response(({"error": "Not Found", "code": 404}, 404))
    assert response == HttpResponse(
        404, {"Content-Type": "application/json"}, b'{"error": "Not Found", "code": 404}'
    )


# --- quirks -------------------------------------------------------------------------------


def test_json_is_ascii_with_default_separators() -> None:
    response = to_http_response({"k": "é", "n": [1, 2]})
    assert response.body == b'{"k": "\\u00e9", "n": [1, 2]}'


def test_str_body_is_utf8() -> None:
    assert to_http_response("héllo").body == "héllo".encode()


@pytest.mark.parametrize(
    ("body", "content_type", "rendered"),
    [
        ("text", "text/html", b"text"),
        ({"a": 1}, "application/json", b'{"a": 1}'),
        ([1], "application/json", b"[1]"),
        (42, "text/plain", b"42"),
        (None, "text/plain", b"None"),
        (b"raw", "text/plain", b"b'raw'"),
        ((1, 2), "text/plain", b"(1, 2)"),
    ],
)
def test_tuple_body_part(body: object, content_type: str, rendered: bytes) -> None:
    assert to_http_response((body,)) == HttpResponse(200, {CONTENT_TYPE: content_type}, rendered)


def test_tuple_second_element_ignored_when_not_int_or_dict() -> None:
    assert to_http_response(("x", "201")) == HttpResponse(200, {CONTENT_TYPE: "text/html"}, b"x")
    assert to_http_response(("x", None, {})) == HttpResponse(200, {CONTENT_TYPE: "text/html"}, b"x")


def test_tuple_headers_in_both_positions() -> None:
    response = to_http_response(("x", {"A": "1", "B": "2"}, {"B": "3"}))
    assert response.headers == {CONTENT_TYPE: "text/html", "A": "1", "B": "3"}


def test_content_type_spellings_coexist() -> None:
    response = to_http_response(("x", 200, {"content-type": "text/plain"}))
    assert response.headers == {"Content-Type": "text/html", "content-type": "text/plain"}


def test_anaisdg_shape_is_an_error() -> None:
    # The community plugins return (200, {headers}, body): the third element is not a dict.
    with pytest.raises(ResponseError) as info:
        to_http_response((200, {"Content-Type": "application/json"}, '{"ok": true}'))
    assert str(info.value) == HEADER_ITEM_NOT_DICT_MESSAGE
    assert HEADER_ITEM_NOT_DICT_MESSAGE == "expected a dictionary in header item"


def test_response_error_is_a_plugin_error() -> None:
    assert issubclass(ResponseError, PluginError)


@pytest.mark.parametrize("status", [0, 99, 1000, 70000, -1])
def test_out_of_range_status_becomes_500(status: int) -> None:
    assert to_http_response(("x", status)).status == 500
    assert to_http_response(FlaskResponse("x", status=status)).status == 500


@pytest.mark.parametrize("status", [100, 204, 418, 599, 999])
def test_in_range_status_kept(status: int) -> None:
    assert to_http_response(("x", status)).status == status


@pytest.mark.parametrize(
    ("value", "body"),
    [
        ((), b""),
        (("a", "b", "c", "d"), b"abcd"),
        (("a", 1, b"b", None), b"ab"),
        (b"bytes iterate as ints", b""),
        ({"only"}, b"only"),
        (iter([b"\xff\xfe", b"ok", "!"]), b"ok!"),
        (range(3), b""),
        (frozenset(), b""),
    ],
)
def test_iterables_concatenate_text_items(value: object, body: bytes) -> None:
    assert to_http_response(value) == HttpResponse(200, {CONTENT_TYPE: "text/html"}, body)


@pytest.mark.parametrize("value", [None, 1, 2.5, True, object()])
def test_unsupported_return_types(value: object) -> None:
    with pytest.raises(ResponseError) as info:
        to_http_response(value)
    assert str(info.value) == UNSUPPORTED_RETURN_TYPE_MESSAGE
    assert UNSUPPORTED_RETURN_TYPE_MESSAGE == "Unsupported return type from Python function"


def test_flask_get_data_returning_bytes_is_an_error() -> None:
    with pytest.raises(ResponseError):
        to_http_response(FlaskResponse(b"bytes body", status=200))


def test_flask_marker_must_be_the_bool_true() -> None:
    class NotQuite(FlaskResponse):
        def __flask_response__(self) -> object:
            return 1

    with pytest.raises(ResponseError) as info:
        to_http_response(NotQuite("x"))
    assert str(info.value) == UNSUPPORTED_RETURN_TYPE_MESSAGE


def test_flask_marker_that_raises_is_not_a_flask_response() -> None:
    class Broken(FlaskResponse):
        def __flask_response__(self) -> object:
            raise RuntimeError("boom")

        def __iter__(self) -> Iterator[str]:
            return iter(["iterated"])

    assert to_http_response(Broken("x")).body == b"iterated"


def test_flask_response_without_content_type_has_no_default() -> None:
    response = to_http_response(FlaskResponse("x", status=201))
    assert response == HttpResponse(201, {}, b"x")


def test_flask_bad_status_type_and_headers_are_errors() -> None:
    with pytest.raises(ResponseError):
        to_http_response(FlaskResponse("x", status="200"))
    with pytest.raises(ResponseError):
        to_http_response(FlaskResponse("x", headers={"A": 1}))  # type: ignore[dict-item]


def test_non_str_tuple_header_value_is_an_error() -> None:
    with pytest.raises(ResponseError):
        to_http_response(("x", {"X-Count": 3}))


def test_invalid_header_value_becomes_empty() -> None:
    response = to_http_response(("x", {"X-Bad": "a\nb", "X-Tab": "a\tb"}))
    assert response.headers["X-Bad"] == ""
    assert response.headers["X-Tab"] == "a\tb"


def test_unserialisable_json_is_an_error() -> None:
    with pytest.raises(ResponseError, match="TypeError"):
        to_http_response({"when": object()})


def test_failing_iterator_is_an_error() -> None:
    def failing() -> Iterator[str]:
        yield "a"
        raise ValueError("nope")

    with pytest.raises(ResponseError, match=r"^ValueError: nope$"):
        to_http_response(failing())


def test_error_response() -> None:
    response = error_response('Python function call failed: ValueError: "bad"')
    assert response.status == 500
    assert response.headers == {}
    assert json.loads(response.body) == {"error": 'Python function call failed: ValueError: "bad"'}
    assert (
        response.body
        == json.dumps({"error": 'Python function call failed: ValueError: "bad"'}).encode()
    )
    assert _content_type(response) is None


def test_http_response_is_frozen() -> None:
    response = to_http_response("x")
    with pytest.raises(AttributeError):
        response.status = 201  # type: ignore[misc]
    assert _content_type(response) == "text/html"
