"""Download one file with a checksum, failing fast and clearly when the host is unreachable.

Shared by the pretrained weights (:mod:`mrcnn.weights.pretrained`) and the public data
sets (:mod:`mrcnn.data.public`), so it sits below both and imports nothing of mrcnn.
Before anything is fetched, a TCP connection to the host (or to the configured HTTP(S)
proxy) is tried with a short timeout in a helper thread, so an offline machine gets an
answer in seconds even where DNS hangs; the download itself
(``keras.utils.get_file``) runs with a socket timeout so a stalled transfer errors out
instead of hanging. Any failure raises :class:`DownloadUnavailable` (or the subclass the
caller names) with the URL, the exact path where to put the file by hand and its checksum.

The file is fetched to ``<target>.part`` and renamed to ``target`` once its checksum
matches, so a partial or corrupted download never sits at the final path.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import urllib.parse
import urllib.request
from pathlib import Path

# Seconds to wait for a TCP connection to the host (or proxy) before giving up.
CONNECT_TIMEOUT_S = 5.0
# Socket timeout during the transfer: the longest a stalled connection may sit idle.
READ_TIMEOUT_S = 60.0


class DownloadUnavailable(RuntimeError):
    """A file could not be downloaded (offline, host unreachable, HTTP error...)."""


class ChecksumMismatch(ValueError):
    """A file's checksum is not the published one."""


def checksum_algorithm(checksum: str) -> str:
    """``"md5"`` for a 32-hex-digit checksum, ``"sha256"`` for 64 digits."""
    if len(checksum) == 32:
        return "md5"
    if len(checksum) == 64:
        return "sha256"
    raise ValueError(f"checksum {checksum!r}: expected 32 (md5) or 64 (sha256) hex digits")


def hash_file(path: str | os.PathLike, algorithm: str = "sha256",
              chunk_size: int = 1 << 20) -> str:
    """The hex digest of a file (``algorithm``: "md5" or "sha256")."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_matches(path: str | os.PathLike, checksum: str | None) -> bool:
    """True when ``path`` is a file whose digest is ``checksum`` (any file when None)."""
    if not os.path.isfile(path):
        return False
    if checksum is None:
        return True
    return hash_file(path, checksum_algorithm(checksum)) == checksum.lower()


def describe_checksum(checksum: str | None) -> str:
    """``"md5 e98a..."`` or a note that none is published."""
    if checksum is None:
        return "no published checksum"
    return f"{checksum_algorithm(checksum)} {checksum}"


def _connect_target(url: str) -> tuple[str, int, str]:
    """``(host, port, label)`` a download of ``url`` connects to: the proxy when one is
    configured for the scheme (``https_proxy``...) and the host is not bypassed."""
    parts = urllib.parse.urlsplit(url)
    default_port = 443 if parts.scheme == "https" else 80
    host = parts.hostname or ""
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        proxy_parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        port = proxy_parts.port or (443 if proxy_parts.scheme == "https" else 80)
        return proxy_parts.hostname or "", port, f"proxy {proxy_parts.hostname}:{port}"
    return host, parts.port or default_port, f"{host}:{parts.port or default_port}"


def check_reachable(url: str, timeout: float | None = None) -> None:
    """Raise OSError (``TimeoutError`` after ``timeout`` seconds) unless a TCP connection to
    the host of ``url`` (or its proxy) opens. Name resolution and the connection run in a
    daemon thread, so the wait is bounded even where DNS itself hangs. Non-HTTP(S) URLs
    (``file://``) are not checked."""
    timeout = CONNECT_TIMEOUT_S if timeout is None else float(timeout)
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        return
    host, port, label = _connect_target(url)
    outcome: dict[str, object] = {}

    def attempt():
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            outcome["ok"] = True
        except OSError as error:
            outcome["error"] = error

    thread = threading.Thread(target=attempt, name=f"check_reachable {label}", daemon=True)
    thread.start()
    thread.join(timeout)
    if outcome.get("ok"):
        return
    error = outcome.get("error")
    if error is None:
        raise TimeoutError(f"no connection to {label} within {timeout:g} s")
    if isinstance(error, socket.gaierror):
        raise OSError(f"cannot resolve {host!r} ({error.strerror or error}: is this "
                      "machine offline?)") from error
    raise OSError(f"cannot connect to {label}: {error}") from error


def manual_instructions(url: str, target: str | os.PathLike, checksum: str | None) -> str:
    """How to install the file by hand: where to get it, where to put it, how to check it."""
    target = os.fspath(target)
    text = (f"To install it by hand, download {url} on a machine with internet access and "
            f"put it at {target}")
    if checksum is None:
        return text + " (no checksum is published for it)."
    algorithm = checksum_algorithm(checksum)
    return text + f" ({algorithm} {checksum}; check with `{algorithm}sum {target}`)."


def _get_file(url: str, target: str, checksum: str | None) -> str:
    """``keras.utils.get_file`` of ``url`` to exactly ``target`` (hash checked by Keras)."""
    import keras

    folder = os.path.dirname(target)
    return keras.utils.get_file(fname=os.path.basename(target), origin=url,
                                file_hash=checksum, cache_dir=folder, cache_subdir=folder,
                                force_download=True)


def download(url: str, target: str | os.PathLike, checksum: str | None = None, *,
             what: str = "file", timeout: float | None = None,
             unavailable: type[DownloadUnavailable] = DownloadUnavailable,
             hint: str | None = None) -> str:
    """Download ``url`` to ``target`` and check it against ``checksum`` (md5 or sha256 hex;
    None: not checked). Returns ``target`` as a string.

    Fails fast: the host (or proxy) must accept a connection within ``timeout`` seconds
    (default :data:`CONNECT_TIMEOUT_S`), else ``unavailable`` (a
    :class:`DownloadUnavailable`) is raised at once, naming ``what``, the URL, the reason,
    and how to install the file by hand (``hint`` replaces the default instructions). A
    downloaded file with another checksum is removed and :class:`ChecksumMismatch` raised.
    """
    target = os.path.abspath(os.fspath(target))
    manual = hint or manual_instructions(url, target, checksum)

    def fail(reason) -> DownloadUnavailable:
        return unavailable(f"could not download {what} from {url}: {reason}. {manual}")

    try:
        check_reachable(url, timeout)
    except OSError as error:
        raise fail(error) from error
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
    except OSError as error:
        raise fail(f"cannot create {os.path.dirname(target)} ({error})") from error
    part = target + ".part"
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(READ_TIMEOUT_S)
    try:
        _get_file(url, part, checksum)
    except ValueError as error:  # Keras: the downloaded file's hash is not file_hash
        if os.path.exists(part):
            os.remove(part)
        raise ChecksumMismatch(
            f"{what} downloaded from {url} does not have the published "
            f"{describe_checksum(checksum)} ({error}); it was removed. Try again later, "
            f"or: {manual}") from error
    except Exception as error:  # URLError, HTTP errors, timeouts, disk full...
        if os.path.exists(part):
            os.remove(part)
        raise fail(error) from error
    finally:
        socket.setdefaulttimeout(previous)
    os.replace(part, target)
    return target


def default_cache_home() -> Path:
    """``$XDG_CACHE_HOME`` or ``~/.cache``: where downloaded data sets are kept
    (``<it>/mrcnn/data``, :func:`mrcnn.data.public.download_cache`)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
