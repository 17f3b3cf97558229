"""Between the transcript JSON (tests/transcripts/README.md) and the component's WIT values as
wasmtime-py represents them

The Python twin of host-wasi/src/convert.rs and js/host/wit.mjs, with the same mapping. In
wasmtime-py a variant is `Variant(tag, payload)`, a record a `Record` with the WIT field names as
attributes (`getattr(r, "max-response-bytes")`), an enum its case name, an option its value or
None, a `list<u8>` bytes, a tuple a tuple, u64 an int, and a result `Ok(v)` / `Err(v)` (see
component.py).

Every WIT case and record field this host reads is listed in a table below. A case or a field the
table does not name raises `UnknownWit`, so a WIT change shows up here as a failure naming what to
add, never as a value dropped on the way. Adding an output, a done value, an account value or an
error kind is one line in OUTPUTS, DONE_VALUES, ACCOUNT_VALUES or ERROR_KINDS; adding a record
field is one line in that record's converter.
"""

import base64
import binascii
import json
from typing import Any, Callable, Dict, List
from urllib.parse import unquote_to_bytes

from wasmtime import component as t
from wasmtime.component import Record, Variant

from .component import Err, Ok

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


class UnknownWit(Exception):
    """The component produced a case or a record field this host does not know"""


class BadTranscript(Exception):
    """A transcript input this host cannot turn into a WIT value"""


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(name: str) -> str:
    """A header name in lower case as Rust's `to_ascii_lowercase` has it (other letters kept)"""
    return name.translate(_ASCII_LOWER)


def record(**fields: Any) -> Record:
    """A WIT record; keyword `a_b` is the WIT field `a-b`"""
    r = Record()
    for name, value in fields.items():
        setattr(r, name.replace("_", "-"), value)
    return r


def fields(value: Any, wit: str, names: List[str]) -> Dict[str, Any]:
    """The fields of a WIT record, which must be exactly `names`"""
    if not isinstance(value, Record):
        raise UnknownWit(f"expected the record `{wit}`, got {value!r}")
    got = set(vars(value))
    if got != set(names):
        raise UnknownWit(
            f"the record `{wit}` has fields {sorted(got)}; this host knows {sorted(names)}"
            " (add the new field to its converter in tests/python/keyhole_host/wit.py)"
        )
    return {name: getattr(value, name) for name in names}


def case(value: Any, wit: str, table: Dict[str, Any]) -> Any:
    """The table entry for a variant or enum case"""
    tag = value.tag if isinstance(value, Variant) else value
    if not isinstance(tag, str) or tag not in table:
        raise UnknownWit(
            f"`{wit}` case {tag!r} is unknown to this host; it knows {sorted(table)}"
            " (add it to the table in tests/python/keyhole_host/wit.py)"
        )
    return table[tag]


# --- inputs: transcript JSON -> WIT `input` ------------------------------------------------------


def _text(input: Dict[str, Any], field: str) -> str:
    value = input.get(field)
    if not isinstance(value, str):
        raise BadTranscript(f"a `{input['type']}` input needs a string `{field}`")
    return value


def response_to_wit(input: Dict[str, Any]) -> Record:
    """A `response` input as the WIT `http-response`, read as the core's wire form reads it"""
    status = input.get("status")
    if type(status) is not int or not 100 <= status <= 999:
        raise BadTranscript("a `response` input needs a numeric `status` from 100 to 999")
    headers = input.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise BadTranscript("`headers` must be an object of strings")
    # serde_json's map is sorted by key; names go to the machine in lower case (wire.rs).
    pairs = [(ascii_lower(name), headers[name]) for name in sorted(headers)]
    body, body_base64 = input.get("body"), input.get("body_base64")
    if isinstance(body, str) and body_base64 is None:
        raw = body.encode()
    elif body is None and isinstance(body_base64, str):
        try:
            raw = base64.b64decode(body_base64, validate=True)
        except binascii.Error as e:
            raise BadTranscript("`body_base64` is not base64") from e
    elif body is None and body_base64 is None:
        raw = b""
    else:
        raise BadTranscript("a `response` has either a string `body` or a `body_base64`")
    return record(status=status, headers=pairs, body=raw)


# wire name -> WIT case; `other` carries the message
TRANSPORT_ERRORS = {
    "dns": "dns",
    "connect": "connect",
    "timeout": "timeout",
    "tls": "tls",
    "too_large": "too-large",
    "other": "other",
}
STORE_ERRORS = {"unavailable", "denied", "other"}


def _transport_failed(input: Dict[str, Any]) -> Variant:
    error = _text(input, "error")
    if error not in TRANSPORT_ERRORS:
        raise BadTranscript(f"unknown transport error `{error}`")
    if error == "other":
        message = input.get("message")
        return Variant("other", message if isinstance(message, str) else "transport error")
    return Variant(TRANSPORT_ERRORS[error])


def _stored(input: Dict[str, Any]) -> Any:
    if "error" in input:
        error = input["error"]
        if error not in STORE_ERRORS:
            raise BadTranscript(f"unknown store error {error!r}")
        message = input.get("message")
        return Err(Variant(error, message if isinstance(message, str) else ""))
    value = input.get("value")
    if value is not None and not isinstance(value, str):
        raise BadTranscript("a `stored` input's `value` must be a string or null")
    return Ok(value)


INPUTS: Dict[str, Callable[[Dict[str, Any]], Variant]] = {
    "start": lambda i: Variant("start"),
    "timer": lambda i: Variant("timer"),
    "callback": lambda i: Variant("callback", _text(i, "target")),
    "response": lambda i: Variant("response", response_to_wit(i)),
    "transport_failed": lambda i: Variant("transport-failed", _transport_failed(i)),
    "stored": lambda i: Variant("stored", _stored(i)),
}


def input_to_wit(input: Any) -> Variant:
    """A transcript input (`{"type": "start"}`) as the WIT `input` variant"""
    kind = input.get("type") if isinstance(input, dict) else None
    if kind not in INPUTS:
        raise BadTranscript(f"unknown input type {kind!r}; expected one of {sorted(INPUTS)}")
    return INPUTS[kind](input)


# --- outputs: WIT `output` -> transcript JSON ---------------------------------------------------

METHODS = {"get": "GET", "post": "POST", "delete": "DELETE"}


def _form_pairs(body: bytes) -> List[List[str]]:
    """application/x-www-form-urlencoded parsing as the `form_urlencoded` crate does it"""
    pairs = []
    for part in body.split(b"&"):
        if not part:
            continue
        name, _, value = part.partition(b"=")
        decode = lambda b: unquote_to_bytes(b.replace(b"+", b" ")).decode("utf-8", "replace")
        pairs.append([decode(name), decode(value)])
    return pairs


def request_to_wire(r: Any) -> Dict[str, Any]:
    """The WIT `http-request` as a `send` output (host-wasi's request_from_wit, then wire.rs)

    A form body comes back as `form` pairs and a JSON body as `json` text, each without the
    `content-type` header it implies.
    """
    f = fields(
        r,
        "http-request",
        ["method", "url", "headers", "body", "max-response-bytes", "redirect-policy"],
    )
    # keyhole's flows never follow redirects; a request that asks to is a difference. (wasmtime-py
    # passes this variant untagged: `no-follow` is None, `follow-limit(n)` is n.)
    policy = f["redirect-policy"]
    if policy is not None:
        raise UnknownWit(
            f"a request with redirect-policy {policy!r}; the transcripts pin no-follow"
        )
    headers, body = f["headers"], f["body"]

    def content_type(wanted: str) -> bool:
        return any(ascii_lower(n) == "content-type" and v == wanted for n, v in headers)

    json_text = None
    if content_type(JSON):
        try:
            json_text = body.decode("utf-8")
        except UnicodeDecodeError:
            pass
    implied = JSON if json_text is not None else FORM if content_type(FORM) else None
    out: Dict[str, Any] = {
        "type": "send",
        "method": case(f["method"], "method", METHODS),
        "url": f["url"],
        "headers": [
            [ascii_lower(n), v]
            for n, v in headers
            if not (ascii_lower(n) == "content-type" and v == implied)
        ],
    }
    if json_text is not None:
        out["json"] = json_text
    elif implied is not None or body:
        out["form"] = _form_pairs(body)
    out["max_response_bytes"] = f["max-response-bytes"]
    return out


def _cas(c: Any) -> Dict[str, Any]:
    f = fields(c, "compare-and-swap", ["key", "expected", "new"])
    return {
        "type": "store",
        "op": "compare_and_swap",
        "key": f["key"],
        "expected": f["expected"],
        "new": f["new"],
    }


def _key_op(op: str) -> Callable[[str], Dict[str, Any]]:
    return lambda key: {"type": "store", "op": op, "key": key}


STORE_OPS = {
    "load": _key_op("load"),
    "compare-and-swap": _cas,
    "delete": _key_op("delete"),
    "lock": _key_op("lock"),
    "unlock": _key_op("unlock"),
}


def store_op_to_wire(op: Variant) -> Dict[str, Any]:
    return case(op, "store-op", STORE_OPS)(op.payload)


def show_to_wire(p: Any) -> Dict[str, Any]:
    f = fields(
        p,
        "prompt",
        [
            "user-code",
            "verification-uri",
            "verification-uri-complete",
            "expires-in-s",
            "expires-at-ms",
        ],
    )
    return {"type": "show", **{name.replace("-", "_"): value for name, value in f.items()}}


def token_set_to_wire(t: Any) -> Dict[str, Any]:
    names = [
        "access-token",
        "token-type",
        "refresh-token",
        "id-token",
        "scope",
        "expires-at-ms",
        "refresh-at-ms",
        "issued-at-ms",
    ]
    return {name.replace("-", "_"): value for name, value in fields(t, "token-set", names).items()}


ENDPOINT_URLS = [
    "issuer",
    "authorization-endpoint",
    "token-endpoint",
    "device-authorization-endpoint",
    "revocation-endpoint",
    "userinfo-endpoint",
    "introspection-endpoint",
]
ISS_PARAMETER = "authorization-response-iss-parameter-supported"


def endpoints_to_wire(e: Any) -> Dict[str, Any]:
    # As the core's wire form: absent endpoints and a false iss-parameter flag are left out.
    f = fields(e, "endpoints", ENDPOINT_URLS + [ISS_PARAMETER])
    out = {name.replace("-", "_"): f[name] for name in ENDPOINT_URLS if f[name] is not None}
    if f[ISS_PARAMETER]:
        out[ISS_PARAMETER.replace("-", "_")] = True
    return out


def refresh_to_wire(r: Any) -> Dict[str, Any]:
    f = fields(r, "refresh-outcome", ["tokens", "refreshed", "warning"])
    return {
        "tokens": token_set_to_wire(f["tokens"]),
        "refreshed": f["refreshed"],
        "warning": f["warning"],
    }


AUTH_TYPES = {"oauth": "oauth", "api-key": "api_key"}
CREDENTIAL_SOURCES = {"env": "env", "store": "store"}


def credential_to_wire(c: Any) -> Dict[str, Any]:
    names = ["kind", "source", "secret", "token-type", "expires-at-ms", "refreshed", "warning", "fallback-reason"]
    f = fields(c, "resolved-credential", names)
    return {
        "kind": case(f["kind"], "auth-type", AUTH_TYPES),
        "source": case(f["source"], "credential-source", CREDENTIAL_SOURCES),
        "secret": f["secret"],
        "token_type": f["token-type"],
        "expires_at_ms": f["expires-at-ms"],
        "refreshed": f["refreshed"],
        "warning": f["warning"],
        "fallback_reason": f["fallback-reason"],
    }


def key_check_to_wire(k: Any) -> Dict[str, Any]:
    f = fields(k, "key-check-report", ["status", "elapsed-ms", "identity"])
    # The core keeps identity in a map by name (a later duplicate wins, as in dict()).
    return {"status": f["status"], "elapsed_ms": f["elapsed-ms"], "identity": dict(f["identity"])}


def revocation_to_wire(r: Any) -> Dict[str, Any]:
    return dict(fields(r, "revocation-report", ["revoked", "unsupported", "skipped"]))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_from_wit(text: str) -> Any:
    """JSON text the component wrote from a value it parsed; text that is not JSON (a broken
    component) comes through as a string, so it shows up as a difference (as in convert.rs)"""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except ValueError:
        return text


def _whoami(w: Any) -> Dict[str, Any]:
    f = fields(w, "whoami-report", ["body-json", "label"])
    return {"operation": "whoami", "body": json_from_wit(f["body-json"]), "label": f["label"]}


def _projects(projects: List[Any]) -> Dict[str, Any]:
    return {
        "operation": "list_projects",
        "projects": [dict(fields(p, "project", ["id", "name"])) for p in projects],
    }


def _created_key(k: Any) -> Dict[str, Any]:
    f = fields(k, "created-key", ["key", "body-json"])
    return {"operation": "create_key", "key": f["key"], "body": json_from_wit(f["body-json"])}


ACCOUNT_VALUES: Dict[str, Callable[[Any], Dict[str, Any]]] = {
    "whoami": _whoami,
    "projects": _projects,
    "created-key": _created_key,
    "keys": lambda keys: {"operation": "list_keys", "keys": [json_from_wit(k) for k in keys]},
    "key": lambda body: {"operation": "show_key", "body": json_from_wit(body)},
    "deleted": lambda id: {"operation": "delete_key", "id": id},
}


def account_value_to_wire(a: Variant) -> Dict[str, Any]:
    return case(a, "account-value", ACCOUNT_VALUES)(a.payload)


DONE_VALUES: Dict[str, Callable[[Any], Dict[str, Any]]] = {
    "endpoints": endpoints_to_wire,
    "tokens": token_set_to_wire,
    "refresh": refresh_to_wire,
    "credential": credential_to_wire,
    "key-check": key_check_to_wire,
    "revocation": revocation_to_wire,
    "account": account_value_to_wire,
}


def done_value_to_wire(v: Variant) -> Dict[str, Any]:
    return case(v, "done-value", DONE_VALUES)(v.payload)


# The payload each `error-kind` case carries, checked so that a reshaped case fails here rather
# than passing with a code alone (host-wasi rebuilds the core's error from these fields).
def _none(p: Any) -> bool:
    return p is None


def _int(p: Any) -> bool:
    return type(p) is int


def _str(p: Any) -> bool:
    return isinstance(p, str)


def _opt(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda p: p is None or check(p)


def _rec(wit: str, *names: str) -> Callable[[Any], bool]:
    return lambda p: fields(p, wit, list(names)) is not None


def _of(wit: str, *tags: str) -> Callable[[Any], bool]:
    return lambda p: isinstance(p, Variant) and case(p, wit, dict.fromkeys(tags)) is None


ERROR_KINDS: Dict[str, Callable[[Any], bool]] = {
    "denied": _none,
    "expired": _none,
    "clock-drift": _int,
    "invalid-key": _none,
    "insufficient-permission": _opt(_rec("permission-refusal", "operation", "detail")),
    "not-found": _str,
    "rate-limited": _opt(_int),
    "unavailable": _opt(_int),
    "relogin-required": _str,
    "not-logged-in": _none,
    "corrupt-credential": _str,
    "insecure-endpoint": _str,
    "protocol": _rec("protocol-violation", "field", "detail"),
    "malformed": _rec("unreadable-response", "status", "reason"),
    "provider": _rec("provider-refusal", "code", "description"),
    "transport": _of("transport-error", "dns", "connect", "timeout", "tls", "too-large", "other"),
    "storage": _of("secret-error", "unavailable", "denied", "other"),
    "state-mismatch": _none,
    "callback-timeout": _none,
    "config": _str,
    "forbidden": _none,
    "refused": _rec("api-refusal", "operation", "status", "code", "description"),
}


def auth_error_to_wire(e: Any) -> Dict[str, Any]:
    """The WIT `auth-error` as `{code, message}`; the case name is the stable code with `-` for `_`"""
    f = fields(e, "auth-error", ["kind", "message"])
    kind = f["kind"]
    if not case(kind, "error-kind", ERROR_KINDS)(kind.payload):
        raise UnknownWit(
            f"the error-kind case `{kind.tag}` carries {kind.payload!r}, not what this host expects"
        )
    return {"code": kind.tag.replace("-", "_"), "message": f["message"]}


def done_to_wire(result: Any) -> Dict[str, Any]:
    if isinstance(result, Ok):
        return {"type": "done", "ok": done_value_to_wire(result.value)}
    if isinstance(result, Err):
        return {"type": "done", "error": auth_error_to_wire(result.value)}
    raise UnknownWit(f"`done` carries {result!r}, not a result")


CALLBACK_VERDICTS = {"accepted": "accepted", "rejected": "rejected", "failed": "failed"}

OUTPUTS: Dict[str, Callable[[Any], Dict[str, Any]]] = {
    "send": request_to_wire,
    "store": store_op_to_wire,
    "show": show_to_wire,
    "open-browser": lambda url: {"type": "open_browser", "url": url},
    "wait": lambda until_ms: {"type": "wait", "until_ms": until_ms},
    "done": done_to_wire,
    "answer-callback": lambda verdict: {
        "type": "answer_callback",
        "verdict": case(verdict, "callback-verdict", CALLBACK_VERDICTS),
    },
}


def output_to_wire(output: Variant) -> Dict[str, Any]:
    """A WIT `output` as its transcript JSON"""
    return case(output, "output", OUTPUTS)(output.payload)


def machine_kind(name: str) -> str:
    """A transcript machine name (`device_login`) as its WIT `machine-config` case (`device-login`)"""
    return name.replace("_", "-")


def machine_config_to_wit(ty: Any, kind: str, config: Any) -> Variant:
    """A transcript's `machine` and JSON `config` as the WIT `machine-config` case of that kind

    Read by the WIT type itself (`ty`, the constructor's parameter type), field for field:
    `max_response_bytes` is `max-response-bytes`, an absent or null field an option's none (the
    component fills the core's default), an empty list or `false`, an enum its case (`GET` is `get`,
    `api_key` is `api-key`), the account operation's `{"whoami": {…}}` its variant case, a JSON
    object of names its `list<tuple<string, string>>`, and `permissions` (any JSON value; WIT has
    no recursive types) the field `permissions-json` as JSON text.
    """
    tag = machine_kind(kind)
    for name, payload in ty.cases:
        if name == tag:
            return Variant(tag, _from_json(payload, config, kind))
    raise BadTranscript(f"unknown machine {kind!r}")


def _from_json(ty: Any, v: Any, at: str) -> Any:
    if isinstance(ty, t.OptionType):
        return None if v is None else _from_json(ty.payload, v, at)
    if isinstance(ty, t.RecordType):
        if not isinstance(v, dict):
            raise BadTranscript(f"`{at}` is not a JSON object")
        r = Record()
        known = set()
        for name, field in ty.fields:
            key = name.replace("-", "_")
            if key == "permissions_json":
                key = "permissions"
                value = None if v.get(key) is None else json.dumps(v[key])
            else:
                value = v.get(key)
            known.add(key)
            if value is None and isinstance(field, t.ListType):
                value = {} if _is_pairs(field) else []
            elif value is None and isinstance(field, t.Bool):
                value = False
            elif value is None and not isinstance(field, t.OptionType):
                raise BadTranscript(f"`{at}.{key}` is missing")
            setattr(r, name, value if key == "permissions" else _from_json(field, value, f"{at}.{key}"))
        unknown = set(v) - known
        if unknown:
            raise BadTranscript(f"`{at}` has fields the WIT record does not: {sorted(unknown)}")
        return r
    if isinstance(ty, t.VariantType):
        if not (isinstance(v, dict) and len(v) == 1):
            raise BadTranscript(f"`{at}` is not a one-key JSON object naming its case")
        [(key, payload)] = v.items()
        for name, case_ty in ty.cases:
            if name == key.replace("_", "-"):
                return Variant(name, None if case_ty is None else _from_json(case_ty, payload, f"{at}.{key}"))
        raise BadTranscript(f"`{at}`: unknown case {key!r}")
    if isinstance(ty, t.EnumType):
        name = str(v).lower().replace("_", "-")
        if name not in ty.names:
            raise BadTranscript(f"`{at}`: {v!r} is none of {ty.names}")
        return name
    if isinstance(ty, t.ListType):
        if _is_pairs(ty):
            if not isinstance(v, dict):
                raise BadTranscript(f"`{at}` is not a JSON object")
            return [(k, _from_json(ty.element.elements[1], x, f"{at}.{k}")) for k, x in v.items()]
        if not isinstance(v, list):
            raise BadTranscript(f"`{at}` is not a JSON array")
        return [_from_json(ty.element, x, f"{at}[]") for x in v]
    if isinstance(ty, t.String):
        if not isinstance(v, str):
            raise BadTranscript(f"`{at}` is not a string")
        return v
    if isinstance(ty, t.Bool):
        if not isinstance(v, bool):
            raise BadTranscript(f"`{at}` is not a boolean")
        return v
    if isinstance(ty, (t.U8, t.U16, t.U32, t.U64)):
        if not isinstance(v, int) or isinstance(v, bool):
            raise BadTranscript(f"`{at}` is not an integer")
        return v
    raise BadTranscript(f"`{at}`: no JSON form for the WIT type {ty!r}")


def _is_pairs(ty: Any) -> bool:
    """`list<tuple<string, string>>`: a JSON object of names"""
    return isinstance(ty.element, t.TupleType) and len(ty.element.elements) == 2
