"""Download a file safely: stream it, check its MD5, and only then give it its name.

A download goes to a temporary file beside its destination and is renamed with
`os.replace` (atomic on one file system) once its checksum matches. So a cut
connection, a wrong file or Ctrl-C never leaves a half file that looks like a good one.
"""

import hashlib
import http.client
import os
import urllib.error
import urllib.request

from .._checks import file_path
from .._files import write_atomically

DEFAULT_TIMEOUT = 30.0  # seconds without a byte from the server before we give up
_CHUNK = 1 << 16
_HEX_DIGITS = "0123456789abcdef"


class DownloadError(OSError):
    """A download failed: the server could not be reached, refused, or cut the transfer."""


def download_file(url, destination, md5, timeout=DEFAULT_TIMEOUT, hint=""):
    """Download `url` to `destination`, checking the file's MD5 hex digest.

    Raises DownloadError (an OSError) naming the URL on a network or HTTP error,
    and ValueError naming the file and both sums when the checksum does not match.
    `hint` is appended to the DownloadError message (e.g. another way to get the file).

        download_file("https://example.org/data.gz", "cache/data.gz",
                      md5="8d4fb7e6c68d591d4c3dfef9ec88bf0d")
    """
    destination = file_path("destination", destination)
    if not isinstance(md5, str) or len(md5) != 32 or not set(md5.lower()) <= set(_HEX_DIGITS):
        raise ValueError(f"md5 must be a 32-character hex string, got {md5!r}")
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not timeout > 0:
        raise ValueError(f"timeout must be a number of seconds > 0, got {timeout!r}")
    name = os.path.basename(destination)

    def write(partial):
        actual_md5 = _stream(url, partial, timeout, hint)
        if actual_md5 != md5.lower():
            raise ValueError(
                f"{name}: checksum mismatch for the file downloaded from {url}: "
                f"expected md5 {md5.lower()}, got {actual_md5}"
            )

    write_atomically(destination, write, make_parents=True)
    return destination


def _stream(url, partial, timeout, hint):
    """Copy the body of `url` into the open file `partial`; return its MD5 hex digest."""
    md5 = hashlib.md5(usedforsecurity=False)
    received = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            expected = response.headers.get("Content-Length")
            while chunk := response.read(_CHUNK):
                md5.update(chunk)
                partial.write(chunk)
                received += len(chunk)
    except urllib.error.HTTPError as err:
        err.close()
        raise DownloadError(_message(url, f"HTTP {err.code} {err.reason}", hint)) from err
    except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
        reason = getattr(err, "reason", None) or err
        raise DownloadError(_message(url, reason, hint)) from err
    if expected is not None and expected.isdigit() and received != int(expected):
        reason = f"the connection closed after {received} of {expected} bytes"
        raise DownloadError(_message(url, reason, hint))
    return md5.hexdigest()


def _message(url, reason, hint):
    return f"could not download {url}: {reason}." + (f" {hint}" if hint else "")
