"""The served API reference, generated from the registered actions: for each, its summary,
its request fields (from the pydantic model: type, required, default, range) and its codes."""

from __future__ import annotations

import html
from typing import Any

from api.context import Handler
from api.errors import MESSAGES

COMMON_CODES = (100000004, 100000005, 100000007, 400000001, 400010000, 400010009)


def _fields(schema: dict[str, Any], defs: dict[str, Any], prefix: str = "") -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    required = set(schema.get("required", []))
    for name, prop in schema.get("properties", {}).items():
        prop = _deref(prop, defs)
        path = f"{prefix}{name}"
        rules = []
        for key, label in (
            ("minimum", ">="),
            ("maximum", "<="),
            ("exclusiveMinimum", ">"),
            ("exclusiveMaximum", "<"),
            ("minLength", "min length"),
            ("maxLength", "max length"),
            ("maxItems", "max items"),
            ("multipleOf", "multiple of"),
            ("pattern", "pattern"),
        ):
            if key in prop:
                rules.append(f"{label} {prop[key]}")
        if "enum" in prop:
            rules.append("one of " + ", ".join(map(str, prop["enum"])))
        out.append(
            {
                "Field": path,
                "Type": prop.get("type", "object" if "properties" in prop else "any"),
                "Required": name in required,
                "Default": prop.get("default"),
                "Rules": "; ".join(rules),
                "Description": prop.get("description", ""),
            }
        )
        if "properties" in prop:
            out.extend(_fields(prop, defs, path + "."))
        items = _deref(prop.get("items", {}), defs)
        if "properties" in items:
            out.extend(_fields(items, defs, path + "[]."))
    return out


def _deref(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in prop:
        return defs[prop["$ref"].rsplit("/", 1)[-1]]
    for key in ("anyOf", "allOf"):
        if key in prop:
            variants = [v for v in prop[key] if v.get("type") != "null"]
            if len(variants) == 1:
                merged = {
                    **_deref(variants[0], defs),
                    **{k: v for k, v in prop.items() if k != key},
                }
                return merged
    return prop


def actions_json(actions: dict[str, Handler]) -> list[dict[str, Any]]:
    out = []
    for name in sorted(actions):
        spec = getattr(actions[name], "spec", None)
        fields: list[dict[str, Any]] = []
        if spec is not None and spec.model is not None:
            schema = spec.model.model_json_schema()
            fields = _fields(schema, schema.get("$defs", {}))
        codes = sorted(set(COMMON_CODES) | set(spec.codes if spec else ()))
        out.append(
            {
                "Action": name,
                "Group": spec.group if spec else "",
                "Summary": spec.summary if spec else "",
                "Fields": fields,
                "Codes": [{"Code": c, "Message": MESSAGES.get(c, "")} for c in codes],
            }
        )
    return out


def actions_html(actions: dict[str, Handler]) -> str:
    e = html.escape
    parts = [
        "<!doctype html><meta charset=utf-8><title>digital-human API</title>",
        "<style>body{font:14px system-ui;margin:2em;max-width:70em}td,th{border:1px solid #ccc;"
        "padding:2px 6px;text-align:left;vertical-align:top}table{border-collapse:collapse}"
        "code{background:#f3f3f3}</style>",
        "<h1>digital-human actions</h1><p>Call <code>POST /?Action=Name&amp;AppId=..&amp;"
        "SignatureNonce=..&amp;Timestamp=..&amp;Signature=..&amp;SignatureVersion=2.0</code> with "
        "a JSON body. Signature = md5(AppId + SignatureNonce + ServerSecret + Timestamp). Reply: "
        "<code>{Code, Message, RequestId, Data}</code>. JSON form: <a href=actions.json>"
        "actions.json</a>.</p><ul>",
    ]
    docs = actions_json(actions)
    parts += [f"<li><a href=#{e(d['Action'])}>{e(d['Action'])}</a></li>" for d in docs]
    parts.append("</ul>")
    for d in docs:
        parts.append(f"<h2 id={e(d['Action'])}>{e(d['Action'])}</h2><p>{e(d['Summary'])}</p>")
        if d["Fields"]:
            parts.append("<table><tr><th>Field<th>Type<th>Required<th>Default<th>Rules<th>Notes")
            for f in d["Fields"]:
                default = "" if f["Default"] is None else e(str(f["Default"]))
                parts.append(
                    f"<tr><td><code>{e(f['Field'])}</code><td>{e(str(f['Type']))}"
                    f"<td>{'yes' if f['Required'] else ''}<td>{default}<td>{e(f['Rules'])}"
                    f"<td>{e(f['Description'])}"
                )
            parts.append("</table>")
        codes = ", ".join(f"{c['Code']} {e(c['Message'])}" for c in d["Codes"])
        parts.append(f"<p>Codes: {codes}</p>")
    return "".join(parts)
