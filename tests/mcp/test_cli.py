"""`flask mcp import-spec | servers`."""

import pytest

from app.workspaces.service import get_workspace

from .specs import FIXTURES, make_server


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def test_import_spec_then_list_servers(runner, client, owner, tmp_path):
    slug = get_workspace(owner.workspace_id).slug
    result = runner.invoke(args=["mcp", "import-spec", str(FIXTURES / "petstore-3.1.yaml"), "--workspace", slug])
    assert result.exit_code == 0, result.output
    assert "Imported Swagger Petstore: OpenAPI 3.1.0, 2 operations." in result.output
    spec_id = result.output.strip().splitlines()[-1]
    assert client.get(f"/api/v1/mcp/specs/{spec_id}", headers=owner.headers).get_json()["data"]["status"] == "ready"
    named = runner.invoke(
        args=["mcp", "import-spec", str(FIXTURES / "petstore-3.0.yaml"), "--workspace", slug, "--name", "Pets"]
    )
    assert named.exit_code == 0 and "Imported Pets" in named.output
    empty = runner.invoke(args=["mcp", "servers", "--workspace", slug])
    assert empty.exit_code == 0 and "No MCP servers" in empty.output
    server = make_server(client, owner, spec_id)
    listed = runner.invoke(args=["mcp", "servers", "--workspace", slug])
    assert f"petstore  {server['id']}  tools=2/2  active  auth=none" in listed.output
    assert f"endpoint=/mcp/{slug}/petstore" in listed.output


def test_errors_are_one_line(runner, owner, tmp_path):
    slug = get_workspace(owner.workspace_id).slug
    bad = tmp_path / "bad.json"
    bad.write_text(
        '{"openapi": "3.0.0", "info": {"title": "x", "version": "1"}, "paths": {"/a": {"$ref": "https://evil.example/x"}}}'
    )
    result = runner.invoke(args=["mcp", "import-spec", str(bad), "--workspace", slug])
    assert result.exit_code == 1 and "Only local references" in result.output and "Traceback" not in result.output
    missing = runner.invoke(args=["mcp", "servers", "--workspace", "nope"])
    assert missing.exit_code == 1 and "No workspace has the slug nope." in missing.output
    no_file = runner.invoke(args=["mcp", "import-spec", str(tmp_path / "none.yaml"), "--workspace", slug])
    assert no_file.exit_code == 2
