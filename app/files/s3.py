"""The S3 backend (FILES_STORAGE=s3): AWS S3 or any S3-compatible store, through boto3.

Uploads are presigned POSTs whose policy holds the size range and the Content-Type; stores that
do not enforce a policy (moto, some S3-compatibles) are covered by the app's check at complete.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ..core.clock import utcnow
from ..core.errors import ApiError
from .storage import ObjectInfo, unavailable

CHUNK = 64 * 1024


def _failed() -> ApiError:
    return ApiError(502, "upstream_error", "The file storage did not answer as expected.")


class S3Storage:
    def __init__(self, config) -> None:
        self.bucket = config["FILES_S3_BUCKET"]
        endpoint = config["FILES_S3_ENDPOINT_URL"]
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=config["FILES_S3_REGION"],
            # None: boto3's own chain (AWS_ACCESS_KEY_ID…, profiles, instance roles)
            aws_access_key_id=config["FILES_S3_ACCESS_KEY_ID"],
            aws_secret_access_key=config["FILES_S3_SECRET_ACCESS_KEY"],
            config=Config(
                signature_version="s3v4",
                connect_timeout=5,
                read_timeout=30,
                retries={"max_attempts": 3, "mode": "standard"},
                # S3-compatible stores at their own endpoint usually want path-style URLs
                s3={"addressing_style": "path" if endpoint else "auto"},
            ),
        )

    def _bucket(self) -> str:
        if not self.bucket:
            raise unavailable("File storage is set to s3 but not configured: set FILES_S3_BUCKET.")
        return self.bucket

    def upload_target(self, file, expires_at: datetime) -> dict:
        try:
            post = self.client.generate_presigned_post(
                self._bucket(),
                file.storage_key,
                Fields={"Content-Type": file.content_type},
                Conditions=[{"Content-Type": file.content_type}, ["content-length-range", 1, file.declared_size]],
                ExpiresIn=max(1, int((expires_at - utcnow()).total_seconds())),
            )
        except (BotoCoreError, ClientError):
            raise _failed() from None
        return {"method": "POST", "url": post["url"], "fields": post["fields"]}

    def info(self, key: str) -> ObjectInfo | None:
        try:
            head = self.client.head_object(Bucket=self._bucket(), Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise _failed() from None
        except BotoCoreError:
            raise _failed() from None
        return ObjectInfo(size=int(head["ContentLength"]), content_type=head.get("ContentType"))

    def chunks(self, key: str) -> Iterator[bytes]:
        try:
            body = self.client.get_object(Bucket=self._bucket(), Key=key)["Body"]
            yield from body.iter_chunks(CHUNK)
        except (BotoCoreError, ClientError):
            raise _failed() from None

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self._bucket(), Key=key)
        except (BotoCoreError, ClientError):
            raise _failed() from None

    def download_url(self, file, expires_at: datetime, disposition: str) -> str:
        try:
            return self.client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self._bucket(),
                    "Key": file.storage_key,
                    "ResponseContentDisposition": disposition,
                    "ResponseContentType": file.content_type,
                },
                ExpiresIn=max(1, int((expires_at - utcnow()).total_seconds())),
            )
        except (BotoCoreError, ClientError):
            raise _failed() from None
