"""HTML building blocks. Every piece of text goes through `esc`: generated text is untrusted.

Defence in depth: the page also carries a Content-Security-Policy that allows images only
from data: URIs, no network at all, and one script by its hash (the image check below), so
even a record that slipped past escaping could neither run code nor load anything.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from collections.abc import Iterable
from typing import Any

# Counts the images that really decoded, once the page has loaded; a headless browser test
# reads these attributes from the DOM, and a reader sees a warning if any image is broken.
IMAGE_CHECK = (
    "window.addEventListener('load',function(){var im=document.images,ok=0;"
    "for(var i=0;i<im.length;i++){if(im[i].complete&&im[i].naturalWidth>0){ok++;}}"
    "var b=document.body;b.setAttribute('data-images-total',String(im.length));"
    "b.setAttribute('data-images-loaded',String(ok));"
    "if(ok<im.length){document.getElementById('imgwarn').hidden=false;}});"
)
SCRIPT_HASH = base64.b64encode(hashlib.sha256(IMAGE_CHECK.encode()).digest()).decode()
CSP = (
    f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-{SCRIPT_HASH}'; "
    "base-uri 'none'; form-action 'none'"
)

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1100px;
padding:16px 24px;color:#222;background:#fff}
h1{font-size:24px;margin:8px 0 4px}h2{font-size:19px;border-bottom:2px solid #e0e0e0;padding-bottom:4px;
margin-top:28px}
nav a{margin-right:10px;font-size:13px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:right;vertical-align:top}
th{background:#f5f5f5}td.l,th.l{text-align:left}
img{max-width:100%;display:block;margin:8px 0}
.na{color:#777;font-style:italic}.muted{color:#666;font-size:12px}
.card{border:1px solid #ddd;border-radius:6px;padding:8px 10px;margin:8px 0}
.card pre{white-space:pre-wrap;word-break:break-word;background:#fafafa;margin:4px 0;padding:6px;
font-size:12.5px;max-height:14em;overflow:auto}
.reason{color:#b71c1c;font-weight:600}.tag{display:inline-block;background:#eee;border-radius:4px;
padding:0 6px;margin-right:6px;font-size:12px}
#imgwarn{background:#ffebee;color:#b71c1c;padding:6px}
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def num(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return esc(value)


def table(headers: list[str] | None, rows: Iterable[list[Any]], left: int = 1) -> str:
    """The first `left` columns are text (left-aligned), the rest numbers; headers=None: no header row."""
    head = "".join(
        f"<th class='l'>{esc(h)}</th>" if i < left else f"<th>{esc(h)}</th>" for i, h in enumerate(headers or [])
    )
    body = "".join(
        "<tr>"
        + "".join(f"<td class='l'>{esc(c)}</td>" if i < left else f"<td>{num(c)}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    head = f"<thead><tr>{head}</tr></thead>" if headers else ""
    return f"<table>{head}<tbody>{body}</tbody></table>"


def img(png: bytes, alt: str, name: str) -> str:
    data = base64.b64encode(png).decode()
    return (
        f"<img alt='{esc(alt)}' src='data:image/png;base64,{data}'>"
        f"<p class='muted'>also saved beside this page as {esc(name)}</p>"
    )


def na(why: str) -> str:
    return f"<p class='na'>not available: {esc(why)}</p>"


def para(text: str) -> str:
    return f"<p>{esc(text)}</p>"


def clip(text: str, limit: int = 700) -> str:
    return text if len(text) <= limit else text[:limit] + f" … [{len(text) - limit} more characters]"


def card(task: Any, reason: str | None = None) -> str:
    """One record: instruction, its first instances, scores and (for rejected ones) the reason."""
    tags = [f"round {task.round}", f"id {task.id}"]
    if task.is_classification is not None:
        tags.append("classification" if task.is_classification else "generation")
    if task.scores:
        tags.append("scores " + json.dumps(task.scores, sort_keys=True))
    out = ["<div class='card'>", "".join(f"<span class='tag'>{esc(t)}</span>" for t in tags)]
    if reason:
        out.append(f"<div class='reason'>{esc(reason)}</div>")
    out.append(f"<div><b>instruction</b><pre>{esc(clip(task.instruction))}</pre></div>")
    for i, inst in enumerate(task.instances[:2]):
        if inst.input.strip():
            out.append(f"<div><b>input {i + 1}</b><pre>{esc(clip(inst.input))}</pre></div>")
        out.append(f"<div><b>output {i + 1}</b><pre>{esc(clip(inst.output))}</pre></div>")
    if len(task.instances) > 2:
        out.append(f"<p class='muted'>… and {len(task.instances) - 2} more instances</p>")
    out.append("</div>")
    return "".join(out)


def document(title: str, subtitle: str, sections: list[tuple[str, str, str]]) -> str:
    """sections: (anchor id, heading, body html) in order."""
    nav = "".join(f"<a href='#{esc(sid)}'>{esc(h)}</a>" for sid, h, _ in sections)
    body = "".join(f"<section id='{esc(sid)}'><h2>{esc(h)}</h2>{b}</section>" for sid, h, b in sections)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{esc(title)}</h1><p class='muted'>{esc(subtitle)}</p>"
        "<p id='imgwarn' hidden>Some images failed to load.</p>"
        f"<nav>{nav}</nav>{body}<script>{IMAGE_CHECK}</script></body></html>"
    )
