import secrets

import boto3
import pytest
from moto.server import ThreadedMotoServer

REGION = "eu-west-1"


@pytest.fixture(autouse=True)
def storage_root(app, tmp_path, monkeypatch):
    """Each test's files in a directory of its own; the backend made anew from the config."""
    root = tmp_path / "files"
    monkeypatch.setitem(app.config, "FILES_ROOT", str(root))
    app.extensions.pop("files.storage", None)
    yield root
    app.extensions.pop("files.storage", None)


@pytest.fixture(scope="session")
def moto_server():
    """moto's S3 server on loopback: the S3 protocol, spoken over HTTP to boto3 and requests."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(app, moto_server, monkeypatch, storage_root):
    """FILES_STORAGE=s3 against moto with a fresh bucket; yields a boto3 client to inspect it."""
    bucket = "core-files-" + secrets.token_hex(4)
    settings = {
        "FILES_STORAGE": "s3",
        "FILES_S3_BUCKET": bucket,
        "FILES_S3_ENDPOINT_URL": moto_server,
        "FILES_S3_REGION": REGION,
        "FILES_S3_ACCESS_KEY_ID": "test-key",
        "FILES_S3_SECRET_ACCESS_KEY": "test-secret",
    }
    for name, value in settings.items():
        monkeypatch.setitem(app.config, name, value)
    client = boto3.client(
        "s3",
        endpoint_url=moto_server,
        region_name=REGION,
        aws_access_key_id="test-key",
        aws_secret_access_key="test-secret",
    )
    client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    client.bucket = bucket
    return client
