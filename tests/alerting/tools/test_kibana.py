"""Kibana saved objects: every field they use exists in the index templates; the import call."""

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from alerting.tools.kibana import load_objects
from finsent.es import load_templates
from tests.cli import finsent


def mapped_fields(template: dict[str, Any]) -> set[str]:
    fields: set[str] = set()

    def walk(properties: dict[str, Any], prefix: str) -> None:
        for name, spec in properties.items():
            path = prefix + name
            fields.add(path)
            walk(spec.get("properties", {}), path + ".")
            walk(spec.get("fields", {}), path + ".")

    walk(template["template"]["mappings"]["properties"], "")
    return fields


def referenced_fields(obj: dict[str, Any]) -> set[str]:
    attributes = obj["attributes"]
    fields: set[str] = set()
    if obj["type"] == "index-pattern":
        fields.add(attributes["timeFieldName"])
    if obj["type"] == "visualization":
        for agg in json.loads(attributes["visState"])["aggs"]:
            if "field" in agg["params"]:
                fields.add(agg["params"]["field"])
    if obj["type"] == "search":
        fields.update(attributes["columns"])
        fields.update(column for column, _ in attributes["sort"])
    search = attributes.get("kibanaSavedObjectMeta", {}).get("searchSourceJSON")
    if search:
        query = json.loads(search)["query"]["query"]
        fields.update(part.split(":")[0].strip() for part in query.split(" or ") if ":" in part)
    return fields


def test_every_field_the_saved_objects_use_is_mapped() -> None:
    templates = load_templates("finsent")
    mappings = {
        "finsent-items": mapped_fields(templates["finsent-items"]),
        "finsent-alerts": mapped_fields(templates["finsent-alerts"]),
    }
    objects = {o["id"]: o for o in load_objects()}
    assert {o["type"] for o in objects.values()} == {
        "index-pattern",
        "visualization",
        "search",
        "dashboard",
    }
    checked = 0
    for obj in objects.values():
        if obj["type"] == "dashboard":
            for ref in obj["references"]:
                assert ref["id"] in objects, f"dashboard panel {ref['id']} is not in the file"
            continue
        view = obj["id"] if obj["type"] == "index-pattern" else obj["references"][0]["id"]
        for field in referenced_fields(obj):
            assert field in mappings[view], f"{obj['id']} uses {field}, not mapped in {view}"
            checked += 1
    assert checked >= 20


@pytest.fixture
def kibana() -> Iterator[list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
            ok = self.headers.get("kbn-xsrf") and b"finsent-overview" in body
            answer = {"success": True, "successCount": body.count(b'"type":')} if ok else \
                {"statusCode": 400, "message": "missing kbn-xsrf"}  # fmt: skip
            data = json.dumps(answer).encode()
            self.send_response(200 if ok else 400)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    seen.append({"url": f"http://127.0.0.1:{server.server_address[1]}"})
    yield seen
    server.shutdown()


def test_kibana_import_posts_the_ndjson(kibana: list[dict[str, Any]]) -> None:
    url = kibana[0]["url"]
    result = finsent("kibana", "import", "--url", url, "--space", "risk")
    assert result.returncode == 0, result.stderr
    request = kibana[1]
    assert request["path"] == "/s/risk/api/saved_objects/_import?overwrite=true"
    assert request["headers"]["Content-Type"].startswith("multipart/form-data")
    assert b'filename="finsent.ndjson"' in request["body"]
    assert "imported" in result.stdout
    down = finsent("kibana", "import", "--url", "http://127.0.0.1:9")
    assert (
        down.returncode == 1 and "not reachable" in down.stderr and "Traceback" not in down.stderr
    )
