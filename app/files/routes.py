import sys

from flask import request, send_file
from flask.views import MethodView

from ..core import responses
from ..core.api import Blueprint
from ..core.auth import current
from ..core.http import body_limit
from ..core.lists import ListSpec, paginate
from ..core.ratelimit import exempt
from ..core.schemas import created_envelope, envelope, page_envelope
from . import service
from .models import StoredFile
from .schemas import FileCreate, FileCreatedSchema, FileDetailSchema, FileListQuery, FileSchema, SignedQuery

blp = Blueprint("files", __name__, url_prefix="/api/v1/files", description="File uploads and downloads")

FILES = ListSpec(
    StoredFile,
    FileSchema,
    sortable=("created_at", "updated_at", "filename", "size"),
    searchable=("filename",),
    filterable=("status",),
)
CREATED = "File created: upload its bytes with `upload`, then call complete."


@blp.route("")
class Files(MethodView):
    @blp.auth(scope="files:read")
    @blp.arguments(FileListQuery, location="query", error_status_code=400)
    @blp.response(200, page_envelope(FileSchema))
    def get(self, query):
        """List files (`status`: pending, ready; `purpose`; `search` on the filename)"""
        return paginate(service.files_query(current.workspace_id, query.get("purpose")), FILES, query)

    @blp.auth(scope="files:write")
    @blp.arguments(FileCreate)
    @blp.response(201, created_envelope(FileCreatedSchema, CREATED))
    @blp.alt_response(502, response="BAD_GATEWAY")
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def post(self, data):
        """Declare a file and get where to upload it

        The client uploads the bytes straight to storage as `upload` says — `PUT` the body with
        its headers (local storage), or `POST` a multipart form of `fields` then the `file` part
        (S3) — before `upload.expires_at`, then calls `POST /files/{id}/complete`. `403
        feature_limit_reached` past the plan's `max_file_size` or `storage`.
        """
        file, upload = service.create_file(current.workspace_id, current.tier, data)
        file.upload = upload
        return responses.created(file, CREATED)


@blp.route("/<string:file_id>")
class FileItem(MethodView):
    @blp.auth(scope="files:read")
    @blp.response(200, envelope(FileDetailSchema))
    @blp.alt_response(502, response="BAD_GATEWAY")
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def get(self, file_id):
        """Get a file, with a download URL good for 5 minutes once it is ready"""
        return responses.one(service.file_with_download(current.workspace_id, file_id))

    @blp.auth(scope="files:delete")
    @blp.response(204)
    @blp.alt_response(502, response="BAD_GATEWAY")
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def delete(self, file_id):
        """Delete a file and its stored bytes"""
        service.delete_file(current.workspace_id, file_id)


@blp.route("/<string:file_id>/complete")
class FileComplete(MethodView):
    @blp.auth(scope="files:write")
    @blp.response(200, envelope(FileSchema))
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    @blp.alt_response(502, response="BAD_GATEWAY")
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def post(self, file_id):
        """Check the uploaded bytes and mark the file ready

        The stored object must exist, be at most the declared size, be stored with the declared
        type and start with that type's signature (text types: UTF-8 throughout; JSON: parses).
        Otherwise the object is deleted and the answer is `422`; the upload may be sent again
        while its URL lasts.
        """
        return responses.one(service.complete_file(current.workspace_id, file_id))


@blp.route("/<string:file_id>/content")
class FileContent(MethodView):
    # a presigned URL: the signature is the credential, and the body is the file (not JSON,
    # up to the declared size, counted by the view); the tenant's own limits counted at POST
    decorators = [body_limit(None), exempt]

    @blp.arguments(SignedQuery, location="query", error_status_code=400)
    @blp.response(204)
    @blp.alt_response(403, response="FORBIDDEN")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(413, response="REQUEST_ENTITY_TOO_LARGE")
    @blp.alt_response(415, response="UNSUPPORTED_MEDIA_TYPE")
    def put(self, query, file_id):
        """Upload a file's bytes (local storage; the URL comes from `POST /files`)

        Good once, until it expires; the body must have the declared Content-Type and at most
        the declared size.
        """
        # werkzeug refuses bodies past max_content_length (MAX_BODY_BYTES + 1): lifted for this
        # request, whose limit is the file's declared size, counted by the service while it reads
        request.max_content_length = sys.maxsize
        service.receive_upload(
            file_id, query["expires"], query["sig"], request.content_type, request.content_length, request.stream
        )


@blp.route("/<string:file_id>/download")
class FileDownload(MethodView):
    decorators = [exempt]

    @blp.arguments(SignedQuery, location="query", error_status_code=400)
    @blp.response(200)
    @blp.alt_response(403, response="FORBIDDEN")
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, query, file_id):
        """Download a file's bytes (local storage; the URL comes from `GET /files/{id}`)"""
        file, path = service.signed_download(file_id, query["expires"], query["sig"])
        response = send_file(path, mimetype=file.content_type, max_age=0, conditional=False)
        response.headers["Content-Disposition"] = service.content_disposition(file.filename)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "private, no-store"
        return response
