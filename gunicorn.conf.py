"""gunicorn settings for Attest in production (``make serve``, or ``gunicorn -c gunicorn.conf.py``).

Everything tunable comes from the environment:
  BIND (default 127.0.0.1:8000) · WEB_CONCURRENCY worker processes (default 2 per core, at most 8) ·
  WEB_THREADS threads per worker (default 4) · WEB_TIMEOUT seconds a worker may go silent before it is
  replaced (default 120) · WEB_GRACEFUL_TIMEOUT seconds in-flight requests get to finish on SIGTERM or
  a reload (default 300) · WEB_MAX_REQUESTS requests before a worker is recycled (default 5000, 0 = never).

Threaded workers (gthread): a request runs on a worker thread while the worker's main loop keeps telling
the master it is alive, so a 1 GiB upload from a slow client is never killed by ``timeout``; upload
bodies stream to the evidence store (memory does not grow with the file). Access lines come from the app
(web/requestlog.py, with the request id), not from gunicorn; LOG_FORMAT=json makes gunicorn's own lines
JSON too.
"""
import os


def _number(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip() or str(default)
    if not value.isdigit():
        raise SystemExit(f"{name} must be a whole number, not {value!r}")
    return int(value)


wsgi_app = "app:create_app()"
bind = os.environ.get("BIND", "127.0.0.1:8000").split(",")
workers = _number("WEB_CONCURRENCY", min(8, 2 * (os.cpu_count() or 1)))
worker_class = "gthread"
threads = _number("WEB_THREADS", 4)
timeout = _number("WEB_TIMEOUT", 120)
graceful_timeout = _number("WEB_GRACEFUL_TIMEOUT", 300)
keepalive = 5
max_requests = _number("WEB_MAX_REQUESTS", 5000)
max_requests_jitter = max_requests // 10
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# gunicorn's control socket defaults to one path per user: two instances on one machine would fight over it
# (set WEB_CONTROL_SOCKET=/path to have one).
control_socket_disable = not os.environ.get("WEB_CONTROL_SOCKET")
if not control_socket_disable:
    control_socket = os.environ["WEB_CONTROL_SOCKET"]
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
forwarded_allow_ips = "127.0.0.1"  # Attest reads X-Forwarded-For itself (TRUSTED_PROXIES)

if os.environ.get("LOG_FORMAT", "").strip().lower() == "json":
    logconfig_dict = {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"json": {"()": "web.requestlog.JsonFormatter"}},
        "handlers": {name: {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
                     for name in ("console", "error_console")},
        "loggers": {"gunicorn.error": {"handlers": ["error_console"], "level": loglevel.upper(),
                                       "propagate": False}},
    }


def on_starting(server) -> None:
    """Check the configuration once in the master before any worker forks: a malformed EVIDENCE_STORE, an
    unreachable S3 endpoint or refused credentials stop gunicorn with one clear line and exit status 3."""
    from app import check_configuration
    check_configuration()


def worker_abort(worker) -> None:
    """SIGABRT after ``timeout`` of silence: say so before the worker dies."""
    worker.log.error("worker %s timed out and is being replaced", worker.pid)


def post_fork(server, worker) -> None:
    """glibc's malloc, tuned per worker: buffers of 1 MiB or more (upload parts) are always mmapped and given
    back to the system when freed, instead of raising the dynamic threshold and staying in per-thread arenas
    (which grew a worker by tens of MiB after one large upload); and at most two arenas for the threads."""
    import ctypes
    import ctypes.util
    name = ctypes.util.find_library("c")
    if not name:
        return
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt(-3, 1024 * 1024)  # M_MMAP_THRESHOLD
        libc.mallopt(-8, 2)  # M_ARENA_MAX
    except (OSError, AttributeError):  # not glibc: nothing to tune
        pass
