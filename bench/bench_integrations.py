"""Integrations benchmark: the webhook outbox's cost per event, delivery throughput, and a calendar feed.

    .venv/bin/python bench/bench_integrations.py [--events N] [--webhooks W] [--scale S] [--database-url URL]

1. Five (``--webhooks``) endpoints of Demo Bank subscribe to ``finding.raised``; a receiver on loopback (its
   own process, answering 204) stands behind them.
2. ``--events`` (default 10,000) events, each in its own transaction as a web request's change would be,
   ``webhooks.emit`` timed inside it (one ``INSERT … SELECT`` of the W subscribed endpoints' rows): what the
   outbox adds to the request, the commit being the request's anyway; the whole transaction is printed too.
   Then 1,000 more inside one open transaction. Prints the cost per event (median, p95).
3. Delivers up to ``--deliver`` (20,000) of the outbox with ``webhooks.deliver_pending`` (as the scheduler
   pass does: claimed batches, each delivery signed and POSTed to the checked address, its attempt logged):
   deliveries per second. What is left is marked failed with the bench's endpoints, deleted at the end.
4. The risk reviewer's calendar feed (``calendar.ics``): median time and SQL statements per build, and of
   what an unchanged feed's poll costs (``calendar.version``, the ETag a 304 or a kept body answers by).

Builds or reuses ``demo --scale S`` data like bench_register.py (default S = 2). The outbox rows it writes stay
in the database: use a scratch one.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_register import QueryCounter, build, percentile, timer  # noqa: E402


class _Accept(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the sender reuses its connections

    def do_POST(self) -> None:  # noqa: N802 - the http.server protocol
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def _serve(port_queue) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Accept)
    port_queue.put(server.server_port)
    server.serve_forever()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--webhooks", type=int, default=5)
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--deliver", type=int, default=20_000, help="deliveries timed (the rest stay pending)")
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.gettempdir()}/attest-bench/attest-bench-{args.scale}.db"
    os.makedirs(os.path.join(tempfile.gettempdir(), "attest-bench"), exist_ok=True)
    build(url, args.scale, False)
    import models
    from models import Engagement, User, WebhookDelivery, WebhookEndpoint, transaction, utcnow
    from services.integrations import calendar, crypto, webhooks

    crypto.settings.allow_private = True  # the receiver is on loopback
    ports = multiprocessing.Queue()
    receiver = multiprocessing.Process(target=_serve, args=(ports,), daemon=True)
    receiver.start()
    port = ports.get(timeout=10)
    admin = User.get(User.email == "admin@demobank.example")
    engagement = Engagement.select().where(Engagement.client == admin.organisation_id).order_by(Engagement.id).first()
    stamp = int(time.time())
    for n in range(args.webhooks):
        WebhookEndpoint.create(organisation=admin.organisation_id, url=f"http://127.0.0.1:{port}/hook/{stamp}/{n}",
                               events="finding.raised", secret_encrypted=crypto.encrypt(webhooks.new_secret()))
    backend = "PostgreSQL" if models.is_postgres() else "SQLite"
    print(f"\n{backend}: {args.events:,} events x {args.webhooks} webhooks")

    emit_times, whole = [], []
    for i in range(args.events):  # as a web request: its own transaction, the event's rows written inside it
        with timer() as total, transaction(), timer() as elapsed:
            webhooks.emit("finding.raised", engagement, object_type="finding", object_id=10_000_000 + stamp + i,
                          title=f"Bench finding {i}", path=f"/findings/{i}", occasion=str(stamp))
        emit_times.extend(elapsed)
        whole.extend(total)
    print(f"outbox write per event, in the request's transaction (what emit adds): "
          f"median {statistics.median(emit_times):.3f} ms, p95 {percentile(emit_times, 95):.3f} ms")
    print(f"  the same with BEGIN and COMMIT of a transaction holding nothing else: "
          f"median {statistics.median(whole):.3f} ms, p95 {percentile(whole, 95):.3f} ms, "
          f"total {sum(whole) / 1000:.1f} s")
    marginal = []
    with transaction():  # many events in one transaction (a pass, or a request that raises several)
        for i in range(min(args.events, 1000)):
            with timer() as elapsed:
                webhooks.emit("finding.raised", engagement, object_type="finding", object_id=20_000_000 + stamp + i,
                              title=f"Bench finding {i}", path=f"/findings/{i}", occasion=str(stamp))
            marginal.extend(elapsed)
    print(f"outbox write per event, 1,000 events in one transaction: median {statistics.median(marginal):.3f} ms, "
          f"p95 {percentile(marginal, 95):.3f} ms")

    pending = WebhookDelivery.select().where(WebhookDelivery.delivered_at.is_null(),
                                             WebhookDelivery.failed_at.is_null()).count()
    started = time.perf_counter()
    delivered = 0
    while delivered < args.deliver:
        result = webhooks.deliver_pending(batches=20)
        delivered += result.delivered
        if not (result.delivered or result.retried):
            break
    seconds = time.perf_counter() - started
    print(f"delivery: {delivered:,} of {pending:,} pending delivered in {seconds:.1f} s "
          f"= {delivered / seconds:,.0f} deliveries/s ({webhooks.SENDERS} sender threads, signed, each attempt logged)")
    ours = WebhookEndpoint.url.startswith(f"http://127.0.0.1:{port}/hook/{stamp}/")
    WebhookEndpoint.update(deleted_at=utcnow()).where(ours).execute()
    (WebhookDelivery.update(failed_at=utcnow(), last_error="bench over")
     .where(WebhookDelivery.endpoint.in_(WebhookEndpoint.select(WebhookEndpoint.id).where(ours)),
            WebhookDelivery.delivered_at.is_null(), WebhookDelivery.failed_at.is_null()).execute())
    receiver.terminate()

    risk = User.get(User.email == "risk@demobank.example")
    body = calendar.ics(risk)
    feed_times, statements = [], set()
    for _ in range(args.runs):
        with QueryCounter(models.db.obj) as counter, timer() as elapsed:
            calendar.ics(risk)
        feed_times.extend(elapsed)
        statements.add(counter.count)
    print(f"calendar feed of {risk.email}: {body.count(b'BEGIN:VEVENT'):,} events, {len(body) / 1024:.0f} KiB, "
          f"median {statistics.median(feed_times):.1f} ms, p95 {percentile(feed_times, 95):.1f} ms, "
          f"statements {'/'.join(map(str, sorted(statements)))}")
    poll_times, statements = [], set()
    for _ in range(50):
        with QueryCounter(models.db.obj) as counter, timer() as elapsed:
            calendar.version(risk)
        poll_times.extend(elapsed)
        statements.add(counter.count)
    print(f"  an unchanged feed's poll (its version): median {statistics.median(poll_times):.2f} ms, "
          f"p95 {percentile(poll_times, 95):.2f} ms, statements {'/'.join(map(str, sorted(statements)))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
