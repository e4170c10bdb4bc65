"""A client of the upload API (``p300-upload-api``), as a recording collector would use it.

The API only hands out presigned URLs; this client sends the bytes to them itself. Its key is
read with AWS credentials (`api_key`): the key is a deploy-time value, never a shared password;
it only names the usage plan. What authenticates a collector is its bearer token.
Its address is `p300_ops.services.cloud.api_url` of ``p300-upload-api``.
"""

import time
from dataclasses import dataclass

import httpx

from p300_aws.names import UPLOAD_API_KEY_NAME
from p300_ops.services.errors import ServiceError

#: Header API Gateway reads the key from.
API_KEY_HEADER = "x-api-key"
TIMEOUT_S = 60.0
#: A part PUT is tried this many times when the connection fails or S3 answers 5xx.
PART_ATTEMPTS = 3


class UploadApiError(ServiceError):
    """The upload API or S3 refused a request; ``status`` is the HTTP status (0: no answer)."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


def api_key(apigateway) -> str:
    """The value of the key ``p300-upload-key``, read with the caller's AWS credentials."""
    keys = apigateway.get_api_keys(nameQuery=UPLOAD_API_KEY_NAME, includeValues=True)["items"]
    values = [key["value"] for key in keys if key["name"] == UPLOAD_API_KEY_NAME]
    if len(values) != 1:
        raise UploadApiError(
            0, f"expected one API key named {UPLOAD_API_KEY_NAME!r}, found {len(values)}"
        )
    return values[0]


@dataclass(frozen=True)
class MultipartUpload:
    key: str
    upload_id: str


class UploadClient:
    """Calls of the upload API, and the part PUTs to the URLs it signs.

    Parameters
    ----------
    base_url : str
        The stage URL (`p300_ops.services.cloud.api_url` of ``p300-upload-api``).
    key : str
        The API key: it names the usage plan that throttles the collector.
    token : str
        The collector's bearer token (``p300 keys create --api upload``): it authenticates.
    """

    def __init__(
        self, base_url: str, key: str, *, token: str, http: httpx.Client | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = http or httpx.Client(timeout=TIMEOUT_S)
        self.headers = {API_KEY_HEADER: key, "Authorization": f"Bearer {token}"}

    def request(self, path: str, body: dict) -> dict:
        """POST ``body`` to ``path`` of the API; its JSON answer, or `UploadApiError`."""
        try:
            response = self.http.post(f"{self.base_url}{path}", json=body, headers=self.headers)
        except httpx.TransportError as exc:
            raise UploadApiError(0, f"upload API at {self.base_url} did not answer: {exc}") from exc
        if response.status_code != 200:
            raise UploadApiError(response.status_code, _message(response))
        return response.json()

    def start(
        self,
        *,
        subject: str,
        session: str,
        file_name: str | None = None,
        study: str | None = None,
    ) -> MultipartUpload:
        body = {"subject": subject, "session": session}
        if file_name is not None:
            body["file_name"] = file_name
        if study is not None:
            body["study"] = study
        answer = self.request("/uploads/multipart", body)
        return MultipartUpload(answer["key"], answer["upload_id"])

    def send_part(self, upload: MultipartUpload, number: int, data: bytes) -> str:
        """Upload part ``number`` straight to S3 through a presigned URL; returns its ETag."""
        urls = self.request(
            f"/uploads/multipart/{upload.upload_id}/parts",
            {"key": upload.key, "part_numbers": [number]},
        )["urls"]
        for attempt in range(1, PART_ATTEMPTS + 1):
            try:
                response = self.http.put(urls[str(number)], content=data)
            except httpx.TransportError as exc:
                failure = UploadApiError(0, f"part {number} was not sent: {exc}")
            else:
                if response.status_code == 200:
                    return response.headers["ETag"]
                failure = UploadApiError(
                    response.status_code, f"S3 refused part {number}: {response.text[:300]}"
                )
                if response.status_code < 500:
                    break
            if attempt < PART_ATTEMPTS:
                time.sleep(0.5 * attempt)
        raise failure

    def complete(self, upload: MultipartUpload, etags: list[str]) -> dict:
        parts = [{"part_number": n, "etag": etag} for n, etag in enumerate(etags, start=1)]
        path = f"/uploads/multipart/{upload.upload_id}/complete"
        return self.request(path, {"key": upload.key, "parts": parts})

    def abort(self, upload: MultipartUpload) -> None:
        self.request(f"/uploads/multipart/{upload.upload_id}/abort", {"key": upload.key})


def _message(response: httpx.Response) -> str:
    try:
        message = response.json().get("message")
    except ValueError:
        message = None
    return f"HTTP {response.status_code}: {message or response.text[:300]}"
